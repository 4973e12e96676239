"""Atomic, safe file I/O and run provenance.

Every result file is written to a temporary file in the same folder and renamed into place, so a crash or a full
disk never leaves a half-written file and never damages the previous version. Tensors are read with
``torch.load(..., weights_only=True)``: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from zsb.errors import WeightsError, ZSBError


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ZSBError(
            f"cannot write {path}: {e.strerror or e}. Check that {path.parent} exists and is writable, "
            "or choose another results folder."
        ) from e
    binary = "b" in mode
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; results are ordinary files
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, ZSBError):
            raise ZSBError(
                f"writing {path} failed: {e.strerror or e}. The previous version of the file, if any, is intact; "
                "free some disk space or fix the folder's permissions and run again."
            ) from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file: a crash leaves the previous checkpoint intact."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def require_free_space(folder: str | os.PathLike, nbytes: int, what: str) -> None:
    """ZSBError when the disk of ``folder`` (or of its nearest existing parent) has less than ``nbytes`` free."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise ZSBError(
            f"not enough free disk space in {folder} for {what}: it needs about {nbytes / 2**20:.1f} MB and "
            f"{free / 2**20:.1f} MB are free. Free some disk space and run again."
        )


def safe_torch_load(path: str | os.PathLike, what: str = "checkpoint", remedy: str = "", mmap: bool = False) -> Any:
    """Load a tensor file with ``weights_only=True``; a missing, corrupt or code-carrying file is a WeightsError whose
    message ends with ``remedy`` (what to do about the file; by default: replace it from a trusted source). ``mmap``
    maps the tensors' storage instead of reading it (to look at a large file's small entries cheaply)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} file {path} does not exist. Check the path, or create it first.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        raise WeightsError(
            f"{what} file {path} could not be loaded safely ({_load_failure(e)}): it is damaged, or it holds more "
            "than plain tensors, and zsb never unpickles anything else (it reads with torch.load(weights_only=True)). "
            + (remedy or "Replace it with plain tensors or a state dict from a trusted source.")
        ) from e


def _load_failure(error: Exception) -> str:
    """How a load failed, in one line: torch's first line, except where torch suggests loading unsafely."""
    first = str(error).splitlines()[0].strip() if str(error).strip() else ""
    if not first or any(word in first.lower() for word in ("weights_only", "trust", "unpickl", "still be loaded")):
        return type(error).__name__
    return f"{type(error).__name__}: {first}"


def git_commit(repo: str | os.PathLike | None = None) -> str | None:
    """The current git commit of the project (with '-dirty' when the tree has changes), or None outside git."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def environment_info() -> dict[str, Any]:
    """Provenance recorded with every run: git commit, Python, platform and key package versions."""
    from importlib import metadata

    versions = {}
    for pkg in ("zsb", "torch", "torchvision", "timm", "numpy", "scikit-learn", "pandas", "papermill", "pillow"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": machine_info(),
        "versions": versions,
    }


def machine_summary(info: dict[str, Any] | None) -> str:
    """One short line for a :func:`machine_info` record, the CPU kind that every timing must name:
    ``"AMD EPYC, 2 cores, bf16 units"`` (``"bf16 emulated"`` without avx512_bf16 / amx_bf16; the GPU appended);
    ``"unknown"`` for a run whose zsb did not record its machine."""
    if not info:
        return "unknown"
    flags = set(info.get("cpu_flags", ()))
    parts = [str(info.get("cpu", "unknown CPU")), f"{info.get('logical_cores', '?')} cores",
             "bf16 units" if flags.intersection(BF16_UNITS) else "bf16 emulated"]
    if info.get("gpu"):
        parts.append(str(info["gpu"]))
    return ", ".join(parts)


BF16_UNITS = ("avx512_bf16", "amx_bf16")
"""CPU flags of bf16 arithmetic units: without one of them bf16 is emulated, slower than fp32."""
CPU_FEATURES = ("avx2", "avx512f", *BF16_UNITS)
"""CPU flags that decide training speed (:data:`BF16_UNITS` and the vector widths), recorded with every run."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """What a timing depends on: the CPU model, its logical cores and bf16-relevant flags (from /proc/cpuinfo
    where there is one), and the CUDA GPU, if any."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    info: dict[str, Any] = {"cpu": model, "logical_cores": os.cpu_count(),
                            "cpu_flags": [f for f in CPU_FEATURES if f in flags]}
    import torch

    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def default_cache_dir() -> Path:
    """$ZSB_CACHE if set, else ~/.cache/zsb."""
    return Path(os.environ.get("ZSB_CACHE") or Path.home() / ".cache" / "zsb")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
