"""``zsb reproduce``: run the stage notebooks for one benchmark into one run folder.

* The configuration is resolved once, here (defaults <- preset <- YAML <- ``--set``), every name checked against the
  RunConfig declarations and the notebooks' own parameters, and written to the folder's ``config.json``; the
  notebooks read that file and get only ``run_dir`` and their own parameters.
* Each run has its own folder ``results/<benchmark>/runs/<run_id>/`` (by default the id is a hash of the
  parameters, so the same parameters land in the same folder). A lock keeps two drivers out of one folder.
* A stage whose marker holds this run's fingerprint for it, and whose artifacts are as it left them
  (:mod:`zsb.driver.markers`), is skipped unless ``force``.
* A failing cell stops the chain with the notebook's path and the cell's error; earlier outputs stay intact.
* When every stage has succeeded, the run's headline numbers are reported beside the published ones
  (:mod:`zsb.report.published`), and nothing outside the run folder is written. Publishing is explicit: with
  ``publish`` the run's small tables and figures are copied to ``results/<benchmark>/`` and the README's results
  table is regenerated (:mod:`zsb.report.publish`); a finished run publishes without rerunning a stage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from zsb.config import RUN_ID_PARAMETERS, RunConfig, resolve, short_hash
from zsb.driver.lock import run_lock
from zsb.driver.markers import damaged_artifacts, mark_done, stage_fingerprint, stage_up_to_date, write_timing
from zsb.driver.notebooks import execute_stage, notebook_only_parameters, notebook_parameters
from zsb.driver.preflight import check_checkpoint, preflight
from zsb.errors import ConfigError
from zsb.log import get_logger
from zsb.report.publish import publish, published_folder, update_readme
from zsb.report.published import compare_with_published
from zsb.artifacts import RunFolder, invalidate
from zsb.run.stages import STAGES

logger = get_logger(__name__)


def default_run_id(cfg: RunConfig) -> str:
    """``cfg-`` and a hash of :data:`zsb.config.RUN_ID_PARAMETERS`: asking for more ablation variants reuses the
    run folder (its finished stages and variants) and only trains what is new."""
    return f"cfg-{short_hash(cfg.values(RUN_ID_PARAMETERS))}"


def reproduce(
    benchmark: str = "synthetic",
    overrides: Mapping[str, Any] | None = None,
    stages: tuple[str, ...] = tuple(STAGES),
    run_id: str = "",
    results_root: str | Path = "results",
    force: bool = False,
    kernel: str = "python3",
    readme: str | Path | None = "README.md",
    publish_results: bool = False,
) -> Path:
    """Run ``stages`` for one benchmark; return the run folder. See the module docstring for the behaviour."""
    for stage in stages:
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    run_params, notebook_only = notebook_only_parameters({"benchmark": benchmark, **(overrides or {})})
    cfg = resolve(run_params)
    results_root = Path(results_root)
    folder = RunFolder((results_root / cfg.benchmark / "runs" / (run_id or default_run_id(cfg))).resolve())
    preflight(cfg, kernel)
    started = time.perf_counter()
    with run_lock(folder.dir):
        check_checkpoint(folder.dir, cfg, stages, force)
        folder.write_config(cfg)
        own = {stage: {k: v for k, v in notebook_only.items() if k in notebook_parameters(stage)} for stage in STAGES}
        fingerprints = {stage: stage_fingerprint(stage, cfg, own[stage]) for stage in STAGES}
        for stage in stages:
            if not force and stage_up_to_date(folder, stage, fingerprints[stage]):
                logger.info(f"[{stage}] up to date, skipped (--force reruns it)")
                continue
            damaged = damaged_artifacts(folder, stage)
            for what in damaged.values():
                logger.warning(f"[{stage}] {what}: damaged or replaced since; running the stage again")
            if damaged:  # rebuilt, not trusted by their settings records
                for path in (path for artifact in STAGES[stage] for path in folder.artifact_files(artifact)):
                    invalidate(path)
            parameters: dict[str, Any] = {**own[stage], "run_dir": str(folder.dir)}
            if "resume" in notebook_parameters(stage):
                parameters["resume"] = not force
            output = folder.notebook(stage)
            logger.info(f"[{stage}] running -> {output}")
            t0 = time.perf_counter()
            execute_stage(stage, output, parameters, kernel)
            seconds = time.perf_counter() - t0
            mark_done(folder, stage, fingerprints[stage], seconds)
            logger.info(f"[{stage}] done in {seconds:.0f} s")
            if stage == "01_data":
                report_skipped(folder)
        total = time.perf_counter() - started
        write_timing(folder)
        finished = all(stage_up_to_date(folder, stage, fingerprint) for stage, fingerprint in fingerprints.items())
        target = published_folder(results_root, cfg)
        if finished and publish_results:
            logger.info(f"results copied to {publish(folder, target)}")
            if readme and Path(readme).is_file() and Path(readme).resolve().parent / "results" == results_root.resolve():
                update_readme(Path(readme), results_root)
        elif finished:
            for line in compare_with_published(folder.dir, target):
                logger.info(line)
            logger.info(f"this run's results stay in its folder; {target} and the README are unchanged (--publish "
                        "copies them there)")
    logger.info(f"run folder: {folder.dir} ({total:.0f} s)")
    return folder.dir


def report_skipped(folder: RunFolder) -> None:
    """Say what the data stage left out of the manifest (unreadable images, files that are not images)."""
    from zsb.data.manifest import read_manifest, sidecar_path

    summary = read_manifest(folder.manifest_path).skipped_summary()
    if summary:
        counts = ", ".join(f"{count} {kind}(s)" for kind, count in sorted(summary.items()))
        logger.info(f"[01_data] left out of the manifest: {counts}; every file and reason is listed under "
                    f"\"skipped\" in {sidecar_path(folder.manifest_path)}")
