"""P@10 of hand-drawn queries beside the dataset's own sketches, for one model.

Searches the model's own test gallery (``--gallery benchmark``) with each drawing of
``results/sketchy_mini/hand_drawn/`` (named ``<class>.png``, drawn once by ``draw.py`` and never tuned) and with every
test sketch of the benchmark, and prints each drawing's P@10 (the share of its 10 first photos that are of its class)
and the mean P@10 of both sets. A drawing of a class that is not among the model's test classes is an error.

    python benchmarks/hand_drawn_p10.py                                  # the published model (zsb search's default)
    python benchmarks/hand_drawn_p10.py --model results/sketchy_mini/runs/<run_id>
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from zsb.data.registry import normalize_class_name
from zsb.search import default_model, index_gallery, load_searcher, search

DRAWINGS = Path(__file__).resolve().parents[1] / "results" / "sketchy_mini" / "hand_drawn"
TOP = 10


def precision_at_top(results: pd.DataFrame, query_class: dict[str, str]) -> pd.Series:
    """Per query of :func:`zsb.search.search`'s results: the share of its ranked photos whose class (their folder's
    name) is the query's class."""
    photo_class = results["path"].map(lambda path: normalize_class_name(Path(path).parent.name))
    hits = photo_class == results["query"].map(query_class)
    return hits.groupby(results["query"], sort=False).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a finished run folder or a zsb export (default: zsb search's)")
    parser.add_argument("--drawings", type=Path, default=DRAWINGS, help="folder of <class>.png drawings")
    args = parser.parse_args()
    searcher = load_searcher(args.model or default_model())
    gallery = index_gallery(searcher, "benchmark")
    test_classes = set(searcher.manifest.unseen_classes)
    drawings = sorted(args.drawings.glob("*.png"))
    drawn_class = {str(p): normalize_class_name(p.stem) for p in drawings}
    unknown = sorted(set(drawn_class.values()) - test_classes)
    if unknown:
        raise SystemExit(f"drawings of classes that are not test classes of this model: {', '.join(unknown)}")
    drawn = precision_at_top(search(searcher, gallery, list(drawn_class), TOP), drawn_class)
    queries = searcher.manifest.queries()
    sketch_class = {path: normalize_class_name(Path(path).parent.name) for path in queries["path"]}
    dataset = precision_at_top(search(searcher, gallery, list(sketch_class), TOP), sketch_class)
    print(f"model: {searcher.description}; gallery: {len(gallery.paths)} test photos")
    for query, value in drawn.items():
        print(f"  {Path(query).stem}: P@{TOP} {value:.1f}")
    print(f"P@{TOP}: hand-drawn {drawn.mean():.3f} over {len(drawn)} drawings; dataset sketches {dataset.mean():.3f} "
          f"over {len(dataset)}")


if __name__ == "__main__":
    main()
