"""Training in several processes on this machine: :func:`launch` starts ``run.cfg.processes`` processes under
torchrun, each running :mod:`zsb.run.worker` (the training stage with its share of every batch, the numerics of
:mod:`zsb.distributed`), shows rank 0's output, and on a failure names the process that died and how.

Only rank 0 writes the checkpoint and ``train_log.jsonl`` (atomically, as in one process); every process resumes
from the same checkpoint. Each process's output is appended, as it comes, to ``logs/train_rank<r>.log`` of the run
folder (rank 0's by the launcher, which also shows it): a log keeps what was said before a crash.
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import subprocess
import sys
import time

import torch

from zsb.checkpoint import checkpoint_settings, other_parameters_error
from zsb.config import canonical_json
from zsb.device import resolve_device
from zsb.errors import ConfigError, ZSBError
from zsb.trainlog import read_log

_EXIT_CODE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
"""A process's exit code in torchrun's report of failed processes."""
_ENDED = re.compile(r"zsb\.distributed: rank (\d+) ended at (\d+\.\d+): ([^\n]*)")
"""The line a training process writes to its output as it ends (:func:`say_ended`)."""
FINISHED, STOPPED = "finished", "stopped by SIGTERM"


def say_ended(rank: int, what: str) -> None:
    """Write how this process ends to its output (its log): the launcher finds the process that died by the line
    it could not write (:func:`_failure`)."""
    os.write(1, f"\nzsb.distributed: rank {rank} ended at {time.time():.6f}: {what}\n".encode())


def launch(run, resume: bool = True) -> list[dict]:
    """Train ``run`` (a :class:`zsb.run.context.Run` whose manifest and class knowledge are made) in
    ``run.cfg.processes`` processes on this machine under torchrun; return the training log. A checkpoint of other
    training parameters is refused first (:class:`~zsb.errors.WeightsError`), as in one process.

    Rank 0's output is shown here as it comes (progress bars, one JSON line per epoch) and appended to its log. A
    process that dies stops them all: a ZSBError names its rank and log, and the last epoch's checkpoint is intact."""
    c = run.cfg
    path = run.folder.checkpoint_path
    if resume and path.is_file() and checkpoint_settings(path) != c.settings("checkpoint"):
        raise other_parameters_error(path)  # before any process starts, as in one process
    device = resolve_device(c.device)
    if device.type == "cuda" and c.processes > torch.cuda.device_count():
        raise ConfigError(f"processes={c.processes}, but this machine has {torch.cuda.device_count()} GPU(s): use "
                          "one process per GPU")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(c.processes),
               "-m", "zsb.run.worker", str(run.dir), "--parameters", canonical_json(c.to_dict())]
    if run.folder.shared is not None:
        command += ["--shared", str(run.folder.shared)]
    if not resume:
        command.append("--restart")
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the knowledge's teacher ran here: leave rank 0 its GPU's memory
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // c.processes)))
    log_path = run.folder.process_log(0)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    starts = [_size(run.folder.process_log(rank)) for rank in range(c.processes)]
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} rank 0 of {c.processes} (torchrun --standalone)\n")
        status, tail = _stream(command, env, log)
    if status != 0:
        raise _failure(run, status, tail, starts)
    return read_log(run.folder.log_path)


def _stream(command: list[str], env: dict, log) -> tuple[int, str]:
    """Run ``command``, copying its output (stdout and stderr) to this process's stdout and to ``log`` as it
    comes; return its exit status and the end of its output. An interrupt here stops it (torchrun stops its
    processes) before it is raised."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    try:
        while chunk := os.read(process.stdout.fileno(), 65536):
            text = decoder.decode(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            log.write(text)
            log.flush()
            tail = (tail + text)[-65536:]
        return process.wait(), tail
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def _size(path) -> int:
    return path.stat().st_size if path.exists() else 0


def _failure(run, status: int, output: str, starts: list[int]) -> ZSBError:
    """The error of a failed launch: which process died first, how, and where its log is; how far training got and
    how to resume. Each process says in its output how it ended (:func:`say_ended`), so the one that died is found
    in the processes' logs since the launch (``starts``: their sizes before it): one that ended without a word
    (killed by a signal) while others spoke, else the first that raised. torchrun's report, where it made one, adds
    the exit codes."""
    ends: dict[int, tuple[float, str]] = {}
    for rank, start in enumerate(starts):
        path = run.folder.process_log(rank)
        text = path.read_bytes()[start:].decode("utf-8", errors="replace") if path.exists() else ""
        for found in _ENDED.finditer(text):
            if int(found.group(1)) == rank:
                ends.setdefault(rank, (float(found.group(2)), found.group(3).strip()))
    codes = {int(rank): int(code) for rank, code in _EXIT_CODE.findall(output)}
    silent = [rank for rank in range(len(starts)) if rank not in ends]
    raised = sorted((when, rank) for rank, (when, what) in ends.items() if what not in (FINISHED, STOPPED))
    if len(silent) == len(starts):  # none said anything: they may never have started
        silent = []
    dead = silent[0] if silent else raised[0][1] if raised else None
    if dead is None:
        who = f"torchrun ended with status {status}; the processes' logs: {run.folder.process_log(0).parent}"
    else:
        code = codes.get(dead)
        if code is not None and code < 0 and -code in signal.valid_signals():
            how = f"killed by {signal.Signals(-code).name}: out of memory, or stopped by someone"
        elif dead in silent:
            how = "it ended without a word, so a signal killed it: out of memory, or stopped by someone"
        else:
            how = (f"exit code {code}: " if code is not None else "") + ends[dead][1]
        who = f"training process rank {dead} of {run.cfg.processes} died ({how}); its log: " \
              f"{run.folder.process_log(dead)}"
    done = len(read_log(run.folder.log_path))
    resume = (f"the checkpoint of epoch {done} of {run.cfg.epochs} ({run.folder.checkpoint_path}) is intact: rerun the "
              "training stage to resume from it" if done else "no epoch had finished: rerunning starts training afresh")
    return ZSBError(f"training in {run.dir} stopped: {who}. The other processes were stopped; {resume}.")
