"""A user's run beside the published one: ``zsb reproduce`` without ``--publish`` writes only its run folder and
reports its headline numbers next to those published in ``results/<benchmark>/``, with the published spread (over
seeds where several were run, else the 95% interval resampling queries), so a run on another CPU reads as "0.520;
published 0.526, within ..." instead of rewriting the published files."""

from __future__ import annotations

import json
from pathlib import Path

from zsb.config import RUN_ID_PARAMETERS
from zsb.metrics import metric_header

NOT_COMPARED = frozenset({"data_root"})
"""Parameters that differ between machines without changing what is measured (where the data lies)."""


def _read(path: Path) -> dict | None:
    """A JSON object, or None where the file is missing or holds something else."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def compare_with_published(run_dir: Path, published: Path) -> list[str]:
    """Lines that set the run's protocol metrics beside the published ones (one per metric), or say that there is
    nothing comparable published."""
    metrics = _read(run_dir / "metrics.json")
    if metrics is None:
        return []
    theirs = _read(published / "metrics.json")
    if theirs is None or not isinstance(theirs.get("metrics"), dict):
        return [f"nothing is published in {published} to compare this run with"]
    mine_cfg = (_read(run_dir / "config.json") or {}).get("parameters", {})
    their_cfg = (_read(published / "config.json") or {}).get("parameters")
    if not isinstance(their_cfg, dict):
        return [f"the run published in {published} records no parameters: its numbers are not compared"]
    differing = sorted(name for name in RUN_ID_PARAMETERS if name not in NOT_COMPARED
                       and mine_cfg.get(name) != their_cfg.get(name))
    if differing:
        return [f"the run published in {published} was made with other parameters ({', '.join(differing)}): "
                "its numbers are not this run's to compare with"]
    spread = (_read(published / "metrics_seeds.json") or {}).get("metrics", {})
    lines = []
    for name in metrics["protocol"]:
        value, reference = metrics["metrics"][name], theirs["metrics"].get(name)
        if not isinstance(reference, (int, float)):
            lines.append(f"{metric_header(name)} {value:.3f}; not published")
            continue
        seeds = spread.get(name, {})
        if seeds.get("sd") is not None:
            low, high = seeds["mean"] - 2 * seeds["sd"], seeds["mean"] + 2 * seeds["sd"]
            what = f"the published mean +- 2 sd over {len(seeds['seeds'])} seeds [{low:.3f}, {high:.3f}]"
        elif name in theirs.get("intervals", {}):
            interval = theirs["intervals"][name]["query"]
            low, high = interval["low"], interval["high"]
            what = f"the published 95% interval resampling queries [{low:.3f}, {high:.3f}]"
        else:
            lines.append(f"{metric_header(name)} {value:.3f}; published {reference:.3f}")
            continue
        where = "within" if low <= value <= high else "outside"
        lines.append(f"{metric_header(name)} {value:.3f}; published {reference:.3f}, {where} {what}")
    return lines
