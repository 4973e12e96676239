"""Publishing a finished run: its small tables and figures to ``results/<benchmark>/``, and the README's results
section regenerated from what is published there (``zsb tables``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from zsb.errors import ZSBError
from zsb.io import atomic_write_text
from zsb.artifacts import RunFolder

README_START = "<!-- zsb:results:start -->"
README_END = "<!-- zsb:results:end -->"


def publish(folder: RunFolder, target: Path) -> Path:
    """Copy a finished run's small tables, figures and metrics to ``results/<benchmark>/``; the run folder itself,
    with checkpoints and features, stays under ``runs/``.

    Every file is first copied into a temporary folder inside ``target`` and only then renamed into place, so a
    full disk or an unwritable folder (a ZSBError) leaves the previously published files as they were."""
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


def relative_run_path(run_dir: Path, target: Path) -> str:
    """The run folder as published files name it: relative to the published folder where it lies below it."""
    try:
        return run_dir.resolve().relative_to(target.resolve()).as_posix()
    except ValueError:
        return run_dir.name


README_COLUMNS = ("mAP@all", "mAP@200", "P@10", "P@25", "P@100", "P@200")
"""The metrics the README tables show; a benchmark's headline metrics (``Benchmark.metrics``) come first."""


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
        split = p["split"] or get_benchmark(p["benchmark"]).default_split
        headline = get_benchmark(p["benchmark"]).metrics(split)
        shown = [*headline, *[c for c in README_COLUMNS if c not in headline]]
        parts.append(
            f"**{bench_dir.name}** (split `{split}`, "
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
        parts.append(main[["model", *[c for c in shown if c in main]]].to_markdown(index=False, floatfmt=".3f") + "\n")
        if (bench_dir / "ablation.csv").exists():
            table = pd.read_csv(bench_dir / "ablation.csv")
            epochs = sorted(set(table.loc[table["epochs"] > 0, "epochs"]))
            parts.append(f"Ablation (every variant trained {'/'.join(map(str, epochs))} epoch(s), same seed; "
                         "`frozen` is not trained):\n")
            columns = ["variant", *[c for c in shown if c in table], "seconds_per_epoch"]
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
