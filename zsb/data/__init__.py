"""Benchmarks, manifests, datasets, balanced batches and transforms for zero-shot SBIR.

The main names are importable from here; each is loaded from its module on first use, so importing one part
(e.g. ``zsb.data.registry``) does not import torchvision or pandas.
"""

from importlib import import_module

_EXPORTS = {
    "BENCHMARKS": "registry",
    "Benchmark": "registry",
    "get_benchmark": "registry",
    "load_split": "registry",
    "normalize_class_name": "registry",
    "Manifest": "manifest",
    "build_manifest": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "ImageDataset": "datasets",
    "DomainBalancedBatchSampler": "sampler",
    "build_transform": "transforms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zsb.data' has no attribute '{name}'")
    return getattr(import_module(f"zsb.data.{_EXPORTS[name]}"), name)
