"""A run folder's artifacts: where each one lives, and the one rule by which it is reused or rebuilt.

Layout of ``results/<benchmark>/runs/<run_id>/`` (:class:`RunFolder` is the one place that knows these paths)::

    config.json                     resolved parameters; git commit, machine, versions of the training
    manifest.csv (+ .json)          01_data: the images of the split
    knowledge.pt                    02_knowledge: class-oriented knowledge
    checkpoints/last.pt             03_train: the model after the last finished epoch
    train_log.jsonl                 03_train: one JSON line per epoch
    features/{trained,frozen}.pt    04_evaluate: embeddings of the unseen queries and gallery
    metrics.json, metrics_frozen.json, per_query*.csv
    tables/*.csv|md, figures/*.png  what gets published to results/<benchmark>/
    ablation/<variant>/             06_ablation: each variant, itself a run folder
    notebooks/<stage>.ipynb, stages/<stage>.json, timing.json, .lock    the driver's
    logs/train_rank<r>.log          03_train in several processes: each process's output

The rule: every artifact records the **settings** it was made from: the parameters its declaration in
:mod:`zsb.config` names (``RunConfig.settings(artifact)``) plus anything else it depends on (the seen classes,
say), as canonical JSON. A reader that finds other settings (or none, or a damaged file) rebuilds the artifact; the
log line says which settings differ. Tensor artifacts hold their record inside the file (``{key: payload,
"settings": ...}``, read with ``weights_only=True``); other files keep it in a ``<file>.settings.json`` sidecar that
is removed before the file is rewritten, so a half-finished rebuild is never mistaken for a fresh one. A training
checkpoint is the exception to "rebuild": :mod:`zsb.engine` refuses one with other settings rather than overwrite it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from zsb.config import RunConfig, canonical_json, resolve
from zsb.errors import ConfigError, WeightsError
from zsb.io import (atomic_torch_save, atomic_write_bytes, atomic_write_json, atomic_write_text, environment_info,
                    safe_torch_load)
from zsb.log import get_logger
from zsb.trainlog import LOG_NAME

if TYPE_CHECKING:
    import torch

CONFIG_NAME = "config.json"
"""A run folder's resolved parameters, with the git commit and package versions that made them."""
CHECKPOINT_NAME = "last.pt"
KNOWLEDGE_LOG = get_logger("zsb.knowledge")
"""Where the class knowledge's cache says whether it is reused or computed."""


def default_run_dir(benchmark: str, results_root: str | Path = "results") -> Path:
    """Where a notebook run alone (``run_dir=""``) keeps its files."""
    return Path(results_root) / benchmark / "runs" / "notebook"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder.

    ``shared`` is the folder whose manifest and class knowledge this one reads (a further seed or an ablation
    variant made from the same data and teacher settings, :meth:`zsb.run.context.Run.variant`); ``None``: its own."""

    dir: Path
    shared: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dir", Path(self.dir))
        if self.shared is not None:
            object.__setattr__(self, "shared", Path(self.shared))

    @property
    def data_dir(self) -> Path:
        """Where the manifest and the class knowledge of this folder live."""
        return self.shared or self.dir

    # --- parameters ---
    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_NAME

    def write_config(self, cfg: RunConfig, keep_environment: bool = True) -> None:
        """Record the resolved parameters with the environment that uses them: git commit, machine, Python and
        package versions (:func:`zsb.io.environment_info`). When the folder's ``metrics.json`` is already recorded for
        these parameters' features (:meth:`metrics_record`), the environment recorded with it is kept: it names the
        code and machine that trained and evaluated the model, which a later run that only reuses or tabulates the
        folder (a campaign step, a restored seed, another stage) must not overwrite. ``keep_environment=False``
        records this environment all the same: :func:`zsb.run.stages.train` passes it once it has trained the model
        (``--force`` included)."""
        recorded = self.recorded_environment() if keep_environment and self.metrics_record(cfg) is not None else {}
        environment = recorded if "git_commit" in recorded else environment_info()
        atomic_write_json(self.config_path, {"parameters": cfg.to_dict(), **environment})

    def recorded_environment(self) -> dict[str, Any]:
        """The environment :meth:`write_config` recorded beside the parameters (``git_commit``, ``machine``,
        versions), or ``{}`` when the folder has no readable config.json."""
        try:
            recorded = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        if not isinstance(recorded, dict):
            return {}
        return {key: value for key, value in recorded.items() if key != "parameters"}

    def recorded_parameters(self) -> dict[str, Any]:
        """The parameters stored in the folder's config.json (provenance keys are left out); ``{}`` without one."""
        if not self.config_path.is_file():
            return {}
        try:
            return dict(json.loads(self.config_path.read_text())["parameters"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{self.config_path} is not a zsb config.json ({e}); delete it or choose another run "
                              "folder") from e

    def read_config(self) -> RunConfig:
        """The folder's resolved parameters, as written by :meth:`write_config` (a parameter an older zsb did not
        record takes today's preset or default)."""
        return resolve(saved=self.recorded_parameters())

    # --- artifacts ---
    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.csv"

    @property
    def knowledge_path(self) -> Path:
        return self.data_dir / "knowledge.pt"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoints" / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_NAME

    def process_log(self, rank: int) -> Path:
        """The output of training process ``rank`` when training runs in several (:mod:`zsb.distributed`)."""
        return self.dir / "logs" / f"train_rank{rank}.log"

    def features_path(self, which: str) -> Path:
        """Cached embeddings: the fine-tuned model's in this folder; the frozen pretrained network's beside the
        manifest (:attr:`data_dir`), since no seed or training parameter changes them (the cache checks its
        settings all the same)."""
        return (self.data_dir if which == "frozen" else self.dir) / "features" / f"{which}.pt"

    def metrics_path(self, which: str = "trained") -> Path:
        return self.dir / f"metrics{suffix(which)}.json"

    def metrics_record(self, cfg: RunConfig) -> dict[str, Any] | None:
        """The trained model's ``metrics.json`` record when it was written for ``cfg``'s current features (its
        ``fingerprint``; a run with 0 epochs has frozen features), else None."""
        path = self.metrics_path("trained")
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        wanted = cfg.fingerprint("frozen_features" if cfg.epochs == 0 else "features")
        return record if isinstance(record, dict) and record.get("fingerprint") == wanted else None

    def per_query_path(self, which: str = "trained") -> Path:
        return self.dir / f"per_query{suffix(which)}.csv"

    def table(self, name: str) -> Path:
        """A table's stem: ``tables/<name>`` (written as .csv and .md)."""
        return self.dir / "tables" / name

    def figure(self, name: str) -> Path:
        return self.dir / "figures" / name

    @property
    def seeds_metrics_path(self) -> Path:
        return self.dir / "metrics_seeds.json"

    def variant(self, name: str, shared: bool = False) -> "RunFolder":
        """Ablation variant ``name``'s folder; with ``shared`` it reads this folder's manifest and knowledge."""
        return RunFolder(self.dir / "ablation" / name, self.data_dir if shared else None)

    def seed(self, seed: int) -> "RunFolder":
        """The folder of a further training seed (``seeds/<seed>/``): the same manifest and knowledge as this one."""
        return RunFolder(self.dir / "seeds" / str(seed), self.data_dir)

    def artifact_files(self, artifact: str) -> list[Path]:
        """The files in this folder of ``artifact`` (a name of :data:`zsb.config.ARTIFACTS`) that a later stage
        reads, with their settings records: what a stage marker vouches for (:mod:`zsb.driver.markers`)."""
        from zsb.data.manifest import sidecar_path

        evaluation = {which: [self.features_path(which), self.metrics_path(which), self.per_query_path(which)]
                      for which in ("trained", "frozen")}
        return {
            "manifest": [self.manifest_path, record_path(self.manifest_path), sidecar_path(self.manifest_path)],
            "knowledge": [self.knowledge_path],
            "checkpoint": [self.checkpoint_path, self.log_path],
            "features": evaluation["trained"],
            "frozen_features": evaluation["frozen"],
            "ablation_table": [self.table("ablation").with_suffix(".csv")],
        }.get(artifact, [])

    # --- the driver's ---
    def notebook(self, stage: str) -> Path:
        return self.dir / "notebooks" / f"{stage}.ipynb"

    def marker(self, stage: str) -> Path:
        return self.dir / "stages" / f"{stage}.json"

    @property
    def markers(self) -> list[Path]:
        return sorted((self.dir / "stages").glob("*.json"))

    @property
    def timing_path(self) -> Path:
        return self.dir / "timing.json"

    @property
    def lock_path(self) -> Path:
        return self.dir / ".lock"

    def small_files(self) -> list[Path]:
        """Every file of the run folder (its seeds' and variants' included) that a later run needs to tabulate
        the finished runs and train only what is new: configs, stage markers, training logs, metrics, per-query
        values, tables, figures. Left out: what is large or names this machine's paths, and is remade on demand
        (checkpoints, tensors, the manifest and its sidecars with their absolute paths, the knowledge, the executed
        notebooks, process logs, the lock). Without its checkpoint a finished run is not trained again unless a
        stage needs its model (:func:`zsb.run.stages.train_unless_evaluated`)."""
        from zsb.data.manifest import sidecar_path

        folders = {self.checkpoint_path.parent.name, self.features_path("trained").parent.name,
                   self.notebook("").parent.name, self.process_log(0).parent.name}
        names = {self.lock_path.name, *(path.name for artifact in (self.manifest_path, self.knowledge_path)
                                        for path in (artifact, record_path(artifact), sidecar_path(artifact)))}
        return sorted(
            path for path in self.dir.rglob("*")
            if path.is_file() and path.suffix != ".pt" and path.name not in names
            and not folders & set(path.relative_to(self.dir).parts[:-1])
        )

    def published_files(self) -> list[Path]:
        """The small files that ``results/<benchmark>/`` shows: metrics, parameters, log, timing, tables, figures."""
        names = (CONFIG_NAME, "metrics.json", "metrics_frozen.json", "metrics_seeds.json", LOG_NAME, "timing.json")
        files = [self.dir / name for name in names if (self.dir / name).exists()]
        for folder in ("tables", "figures"):
            files += sorted(p for p in (self.dir / folder).glob("*") if p.is_file())
        return files


def suffix(which: str) -> str:
    """File-name suffix of an evaluation: none for the trained model, ``_frozen`` for the frozen features."""
    return "" if which == "trained" else f"_{which}"


def open_config(run_dir: Path, overrides: dict[str, Any]) -> RunConfig:
    """The run folder's configuration: read as recorded when nothing is overridden, else resolved (and recorded)
    once with the overrides: the only place besides the driver that resolves."""
    folder = RunFolder(run_dir)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if folder.config_path.is_file() and not overrides:
        return folder.read_config()
    cfg = resolve(overrides, folder.recorded_parameters())
    folder.write_config(cfg)
    return cfg


# --- the rule: an artifact records the settings it was made from ---


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(name, old value, new value)`` for every setting that differs (``"<absent>"`` where one side lacks it)."""
    return [
        (key, old.get(key, "<absent>"), new.get(key, "<absent>"))
        for key in sorted(set(old) | set(new))
        if old.get(key, "<absent>") != new.get(key, "<absent>")
    ]


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    return "; ".join(f"{key}: {a!r} -> {b!r}" for key, a, b in differences(old, new))


def cached_tensor(
    path: str | os.PathLike,
    key: str,
    settings: dict[str, Any],
    build: Callable[[], Any],
    what: str,
    logger: logging.Logger,
) -> Any:
    """The payload stored at ``path`` under ``key`` if it was made with exactly ``settings``, else ``build()``
    (stored atomically with its settings, replacing the old file). ``what`` names the artifact in the log."""
    wanted = canonical_json(settings)
    payload, reason = _read_tensor_record(Path(path), key, wanted, what)
    if reason is None:
        logger.info("reusing %s from %s", what, path)
        return payload
    logger.warning("computing %s: %s", what, reason)
    payload = build()
    atomic_torch_save({key: payload, "settings": wanted}, path)
    return payload


def load_or_compute_class_knowledge(
    path: str | os.PathLike, settings: dict[str, Any], compute: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """The knowledge tensor cached at ``path`` if it was computed with exactly ``settings``, else ``compute()``.

    The cache file holds ``{"knowledge": tensor, "settings": canonical JSON string}`` (readable with
    ``torch.load(weights_only=True)``), by the run folder's one rule (:func:`cached_tensor`): a
    missing or unreadable file, or different settings, triggers ``compute()``, the reason is logged and the result
    is written atomically.

    Args:
        path: the cache file.
        settings: everything the knowledge depends on (teacher, weights, temperature, top_k, classes, image size,
            data...), JSON-serialisable.
        compute: returns the knowledge tensor, e.g. ``lambda: compute_class_knowledge(teacher, loader, C, temperature=T)``.
    """
    import torch  # here: reading a run folder's paths needs no torch

    def checked() -> torch.Tensor:
        knowledge = compute()
        if not isinstance(knowledge, torch.Tensor) or knowledge.dim() != 2:
            raise TypeError(f"compute() must return a 2-D tensor, got {type(knowledge).__name__}.")
        return knowledge.detach().float().cpu()

    return cached_tensor(path, "knowledge", settings, checked, "class knowledge", KNOWLEDGE_LOG)


def _read_tensor_record(path: Path, key: str, wanted: str, what: str) -> tuple[Any, str | None]:
    """(payload, None) when ``path`` holds ``key`` made with settings ``wanted``; (None, why not) otherwise."""
    if not path.exists():
        return None, f"no cache at {path}"
    try:
        stored = safe_torch_load(path, what=f"{what} cache")
    except WeightsError as e:
        return None, f"the cache at {path} is unreadable ({e})"
    if not (isinstance(stored, dict) and key in stored and isinstance(stored.get("settings"), str)):
        return None, f"{path} is not a {what} cache"
    if stored["settings"] != wanted:
        try:
            changed = describe_differences(json.loads(stored["settings"]), json.loads(wanted))
        except ValueError:
            changed = "unreadable settings"
        return None, f"the cache at {path} was computed with other settings (differing: {changed})"
    return stored[key], None


def record_path(path: str | os.PathLike) -> Path:
    """The settings sidecar of a file artifact."""
    path = Path(path)
    return path.with_name(path.name + ".settings.json")


def is_fresh(path: str | os.PathLike, settings: dict[str, Any]) -> bool:
    """Whether the file artifact at ``path`` exists and was made with exactly ``settings``."""
    try:
        return Path(path).exists() and record_path(path).read_text() == canonical_json(settings)
    except OSError:
        return False


def invalidate(path: str | os.PathLike) -> None:
    """Forget how ``path`` was made: call before rewriting it."""
    record_path(path).unlink(missing_ok=True)


def record(path: str | os.PathLike, settings: dict[str, Any]) -> None:
    """Record that the file artifact at ``path`` (just written) was made with ``settings``."""
    atomic_write_text(record_path(path), canonical_json(settings))


def copy_small_files(run_dir: str | os.PathLike, destination: str | os.PathLike) -> list[Path]:
    """Copy :meth:`RunFolder.small_files` of ``run_dir`` into ``destination`` (same relative paths; each file
    written atomically), e.g. into a repository to continue the runs on another machine; returns the copies. Nothing
    in ``destination`` is deleted, not even a file the run no longer makes: the destination may hold seeds and
    variants that this copy of the run folder lacks."""
    source, target = Path(run_dir), Path(destination)
    copies = []
    for path in RunFolder(source).small_files():
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(copy, path.read_bytes())
        copies.append(copy)
    return copies
