"""Stage markers: ``stages/<stage>.json`` records that a stage notebook last succeeded, with the fingerprint of the
settings its outputs depend on (the run's artifact rule, :mod:`zsb.artifacts`, applied to a whole notebook), and how
long it took. A stage is skipped while its marker's fingerprint is the one this run would write."""

from __future__ import annotations

import json
from typing import Any, Mapping

from zsb.config import RunConfig
from zsb.io import atomic_write_json
from zsb.artifacts import RunFolder
from zsb.run.stages import STAGES


def stage_fingerprint(stage: str, cfg: RunConfig, notebook_only: Mapping[str, Any]) -> str:
    """The fingerprint of the settings of ``stage``'s artifacts, with the notebook's own parameters appended."""
    own = "-" + json.dumps(dict(sorted(notebook_only.items()))) if notebook_only else ""
    return cfg.fingerprint(*STAGES[stage]) + own


def stage_up_to_date(folder: RunFolder, stage: str, fingerprint: str) -> bool:
    """Whether ``stage`` last succeeded in ``folder`` with the settings that ``fingerprint`` summarises."""
    try:
        return json.loads(folder.marker(stage).read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


def mark_done(folder: RunFolder, stage: str, fingerprint: str, seconds: float) -> None:
    atomic_write_json(folder.marker(stage), {"fingerprint": fingerprint, "seconds": round(seconds, 1)})


def write_timing(folder: RunFolder) -> None:
    """``timing.json``: the seconds each stage took when it last ran, and their sum (the run's wall time)."""
    seconds = {marker.stem: json.loads(marker.read_text()).get("seconds", 0.0) for marker in folder.markers}
    atomic_write_json(folder.timing_path, {"stages": seconds, "seconds": round(sum(seconds.values()), 1)})
