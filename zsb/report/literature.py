"""Published ZS-SBIR numbers, set beside zsb's only where they were measured the same way.

``literature.csv`` is the project's table of published results (one number a row, with the method, backbone,
benchmark, split, metric, how the method's own code computes it, the table it was read from and the gallery it was
measured on). A published row stands beside a zsb number only when benchmark, split, metric *with its variant* and
gallery all match:

* ``ap_variant`` must name a computation zsb does too: exact AP ("exact ...") or SAKE's VOC AP ("voc ...") for
  mAP, the hits in the top K divided by K ("top K, divided by K ...", SAKE's ``eval_precision`` and SEM-PCYC's
  ``prec``) for P@K. Rows computed otherwise (a per-class mean, Doodle2Search's rank-201 "P@200", ZSE-SBIR's P@K
  clipped to the number of relevant items) or whose code was never read ("not stated") are never matched.
* ``gallery`` must equal the gallery the run used (:meth:`zsb.data.layouts.Layout.gallery_name`): SAKE's code
  retrieves among the original and the extended photos of a Sketchy class (``"sake: 256x256/photo +
  EXTEND_image_sketchy_ready"``, 17,101 photos on sake25), SEM-PCYC's and Doodle2Search's among the extended photos
  only (``"sem-pcyc: extended_photo"``); TU-Berlin and QuickDraw each have one photo folder (``"tu-berlin:
  images"``, ``"doodle2search: images"``). "not stated" matches nothing.

The table is the reference copy (``shared/reference/literature.csv``) with these changes, each checked by
``tests/report/test_literature.py`` against that copy:

* the column ``gallery`` is added, from the peers' code and file lists (SAKE's zeroshot lists, SEM-PCYC's
  ``extended_photo``, Doodle2Search's ``EXTEND_image_sketchy`` / ``EXTEND_image_quickdraw``; DSN and ZSE-SBIR use
  SAKE's lists); "not stated" where neither the split nor the code tells it (TCN, Sketch3T, PSKD, CLIP-AT, SpLIP,
  and the QuickDraw numbers of SEM-PCYC and SAKE, whose runners are not named);
* ``ap_variant`` of the P@K rows the reference leaves empty is filled: "top K, divided by K" where the code was read
  (SAKE, DSN's SAKE-based code, SEM-PCYC), TCN's "per-class (macro) mean in its code", "not stated" otherwise
  (Sketch3T, PSKD, SpLIP, and SEM-PCYC's QuickDraw P@200, read from SpLIP's table);
* Doodle2Search's eccv21 0.369, which the reference reads as mAP@200 (as the CLIP-AT table labels it), is its
  mAP@all: Doodle2Search's ``src/test.py`` prints scikit-learn's mAP over the whole gallery (its mAP@200, scikit-learn
  on the top 200, is commented out), the paper gives 0.3691 as "mAP" (the number users compare their runs of that
  script with, github.com/sounakdey/doodle2search/issues/9; its mAP@200 is the larger number, .../issues/18), and SpLIP's table
  prints another number, 0.461, in the mAP@200 cell. The row's ``metric`` is "mAP@all" (``ap_variant`` stays "exact (sklearn in its code)").
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

NOT_STATED = "not stated"


def published_results() -> pd.DataFrame:
    """The table, with ``zsb_metric``: the zsb metric that measures the same thing, or None."""
    table = pd.read_csv(resources.files("zsb.report") / "literature.csv", dtype=str, keep_default_na=False)
    table["value"] = table["value"].astype(float)
    table["zsb_metric"] = [zsb_metric(m, v) for m, v in zip(table["metric"], table["ap_variant"])]
    return table


def zsb_metric(metric: str, ap_variant: str) -> str | None:
    """The zsb metric name of a published column, or None when it was computed in a way zsb does not, or in a way
    not known (an empty or "not stated" variant)."""
    variant = ap_variant.strip().lower()
    if ";" in variant:
        return None
    if metric.startswith("P@"):
        return metric if variant.startswith("top k, divided by k") else None
    if not metric.startswith("mAP@"):
        return None
    if variant.startswith("exact"):
        return metric
    if variant.startswith("voc"):
        return f"{metric} (voc)"
    return None


def comparable_rows(benchmark: str, split: str, metrics: tuple[str, ...], gallery: str | None) -> pd.DataFrame:
    """Published rows measured like zsb's ``metrics`` on ``benchmark`` / ``split`` with the same ``gallery`` (None,
    a gallery not recorded, matches nothing): method, backbone, source and one column per metric (NaN where the
    paper does not give it)."""
    table = published_results()
    rows = table[(table["benchmark"] == benchmark) & (table["split"] == split) & table["zsb_metric"].isin(metrics)
                 & (table["gallery"] == gallery) & (table["gallery"] != NOT_STATED)]
    if rows.empty:
        return pd.DataFrame(columns=["method", "backbone", *metrics, "source"])
    wide = rows.pivot_table(index=["method", "backbone"], columns="zsb_metric", values="value", aggfunc="first")
    sources = rows.groupby(["method", "backbone"])["source"].first()
    wide = wide.reindex(columns=[m for m in metrics if m in wide.columns]).assign(source=sources)
    return wide.reset_index()
