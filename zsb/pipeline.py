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
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from zsb import engine
from zsb.config import FIELD_TYPES, RunConfig, parse_string, resolve, unknown_name_message
from zsb.errors import ConfigError, ZSBError
from zsb.io import atomic_write_json, atomic_write_text
from zsb.stages import DATA_PARAMETERS, KNOWLEDGE_PARAMETERS, Run

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
STAGES = ("01_data", "02_knowledge", "03_train", "04_evaluate", "05_tsne", "06_ablation")
STAGE_PARAMETERS: dict[str, tuple[str, ...] | None] = {
    "01_data": DATA_PARAMETERS,
    "02_knowledge": KNOWLEDGE_PARAMETERS + ("kd_domains", "teacher"),
    "03_train": engine.TRAINING_PARAMETERS,
    "04_evaluate": engine.TRAINING_PARAMETERS,
    "05_tsne": engine.TRAINING_PARAMETERS,
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
        return parse_string(name, value, kind)
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"parameter {name!r} must be a {kind.__name__}, got {value!r}")
    return value


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` for the duration; a second driver aimed at the same folder is refused."""
    run_dir.mkdir(parents=True, exist_ok=True)
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
    else:
        raise ZSBError(f"could not take the lock {lock}; remove it if no zsb process is running")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


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
    except NoSuchKernel as e:
        raise ZSBError(
            f"the Jupyter kernel {kernel!r} is not installed ({e}). Install it with "
            f"`python -m ipykernel install --user --name {kernel}`, or pass --kernel with one of `jupyter kernelspec list`."
        ) from None
    except papermill.PapermillExecutionError as e:
        raise StageFailed(
            f"stage {stage} failed in cell {e.exec_count} of {output}:\n  {e.ename}: {e.evalue}\n"
            f"Open the executed notebook for the full traceback. Earlier stages' outputs in {run_dir} are intact."
        ) from None
    return output


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
    run_dir = (results_root / cfg.benchmark / "runs" / (run_id or f"cfg-{cfg.fingerprint()}")).resolve()
    started = time.perf_counter()
    with run_lock(run_dir):
        Run(run_dir, cfg).save_config()
        for stage in stages:
            marker = run_dir / "stages" / f"{stage}.json"
            declared = notebook_parameters(stage)
            stage_only = {k: v for k, v in notebook_only.items() if k in declared}
            fingerprint = stage_fingerprint(stage, cfg, stage_only)
            if not force and marker.exists() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
                log(f"[{stage}] up to date, skipped (--force reruns it)")
                continue
            parameters = {k: v for k, v in cfg.to_dict().items() if k in declared}
            parameters.update(stage_only, run_dir=str(run_dir))
            if "resume" in declared:
                parameters["resume"] = not force
            log(f"[{stage}] running -> {run_dir / 'notebooks' / (stage + '.ipynb')}")
            t0 = time.perf_counter()
            execute_stage(stage, run_dir, parameters, kernel)
            seconds = time.perf_counter() - t0
            atomic_write_json(marker, {"fingerprint": fingerprint, "seconds": round(seconds, 1)})
            log(f"[{stage}] done in {seconds:.0f} s")
        total = time.perf_counter() - started
        atomic_write_json(run_dir / "timing.json", {"stages": list(stages), "seconds": round(total, 1)})
        if set(STAGES) <= {s for s in STAGES if (run_dir / "stages" / f"{s}.json").exists()}:
            published = publish(run_dir, results_root / cfg.benchmark)
            log(f"results copied to {published}")
            if readme and Path(readme).is_file():
                update_readme(Path(readme), results_root)
    log(f"run folder: {run_dir} ({total:.0f} s)")
    return run_dir


PUBLISHED_FILES = ("config.json", "metrics.json", "metrics_frozen.json", "train_log.jsonl", "timing.json")


def publish(run_dir: Path, target: Path) -> Path:
    """Copy a finished run's small tables, figures and metrics to ``results/<benchmark>/`` (atomically, file by
    file); the run folder itself, with checkpoints and features, stays under ``runs/``."""
    sources = [run_dir / name for name in PUBLISHED_FILES if (run_dir / name).exists()]
    for folder in ("tables", "figures"):
        sources += sorted(p for p in (run_dir / folder).glob("*") if p.is_file())
    for src in sources:
        tmp = target / f".{src.name}.tmp"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp)
        os.replace(tmp, target / src.name)
    atomic_write_text(target / "RUN.txt", f"copied from {run_dir.name} ({run_dir})\n")
    return target


def results_markdown(results_root: Path) -> str:
    """The README's results section: one table per benchmark with a published run."""
    import pandas as pd

    parts = []
    for bench_dir in sorted(p for p in Path(results_root).iterdir() if (p / "metrics.json").is_file()):
        metrics = json.loads((bench_dir / "metrics.json").read_text())
        config = json.loads((bench_dir / "config.json").read_text())
        timing = json.loads((bench_dir / "timing.json").read_text()) if (bench_dir / "timing.json").exists() else {}
        p = config["parameters"]
        parts.append(
            f"**{bench_dir.name}** (split `{metrics.get('split') or 'default'}`, {p['backbone']} at {p['image_size']} px, "
            f"{p['epochs']} epochs, {metrics['num_queries']} queries x {metrics['num_gallery']} gallery, "
            f"chance mAP {metrics['chance_mAP']:.3f}; run wall time {timing.get('seconds', float('nan')) / 60:.1f} min, "
            f"commit `{(config.get('git_commit') or 'unknown')[:12]}`)\n"
        )
        ablation = bench_dir / "ablation.csv"
        if ablation.exists():
            table = pd.read_csv(ablation)
            columns = [c for c in ["variant", "mAP@all", "mAP@200", "P@10", "P@25", "P@100", "P@200",
                                   "epochs", "seconds_per_epoch"] if c in table.columns]
            parts.append(table[columns].to_markdown(index=False, floatfmt=".3f") + "\n")
        else:
            parts.append(pd.DataFrame([metrics["metrics"]]).to_markdown(index=False, floatfmt=".3f") + "\n")
    return "\n".join(parts) if parts else "_No published results yet: run `zsb reproduce`._\n"


def update_readme(readme: Path, results_root: Path) -> None:
    """Regenerate the README's results section between the zsb:results markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ZSBError(f"{readme} has no {README_START} ... {README_END} markers to write the results between")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    atomic_write_text(readme, f"{head}{README_START}\n{results_markdown(results_root)}{README_END}{tail}")
