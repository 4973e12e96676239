"""Data-parallel training in several processes (one per GPU, on one machine or several) under ``torchrun``.

The rule: every process computes exactly what the single process computes, so ``processes`` is an execution
parameter (:mod:`zsb.config`). Every process draws the same domain-balanced batch from the same sampler with the same
seed (the paper's P classes x (K sketches + K photos)), and the same augmentation of it, then runs the networks on its
share only (:func:`zsb.data.sampler.rank_share`: as many sketches as photos, of the same classes). Then:

* **Losses over the global batch.** The outputs of all processes (embeddings, seen-class and ImageNet logits) are
  gathered with their gradient and put back in batch order, so the quadruplet loss mines its negatives among the whole
  batch and the classification and knowledge losses are means over it: every process computes the single process's
  loss L, mining (random mining included: the processes' RNGs agree) and logged values.
* **Gradient scaling.** The gather's backward sums the gradients of the N processes' identical copies of L, so each
  process holds N dL/d(its share); summing over processes and dividing by N (the data-parallel average, one
  all-reduce of the flattened gradients after backward) gives exactly dL/dtheta of the single process. A head that a
  zero loss weight leaves without gradient (the ablation's variants) keeps none, as in one process. We average after
  backward rather than through torch's DistributedDataParallel, which would need its unused-parameter search for
  those variants (its static-graph mode lets the processes' gradients drift apart when a head gets no gradient); what that leaves
  out is DDP's overlap of communication with backward, a matter of speed only.
* **Batch norm over the global batch.** Training-mode batch norm normalises with the statistics of the whole
  batch, as one process does (frozen statistics would change the result): every ``F.batch_norm`` call of the
  networks is computed from the per-process counts, means and squared deviations, gathered with their gradient and
  combined exactly (:class:`GlobalBatchNorm`); running statistics are updated from the same global values. We do not
  use ``torch.nn.SyncBatchNorm``: it runs on GPUs only (these checks run on CPUs), and its converter turns timm's
  fused BatchNormAct layers (EfficientNet-Lite) into SyncBatchNorm layers that never apply their activation.

What still differs is float rounding: convolutions on smaller batches, statistics combined from parts, sums reduced
in another order. In float64 one step agrees to about 2e-13 of the gradients' scale (tests/test_distributed.py); in
fp32 the difference is that of any other change of reduction order (thread count, GPU model), which an
ill-conditioned network amplifies (the tests' random 32 px EfficientNet: about 1e-4 in the losses of one step, as
far from the single process as the single process is from float64). The price of this exactness is data loading:
each process decodes and augments the whole global batch (augmentation draws come from one RNG stream in batch
order) and embeds only its share.

Only rank 0 writes the checkpoint and ``train_log.jsonl`` (atomically, as in one process); every process resumes
from the same checkpoint. Each process's output is appended, as it comes, to ``logs/train_rank<r>.log`` of the run
folder (rank 0's by the launcher, which also shows it): a log keeps what was said before a crash.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.elastic.multiprocessing.errors import ErrorHandler, record
from torch.overrides import TorchFunctionMode

from zsb.backbones import resolve_device, to_input
from zsb.config import canonical_json, validated
from zsb.data.sampler import rank_share
from zsb.engine import checkpoint_settings, other_parameters_error
from zsb.errors import ConfigError, ZSBError
from zsb.io import atomic_write_json
from zsb.model import ZSBOutput
from zsb.trainlog import read_log


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ``world_size`` processes of data-parallel training."""

    rank: int
    world_size: int

    @classmethod
    def current(cls) -> "Ranks | None":
        """The ranks of this process's default process group; None in a single process."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return None
        return cls(dist.get_rank(), dist.get_world_size())

    def share(self, images: torch.Tensor, domains: torch.Tensor) -> "Share":
        """This process's share of a global batch (:func:`zsb.data.sampler.rank_share`) of ``domains``: ``images``
        holds the whole batch, or only this share (as the training loader's :class:`~zsb.data.sampler.SeededBatches`
        loads it)."""
        shares = [rank_share(domains.tolist(), r, self.world_size) for r in range(self.world_size)]
        if not all(shares):
            raise ConfigError(
                f"a batch of {len(domains)} images cannot be shared among {self.world_size} processes: each needs at "
                "least one sketch. Use processes <= classes_per_batch x samples_per_domain."
            )
        order = torch.tensor([i for share in shares for i in share], device=images.device)
        if len(images) == len(domains):
            images = images[torch.tensor(shares[self.rank], device=images.device)]
        elif len(images) != len(shares[self.rank]):
            raise ValueError(f"{len(images)} images are neither the batch ({len(domains)}) nor this process's share")
        return Share(self, to_input(images, images.device), [len(s) for s in shares], torch.argsort(order))

    def average_gradients(self, model: torch.nn.Module) -> None:
        """Replace every gradient by its mean over the processes (one all-reduce of the flattened gradients)."""
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        for grad, mean in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(mean.view_as(grad))


@dataclass
class Share:
    """The images of one process's share of a global batch; calling it runs a network on them."""

    ranks: Ranks
    images: torch.Tensor
    sizes: list[int]
    inverse: torch.Tensor

    def __call__(self, network: Callable[[torch.Tensor], ZSBOutput | torch.Tensor]) -> ZSBOutput | torch.Tensor:
        """``network`` on this share, with batch norm over the global batch; its outputs (at least fp32) gathered
        from all processes with their gradient, in the order of the global batch."""
        with GlobalBatchNorm(self):
            output = network(self.images)
        if isinstance(output, ZSBOutput):  # one gather each: an output no loss uses gives its head no gradient
            return ZSBOutput(*(self.batch(part) for part in (output.embedding, output.class_logits,
                                                                output.imagenet_logits)))
        return self.batch(output)

    def batch(self, tensor: torch.Tensor) -> torch.Tensor:
        """The rows of ``tensor`` (this share's) from every process, in the order of the global batch."""
        return self.gather(_at_least_fp32(tensor))[self.inverse]

    def gather(self, tensor: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
        """The rows of ``tensor`` from every process, concatenated by rank, with their gradient (``sizes``: each
        process's number of rows, default the shares')."""
        return _Gather.apply(tensor, sizes or self.sizes, self.ranks.rank)


class _Gather(torch.autograd.Function):
    """All-gather along the first dimension (uneven sizes padded); backward sums the gradients of every process and
    returns this process's rows."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
        padded[: len(tensor)] = tensor
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        start = sum(ctx.sizes[: ctx.rank])
        return total[start : start + ctx.sizes[ctx.rank]], None, None


class GlobalBatchNorm(TorchFunctionMode):
    """Within this context, training-mode ``F.batch_norm`` normalises with the statistics of the global batch.

    Each process contributes its count n_r, per-channel mean m_r and sum of squared deviations M2_r; they are gathered
    (with gradient) and combined exactly: mean = sum n_r m_r / n, var = sum (M2_r + n_r (m_r - mean)^2) / n, the
    statistics one process computes over the whole batch. Running statistics take the unbiased variance, as there."""

    def __init__(self, share: Share) -> None:
        super().__init__()
        self.share = share

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm and _batch_norm_arguments(*args, **kwargs)["training"]:
            return self.batch_norm(**_batch_norm_arguments(*args, **kwargs))
        return func(*args, **kwargs)

    def batch_norm(self, input, running_mean, running_var, weight, bias, training, momentum, eps):
        channels = input.shape[1]
        dims = [d for d in range(input.dim()) if d != 1]
        shape = [1, channels] + [1] * (input.dim() - 2)
        x = _at_least_fp32(input)
        mean = x.mean(dims)
        m2 = (x - mean.view(shape)).square().sum(dims)
        local = torch.stack([mean.new_full((channels,), x.numel() / channels), mean, m2])
        counts, means, m2s = self.share.gather(local, [3] * self.share.ranks.world_size).view(-1, 3, channels).unbind(1)
        n = counts.sum(0)
        global_mean = (counts * means).sum(0) / n
        var = (m2s + counts * (means - global_mean).square()).sum(0) / n
        out = (x - global_mean.view(shape)) * torch.rsqrt(var + eps).view(shape)
        if weight is not None:
            out = out * weight.view(shape)
        if bias is not None:
            out = out + bias.view(shape)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(global_mean.to(running_mean.dtype), alpha=momentum)
                running_var.mul_(1 - momentum).add_((var * n / (n - 1)).to(running_var.dtype), alpha=momentum)
        return out.to(input.dtype)


def _at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in fp32, or in its own dtype when that is wider (fp64: checks of the arithmetic)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def _batch_norm_arguments(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                          eps=1e-5) -> dict:
    """The arguments of an ``F.batch_norm`` call, by name."""
    return {"input": input, "running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias,
            "training": training, "momentum": momentum, "eps": eps}


# --- launching: the training stage starts torchrun, torchrun starts the processes ---

_EXIT_CODE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
"""A process's exit code in torchrun's report of failed processes."""
_ENDED = re.compile(r"zsb\.distributed: rank (\d+) ended at (\d+\.\d+): ([^\n]*)")
"""The line a training process writes to its output as it ends (:func:`_say_ended`)."""
FINISHED, STOPPED = "finished", "stopped by SIGTERM"


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
               "-m", "zsb.distributed", str(run.dir), "--parameters", canonical_json(c.to_dict())]
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
    how to resume. Each process says in its output how it ended (:func:`_say_ended`), so the one that died is found
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


class AtomicErrorHandler(ErrorHandler):
    """torch's error handler for ``@record``, writing the error file atomically (a temporary file renamed into
    place). When one process dies, torchrun sends SIGTERM to the others and then parses their error files: one cut
    short by that SIGTERM would be empty, and torchrun would fail on it without reporting any process."""

    def record_exception(self, e: BaseException) -> None:
        path = self._get_error_file_path()
        if path:
            atomic_write_json(path, {"message": {"message": f"{type(e).__name__}: {e}", "extraInfo": {
                "py_callstack": traceback.format_exc(), "timestamp": str(int(time.time()))}}})


def _say_ended(rank: int, what: str) -> None:
    """Write how this process ends to its output (its log): the launcher finds the process that died by the line
    it could not write (:func:`_failure`)."""
    os.write(1, f"\nzsb.distributed: rank {rank} ended at {time.time():.6f}: {what}\n".encode())


def _on_sigterm(rank: int) -> Callable:
    def stop(signum, frame) -> None:
        _say_ended(rank, STOPPED)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # end as SIGTERM ends a process, without Python's cleanup

    return stop


def main(argv: list[str] | None = None) -> None:
    """One training process under torchrun: ``python -m zsb.distributed RUN_DIR`` (torchrun sets RANK,
    LOCAL_RANK, WORLD_SIZE and the rendezvous). The process group runs on NCCL with one GPU per local rank, or on
    gloo on CPUs."""
    from zsb.artifacts import RunFolder
    from zsb.run import stages
    from zsb.run.context import Run

    parser = argparse.ArgumentParser(prog="python -m zsb.distributed", description=main.__doc__)
    parser.add_argument("run_dir", help="the run folder (its manifest and class knowledge made first)")
    parser.add_argument("--shared", help="the folder whose manifest and knowledge the run reads (seeds, variants)")
    parser.add_argument("--parameters", help="the run's parameters as JSON; default: the run folder's config.json")
    parser.add_argument("--restart", action="store_true", help="do not resume from the last checkpoint")
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        raise ZSBError("python -m zsb.distributed runs under torchrun (see the README, several machines)")
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
        _say_ended(rank, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e).strip() else ''}")
        raise
    _say_ended(rank, FINISHED)


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
