"""The paper's claims, judged as the campaign's analysis plan says (``results/sketchy_mini/campaign/analysis_plan.md``).

The plan was fixed before the runs it judges; this module is its code. Each comparison pairs the full method's seed s
with a variant's seed s on one split's test queries, on the split's headline metric. The primary inference is the
hierarchical bootstrap of the paired gain (:func:`zsb.stats.hierarchical_bootstrap`: seeds, whole classes and queries
within a class), Holm-Bonferroni over the family of comparisons, and the verdict words of :func:`verdict`; beside
every "not shown" stands the smallest gain the design could detect (:func:`zsb.stats.detectable_gain`). The
paired interval over queries is kept as a secondary column. Each claim's variant is also pooled over the three
splits (:func:`zsb.stats.pooled_bootstrap`), a second family with its own Holm adjustment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zsb import stats
from zsb.artifacts import RunFolder

PLAN = Path("results/sketchy_mini/campaign/analysis_plan.md")
"""The analysis plan, relative to the repository."""
BENCHMARK = "sketchy_mini"
SPLITS = ("sempcyc25", "eccv21", "sake25")
"""The three Sketchy splits: SEM-PCYC's, Yelamarthi et al.'s eccv21 (test classes almost absent from ImageNet-1k)
and SAKE's."""
TRAINED = ("full", "no_knowledge", "online_teacher", "triplet", "no_classification", "no_quadruplet")
"""The trained variants of the design."""
DESIGN_SEEDS = (0, 1, 2, 3, 4)
"""Every trained variant runs these seeds on every split."""
FAMILY_ALPHA = 0.05
"""Family-wise error rate of the Holm-Bonferroni adjustment (each family)."""
MARGIN = 0.01
"""Claim 3's non-inferiority margin, in the split's headline metric."""
POWER = 0.8
"""Power of the detectable gain."""
RESAMPLES = stats.CLAIM_RESAMPLES
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims: the variants whose removal (or replacement) it says costs accuracy, on ``splits``;
    ``non_inferiority`` for a claim of "at least as accurate"."""

    number: int
    text: str
    variants: tuple[str, ...]
    splits: tuple[str, ...] = SPLITS
    non_inferiority: bool = False


CLAIMS = (
    Claim(1, "Each of the three losses helps: removing it hurts", ("no_knowledge", "no_classification",
                                                                   "no_quadruplet")),
    Claim(2, "The domain-balanced quadruplet loss beats the cross-domain triplet loss", ("triplet",)),
    Claim(3, "Precomputed class knowledge is at least as accurate as an online teacher", ("online_teacher",),
          non_inferiority=True),
    Claim(4, "The knowledge loss helps on eccv21, whose test classes are (almost) absent from ImageNet-1k",
          ("no_knowledge",), ("eccv21",)),
)
"""The four claims the campaign tests."""


def family() -> list[tuple[str, str, bool]]:
    """The family of comparisons, (split, variant, non-inferiority), each once: claim 4's is claim 1's eccv21
    ``no_knowledge`` comparison."""
    return list(dict.fromkeys((split, variant, claim.non_inferiority)
                              for claim in CLAIMS for variant in claim.variants for split in claim.splits))


def headline(split: str) -> str:
    """The split's headline metric: the first of its protocol (:meth:`zsb.data.registry.Benchmark.protocol`)."""
    from zsb.data.registry import get_benchmark

    return get_benchmark(BENCHMARK).protocol(split)[0]


def run_folder(root: Path, variant: str, seed: int) -> RunFolder:
    """Where the split's run folder ``root`` (as 06_ablation fills it) keeps (variant, seed): seed 0 in ``root``
    itself, another seed in ``seeds/<seed>/``; a variant other than the full method in its ``ablation/<variant>``."""
    folder = RunFolder(root) if seed == 0 else RunFolder(root).seed(seed)
    return folder if variant == "full" else folder.variant(variant)


def seeds_done(root: Path, variant: str) -> list[int]:
    """The design's seeds of ``variant`` whose ``metrics.json`` is in the split's folder ``root``."""
    return [seed for seed in DESIGN_SEEDS if run_folder(root, variant, seed).metrics_path().is_file()]


def paired_gains(root: Path, split: str, variant: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(seeds, queries) gains of the full method over ``variant`` on the split's headline metric, each seed paired
    with the same seed, on the seeds both have; the class of each query; those seeds."""
    from zsb.run.stages import per_query_values

    seeds = [s for s in seeds_done(root, variant) if s in seeds_done(root, "full")]
    if not seeds:
        return np.empty((0, 0)), np.empty(0), []
    metric = headline(split)
    full = per_query_values([run_folder(root, "full", s) for s in seeds], metric)
    other = per_query_values([run_folder(root, variant, s) for s in seeds], metric)
    labels = pd.read_csv(run_folder(root, "full", seeds[0]).per_query_path())["label"].to_numpy()
    return full - other, labels, seeds


def class_table(gains: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(seeds, classes) mean gain of each class on each seed."""
    _, inverse = np.unique(classes, return_inverse=True)
    counts = np.bincount(inverse)
    return np.stack([np.bincount(inverse, weights=row) / counts for row in gains])


@dataclass(frozen=True)
class Comparison:
    """One comparison of the family: full against ``variant`` on ``split`` (or pooled over the splits, ``split``
    "pooled"), with its inference and verdict."""

    split: str
    variant: str
    seeds: tuple[int, ...]  # the paired seeds; () when pooled: each split's comparison holds its own
    non_inferiority: bool
    gain: stats.HierarchicalGain
    queries: stats.Interval | None  # the secondary interval over queries (seeds averaged per query)
    detectable: float  # NaN when unknown (one seed) or not computed (pooled)
    adjusted_p: float = math.nan
    verdict: str = ""


def verdict(gain: stats.HierarchicalGain, adjusted_p: float, non_inferiority: bool) -> str:
    """The plan's verdict words: "supported" when the Holm-adjusted p is below :data:`FAMILY_ALPHA` and the
    interval lies above 0 (above -:data:`MARGIN` for non-inferiority); "contradicted" when the adjusted p is below
    it and the interval lies below 0 (for non-inferiority: the interval lies below -margin); "not shown" otherwise."""
    if non_inferiority:
        if adjusted_p < FAMILY_ALPHA and gain.low > -MARGIN:
            return "supported"
        return "contradicted" if gain.high < -MARGIN else "not shown"
    if adjusted_p < FAMILY_ALPHA and gain.low > 0:
        return "supported"
    if adjusted_p < FAMILY_ALPHA and gain.high < 0:
        return "contradicted"
    return "not shown"


def compare(root: Path, split: str, variant: str, non_inferiority: bool, family_size: int,
            paired: tuple[np.ndarray, np.ndarray, list[int]] | None = None) -> Comparison | None:
    """The comparison of the full method with ``variant`` in the split's folder ``root`` (``paired``: its
    :func:`paired_gains`, when already read); None before both have a common seed."""
    gains, classes, seeds = paired_gains(root, split, variant) if paired is None else paired
    if not seeds:
        return None
    margin = MARGIN if non_inferiority else None
    gain = stats.hierarchical_bootstrap(gains, classes, resamples=RESAMPLES, seed=BOOTSTRAP_SEED, margin=margin)
    queries = stats.bootstrap_ci(gains)
    detectable = stats.detectable_gain(class_table(gains, classes), alpha=FAMILY_ALPHA / family_size, power=POWER)
    return Comparison(split, variant, tuple(seeds), non_inferiority, gain, queries, detectable)


def adjusted(comparisons: list[Comparison]) -> list[Comparison]:
    """The comparisons with their Holm-adjusted p-values (over all of them, one family) and verdicts."""
    from dataclasses import replace

    if not comparisons:
        return []
    p = stats.holm([c.gain.p for c in comparisons])
    return [replace(c, adjusted_p=a, verdict=verdict(c.gain, a, c.non_inferiority)) for c, a in zip(comparisons, p)]


@dataclass(frozen=True)
class Judgement:
    """Every comparison of the family (split level), the pooled comparisons, and how much of the design exists."""

    comparisons: list[Comparison]
    pooled: list[Comparison]
    runs_done: int
    runs_planned: int

    @property
    def final(self) -> bool:
        return self.runs_done == self.runs_planned

    def find(self, split: str, variant: str) -> Comparison | None:
        rows = self.comparisons if split != "pooled" else self.pooled
        return next((c for c in rows if (c.split, c.variant) == (split, variant)), None)


def judge(runs: Path) -> Judgement:
    """The plan's analysis of the campaign's runs under ``runs`` (one folder per split)."""
    members = family()
    paired = {(split, variant): paired_gains(runs / split, split, variant) for split, variant, _ in members}
    found = [compare(runs / split, split, variant, ni, len(members), paired[split, variant])
             for split, variant, ni in members]
    comparisons = adjusted([c for c in found if c is not None])
    pooled = []
    for variant, ni in dict.fromkeys((v, ni) for _, v, ni in members):
        strata = [paired[split, variant] for split in SPLITS]
        if any(not seeds for _, _, seeds in strata):
            continue
        gain = stats.pooled_bootstrap([(g, c) for g, c, _ in strata], resamples=RESAMPLES, seed=BOOTSTRAP_SEED,
                                      margin=MARGIN if ni else None)
        pooled.append(Comparison("pooled", variant, (), ni, gain, None, math.nan))
    done = sum(len(seeds_done(runs / split, variant)) for split in SPLITS for variant in TRAINED)
    return Judgement(comparisons, adjusted(pooled), done, len(SPLITS) * len(TRAINED) * len(DESIGN_SEEDS))


# --- writing it down ----------------------------------------------------------------------------------------------

def signed(value: float) -> str:
    return f"{value:+.4f}"


def p_text(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def interval_text(low: float, high: float) -> str:
    return f"[{signed(low)}, {signed(high)}]"


def detectable_text(comparison: Comparison) -> str:
    if comparison.verdict != "not shown":
        return ""
    if math.isnan(comparison.detectable):
        return "unknown (1 seed)"
    return f"{comparison.detectable:.4f}"


def status_line(judgement: Judgement) -> str:
    """Whether the verdicts are final, with the number of runs behind them."""
    if judgement.final:
        return (f"Final: the full design, {judgement.runs_done} trained runs "
                f"({len(TRAINED)} variants x {len(DESIGN_SEEDS)} seeds x {len(SPLITS)} splits).")
    return (f"**Interim**: {judgement.runs_done} of the design's {judgement.runs_planned} trained runs exist; a "
            "comparison uses the seeds both arms have. The verdicts are final only on the full design.")


def comparisons_table(judgement: Judgement) -> str:
    """The split-level table: one row per comparison of the family (and claim 4's, which is claim 1's eccv21
    ``no_knowledge``)."""
    from zsb.metrics import metric_header

    lines = ["| claim | split | full against | seed pairs | headline metric | gain of full [95%, hierarchical] | p | "
             "Holm-adjusted p | verdict | detectable gain (80% power) | [95%, queries] (secondary) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        for variant in claim.variants:
            for split in claim.splits:
                c = judgement.find(split, variant)
                if c is None:
                    lines.append(f"| {claim.number} | {split} | {variant} | 0 | {metric_header(headline(split))} | "
                                 "not run yet | | | | | |")
                    continue
                lines.append(
                    f"| {claim.number} | {split} | {variant} | {len(c.seeds)} | {metric_header(headline(split))} | "
                    f"{signed(c.gain.estimate)} {interval_text(c.gain.low, c.gain.high)} | {p_text(c.gain.p)} | "
                    f"{p_text(c.adjusted_p)} | {c.verdict} | {detectable_text(c)} | "
                    f"{interval_text(c.queries.low, c.queries.high)} |")
    return "\n".join(lines)


def pooled_table(judgement: Judgement) -> str:
    """The pooled table: each claim's variant over the three splits."""
    lines = [f"| claim | full against | seed pairs ({', '.join(SPLITS)}) | pooled gain [95%, stratified hierarchical] | "
             "p | Holm-adjusted p (pooled family) | verdict |", "|---|---|---|---|---|---|---|"]
    for claim in CLAIMS[:3]:
        for variant in claim.variants:
            c = judgement.find("pooled", variant)
            if c is None:
                lines.append(f"| {claim.number} | {variant} | | not run on every split yet | | | |")
                continue
            pairs = ", ".join(str(len(judgement.find(split, variant).seeds)) for split in SPLITS)
            lines.append(f"| {claim.number} | {variant} | {pairs} | {signed(c.gain.estimate)} "
                         f"{interval_text(c.gain.low, c.gain.high)} | {p_text(c.gain.p)} | {p_text(c.adjusted_p)} | "
                         f"{c.verdict} |")
    return "\n".join(lines)


def comparison_phrase(c: Comparison) -> str:
    where = "pooled over the three splits" if c.split == "pooled" else f"on {c.split}"
    test = f"non-inferiority at margin {MARGIN}" if c.non_inferiority else "two-sided"
    return (f"{c.variant} {where}: gain {signed(c.gain.estimate)} {interval_text(c.gain.low, c.gain.high)}, "
            f"Holm-adjusted p {p_text(c.adjusted_p)} ({test}): **{c.verdict}**")


def claim_sentences(judgement: Judgement) -> list[str]:
    """One sentence per claim, quotable with its numbers: the pooled verdict of each of its variants (claim 4: the
    eccv21 comparison), and the splits where a split-level verdict is "supported" or "contradicted"."""
    sentences = []
    for claim in CLAIMS:
        parts = []
        for variant in claim.variants:
            if claim.splits == SPLITS:
                pooled = judgement.find("pooled", variant)
                head = comparison_phrase(pooled) if pooled else f"{variant}: not run on every split yet"
                found = [c for split in SPLITS if (c := judgement.find(split, variant)) is not None]
                decided = [f"{c.split} {c.verdict}" for c in found if c.verdict != "not shown"]
                split_level = (f" (split level: {', '.join(decided)})" if decided else
                               " (split level: not shown on any split)" if found else "")
                parts.append(head + split_level)
            else:
                c = judgement.find(claim.splits[0], variant)
                parts.append(comparison_phrase(c) if c else f"{variant} on {claim.splits[0]}: not run yet")
        sentences.append(f"**Claim {claim.number}.** {claim.text}. " + "; ".join(parts) + ".")
    return sentences


def claims_markdown(judgement: Judgement, figure: str) -> str:
    """The campaign README's part: the plan's reference, the status, the sentences, the two tables, the figure."""
    return "\n\n".join([
        (f"Judged as the analysis plan (`{PLAN.name}`, fixed before the balanced design's runs) says: the gain is full "
         "minus variant, seed s against seed s, on the split's headline metric; its 95% interval and p-value come "
         f"from a hierarchical bootstrap ({RESAMPLES:,} resamples of seeds, whole test classes and queries within a "
         f"class); Holm-Bonferroni over the {len(family())} comparisons (family-wise {FAMILY_ALPHA}); claim 3 is a "
         f"non-inferiority test with margin {MARGIN}. \"Not shown\" is not evidence against a claim: the detectable "
         f"gain beside it is the smallest gain this design finds with {POWER:.0%} power at the strictest Holm level."),
        status_line(judgement),
        *claim_sentences(judgement),
        f"![The gain of the full method over each variant per split, with its hierarchical 95% interval]({figure})",
        comparisons_table(judgement),
        "Pooled over the three splits (each split weighs the same; the splits' headline metrics differ, so the pooled "
        "gain is in AP points of each split's own headline):",
        pooled_table(judgement),
    ])


def project_markdown(judgement: Judgement, campaign_readme: str) -> str:
    """The project README's short version: the status and one sentence per claim."""
    return "\n\n".join([
        (f"The paper's claims on sketchy_mini, judged by an analysis plan fixed before the runs (tables, intervals, "
         f"the plan and the figure: `{campaign_readme}`). {status_line(judgement)}"),
        *(f"- {sentence}" for sentence in claim_sentences(judgement)),
    ])


def plot_claims(judgement: Judgement, path: str | Path | None = None):
    """Per split, the gain of the full method over each trained variant with its hierarchical 95% interval (thick)
    and the secondary interval over queries (thin), coloured by verdict, each labelled with its number of seed
    pairs; claim 3's margin dashed."""
    import matplotlib.pyplot as plt

    from zsb.metrics import metric_header
    from zsb.report.viz.base import save_figure

    colours = {"supported": "#1b7837", "contradicted": "#b2182b", "not shown": "#777777"}
    variants = [v for claim in CLAIMS for v in claim.variants if claim.splits == SPLITS]
    fig, axes = plt.subplots(1, len(SPLITS), sharey=True, squeeze=False, figsize=(4 + 3.2 * len(SPLITS), 3.6))
    for ax, split in zip(axes[0], SPLITS):
        for row, variant in enumerate(reversed(variants)):
            c = judgement.find(split, variant)
            if c is None:
                continue
            colour = colours[c.verdict]
            ax.plot([c.queries.low, c.queries.high], [row - 0.22, row - 0.22], color=colour, lw=1)
            ax.plot([c.gain.low, c.gain.high], [row, row], color=colour, lw=3, solid_capstyle="butt")
            ax.plot(c.gain.estimate, row, "o", color=colour, mfc="white" if len(c.seeds) < 2 else colour)
            ax.annotate(f"{len(c.seeds)}", (c.gain.high, row), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=8, color=colour)
        ax.axvline(0, color="black", lw=0.8)
        ax.axvline(-MARGIN, color="black", lw=0.8, ls="--")
        ax.set_title(split)
        ax.set_xlabel(f"gain, {metric_header(headline(split))}")
    axes[0, 0].set_yticks(range(len(variants)), list(reversed(variants)))
    handles = [plt.Line2D([], [], color=colour, lw=3, label=word) for word, colour in colours.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Full method minus variant: thick, 95% hierarchical interval; thin, 95% over queries; number: seed "
                 "pairs (hollow dot: 1); dashed: claim 3's margin", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    if path is not None:
        save_figure(fig, path)
    return fig


# --- beyond the paper's claims (exploratory) ----------------------------------------------------------------------

EXPLORATORY_VARIANT = "no_knowledge"
"""The exploratory analysis: the knowledge loss's gain per test class."""


def knowledge_by_class(runs: Path, data_root: str | Path) -> pd.DataFrame:
    """Exploratory: for every test class of every split, the paired gain of the full method over ``no_knowledge``
    (mean over the seeds both have and the class's queries) with a 95% interval resampling seeds and the class's
    queries, beside the class's ImageNet-1k overlap (:func:`zsb.data.imagenet.overlap_table`). One row per
    (split, class)."""
    from zsb.data.imagenet import overlap_table

    overlap = None
    rows = []
    for split in SPLITS:
        gains, classes, seeds = paired_gains(runs / split, split, EXPLORATORY_VARIANT)
        names_path = run_folder(runs / split, "full", 0).table("per_class_ap").with_suffix(".csv")
        if not seeds or not names_path.is_file():
            continue
        names = pd.read_csv(names_path)
        name_of = dict(zip(names["label"], names["class_name"]))
        for label in np.unique(classes):
            members = classes == label
            gain = stats.hierarchical_bootstrap(gains[:, members], classes[members], resamples=RESAMPLES,
                                                seed=BOOTSTRAP_SEED)
            if overlap is None:
                overlap = overlap_table(BENCHMARK, data_root, list(SPLITS)).set_index(["split", "class_name"])
            facts = overlap.loc[(split, name_of[label])]
            rows.append({"split": split, "class_name": name_of[label], "category": facts["category"],
                         "photos_in_imagenet1k": int(facts["photos_in_imagenet1k"]), "photos": int(facts["photos"]),
                         "seeds": len(seeds), "gain": gain.estimate, "low": gain.low, "high": gain.high})
    return pd.DataFrame(rows)


def knowledge_by_category(by_class: pd.DataFrame) -> pd.DataFrame:
    """Exploratory: per overlap category, the number of (split, class) pairs, the mean of their gains and its 95%
    interval resampling whole classes (the pairs) with replacement within the category."""
    from zsb.data.imagenet import OVERLAP_CATEGORIES

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    rows = []
    for category in OVERLAP_CATEGORIES:
        gains = by_class.loc[by_class["category"] == category, "gain"].to_numpy()
        if len(gains) == 0:
            continue
        means = gains[rng.integers(0, len(gains), size=(RESAMPLES, len(gains)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        rows.append({"category": category, "classes": len(gains), "gain": gains.mean(), "low": low, "high": high})
    return pd.DataFrame(rows)


def exploratory_markdown(by_class: pd.DataFrame, figure: str) -> str:
    """The exploratory section: the question, the per-category table, the figure and what they can carry."""
    if by_class.empty:
        return "No per-class table: the full method and no_knowledge have no common seed with a per-class table yet."
    by_category = knowledge_by_category(by_class)
    seeds = sorted(set(by_class["seeds"]))
    table = ["| ImageNet-1k overlap of the class | (split, class) pairs | mean gain of the knowledge loss [95%, "
             "resampling classes] |", "|---|---|---|",
             *(f"| {row.category} | {row.classes} | {signed(row.gain)} {interval_text(row.low, row.high)} |"
               for row in by_category.itertuples())]
    return "\n\n".join([
        ("**Exploratory, not a claim.** Does the precomputed knowledge help most where the teacher does not know the "
         "class, or where it does? For every test class of the three splits, the gain of the full method over "
         f"`{EXPLORATORY_VARIANT}` on its split's headline metric (mean over the seed pairs, "
         f"{'/'.join(map(str, seeds))} per split, and the class's queries; the class's interval resamples seeds and "
         "queries), grouped by the class's overlap with ImageNet-1k (wholly, partly, concept only, none: "
         "`zsb.data.imagenet`). No test was planned for it: read the intervals, nothing more."),
        "\n".join(table),
        f"![The knowledge loss's gain per test class, by the class's overlap with ImageNet-1k]({figure})",
        "Per class: `knowledge_by_class.csv` beside this README.",
    ])


def plot_knowledge_by_overlap(by_class: pd.DataFrame, path: str | Path | None = None):
    """Exploratory: each (split, class) pair's knowledge gain with its interval, one column per overlap category,
    coloured by split; the category's mean with its interval over classes in black."""
    import matplotlib.pyplot as plt

    from zsb.data.imagenet import OVERLAP_CATEGORIES
    from zsb.report.viz.base import save_figure

    by_category = knowledge_by_category(by_class).set_index("category")
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colours = dict(zip(SPLITS, ("#1f77b4", "#d62728", "#2ca02c")))
    rng = np.random.default_rng(0)
    for x, category in enumerate(OVERLAP_CATEGORIES):
        rows = by_class[by_class["category"] == category]
        offsets = rng.uniform(-0.25, 0.25, len(rows))
        for offset, row in zip(offsets, rows.itertuples()):
            ax.plot([x + offset] * 2, [row.low, row.high], color=colours[row.split], lw=0.8, alpha=0.5)
            ax.plot(x + offset, row.gain, "o", ms=3.5, color=colours[row.split])
        if category in by_category.index:
            summary = by_category.loc[category]
            ax.plot([x + 0.33] * 2, [summary["low"], summary["high"]], color="black", lw=2.5)
            ax.plot(x + 0.33, summary["gain"], "D", color="black", ms=5)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(OVERLAP_CATEGORIES)),
                  [f"{c}\n({int(by_category.loc[c, 'classes']) if c in by_category.index else 0} classes)"
                   for c in OVERLAP_CATEGORIES])
    ax.set_ylabel("gain of full over no_knowledge\n(split's headline metric)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour, label=split) for split, colour in colours.items()]
    ax.legend(handles=[*handles, plt.Line2D([], [], marker="D", ls="", color="black", label="category mean")],
              fontsize=8, frameon=False, loc="upper right")
    ax.set_title("Exploratory: the knowledge loss's gain per test class, by ImageNet-1k overlap", fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
