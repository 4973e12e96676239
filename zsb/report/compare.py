"""Compare finished runs side by side: ``zsb compare RUN_DIR ...``.

Each run folder's ``config.json`` (its parameters) and ``metrics.json`` (written by 04_evaluate) are read. The
per-run table shows the parameters the metrics depend on (those of the ``features`` artifact) that differ between
the runs, then the metrics of the runs' split protocol (``Benchmark.protocol``; the AP variant in each header). Runs that differ only
in their seed are summarised as mean and sample standard deviation: the seed spread that says whether a difference
between two settings is more than seed noise. With ``paired``, the setting of the first run is the reference, and
each other setting gets the paired gain of the reference over it: the reference minus the setting on their common
seeds and the same queries (``per_query.csv``), with a 95% bootstrap interval over queries (:mod:`zsb.stats`).

When the runs were trained (a ``train_log.jsonl``), the per-run table also gives the training cost: the median
wall-clock seconds of an epoch (the median, so that one epoch slowed by other work on the machine does not move it)
and the machine each run recorded, since times are comparable only on one CPU kind.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from zsb.config import parameters_of
from zsb.io import machine_summary
from zsb.trainlog import read_log
from zsb.data.registry import get_benchmark
from zsb.metrics import metric_header
from zsb.errors import ZSBError
from zsb.run.context import write_table
from zsb.artifacts import RunFolder

EVAL_PARAMETERS = parameters_of("features")
EPOCH_SECONDS = "train s/epoch (median)"
MACHINE = "machine"


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, float], tuple[str, ...]]:
    """The run's metric-relevant parameters (resolved like a rerun would: a parameter its code version did not
    record takes today's preset or default), its trained model's metrics, and its split's protocol columns."""
    files = {"config.json": "01_data", "metrics.json": "04_evaluate"}
    for name, stage in files.items():
        if not (run_dir / name).is_file():
            raise ZSBError(
                f"{run_dir / name} does not exist: {run_dir} is not a finished run folder. Give folders made by "
                f"`zsb reproduce` (results/<benchmark>/runs/<run_id>) whose {stage} stage has run."
            )
    cfg = RunFolder(run_dir).read_config()
    protocol = get_benchmark(cfg.benchmark).protocol(cfg.split or None)
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        values = {m: float(metrics[m]) for m in protocol}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ZSBError(
            f"{run_dir / 'metrics.json'} is not a zsb metrics file ({type(e).__name__}: {e}). "
            "Rerun its 04_evaluate stage with `zsb reproduce ... --force`."
        ) from e
    return {name: getattr(cfg, name) for name in EVAL_PARAMETERS}, values, protocol


def training_cost(run_dir: Path) -> dict[str, Any] | None:
    """The median seconds per epoch of the run's training log and the machine its config.json recorded; None for
    a run that was not trained (no log, e.g. the frozen features)."""
    folder = RunFolder(run_dir)
    seconds = [float(r["seconds"]) for r in read_log(folder.log_path) if "seconds" in r]
    if not seconds:
        return None
    machine = folder.recorded_environment().get("machine")
    return {EPOCH_SECONDS: statistics.median(seconds), MACHINE: machine_summary(machine)}


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Each run's folder name, or as many trailing path parts as it takes to tell the runs apart
    (``cfg-1/ablation/full`` vs ``cfg-2/ablation/full``)."""
    resolved = [p.resolve() for p in paths]
    for depth in range(1, max(len(p.parts) for p in resolved) + 1):
        labels = ["/".join(p.parts[-depth:]) for p in resolved]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in resolved]  # the same folder given twice


def compare_runs(run_dirs: Sequence[str | Path], paired: bool = False) -> tuple[pd.DataFrame, ...]:
    """``(per_run, over_seeds)``: one row per run, and one row per setting (the differing parameters but the seed)
    with the mean and sample standard deviation of each metric over that setting's runs (sd empty for one run);
    with ``paired`` also the paired gains of the first run's setting over each other setting (module docstring)."""
    if not run_dirs:
        raise ZSBError("zsb compare needs at least one run folder, e.g. results/sketchy_mini/runs/<run_id>")
    read = [(Path(d), *read_run(Path(d))) for d in run_dirs]
    metric_names = list(dict.fromkeys(m for *_, protocol in read for m in protocol))
    runs = [(path, params, values) for path, params, values, _ in read]
    differing = [n for n in EVAL_PARAMETERS if len({json.dumps(params[n]) for _, params, _ in runs}) > 1]
    labels = run_labels([path for path, _, _ in runs])
    costs = [training_cost(path) for path, _, _ in runs]
    blank = {EPOCH_SECONDS: float("nan"), MACHINE: ""} if any(costs) else {}
    per_run = pd.DataFrame(
        [{"run": label, **{n: params[n] for n in differing}, **values, **(cost or blank)}
         for label, (_, params, values), cost in zip(labels, runs, costs)]
    )
    setting_names = [n for n in differing if n != "seed"]
    groups: dict[str, list[tuple[dict, dict]]] = {}
    folders: dict[str, dict[int, RunFolder]] = {}
    for path, params, values in runs:
        key = json.dumps([params[n] for n in setting_names])
        groups.setdefault(key, []).append((params, values))
        folders.setdefault(key, {})[params["seed"]] = RunFolder(path)
    rows = []
    for members in groups.values():
        row = {n: members[0][0][n] for n in setting_names}
        row["seeds"] = ",".join(str(params["seed"]) for params, _ in members)
        row["n"] = len(members)
        for m in metric_names:
            samples = [values[m] for _, values in members if m in values]
            row[f"{m} mean"] = statistics.mean(samples) if samples else float("nan")
            row[f"{m} sd"] = statistics.stdev(samples) if len(samples) > 1 else float("nan")
        rows.append(row)
    if not paired:
        return per_run, pd.DataFrame(rows)
    return per_run, pd.DataFrame(rows), paired_gains(groups, folders, setting_names, metric_names)


def paired_gains(groups: dict, folders: dict[str, dict[int, RunFolder]], setting_names: list[str],
                 metric_names: list[str]) -> pd.DataFrame:
    """The paired gain of the first setting over each other one, on their common seeds and the same queries."""
    from zsb.run.stages import paired_gain

    reference, *others = folders
    if not others:
        raise ZSBError("zsb compare --paired needs runs of at least two settings (parameters other than seed)")
    rows = []
    for key in others:
        common = [seed for seed in folders[reference] if seed in folders[key]]
        row = {n: groups[key][0][0][n] for n in setting_names}
        row["common seeds"] = ",".join(map(str, common))
        for m in metric_names:
            if not common:
                continue
            gain = paired_gain([folders[reference][s] for s in common], [folders[key][s] for s in common], m)
            row.update({f"{m} gain": gain.estimate, f"{m} gain low": gain.low, f"{m} gain high": gain.high})
        rows.append(row)
    return pd.DataFrame(rows)


def float_formats(frame: pd.DataFrame) -> tuple[str, ...]:
    """Metrics with 4 decimals, parameters as written (1e-4 stays 1e-4)."""
    return tuple(".4f" if column.startswith(("mAP@", "P@")) else ".1f" if column == EPOCH_SECONDS else "g"
                 for column in frame.columns)


def with_variant_headers(frame: pd.DataFrame) -> pd.DataFrame:
    """Metric columns renamed to name their AP variant (``mAP@all`` -> ``mAP@all (exact)``; ``... mean``/``sd``)."""
    return frame.rename(columns=metric_header)


def write_comparison(run_dirs: Sequence[str | Path], output: Path | None = None, paired: bool = False) -> str:
    """Markdown of the tables; with ``output`` also written (atomically) to ``output``.md/.csv (per run),
    ``output``_over_seeds.md/.csv and, with ``paired``, ``output``_paired.md/.csv."""
    tables = [with_variant_headers(f) for f in compare_runs(run_dirs, paired)]
    names = ["", "_over_seeds", "_paired"]
    if output is not None:
        output = Path(output).with_suffix("")
        for table, name in zip(tables, names):
            write_table(table, output.with_name(output.name + name), float_formats(table))
    per_run_md, over_seeds_md, *paired_md = (f.to_markdown(index=False, floatfmt=float_formats(f)) for f in tables)
    text = f"{per_run_md}\n\nover seeds (mean, sample sd):\n\n{over_seeds_md}\n"
    if paired_md:
        text += ("\npaired gain of the first setting over each other one (first minus other, common seeds, same "
                 f"queries; 95% bootstrap interval over queries):\n\n{paired_md[0]}\n")
    return text
