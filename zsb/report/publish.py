"""Publishing a finished run: its small tables and figures to ``results/<benchmark>/`` (a split other than the
benchmark's standard one in ``<split>/`` below it, a run evaluated on validation classes in ``validation/`` below
that: :func:`published_folder`), and the README's results section regenerated from what is published
(``zsb tables``)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from zsb.artifacts import RunFolder
from zsb.errors import ZSBError
from zsb.report.readme import write_between_markers

README_START = "<!-- zsb:results:start -->"
README_END = "<!-- zsb:results:end -->"


def published_folder(results_root: Path, cfg) -> Path:
    """Where a run's results are published: ``results/<benchmark>/``, then ``<split>/`` for a split other than the
    benchmark's standard one, then ``validation/`` for a run evaluated on validation classes."""
    from zsb.data.registry import get_benchmark

    target = Path(results_root) / cfg.benchmark
    if cfg.split and cfg.split != get_benchmark(cfg.benchmark).default_split:
        target = target / cfg.split
    return target / "validation" if cfg.evaluate_on == "validation" else target


def published_folders(results_root: Path) -> list[Path]:
    """Every published results folder under ``results_root`` (:func:`published_folder`), in order."""
    root = Path(results_root)
    candidates = [*root.glob("*/metrics.json"), *root.glob("*/*/metrics.json"), *root.glob("*/*/validation/metrics.json")]
    return sorted({path.parent for path in candidates if "runs" not in path.relative_to(root).parts})


def publish(folder: RunFolder, target: Path) -> Path:
    """Copy a finished run's small tables, figures and metrics to ``results/<benchmark>/``; the run folder itself,
    with checkpoints and features, stays under ``runs/``.

    Every file is first copied into a temporary folder inside ``target`` and only then renamed into place, so a
    full disk or an unwritable folder (a ZSBError) leaves the previously published files as they were. Files that
    an earlier run published and this one does not (an ablation table this run did not make) are removed last, so
    the folder never mixes two runs; sub-folders (``runs/``, search notes) are left alone."""
    run_dir = folder.dir
    sources = folder.published_files()
    staging = None
    replaced = 0
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=target))
        for src in sources:
            shutil.copyfile(src, staging / src.name)
        (staging / "RUN.txt").write_text(f"copied from {relative_run_path(run_dir, target)}\n")
        published = [staging / src.name for src in sources] + [staging / "RUN.txt"]
        for staged in published:
            os.replace(staged, target / staged.name)
            replaced += 1
        names = {path.name for path in published}
        for stale in [p for p in target.iterdir() if p.is_file() and p.name not in names]:
            stale.unlink()
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


def relative_run_path(run_dir: Path, target: Path) -> str:
    """The run folder as published files name it: relative to the published folder where it lies below it."""
    try:
        return run_dir.resolve().relative_to(target.resolve()).as_posix()
    except ValueError:
        return run_dir.name


def results_markdown(results_root: Path) -> str:
    """The README's results section: per benchmark with a published run, the fine-tuned model against the frozen
    ImageNet features in the split's protocol columns (the AP variant in each header), the ablation table, the
    ImageNet-1k overlap of the evaluation classes and the published results measured the same way (on the same
    gallery: a run that is not on its split's standard gallery says so, :func:`zsb.run.stages.gallery_record`)."""
    if not Path(results_root).is_dir():
        raise ZSBError(f"results folder {results_root} does not exist; run `zsb reproduce` first, or pass --results")
    folders = published_folders(results_root)
    if not folders:  # a wrong or empty folder must not erase the README's results
        raise ZSBError(
            f"results folder {results_root} holds no published results (no <benchmark>/metrics.json); nothing was "
            "changed. Pass --results with the folder that `zsb reproduce` published to, or run `zsb reproduce` first."
        )
    return "\n".join(part for bench_dir in folders for part in benchmark_markdown(bench_dir, Path(results_root)))


def published_json(bench_dir: Path, name: str, required: bool = True) -> dict | None:
    """The JSON object ``name`` of a published results folder (None when it is absent and not ``required``); a
    ZSBError naming the file when it is missing, unreadable or not an object, before anything is written."""
    path = bench_dir / name
    if not path.is_file() and not required:
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ZSBError(f"{path} cannot be read ({e}); nothing was changed. Publish the run again "
                       "(zsb reproduce --publish) or pass --results with a complete published folder.") from e
    if not isinstance(value, dict):
        raise ZSBError(f"{path} is not a JSON object; nothing was changed. Publish the run again "
                       "(zsb reproduce --publish).")
    return value


def benchmark_markdown(bench_dir: Path, results_root: Path | None = None) -> list[str]:
    """The results section of one published results folder."""
    import pandas as pd

    from zsb.data.imagenet import overlap_sentence, overlap_summary
    from zsb.data.registry import get_benchmark
    from zsb.metrics import metric_header
    from zsb.report.literature import comparable_rows

    metrics, config = published_json(bench_dir, "metrics.json"), published_json(bench_dir, "config.json")
    timing = published_json(bench_dir, "timing.json", required=False) or {}
    seeds = published_json(bench_dir, "metrics_seeds.json", required=False)
    p = config["parameters"]
    benchmark = get_benchmark(p["benchmark"])
    split = p["split"] or benchmark.default_split
    protocol = list(benchmark.protocol(split))
    evaluated_on = metrics.get("evaluated_on", "test")
    failed = metrics.get("failed_images", {})
    gallery = metrics.get("gallery") or only_gallery(benchmark)
    machine = config.get("machine", {})
    where = f" on {machine['gpu'] if 'gpu' in machine else machine.get('cpu', 'an unrecorded CPU')}" if machine else ""
    name = bench_dir.relative_to(results_root).as_posix() if results_root else bench_dir.name
    parts = [
        f"**{name}** (split `{split}`, evaluated on its {evaluated_on} classes; {p['backbone']} at "
        f"{p['image_size']} px, trained in {p.get('precision', 'fp32')}; {metrics['num_queries']} queries x "
        f"{metrics['num_gallery']} gallery photos"
        + (f" (`{gallery['name']}`)" if "name" in gallery else "")
        + (f" ({failed['queries']} + {failed['gallery']} unreadable images left out)" if sum(failed.values()) else "")
        + f", chance mAP {metrics['chance_mAP']:.3f}; {training_time(bench_dir) or 'evaluated'}{where}, commit "
        f"`{(config.get('git_commit') or 'unknown')[:12]}`; stages {timing.get('seconds', float('nan')) / 60:.1f} "
        "min in their last execution)\n"
    ]
    flip = "with test-time flip" if p.get("eval_hflip") else "no test-time flip"
    model = f"fine-tuned, {epochs_text(p['epochs'])}, {flip}"
    rows = headline_rows(model, metrics, seeds, protocol)
    notes: list[str] = []
    if "other_flip" in metrics:
        other = "with test-time flip" if metrics["other_flip"]["eval_hflip"] else "no test-time flip"
        rows.append({"model": f"fine-tuned, {epochs_text(p['epochs'])}, {other}, seed {p['seed']}",
                     **metrics["other_flip"]["metrics"]})
    if "metrics" in metrics.get("binary", {}):
        codes = metrics["binary"]
        rows.append({"model": f"fine-tuned, {codes['bits']}-bit binary codes (ITQ, Hamming ranking; "
                              f"{codes['bytes_per_item']} bytes per photo against {codes['real_valued_bytes_per_item']}), "
                              f"seed {p['seed']}", **codes["metrics"]})
        if "mAP@all (sklearn ties)" not in codes["metrics"]:  # recorded by every evaluation with tie-aware metrics
            notes.append("The binary row was evaluated before ties were scored by their expected value over the "
                         "orders of each tied block: its tied Hamming distances are ranked by gallery index, which "
                         "favours the classes listed first (evaluating the run again scores them as every other row).\n")
    if (bench_dir / "metrics_frozen.json").exists():
        frozen = json.loads((bench_dir / "metrics_frozen.json").read_text())
        rows.append({"model": f"frozen ImageNet features, {flip}", **frozen["metrics"]})
    parts.append(protocol_table(pd.DataFrame(rows), "model", protocol) + "\n")
    parts += notes
    if any("interval" in row["model"] for row in rows):
        parts.append(
            "Intervals: 95% percentile bootstrap of the mean (2,000 resamples), over queries and over classes "
            "(whole classes resampled: the queries of one class are not independent, so this is the interval for a "
            "claim about unseen classes in general); with several seeds each query is averaged over the seeds first. "
            "A difference inside the spread is a tie.\n"
        )
    if (bench_dir / "ablation.csv").exists():
        table = pd.read_csv(bench_dir / "ablation.csv")
        epochs = sorted(set(table.loc[table["epochs"] > 0, "epochs"]))
        parts.append(f"Ablation (every variant trained {'/'.join(map(str, epochs))} epoch(s), on the seeds shown; "
                     "`frozen` is not trained; gain: the full method minus the variant on the same seeds and queries, "
                     "with its paired 95% bootstrap interval over queries; reading, on the headline metric: \"full "
                     "ahead\" (the component earns its place) when the interval lies above 0 and the gain exceeds the "
                     "spread over seeds, a tie otherwise, \"(1 seed)\" while that spread is not known):\n")
        parts.append(ablation_markdown(table, protocol) + "\n")
    if metrics.get("imagenet_overlap"):
        summary = overlap_summary(metrics["imagenet_overlap"], p)
        parts.append("ImageNet-1k overlap of the evaluation classes (the teacher, and with it the knowledge loss, has "
                     f"seen ImageNet-1k; the rule is in Benchmarks and data): {overlap_sentence(summary)}.\n")
    if gallery.get("note"):
        parts.append(f"Gallery: {gallery['note']}.\n")
    published = comparable_rows(p["benchmark"], split, tuple(protocol), gallery.get("name"))
    if evaluated_on != "test":
        parts.append("Published results: none is shown beside a validation-class evaluation.\n")
    elif published.empty:
        measured = (f"benchmark `{p['benchmark']}`, split `{split}`, "
                    f"{', '.join(metric_header(m) for m in protocol)}, "
                    + (f"gallery `{gallery['name']}`" if "name" in gallery else "a gallery this run does not record"))
        parts.append(
            f"Published results: none is measured like this run ({measured}), so none is shown"
            + ("" if p["benchmark"].endswith("_ext") else f" ({benchmark.description}: no paper reports on it)")
            + ".\n"
        )
    else:
        parts.append(f"Published results measured the same way (benchmark, split, metric and its variant, gallery "
                     f"`{gallery['name']}`):\n")
        parts.append(protocol_table(published, "method", protocol, leading=("backbone",)) + "\n")
    return parts


def only_gallery(benchmark) -> dict:
    """The gallery of a run whose ``metrics.json`` does not name it: ``{"name": ...}`` when every layout of the
    benchmark reads the same photos (sketchy_mini, TU-Berlin, QuickDraw), else ``{}`` (not known: no published row
    is matched)."""
    names = {layout.gallery_name() for layout in benchmark.layouts}
    return {"name": names.pop()} if len(names) == 1 else {}


def training_time(bench_dir: Path) -> str:
    """``"training 52.3 min (6 epochs)"`` from the published training log, or nothing without one. The log holds
    the time each epoch really took, which a later re-execution of finished stages does not change; config.json
    keeps the machine and commit that trained (:meth:`zsb.artifacts.RunFolder.write_config`), named beside it."""
    from zsb.trainlog import read_log

    log = read_log(bench_dir / "train_log.jsonl")
    if not log:
        return ""
    return f"training {sum(r['seconds'] for r in log) / 60:.1f} min ({epochs_text(len(log))})"


def epochs_text(count: int) -> str:
    """``"1 epoch"``, ``"6 epochs"``."""
    return f"{count} epoch{'' if count == 1 else 's'}"


def seeds_text(seeds: Sequence[int], separator: str = ", ") -> str:
    """``"seed 0"``, ``"seeds 0, 1, 2"`` (``separator`` between the seeds)."""
    return f"seed{'s' if len(seeds) > 1 else ''} {separator.join(map(str, seeds))}"


def headline_rows(model: str, metrics: dict, seeds: dict | None, protocol: list[str]) -> list[dict]:
    """The fine-tuned model's rows of the README table: the mean ± sd over seeds (or the one seed's value) and
    the 95% bootstrap intervals over queries and over classes (pooled over seeds)."""
    if seeds is not None:
        entries = seeds["metrics"]
        several = len(seeds["seeds"]) > 1
        label = f"{model}, {seeds_text(seeds['seeds'], separator=',')}"
        value_row = {"model": f"{label}: mean ± sd" if several else label,
                     **{m: format_mean_sd(e["mean"], e["sd"]) for m, e in entries.items()}}
        intervals = {m: e["interval"] for m, e in entries.items()}
    else:
        value_row = {"model": model, **metrics["metrics"]}
        intervals = metrics.get("intervals", {})
    rows = [value_row]
    for kind, words in (("query", "queries"), ("class", "classes")):
        if intervals:
            rows.append({"model": f"95% interval, resampling {words}",
                         **{m: f"[{i[kind]['low']:.3f}, {i[kind]['high']:.3f}]" for m, i in intervals.items()
                            if m in protocol}})
    return rows


def format_mean_sd(mean: float, sd: float | None) -> str:
    """``0.450 ± 0.004``, or ``0.450`` where there is no sd (one seed)."""
    return f"{mean:.3f}" if sd is None or math.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


def ablation_markdown(table, protocol: list[str]) -> str:
    """The ablation table as the README shows it: per variant its seeds and epochs, then for each protocol metric
    the mean ± sd over seeds and the paired gain of the full method with its 95% interval; for the headline metric
    (the protocol's first) also the gain's reading (:func:`zsb.stats.reading`: spread before claims)."""
    import pandas as pd

    from zsb.metrics import metric_header
    from zsb.stats import ablation_readings

    def number(row, column: str) -> float:
        return float(row[column]) if column in row and pd.notna(row[column]) else math.nan

    headline = next((m for m in protocol if m in table), None)
    readings = ablation_readings(table, headline)  # "" for every row of a table without gains
    rows = []
    for (_, row), read in zip(table.iterrows(), readings):
        shown = {"variant": row["variant"], "seeds": int(row["seeds"]) if "seeds" in row else 1,
                 "epochs": int(row["epochs"])}
        for metric in (m for m in protocol if m in table):
            header = metric_header(metric)
            shown[header] = format_mean_sd(row[metric], number(row, f"{metric} sd"))
            gain = number(row, f"{metric} gain")
            shown[f"gain, {header}"] = "" if math.isnan(gain) else (
                f"{gain:+.3f} [{number(row, f'{metric} gain low'):+.3f}, {number(row, f'{metric} gain high'):+.3f}]")
            if metric == headline:
                shown["reading"] = read
        rows.append(shown)
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)  # keep 0.600 as written


def protocol_table(frame, key: str, protocol: list[str], leading: tuple[str, ...] = (),
                   trailing: tuple[str, ...] = ()) -> str:
    """Markdown of ``frame``'s ``key`` and ``leading`` columns, its protocol metrics with the AP variant in each
    header, then ``trailing`` columns."""
    from zsb.metrics import metric_header

    columns = [key, *leading, *[m for m in protocol if m in frame], *trailing]
    shown = frame[columns].rename(columns=metric_header).astype(object)
    shown = shown.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))  # a cell a paper does
                      else f"{v:.3f}" if isinstance(v, float) else v)  # not give stays empty; numbers as 0.450
    return shown.to_markdown(index=False, disable_numparse=True)


def update_readme(readme: Path, results_root: Path) -> None:
    """Regenerate the README's results section between the zsb:results markers."""
    write_between_markers(readme, (README_START, README_END), f"\n{results_markdown(results_root)}",
                          "run `zsb tables` again")
