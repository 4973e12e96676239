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

The launch of those processes, and the entry point each of them runs, are the stage layer's
(:mod:`zsb.run.launch`, :mod:`zsb.run.worker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from zsb.data.sampler import rank_share
from zsb.device import to_input
from zsb.errors import ConfigError
from zsb.model import ZSBOutput


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
