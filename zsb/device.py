"""Where and how the networks run: the device a run's ``device`` names, its arithmetic (``precision="auto"``), the
channels-last layout of networks and batches on it, and the DataLoader workers of a process."""

from __future__ import annotations

import torch

from zsb.errors import ConfigError
from zsb.io import usable_cpus


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but no CUDA GPU is visible; use device='cpu' or 'auto'")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` has bf16 arithmetic units (a CUDA GPU that supports bf16; a CPU with AVX512-BF16 or AMX).
    Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def to_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a CNN to ``device`` in channels-last memory format (NHWC), which oneDNN and cuDNN run fastest. On CUDA
    this also turns on cuDNN's autotuner (``cudnn.benchmark``): zsb's input shapes are fixed, so the fastest
    convolution algorithms are chosen once."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return module.to(device, memory_format=torch.channels_last)


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch of images (B, 3, H, W) on ``device``, channels-last like the network's weights; the copy from
    pinned memory does not block (the host prepares the next batch meanwhile)."""
    if images.dim() == 4:
        return images.to(device, memory_format=torch.channels_last, non_blocking=True)
    return images.to(device, non_blocking=True)


def resolve_precision(precision: str, device: str) -> str:
    """``"auto"``: bf16 where ``device`` has native bf16 units (AVX512-BF16 or AMX CPUs, bf16 GPUs), else fp32;
    bf16 is emulated, and many times slower, elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(resolve_device(device)) else "fp32"


def resolve_workers(num_workers: int, processes: int = 1) -> int:
    """DataLoader workers per training process: ``num_workers``, or for -1 the CPUs this process may use
    (:func:`zsb.io.usable_cpus`) less one for the main process, divided among the ``processes``."""
    if num_workers >= 0:
        return num_workers
    return max(0, usable_cpus() // max(processes, 1) - 1)
