"""The ablation's figures: each variant's metrics, and the paired gains over seeds (per variant and per split)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from zsb.errors import DataError
from zsb.report.viz.base import finish, require_columns, style


def _format_value(value: float, fractions: bool) -> str:
    return "" if not np.isfinite(value) else f"{value:.3f}" if fractions else f"{value:.1f}"

def plot_ablation(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("mAP@all", "P@10"),
    path: str | os.PathLike | None = None,
) -> Figure:
    """Grouped bars comparing training variants (one group per metric, one bar per variant, value on each bar).
    The ``full`` variant (the paper's complete method) is drawn in a strong colour with a black edge; a row
    whose variant is ``chance`` (random ranking) is drawn as a dashed line across each metric's group. Where the
    table has ``<metric> low`` and ``<metric> high`` columns (a 95% interval of the mean over seeds and queries,
    :func:`zsb.run.stages.ablation`), each bar carries that interval as an error bar.

    Args:
        table: DataFrame with a ``variant`` column and one column per metric (optionally its interval bounds).
        metrics: metric columns to plot (default mAP@all and P@10).
        path: optional PNG file to save the figure to.
    """
    metrics = list(metrics)
    require_columns(table, ["variant", *metrics], "the ablation table",
                     "Give one row per variant with its metric values.")
    repeated = sorted(set(table.loc[table["variant"].duplicated(), "variant"]))
    if repeated:
        raise DataError(f"the ablation table repeats variants {repeated}; keep one row per variant "
                        "(e.g. average the seeds first).")
    chance = table[table["variant"] == "chance"]
    bars = table[table["variant"] != "chance"]
    if bars.empty or not metrics:
        raise DataError("the ablation table needs at least one variant other than 'chance' and one metric.")
    values = bars[metrics].to_numpy(dtype=float)
    errors = None  # (2, variants, metrics): distances below and above each bar
    if any(f"{m} low" in bars for m in metrics):
        bounds = [bars.get(f"{m} {b}", pd.Series(np.nan, index=bars.index)).to_numpy(dtype=float)
                  for b in ("low", "high") for m in metrics]
        low, high = np.array(bounds[: len(metrics)]).T, np.array(bounds[len(metrics):]).T
        errors = np.nan_to_num(np.stack([values - low, high - values]), nan=0.0).clip(min=0)
    all_values = np.r_[values.ravel(), chance[metrics].to_numpy(dtype=float).ravel(), 0.0]
    if errors is not None:
        all_values = np.r_[all_values, (values + errors[1]).ravel()]
    fractions = np.nanmax(np.abs(all_values)) <= 1.0

    variants = bars["variant"].astype(str).tolist()
    n = len(variants)
    width = 0.8 / n
    centres = np.arange(len(metrics))
    muted = sns.color_palette("pastel", n)
    with style():
        fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + len(metrics) * (0.6 * n + 0.6)), 4.8))
        for i, variant in enumerate(variants):
            full = variant == "full"
            container = ax.bar(
                centres + (i - (n - 1) / 2) * width, values[i], width * 0.95, label=variant,
                color="#c44e52" if full else muted[i], edgecolor="black" if full else "0.5",
                linewidth=1.8 if full else 0.6, zorder=2, yerr=errors[:, i, :] if errors is not None else None,
                error_kw={"elinewidth": 1.0, "capsize": 2, "ecolor": "0.15"},
            )
            ax.bar_label(container, labels=[_format_value(v, fractions) for v in values[i]], padding=2,
                         fontsize=8, fontweight="bold" if full else "normal", rotation=90 if n > 4 else 0)
        if not chance.empty:
            for j, metric in enumerate(metrics):
                level = float(chance[metric].iloc[0])
                ax.hlines(level, centres[j] - 0.45, centres[j] + 0.45, colors="0.2", linestyles="--", linewidth=1.5,
                          zorder=3, label="chance" if j == 0 else None)
        ax.set_xticks(centres, metrics)
        ax.set_ylabel("score")
        ax.set_xlabel("metric")
        ax.set_ylim(0, np.nanmax(all_values) * (1.3 if n > 4 else 1.15) or 1.0)
        ax.set_title("Ablation: contribution of each component")
        legend = ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for text in legend.get_texts():
            if text.get_text() == "full":
                text.set_fontweight("bold")
    return finish(fig, path)

def _paired_gains(table: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """The rows of ``table`` with a paired gain on ``metric``, the reading of each (:func:`zsb.stats.ablation_readings`)
    and the gain's three columns (estimate, low, high)."""
    from zsb.stats import ablation_readings

    columns = [f"{metric} gain", f"{metric} gain low", f"{metric} gain high"]
    require_columns(table, ["variant", *columns], "the ablation table",
                     "Run the ablation with the full variant, so each variant has a paired gain.")
    rows = table.dropna(subset=columns)
    if rows.empty:
        raise DataError("the ablation table has no paired gains (it needs the full variant and one other).")
    return rows, pd.Series(ablation_readings(table, metric), index=table.index)[rows.index], columns

def _draw_gains(ax, rows: pd.DataFrame, readings: pd.Series, columns: Sequence[str],
                positions: Sequence[float] | None = None) -> None:
    """One dot with whiskers per row, coloured by its reading, at ``positions`` on the y axis (default: top to
    bottom, labelled with the variants); the dashed line is 0."""
    labelled = positions is None
    positions = np.arange(len(rows))[::-1] if labelled else positions
    for (_, row), y, read in zip(rows.iterrows(), positions, readings):
        gain, low, high = (float(row[c]) for c in columns)
        colour = "0.35" if read == "tie" else "#2a7f3f" if read.startswith("full ahead") else "#c44e52"
        ax.errorbar([gain], [y], xerr=[[gain - low], [high - gain]], fmt="o", color=colour, elinewidth=2,
                    capsize=4, markersize=6, zorder=2, markerfacecolor="white" if read.endswith("(1 seed)") else colour)
    ax.axvline(0.0, color="0.2", linestyle="--", linewidth=1.2, zorder=1)
    if labelled:
        ax.set_yticks(positions, rows["variant"].astype(str).tolist())
        ax.set_ylim(-0.6, len(rows) - 0.4)

_GAINS_KEY = "(green: the component helps,\nbeyond the interval and the spread over seeds; hollow: 1 seed)"

def plot_ablation_gains(
    table: pd.DataFrame,
    metric: str = "mAP@all",
    path: str | os.PathLike | None = None,
) -> Figure:
    """What each component earns: for every variant, the paired gain of the full method over it (full minus
    variant, same seeds and queries) with its 95% bootstrap interval, as a dot with whiskers; the dashed line is 0.
    Colours follow :func:`zsb.stats.reading` ("spread before claims"): green, the component the variant removes
    earns its place (whiskers wholly right of 0 and a gain beyond the spread over seeds); red, the variant is ahead;
    grey, a tie. A hollow dot is a reading of one seed on each side, whose spread over seeds is not known yet.
    The untrained baselines (:data:`zsb.config.UNTRAINED_VARIANTS`: the frozen ImageNet features) get a panel of
    their own below, on their own scale: their gain, ten times the components', would squeeze the components'
    intervals into a sliver of the axis.

    Args:
        table: the ablation table, with ``variant`` and ``<metric> gain``, ``<metric> gain low`` and
            ``<metric> gain high`` columns (:func:`zsb.run.stages.ablation`); rows without a gain are left out.
        metric: the metric (default mAP@all); its header names the AP variant.
        path: optional PNG file to save the figure to.
    """
    from zsb.config import UNTRAINED_VARIANTS
    from zsb.metrics import metric_header

    rows, readings, columns = _paired_gains(table, metric)
    untrained = rows["variant"].astype(str).isin(UNTRAINED_VARIANTS)
    panels = [group for group in (rows[~untrained], rows[untrained]) if not group.empty]
    with style():
        fig, axes = plt.subplots(len(panels), 1, squeeze=False, figsize=(6.4, 1.6 + 0.5 * len(rows)),
                                 height_ratios=[max(len(group), 1.5) for group in panels])
        for ax, group in zip(axes[:, 0], panels):
            _draw_gains(ax, group, readings[group.index], columns)
        axes[-1, 0].set_xlabel(f"gain of the full method over the variant, {metric_header(metric)}")
        if len(panels) > 1:
            axes[-1, 0].set_title("not trained (its own scale)", fontsize="small")
        axes[0, 0].set_title(f"Paired gain with 95% bootstrap interval {_GAINS_KEY}")
        fig.tight_layout()
    return finish(fig, path)

def plot_gains_by_split(
    tables: Mapping[str, tuple[pd.DataFrame, str]],
    path: str | os.PathLike | None = None,
) -> Figure:
    """The figure of gains (:func:`plot_ablation_gains`) of several splits side by side, one panel per split, each
    on its own headline metric: the trained variants only (the frozen baseline's gain is ten times theirs), in the
    same rows on every panel, so a component reads across the splits.

    Args:
        tables: split name -> (its ablation table, its headline metric), in panel order.
        path: optional PNG file to save the figure to.
    """
    from zsb.config import UNTRAINED_VARIANTS
    from zsb.metrics import metric_header

    if not tables:
        raise DataError("no ablation tables to draw: give at least one split's table.")
    gains = {}
    for split, (table, metric) in tables.items():
        rows, readings, columns = _paired_gains(table, metric)
        trained = rows[~rows["variant"].astype(str).isin(UNTRAINED_VARIANTS)]
        gains[split] = trained, readings[trained.index], columns
    order = list(dict.fromkeys(v for rows, _, _ in gains.values() for v in rows["variant"].astype(str)))
    with style():
        fig, axes = plt.subplots(1, len(gains), squeeze=False, sharey=True,
                                 figsize=(1.6 + 3.4 * len(gains), 1.8 + 0.5 * len(order)))
        for ax, (split, (rows, readings, columns)) in zip(axes[0], gains.items()):
            _draw_gains(ax, rows, readings, columns,
                        positions=[len(order) - 1 - order.index(v) for v in rows["variant"].astype(str)])
            ax.set_title(split)
            ax.set_xlabel(f"gain, {metric_header(tables[split][1])}")
        axes[0, 0].set_yticks(np.arange(len(order))[::-1], order)  # shared by every panel
        axes[0, 0].set_ylim(-0.6, len(order) - 0.4)
        fig.suptitle(f"Gain of the full method over each variant, paired, with 95% bootstrap interval {_GAINS_KEY}")
        fig.tight_layout()
    return finish(fig, path)
