"""How much the copy of sketchy-mini changes a result: the same model evaluated on two copies of the same files
(or, with ``--second-model``, two models evaluated on one copy: e.g. an export's float32 and float16 weights).

The published sketchy_mini numbers were measured on the copy kept beside this repository (sketches stored as
grayscale PNG, photos re-encoded as JPEG quality 90); ``zsb data fetch sketchy_mini`` gives the original files.
This script embeds the test queries and gallery of the sketchy_mini preset's split on each copy with one model and
prints, per copy, mAP@all (exact) and P@100, their paired difference (second copy minus first, 95% bootstrap
interval over queries), and how far each photo's embedding moved between the copies (cosine similarity).

    python benchmarks/copy_gap.py ../shared/data/sketchy-mini ~/.cache/zsb/data/sketchy-mini
    python benchmarks/copy_gap.py FIRST SECOND --model results/sketchy_mini/model   # a run folder or an export
    python benchmarks/copy_gap.py COPY COPY --model FLOAT32_EXPORT --second-model FLOAT16_EXPORT

Without ``--model``: the frozen ImageNet features of the preset's backbone (no training needed).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from zsb import stats
from zsb.config import resolve
from zsb.metrics import evaluate_retrieval, metric_header
from zsb.run import stages
from zsb.run.context import Run
from zsb.search import load_searcher

METRICS = ("mAP@all", "P@100")


def embed_copy(root: Path, model: Path | None, work: Path, name: str) -> dict:
    """Labels, relative paths and embeddings of the test queries and gallery read from ``root``."""
    run = Run(work / name, resolve({"benchmark": "sketchy_mini", "data_root": str(root), "eval_both_flips": False,
                                    "epochs": 0 if model is None else 1}))
    run.folder.write_config(run.cfg)
    manifest = stages.prepare_data(run)
    out = {}
    for part, frame in (("queries", manifest.queries()), ("gallery", manifest.gallery())):
        out[f"{part}_labels"] = torch.tensor(frame["label"].to_numpy())
        out[f"{part}_names"] = [Path(p).relative_to(root.resolve()).as_posix() for p in frame["path"]]
        if model is not None:
            out[part], failed = load_searcher(model).embed(frame["path"].tolist(), desc=f"{name} {part}")
            assert not failed.any(), f"unreadable images in {root}"
    if model is None:
        features = stages.embeddings(run, "frozen")
        assert not int(features["queries_failed"]) and not int(features["gallery_failed"])
        out.update(queries=features["queries"], gallery=features["gallery"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="a sketchy-mini copy (e.g. ../shared/data/sketchy-mini)")
    parser.add_argument("second", type=Path, help="another copy (e.g. the one zsb data fetch made)")
    parser.add_argument("--model", type=Path, help="a finished run folder or a zsb export (default: frozen features)")
    parser.add_argument("--second-model", type=Path, help="embed the second copy with this model instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        copies = [embed_copy(root, model, Path(work), name) for root, model, name in
                  ((args.first, args.model, "first"), (args.second, args.second_model or args.model, "second"))]
    for part in ("queries", "gallery"):
        assert copies[0][f"{part}_names"] == copies[1][f"{part}_names"], f"the copies' {part} differ in their files"
    results = [evaluate_retrieval(c["queries"], c["queries_labels"], c["gallery"], c["gallery_labels"],
                                  ap_variants=("exact",)) for c in copies]
    model = args.model or "frozen ImageNet features of the sketchy_mini preset's backbone"
    second = f", second copy embedded by {args.second_model}" if args.second_model else ""
    print(f"model: {model}{second}; {len(copies[0]['queries'])} queries x {len(copies[0]['gallery'])} gallery photos")
    for metric in METRICS:
        first, second = (np.asarray(r.per_query[metric], dtype=float) for r in results)
        gap = stats.paired_difference(second, first)
        print(f"{metric_header(metric)}: {first.mean():.4f} on {args.first}, {second.mean():.4f} on {args.second}; "
              f"second minus first {gap.estimate:+.4f} [{gap.low:+.4f}, {gap.high:+.4f}]")
    for part in ("queries", "gallery"):
        cosine = torch.nn.functional.cosine_similarity(copies[0][part].float(), copies[1][part].float(), dim=1)
        print(f"{part}: cosine similarity of each image's two embeddings: mean {cosine.mean():.4f}, "
              f"min {cosine.min():.4f}")


if __name__ == "__main__":
    main()
