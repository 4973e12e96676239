"""The prepared GPU check runs end to end on the CPU at toy sizes, so it cannot rot before a GPU is lent."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_checks_dry_run_takes_every_step_on_the_cpu():
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "dry-run"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for line in ("=== ResNet50, 64 px, bf16 (eager) on cpu ===", "decode alone", "training step fed by the loader",
                 "ratio loader / compute limit", "evaluation (feature extraction"):
        assert line in out, out[-3000:]
    assert not (REPO / ".gpu" / "tree").exists()  # the dry run works in a temporary folder only


def test_an_unknown_mode_is_refused_with_the_usage():
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "bogus"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "usage: bash benchmarks/gpu_check.sh" in done.stderr
