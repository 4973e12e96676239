"""Time the README's first command, ``zsb reproduce`` on the embedded default, stage by stage, on this CPU as it is
and held to AVX2 (no AVX-512, no bf16 units), and print the ratio.

A new user's machine often has only AVX2. Its arithmetic is emulated here by capping PyTorch's own kernels
(``ATEN_CPU_CAPABILITY=avx2``) and oneDNN's (``ONEDNN_MAX_CPU_ISA=AVX2``) and training in fp32, which is what
``precision=auto`` resolves to without bf16 units. The emulation keeps this CPU's clock, caches and memory: a real
AVX2 machine can be slower still (one 2-core AVX2 EPYC ran 2.4 times slower than this emulation), so the
emulated figure is a lower bound, not a measurement of that machine.

Each run writes into a fresh temporary results root (nothing in ``results/`` or the README changes) and the
synthetic data are generated before the first run, so every run starts with the same warm data cache.

    python benchmarks/bench_embedded_default.py              # native, then AVX2-emulated
    python benchmarks/bench_embedded_default.py --only avx2  # one of them
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zsb.data.synthetic import ensure_synthetic
from zsb.io import machine_info
from zsb.run.stages import STAGES

SETTINGS = {
    "native": ({}, []),
    "avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, ["--set", "precision=fp32"]),
}
"""Each setting: environment variables and extra ``zsb reproduce`` arguments."""


def timed_reproduce(setting: str) -> dict:
    """Run ``zsb reproduce`` in a temporary results root; return its ``timing.json`` and the command's wall time."""
    env_extra, arguments = SETTINGS[setting]
    with tempfile.TemporaryDirectory(prefix=f"zsb-bench-{setting}-") as root:
        command = [sys.executable, "-m", "zsb", "reproduce", "--results", root, "--run-id", setting,
                   "--no-progress", *arguments]
        started = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "MPLBACKEND": "agg", **env_extra},
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        timing = json.loads((Path(root) / "synthetic" / "runs" / setting / "timing.json").read_text())
    return {"wall": wall, **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SETTINGS), help="run one setting only")
    args = parser.parse_args()
    settings = [args.only] if args.only else list(SETTINGS)
    ensure_synthetic(progress=False)
    print(f"machine: {machine_info()}")
    results = {setting: timed_reproduce(setting) for setting in settings}
    print(f"{'stage':<14}" + "".join(f"{s + ' (s)':>14}" for s in settings)
          + (f"{'avx2 / native':>16}" if len(settings) == 2 else ""))
    for stage in [*STAGES, "wall"]:
        values = [results[s]["wall"] if stage == "wall" else results[s]["stages"].get(stage, 0.0) for s in settings]
        ratio = f"{values[1] / values[0]:>16.2f}" if len(values) == 2 and values[0] else ""
        print(f"{stage:<14}" + "".join(f"{v:>14.1f}" for v in values) + ratio)


if __name__ == "__main__":
    main()
