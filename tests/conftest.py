"""Shared fixtures: the real sketchy-mini subset lives beside the project, never inside it."""

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SKETCHY_MINI = Path(os.environ.get("ZSB_SKETCHY_MINI", REPO_ROOT.parent / "shared" / "data" / "sketchy-mini"))

os.environ.setdefault("MPLBACKEND", "agg")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def sketchy_mini_root() -> Path:
    """Path to ../shared/data/sketchy-mini (or $ZSB_SKETCHY_MINI). Tests that need it are skipped only where the
    folder is absent (a user's machine without the shared data); CI always has it."""
    if not SKETCHY_MINI.is_dir():
        pytest.skip(f"real data not found at {SKETCHY_MINI}")
    return SKETCHY_MINI


@pytest.fixture(scope="session")
def synthetic_env(tmp_path_factory) -> dict:
    """Environment for subprocesses that generate the synthetic benchmark: a cache shared by the session
    ($ZSB_CACHE when set), plots without a display."""
    cache = os.environ.get("ZSB_CACHE") or str(tmp_path_factory.mktemp("zsb-cache"))
    return {**os.environ, "ZSB_CACHE": cache, "MPLBACKEND": "agg", "PYTHONUNBUFFERED": "1"}
