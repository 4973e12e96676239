"""The fixed hand-drawn queries: rendered from their committed strokes, each of a sempcyc25 test class, and scored
by benchmarks/hand_drawn_p10.py's P@10 (checked against a plain loop)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from zsb.data.registry import load_split

REPO = Path(__file__).resolve().parents[1]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


draw = load(REPO / "results" / "sketchy_mini" / "hand_drawn" / "draw.py", "hand_drawn_draw")
score = load(REPO / "benchmarks" / "hand_drawn_p10.py", "hand_drawn_p10")


def test_the_committed_drawings_are_their_strokes_of_test_classes():
    _, unseen = load_split("sketchy_mini", "sempcyc25")
    assert len(draw.DRAWINGS) >= 10 and set(draw.DRAWINGS) <= set(unseen)
    committed = sorted(p.stem for p in score.DRAWINGS.glob("*.png"))
    assert committed == sorted(draw.DRAWINGS)
    for name, strokes in draw.DRAWINGS.items():
        rendered = draw.render_strokes(draw.segments(strokes), 256, draw.PAD_LINE_WIDTH)
        assert np.array_equal(np.asarray(rendered), np.asarray(Image.open(score.DRAWINGS / f"{name}.png"))), name


def test_precision_at_10_counts_the_photos_of_the_querys_class():
    rows = [("a.png", f"/g/{'pear' if i < 3 else 'spoon'}/{i}.jpg") for i in range(10)]
    rows += [("b.png", f"/g/{'spoon' if i % 2 else 'bell'}/{i}.jpg") for i in range(10)]
    results = pd.DataFrame(rows, columns=["query", "path"])
    query_class = {"a.png": "pear", "b.png": "spoon"}
    expected = {}
    for query, cls in query_class.items():  # a plain loop
        paths = [path for q, path in rows if q == query]
        expected[query] = sum(Path(path).parent.name == cls for path in paths) / len(paths)
    assert score.precision_at_top(results, query_class).to_dict() == expected == {"a.png": 0.3, "b.png": 0.5}
