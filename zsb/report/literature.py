"""Published ZS-SBIR numbers, set beside zsb's only where they were measured the same way.

``literature.csv`` is the project's reference table of published results (one number a row, with the method,
backbone, benchmark, split, metric, how the method's own code computes it, and the table it was read from; a copy
of ``shared/reference/literature.csv``). A published row stands beside a zsb number only when benchmark, split and
metric *with its variant* match: the row's ``ap_variant`` must say how the number was computed, in a way zsb
computes too (exact or SAKE's VOC AP, P@K over the top K). Rows computed otherwise (a per-class mean, Doodle2Search's
rank-201 "P@200", ZSE-SBIR's P@K clipped to the number of relevant items, "not stated") are never matched.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd


def published_results() -> pd.DataFrame:
    """The reference table, with ``zsb_metric``: the zsb metric that measures the same thing, or None."""
    table = pd.read_csv(resources.files("zsb.report") / "literature.csv", dtype=str, keep_default_na=False)
    table["value"] = table["value"].astype(float)
    table["zsb_metric"] = [zsb_metric(m, v) for m, v in zip(table["metric"], table["ap_variant"])]
    return table


def zsb_metric(metric: str, ap_variant: str) -> str | None:
    """The zsb metric name of a published column, or None when it was computed in a way zsb does not."""
    variant = ap_variant.strip().lower()
    if metric.startswith("P@"):
        return metric if variant == "" else None
    if not metric.startswith("mAP@") or ";" in variant:
        return None
    if variant.startswith("exact"):
        return metric
    if variant.startswith("voc"):
        return f"{metric} (voc)"
    return None


def comparable_rows(benchmark: str, split: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Published rows measured like zsb's ``metrics`` on ``benchmark`` / ``split``: method, backbone, source and
    one column per metric (NaN where the paper does not give it)."""
    table = published_results()
    rows = table[(table["benchmark"] == benchmark) & (table["split"] == split) & table["zsb_metric"].isin(metrics)]
    if rows.empty:
        return pd.DataFrame(columns=["method", "backbone", *metrics, "source"])
    wide = rows.pivot_table(index=["method", "backbone"], columns="zsb_metric", values="value", aggfunc="first")
    sources = rows.groupby(["method", "backbone"])["source"].first()
    wide = wide.reindex(columns=[m for m in metrics if m in wide.columns]).assign(source=sources)
    return wide.reset_index()
