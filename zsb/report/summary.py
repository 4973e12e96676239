"""The campaign's summary, from the run folders its small files restore: a section per split (each variant's seeds,
mean ± sd, interval and paired gains, training time, the code and machines that trained it), the paper's claims as
the analysis plan judges them (:mod:`zsb.report.claims`), what is left to train, and the project README's short
version. ``benchmarks/campaign.py`` holds the plan and writes the summary between the READMEs' markers."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from zsb.report.claims import run_folder
from zsb.report.publish import seeds_text

CHECKOUT = Path(__file__).resolve().parents[2]
"""The git checkout this zsb runs from: where the commits that recorded the runs are looked up."""


@dataclass(frozen=True)
class Campaign:
    """A seeds-and-claims campaign: its runs (split, variant, seed) in the order they are added, its splits and its
    variants in table order, the data root every run names, and its README, claims' figure and exploratory figure
    (relative to the checkout)."""

    runs: tuple[tuple[str, str, int], ...]
    splits: tuple[str, ...]
    variants: tuple[str, ...]
    data_root: str
    readme: Path
    figure: Path
    exploratory_figure: Path


def done_runs(plan: Campaign, published: Path) -> set[tuple[str, str, int]]:
    """The planned (split, variant, seed) whose ``metrics.json`` is in ``published/<split>/``."""
    return {(split, variant, seed) for split, variant, seed in plan.runs
            if run_folder(published / split, variant, seed).metrics_path().is_file()}


def protocol(split: str) -> tuple[str, ...]:
    """The metrics ``split`` is reported with (``Benchmark.protocol``; e.g. mAP@all and P@100 for sempcyc25, mAP@200
    for eccv21): the first is the headline, on which the claims are read, the last a precision."""
    from zsb.data.registry import get_benchmark

    return tuple(get_benchmark("sketchy_mini").protocol(split))


def signed(value: float) -> str:
    return f"{value:+.4f}"


def gain_text(row, metric: str) -> str:
    """``+0.0123 [+0.0040, +0.0200]``: a variant's paired gain and its interval in an ablation.csv row."""
    gain = row.get(f"{metric} gain", float("nan"))
    if math.isnan(gain):  # NaN or absent: the full method's own row (and a table of the full method alone)
        return ""
    return f"{signed(gain)} [{signed(row[f'{metric} gain low'])}, {signed(row[f'{metric} gain high'])}]"


def code_version(commit: str) -> str:
    """The last commit at or before ``commit`` that changed ``zsb/`` (short hash): runs recorded at commits that
    differ only in results or notes name one code version. The recorded hash itself when git does not know it."""
    found = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=7", commit.removesuffix("-dirty"), "--",
                            "zsb"], cwd=CHECKOUT, capture_output=True, text=True, check=False)
    return found.stdout.strip() or commit[:7]


def code_versions(commits: set[str]) -> list[str]:
    """The :func:`code_version` of each of ``commits``, each once, oldest first (hashes git does not know last)."""
    def age(version: str) -> tuple:
        found = subprocess.run(["git", "log", "-1", "--format=%ct", version], cwd=CHECKOUT, capture_output=True,
                               text=True, check=False)
        return (0, int(found.stdout)) if found.returncode == 0 and found.stdout.strip() else (1, version)

    return sorted({code_version(commit) for commit in commits}, key=age)


def ablation_tables(plan: Campaign, published: Path) -> dict:
    """Each split's committed ablation table (``tables/ablation.csv``, a DataFrame), for the splits that have one, in
    the plan's order."""
    import pandas as pd

    paths = {split: published / split / "tables" / "ablation.csv" for split in plan.splits}
    return {split: pd.read_csv(path) for split, path in paths.items() if path.is_file()}


def split_summary(published: Path, split: str, table, done: set[tuple[str, str, int]]) -> tuple[str, dict]:
    """The markdown section of one split (header, table, training time) and its ablation rows by variant, from its
    ablation ``table`` (:func:`ablation_tables`)."""
    from zsb.data.imagenet import OVERLAP_CATEGORIES, overlap_summary
    from zsb.io import machine_summary
    from zsb.metrics import metric_header
    from zsb.trainlog import read_log

    table = table.set_index("variant")
    full = run_folder(published / split, "full", 0)
    record = json.loads(full.metrics_path().read_text())
    overlap = overlap_summary(record["imagenet_overlap"], json.loads(full.config_path.read_text())["parameters"])
    head, second = protocol(split)[0], protocol(split)[-1]
    title = (f"### {split}: {record['num_queries']} query sketches x {record['num_gallery']} gallery photos, "
             f"chance {record['chance_mAP']:.3f}; ImageNet-1k overlap of the {overlap['classes']} test classes: "
             + ", ".join(f"{overlap['counts'][category]} {category}" for category in OVERLAP_CATEGORIES))
    header = (f"| variant | seeds | {metric_header(head)}, mean ± sd | per seed | 95% interval, queries | "
              f"gain of full over it, {metric_header(head)} [95%, queries] | {second}, mean | "
              f"gain of full, {second} [95%, queries] | train s/epoch (median) |")
    lines = [title, "", header, "|---|---|---|---|---|---|---|---|---|"]
    epoch_seconds, commits, machines = [], set(), set()
    for variant in table.index:
        row = table.loc[variant]
        seeds = sorted(seed for s, v, seed in done if (s, v) == (split, variant))
        folders = [run_folder(published / split, variant, seed) for seed in seeds]
        values = [json.loads(folder.metrics_path().read_text())["metrics"][head] for folder in folders]
        seconds = [r["seconds"] for folder in folders for r in read_log(folder.log_path)]
        epoch_seconds += seconds
        for environment in (folder.recorded_environment() for folder in folders):
            commits.add(environment.get("git_commit") or "unknown")
            machines.add(machine_summary(environment.get("machine")))
        spread = f" ± {row[f'{head} sd']:.4f}" if len(seeds) > 1 else ""
        epoch = f"{statistics.median(seconds):.0f}" if seconds else "- (not trained)"
        lines.append(f"| {variant} | {', '.join(map(str, seeds))} | {row[head]:.4f}{spread} | "
                     f"{', '.join(f'{v:.4f}' for v in values)} | [{row[f'{head} low']:.3f}, {row[f'{head} high']:.3f}]"
                     f" | {gain_text(row, head)} | {row[second]:.4f} | {gain_text(row, second)} | {epoch} |")
    code = ", ".join(f"`{version}`" for version in code_versions(commits))
    lines += ["", (f"Training: {len(epoch_seconds)} epochs, {sum(epoch_seconds) / 3600:.1f} h of wall time in all "
                   f"(zsb code at {code}; {'; '.join(sorted(machines))}).")]
    return "\n".join(lines), {variant: table.loc[variant] for variant in table.index}


def still_to_train(plan: Campaign, split: str, done: set[tuple[str, str, int]]) -> str:
    """The planned runs of ``split`` not done yet: ``"online_teacher (seeds 0, 1, 2); frozen (seed 0)"``."""
    left = {variant: [s for sp, v, s in plan.runs if (sp, v) == (split, variant) and (sp, v, s) not in done]
            for variant in plan.variants}
    return "; ".join(f"{variant} ({seeds_text(seeds)})"
                     for variant, seeds in left.items() if seeds)


def summaries(plan: Campaign, published: Path, judgement=None, by_class=None) -> tuple[str, str]:
    """The campaign's state in markdown, from the files under ``published``: the campaign README's part (a section
    per split with its runs, the claims judged by the analysis plan, what is left) and the project README's short
    version (the full method per split, one sentence per claim). ``judgement`` (:func:`zsb.report.claims.judge`) and
    ``by_class`` (the exploratory :func:`zsb.report.claims.knowledge_by_class`) are computed here when not given."""
    from zsb.metrics import metric_header
    from zsb.report.claims import claims_markdown, exploratory_markdown, judge, knowledge_by_class, project_markdown

    done = done_runs(plan, published)
    sections, rows = [], {}
    for split, table in ablation_tables(plan, published).items():
        text, rows[split] = split_summary(published, split, table, done)
        sections.append(text)
    planned = len(plan.runs)
    runs_left = len(set(plan.runs) - done)
    left = [f"### Not run yet ({runs_left} of {planned} planned runs)",
            "\n".join(["| split | still to train |", "|---|---|",
                       *(f"| {split} | {still_to_train(plan, split, done) or '-'} |" for split in plan.splits)])]
    judgement = judge(published) if judgement is None else judgement
    campaign = "\n\n".join([
        *sections,
        "### The paper's claims, judged by the analysis plan",
        claims_markdown(judgement, plan.figure.name),
        "### Beyond the paper's claims: the knowledge loss and the teacher's ImageNet-1k overlap (exploratory)",
        exploratory_markdown(knowledge_by_class(published, plan.data_root) if by_class is None else by_class,
                             plan.exploratory_figure.name),
        *(left if runs_left else [f"### Every planned run is done ({planned} of {planned})"]),
    ])
    so_far = f"{planned - runs_left} of {planned} planned runs so far" if runs_left else \
        f"complete, all {planned} planned runs"
    intro = (f"Over seeds (the seeds-and-claims campaign, {so_far}; tables, intervals and training times: "
             f"`{plan.readme}`). Each run trains 3 epochs; each split's headline metric (its protocol) on its test "
             "classes, mean ± sd over seeds and the 95% interval resampling queries:")
    project = "\n".join([
        intro, "",
        *(f"- `{split}`, {metric_header(protocol(split)[0])}: the full method "
          f"{full_method_text(rows.get(split, {}).get('full'), protocol(split)[0])}." for split in plan.splits),
        "", project_markdown(judgement, str(plan.readme)),
    ])
    return campaign, project


def full_method_text(row, head: str) -> str:
    """``0.4373 ± 0.0113 over 3 seeds, [0.416, 0.459]``: the full method's ``head`` metric in its ablation.csv row,
    or "not run yet"."""
    if row is None:
        return "not run yet"
    spread = f" ± {row[f'{head} sd']:.4f} over {int(row['seeds'])} seeds" if row["seeds"] > 1 else " (1 seed)"
    return f"{row[head]:.4f}{spread}, [{row[f'{head} low']:.3f}, {row[f'{head} high']:.3f}]"


def draw_gains(published: Path, path: Path, judgement=None):
    """The figure of the claims' comparisons (:func:`zsb.report.claims.plot_claims`), saved at ``path``."""
    from zsb.report.claims import judge, plot_claims

    return plot_claims(judge(published) if judgement is None else judgement, path=path)
