"""Stage markers: ``stages/<stage>.json`` records that a stage notebook last succeeded, with the fingerprint of the
settings its outputs depend on (the run's artifact rule, :mod:`zsb.artifacts`, applied to a whole notebook), how
long it took, and what it vouches for: the size of each file of its artifacts (:meth:`RunFolder.artifact_files`)
and, for a tensor file or a settings record, a digest of the settings it records. A stage is skipped while its
marker's fingerprint is the one this run would write and every one of those files that is present still matches
(a missing one is remade on demand by the stage that reads it, as in a run folder restored from its small files).
A file that differs (truncated, replaced) is named, and its stage runs again. The check reads no tensor data: a
tensor file's settings are read with its storage memory-mapped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from zsb.config import RunConfig
from zsb.errors import WeightsError
from zsb.io import atomic_write_json, safe_torch_load
from zsb.artifacts import RunFolder
from zsb.run.stages import STAGES


def stage_fingerprint(stage: str, cfg: RunConfig, notebook_only: Mapping[str, Any]) -> str:
    """The fingerprint of the settings of ``stage``'s artifacts, with the notebook's own parameters appended."""
    own = "-" + json.dumps(dict(sorted(notebook_only.items()))) if notebook_only else ""
    return cfg.fingerprint(*STAGES[stage]) + own


def stage_up_to_date(folder: RunFolder, stage: str, fingerprint: str) -> bool:
    """Whether ``stage`` last succeeded in ``folder`` with the settings that ``fingerprint`` summarises, and its
    artifacts are as it left them."""
    marker = _read_marker(folder, stage)
    return marker.get("fingerprint") == fingerprint and not damaged_artifacts(folder, stage)


def damaged_artifacts(folder: RunFolder, stage: str) -> dict[Path, str]:
    """The files ``stage``'s marker vouches for that are present but not as the stage left them, each with what
    differs."""
    damaged = {}
    for name, wanted in _read_marker(folder, stage).get("artifacts", {}).items():
        path = folder.dir / name
        if not path.exists():
            continue
        found = artifact_record(path)
        if found["bytes"] != wanted.get("bytes"):
            damaged[path] = f"{name} has {found['bytes']} bytes, {wanted.get('bytes')} when {stage} wrote it"
        elif found.get("settings") != wanted.get("settings"):
            damaged[path] = f"{name} no longer records the settings {stage} made it with"
    return damaged


def artifact_record(path: Path) -> dict[str, Any]:
    """What a marker vouches for about one file: its size, and a digest of the settings a tensor file records
    inside (``settings``, or a checkpoint's ``identity``) or a settings record holds (None where unreadable)."""
    record: dict[str, Any] = {"bytes": path.stat().st_size}
    if path.suffix == ".pt":
        try:
            stored = safe_torch_load(path, "artifact", mmap=True)
            settings = stored.get("settings", stored.get("identity")) if isinstance(stored, dict) else None
        except WeightsError:
            settings = None
        record["settings"] = _digest(settings) if isinstance(settings, str) else None
    elif path.name.endswith(".settings.json"):
        record["settings"] = _digest(path.read_text(errors="replace"))
    return record


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_marker(folder: RunFolder, stage: str) -> dict[str, Any]:
    try:
        marker = json.loads(folder.marker(stage).read_text())
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def mark_done(folder: RunFolder, stage: str, fingerprint: str, seconds: float) -> None:
    files = [path for artifact in STAGES[stage] for path in folder.artifact_files(artifact) if path.is_file()]
    atomic_write_json(folder.marker(stage), {
        "fingerprint": fingerprint, "seconds": round(seconds, 1),
        "artifacts": {os.path.relpath(path, folder.dir): artifact_record(path) for path in files},
    })


def write_timing(folder: RunFolder) -> None:
    """``timing.json``: the seconds each stage took when it last ran, and their sum (the run's wall time)."""
    seconds = {marker.stem: json.loads(marker.read_text()).get("seconds", 0.0) for marker in folder.markers}
    atomic_write_json(folder.timing_path, {"stages": seconds, "seconds": round(sum(seconds.values()), 1)})
