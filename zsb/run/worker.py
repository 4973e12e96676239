"""One training process under torchrun: ``python -m zsb.run.worker RUN_DIR`` runs the training stage
(:func:`zsb.run.stages.train`) in its process group; :func:`zsb.run.launch.launch` starts one per GPU."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
import traceback
from typing import Callable

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import ErrorHandler, record

from zsb.artifacts import RunFolder
from zsb.config import validated
from zsb.device import resolve_device
from zsb.errors import ZSBError
from zsb.io import atomic_write_json
from zsb.run import stages
from zsb.run.context import Run
from zsb.run.launch import FINISHED, STOPPED, say_ended

class AtomicErrorHandler(ErrorHandler):
    """torch's error handler for ``@record``, writing the error file atomically (a temporary file renamed into
    place). When one process dies, torchrun sends SIGTERM to the others and then parses their error files: one cut
    short by that SIGTERM would be empty, and torchrun would fail on it without reporting any process."""

    def record_exception(self, e: BaseException) -> None:
        path = self._get_error_file_path()
        if path:
            atomic_write_json(path, {"message": {"message": f"{type(e).__name__}: {e}", "extraInfo": {
                "py_callstack": traceback.format_exc(), "timestamp": str(int(time.time()))}}})


def _on_sigterm(rank: int) -> Callable:
    def stop(signum, frame) -> None:
        say_ended(rank, STOPPED)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # end as SIGTERM ends a process, without Python's cleanup

    return stop


def main(argv: list[str] | None = None) -> None:
    """One training process under torchrun: ``python -m zsb.run.worker RUN_DIR`` (torchrun sets RANK,
    LOCAL_RANK, WORLD_SIZE and the rendezvous). The process group runs on NCCL with one GPU per local rank, or on
    gloo on CPUs."""
    parser = argparse.ArgumentParser(prog="python -m zsb.run.worker", description=main.__doc__)
    parser.add_argument("run_dir", help="the run folder (its manifest and class knowledge made first)")
    parser.add_argument("--shared", help="the folder whose manifest and knowledge the run reads (seeds, variants)")
    parser.add_argument("--parameters", help="the run's parameters as JSON; default: the run folder's config.json")
    parser.add_argument("--restart", action="store_true", help="do not resume from the last checkpoint")
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        raise ZSBError("python -m zsb.run.worker runs under torchrun (see the README, several machines)")
    folder = RunFolder(args.run_dir, args.shared)
    if int(os.environ["RANK"]) > 0:
        _redirect_output(folder.process_log(int(os.environ["RANK"])))
    if args.parameters:
        cfg = validated(json.loads(args.parameters))
    elif folder.config_path.is_file():
        cfg = folder.read_config()
    else:
        raise ZSBError(f"{folder.config_path} does not exist: prepare the run folder first (its data and knowledge "
                       "stages)")
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    rank = int(os.environ["RANK"])
    signal.signal(signal.SIGTERM, _on_sigterm(rank))
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        try:
            stages.train(Run(folder, cfg), resume=not args.restart)
        finally:
            dist.destroy_process_group()
    except BaseException as e:
        say_ended(rank, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e).strip() else ''}")
        raise
    say_ended(rank, FINISHED)


main = record(main, error_handler=AtomicErrorHandler())


def _redirect_output(path) -> None:
    """Append this process's stdout and stderr (Python's and native code's) to the log at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} rank {os.environ['RANK']} (pid {os.getpid()})\n".encode())
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


if __name__ == "__main__":
    main()
