"""The papermill driver behind ``zsb reproduce``: runs the stage notebooks for one benchmark into a run folder.

* Parameters come from the benchmark preset, a YAML file and ``--set name=value``; every name is checked
  against papermill's inspection of the notebooks and every value against :class:`zsb.config.RunConfig`.
* Each run has its own folder ``results/<benchmark>/runs/<run_id>/`` (by default the id is a hash of the
  parameters, so the same parameters land in the same folder): executed notebooks, config.json, logs,
  checkpoints, features, metrics. A lock file keeps two drivers out of one folder.
* A stage whose parameters are unchanged since it last succeeded is skipped unless ``force``.
* A failing cell stops the chain with the notebook's path and the cell's error; earlier outputs stay intact.
* When every stage has succeeded, the run's small tables and figures are copied to ``results/<benchmark>/``
  and the README's results table is regenerated.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from zsb import engine
from zsb.config import FIELD_TYPES, RunConfig, parse_string, resolve, type_error_message, unknown_name_message
from zsb.errors import ConfigError, WeightsError, ZSBError
from zsb.io import atomic_write_json, atomic_write_text, safe_torch_load
from zsb.stages import DATA_PARAMETERS, EVAL_PARAMETERS, KNOWLEDGE_PARAMETERS, Run

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
STAGES = ("01_data", "02_knowledge", "03_train", "04_evaluate", "05_tsne", "06_ablation")
STAGE_PARAMETERS: dict[str, tuple[str, ...] | None] = {
    "01_data": DATA_PARAMETERS,
    "02_knowledge": KNOWLEDGE_PARAMETERS + ("kd_domains", "teacher"),
    "03_train": engine.TRAINING_PARAMETERS,
    "04_evaluate": EVAL_PARAMETERS,
    "05_tsne": EVAL_PARAMETERS,
    "06_ablation": None,  # every result-relevant parameter
}
"""The parameters each stage's outputs depend on: a stage is skipped only when these are unchanged."""
README_START = "<!-- zsb:results:start -->"
README_END = "<!-- zsb:results:end -->"


class StageFailed(ZSBError):
    """A stage notebook raised; the message names the executed notebook and the failing cell's error."""


def notebook_path(stage: str) -> Path:
    path = NOTEBOOK_DIR / f"{stage}.ipynb"
    if not path.is_file():
        raise ZSBError(f"stage notebook {path} is missing; zsb must be installed from a checkout (pip install -e .)")
    return path


@lru_cache(maxsize=None)
def notebook_parameters(stage: str) -> dict[str, dict[str, Any]]:
    """The parameters a stage notebook declares, as papermill's inspection reports them."""
    import papermill

    return dict(papermill.inspect_notebook(str(notebook_path(stage))))


def split_overrides(overrides: Mapping[str, Any], stages: tuple[str, ...]) -> tuple[dict, dict]:
    """Separate run parameters (RunConfig fields) from notebook-only parameters (figures, resume, ...).

    Every name must be declared by at least one of the notebooks: an unknown or mistyped name is an error."""
    known: dict[str, dict[str, Any]] = {}
    for stage in stages:
        known.update(notebook_parameters(stage))
    known.pop("run_dir", None)
    run_params, notebook_only = {}, {}
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(unknown_name_message(name, known))
        if name in FIELD_TYPES:
            run_params[name] = value
        else:
            notebook_only[name] = _coerce_like_default(name, value, known[name]["default"])
    return run_params, notebook_only


def _coerce_like_default(name: str, value: Any, default_source: str) -> Any:
    """Give a notebook-only parameter the type of its literal default (``"5"`` -> 5 when the default is 4)."""
    import ast

    default = ast.literal_eval(default_source)
    if default is None:
        return value
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        return parse_string(name, value, kind, example=default)
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise ConfigError(type_error_message(name, value, kind, default))
    return value


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` for the duration; a second driver aimed at the same folder is refused."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unwritable(run_dir, e) from e
    lock = run_dir / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and _process_alive(owner):
                raise ZSBError(
                    f"another zsb process (pid {owner}) is writing {run_dir}; wait for it to finish, or give this "
                    "run another folder with --run-id"
                ) from None
            lock.unlink(missing_ok=True)  # left behind by a process that no longer exists
        except OSError as e:
            raise _unwritable(run_dir, e) from e
    else:
        raise ZSBError(f"could not take the lock {lock}; remove it if no zsb process is running")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _unwritable(run_dir: Path, error: OSError) -> ZSBError:
    return ZSBError(
        f"cannot write the run folder {run_dir}: {error.strerror or error}. The results folder must be a writable "
        "folder: choose another one with --results, or fix its permissions."
    )


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stage_fingerprint(stage: str, cfg: RunConfig, notebook_only: Mapping[str, Any]) -> str:
    names = STAGE_PARAMETERS[stage]
    return cfg.fingerprint(names) + ("-" + json.dumps(dict(sorted(notebook_only.items()))) if notebook_only else "")


def _no_kernel_message(kernel: str) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        installed = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
    except Exception:  # the listing is only a hint
        installed = "see `jupyter kernelspec list`"
    return (
        f"the Jupyter kernel {kernel!r} is not installed (installed kernels: {installed}). Pass --kernel with one of "
        f"them, or install it with `python -m ipykernel install --user --name {kernel}`."
    )


def check_kernel(kernel: str) -> None:
    """ZSBError when papermill could not start the Jupyter kernel ``kernel``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise ZSBError(_no_kernel_message(kernel)) from None


def check_data(cfg: RunConfig) -> None:
    """DataError when the data root is missing, has none of the benchmark's layouts, lacks a class of the split,
    or a class folder that the run uses holds no image file. Only folders are listed (no image is decoded; the data
    stage checks every image and skips unreadable ones). The generated synthetic benchmark is not checked."""
    from zsb.data.manifest import build_manifest
    from zsb.data.registry import get_benchmark

    if not (get_benchmark(cfg.benchmark).needs_data_root or cfg.data_root):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data stage reports skipped files
        build_manifest(
            cfg.benchmark,
            cfg.data_root or None,
            cfg.split or None,
            max_seen_classes=cfg.max_seen_classes or None,
            max_unseen_classes=cfg.max_unseen_classes or None,
            max_per_class=1,
            verify_images=False,
        )


def preflight(cfg: RunConfig, kernel: str) -> None:
    """The checks that fail fast, before any notebook starts or any file is written: the Jupyter kernel, the
    backbone weights and the data root."""
    from zsb.backbones import check_weights

    check_kernel(kernel)
    check_weights(cfg.backbone, None if cfg.weights == "none" else cfg.weights)
    check_data(cfg)
    device = engine.resolve_device(cfg.device)
    if cfg.precision == "bf16" and not engine.native_bf16(device):
        warnings.warn(
            f"precision=bf16 on a {device.type} without native bf16 units is emulated and slower than fp32; "
            "pass --set precision=fp32 to train in fp32 (results differ slightly)",
            stacklevel=2,
        )


CHECKPOINT_STAGES = ("03_train", "04_evaluate", "05_tsne", "06_ablation")
"""Stages that resume from or read the run folder's training checkpoint."""


def check_checkpoint(run_dir: Path, cfg: RunConfig, stages: tuple[str, ...], force: bool) -> None:
    """WeightsError when ``run_dir`` holds a training checkpoint made with other training parameters than ``cfg``
    (an explicit --run-id reused with other settings): it is refused before anything in the folder is rewritten."""
    path = run_dir / "checkpoints" / engine.CHECKPOINT_NAME
    if force or not path.is_file() or not set(stages) & set(CHECKPOINT_STAGES):
        return
    state = safe_torch_load(path, "checkpoint")
    try:
        identity = json.loads(state["identity"])
        training = identity["training"]
    except (TypeError, KeyError, ValueError):
        raise WeightsError(
            f"{path} is not a zsb training checkpoint (expected keys model, epoch, identity). Move it away, or pass "
            "--force to retrain in this run folder."
        ) from None
    if training == cfg.fingerprint(engine.TRAINING_PARAMETERS):
        return
    differing = ""
    try:
        from zsb.config import read_config_file

        saved = resolve({k: v for k, v in read_config_file(run_dir / "config.json").items() if k in FIELD_TYPES})
        if saved.fingerprint(engine.TRAINING_PARAMETERS) == training:
            old, new = saved.to_dict(), cfg.to_dict()
            changes = [f"{k} {old[k]!r} -> {new[k]!r}" for k in engine.TRAINING_PARAMETERS if old[k] != new[k]]
            differing = f" (differing: {', '.join(changes)})"
    except ZSBError:
        pass
    raise WeightsError(
        f"the run folder {run_dir} holds a checkpoint trained with other parameters than this run's{differing}. "
        "Nothing in it was changed. Give these parameters their own run folder (another --run-id, or none: the "
        "default id is a hash of the parameters), or pass --force to retrain here, replacing the checkpoint."
    )


def _report_skipped(run_dir: Path, log) -> None:
    """Print what the data stage left out of the manifest (unreadable images, files that are not images)."""
    from zsb.data.manifest import read_manifest

    summary = read_manifest(run_dir / "manifest.csv").skipped_summary()
    if summary:
        counts = ", ".join(f"{count} {kind}(s)" for kind, count in sorted(summary.items()))
        log(f"[01_data] left out of the manifest: {counts}; every file and reason is listed under \"skipped\" "
            f"in {run_dir / 'manifest.json'}")


def stage_marker(run_dir: Path, stage: str) -> Path:
    return run_dir / "stages" / f"{stage}.json"


def stage_up_to_date(run_dir: Path, stage: str, fingerprint: str) -> bool:
    """Whether ``stage`` last succeeded in ``run_dir`` with the parameters that ``fingerprint`` summarises."""
    marker = stage_marker(run_dir, stage)
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


def execute_stage(stage: str, run_dir: Path, parameters: dict[str, Any], kernel: str, log=print) -> Path:
    """Execute one stage notebook with papermill into ``run_dir/notebooks/``; raise StageFailed on error."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    output = run_dir / "notebooks" / f"{stage}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(notebook_path(stage)),
            str(output),
            parameters=parameters,
            kernel_name=kernel,
            progress_bar=False,
            stdout_file=sys.stdout,
            cwd=str(Path.cwd()),
        )
    except NoSuchKernel:
        raise ZSBError(_no_kernel_message(kernel)) from None
    except papermill.PapermillExecutionError as e:
        raise StageFailed(
            f"stage {stage} failed in cell {e.exec_count} of {output}:\n  {e.ename}: {e.evalue}\n"
            f"Open the executed notebook for the full traceback. Earlier stages' outputs in {run_dir} are intact."
        ) from None
    return output


def default_run_id(cfg: RunConfig) -> str:
    """A hash of the result-relevant parameters, except the list of ablation variants: asking for more variants
    reuses the run folder (its finished stages and variants) and only trains what is new."""
    names = tuple(n for n in FIELD_TYPES if n not in RunConfig.EXECUTION_ONLY and n != "ablation_variants")
    return f"cfg-{cfg.fingerprint(names)}"


def reproduce(
    benchmark: str = "synthetic",
    overrides: Mapping[str, Any] | None = None,
    stages: tuple[str, ...] = STAGES,
    run_id: str = "",
    results_root: str | Path = "results",
    force: bool = False,
    kernel: str = "python3",
    readme: str | Path | None = "README.md",
    log=print,
) -> Path:
    """Run ``stages`` for one benchmark; return the run folder. See the module docstring for the behaviour."""
    for stage in stages:
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    run_params, notebook_only = split_overrides({"benchmark": benchmark, **(overrides or {})}, STAGES)
    cfg = resolve(run_params)
    results_root = Path(results_root)
    run_dir = (results_root / cfg.benchmark / "runs" / (run_id or default_run_id(cfg))).resolve()
    preflight(cfg, kernel)
    started = time.perf_counter()
    with run_lock(run_dir):
        check_checkpoint(run_dir, cfg, stages, force)
        Run(run_dir, cfg).save_config()
        fingerprints = {
            stage: stage_fingerprint(stage, cfg, {k: v for k, v in notebook_only.items() if k in notebook_parameters(stage)})
            for stage in STAGES
        }
        for stage in stages:
            declared = notebook_parameters(stage)
            fingerprint = fingerprints[stage]
            if not force and stage_up_to_date(run_dir, stage, fingerprint):
                log(f"[{stage}] up to date, skipped (--force reruns it)")
                continue
            parameters = {k: v for k, v in cfg.to_dict().items() if k in declared}
            parameters.update({k: v for k, v in notebook_only.items() if k in declared}, run_dir=str(run_dir))
            if "resume" in declared:
                parameters["resume"] = not force
            log(f"[{stage}] running -> {run_dir / 'notebooks' / (stage + '.ipynb')}")
            t0 = time.perf_counter()
            execute_stage(stage, run_dir, parameters, kernel)
            seconds = time.perf_counter() - t0
            atomic_write_json(stage_marker(run_dir, stage), {"fingerprint": fingerprint, "seconds": round(seconds, 1)})
            log(f"[{stage}] done in {seconds:.0f} s")
            if stage == "01_data":
                _report_skipped(run_dir, log)
        total = time.perf_counter() - started
        write_timing(run_dir)
        if all(stage_up_to_date(run_dir, stage, fingerprint) for stage, fingerprint in fingerprints.items()):
            published = publish(run_dir, results_root / cfg.benchmark)
            log(f"results copied to {published}")
            if readme and Path(readme).is_file() and Path(readme).resolve().parent / "results" == results_root.resolve():
                update_readme(Path(readme), results_root)
    log(f"run folder: {run_dir} ({total:.0f} s)")
    return run_dir


def write_timing(run_dir: Path) -> None:
    """``timing.json``: the seconds each stage took when it last ran, and their sum (the run's wall time)."""
    seconds = {}
    for marker in sorted((run_dir / "stages").glob("*.json")):
        seconds[marker.stem] = json.loads(marker.read_text()).get("seconds", 0.0)
    atomic_write_json(run_dir / "timing.json", {"stages": seconds, "seconds": round(sum(seconds.values()), 1)})


PUBLISHED_FILES = ("config.json", "metrics.json", "metrics_frozen.json", "train_log.jsonl", "timing.json")


def publish(run_dir: Path, target: Path) -> Path:
    """Copy a finished run's small tables, figures and metrics to ``results/<benchmark>/``; the run folder itself,
    with checkpoints and features, stays under ``runs/``.

    Every file is first copied into a temporary folder inside ``target`` and only then renamed into place, so a
    full disk or an unwritable folder (a ZSBError) leaves the previously published files as they were."""
    sources = [run_dir / name for name in PUBLISHED_FILES if (run_dir / name).exists()]
    for folder in ("tables", "figures"):
        sources += sorted(p for p in (run_dir / folder).glob("*") if p.is_file())
    staging = None
    replaced = 0
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=target))
        for src in sources:
            shutil.copyfile(src, staging / src.name)
        (staging / "RUN.txt").write_text(f"copied from {run_dir.name} ({run_dir})\n")
        for staged in [staging / src.name for src in sources] + [staging / "RUN.txt"]:
            os.replace(staged, target / staged.name)
            replaced += 1
    except OSError as e:
        state = (
            f"{replaced} of the published files were already replaced" if replaced
            else "the previously published files are unchanged"
        )
        raise ZSBError(
            f"publishing {run_dir} to {target} failed: {e.strerror or e}; {state}, and the run folder keeps every "
            "result. Free some disk space or make the folder writable, then run the same command again (finished "
            "stages are skipped)."
        ) from e
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return target


README_COLUMNS = ("mAP@all", "mAP@200", "P@10", "P@25", "P@100", "P@200")


def results_markdown(results_root: Path) -> str:
    """The README's results section: per benchmark with a published run, the fine-tuned model against the frozen
    ImageNet features, then the ablation table."""
    import pandas as pd

    from zsb.data.registry import get_benchmark

    if not Path(results_root).is_dir():
        raise ZSBError(f"results folder {results_root} does not exist; run `zsb reproduce` first, or pass --results")
    parts = []
    for bench_dir in sorted(p for p in Path(results_root).iterdir() if (p / "metrics.json").is_file()):
        metrics = json.loads((bench_dir / "metrics.json").read_text())
        config = json.loads((bench_dir / "config.json").read_text())
        timing = json.loads((bench_dir / "timing.json").read_text()) if (bench_dir / "timing.json").exists() else {}
        p = config["parameters"]
        parts.append(
            f"**{bench_dir.name}** (split `{p['split'] or get_benchmark(p['benchmark']).default_split}`, "
            f"{p['backbone']} at {p['image_size']} px, trained in {p.get('precision', 'fp32')}"
            f"{', test-time flip' if p.get('eval_hflip') else ''}, "
            f"{metrics['num_queries']} unseen-class queries x {metrics['num_gallery']} gallery photos, "
            f"chance mAP {metrics['chance_mAP']:.3f}; stages {timing.get('seconds', float('nan')) / 60:.1f} min in total, "
            f"commit `{(config.get('git_commit') or 'unknown')[:12]}`)\n"
        )
        rows = [{"model": f"fine-tuned, {p['epochs']} epochs", **metrics["metrics"]}]
        if (bench_dir / "metrics_frozen.json").exists():
            frozen = json.loads((bench_dir / "metrics_frozen.json").read_text())
            rows.append({"model": "frozen ImageNet features", **frozen["metrics"]})
        main = pd.DataFrame(rows)
        parts.append(main[["model", *[c for c in README_COLUMNS if c in main]]].to_markdown(index=False, floatfmt=".3f") + "\n")
        if (bench_dir / "ablation.csv").exists():
            table = pd.read_csv(bench_dir / "ablation.csv")
            epochs = sorted(set(table.loc[table["epochs"] > 0, "epochs"]))
            parts.append(f"Ablation (every variant trained {'/'.join(map(str, epochs))} epoch(s), same seed; "
                         "`frozen` is not trained):\n")
            columns = ["variant", *[c for c in README_COLUMNS if c in table], "seconds_per_epoch"]
            parts.append(table[columns].to_markdown(index=False, floatfmt=".3f") + "\n")
    return "\n".join(parts) if parts else "_No published results yet: run `zsb reproduce`._\n"


def update_readme(readme: Path, results_root: Path) -> None:
    """Regenerate the README's results section between the zsb:results markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ZSBError(f"{readme} has no {README_START} ... {README_END} markers to write the results between")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    atomic_write_text(readme, f"{head}{README_START}\n{results_markdown(results_root)}{README_END}{tail}")
