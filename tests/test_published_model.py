"""The model published in the repository (results/sketchy_mini/model): intact, small, zsb search's default, and its
recorded evaluation reproduced from its stored weights on the shared sketchy-mini copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zsb
from zsb.data.manifest import build_manifest
from zsb.export import is_export
from zsb.metrics import evaluate_retrieval, metric_header
from zsb.search import PUBLISHED_MODEL, default_model, load_searcher

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / PUBLISHED_MODEL
MAX_BYTES = 20 * 2**20
FLOAT16_COST = 0.001
"""How far the float16 weights' mAP@all may be from the float32 model's recorded one (measured: README)."""


def test_the_published_model_is_an_intact_export_under_20_mb_stored_in_float16():
    assert is_export(MODEL)
    manifest = json.loads((MODEL / "export.json").read_text())
    assert manifest["stored_dtype"] == "float16"
    assert sum(path.stat().st_size for path in MODEL.iterdir()) <= MAX_BYTES
    exported = zsb.load_model(MODEL)  # every file's SHA-256 checked
    assert exported.config["benchmark"] == "sketchy_mini" and exported.config["evaluate_on"] == "test"


def test_zsb_search_uses_the_published_model_when_none_is_named(monkeypatch):
    monkeypatch.chdir(REPO)
    assert default_model() == PUBLISHED_MODEL


def test_the_model_card_gives_the_recorded_metrics_with_their_variant():
    card = (MODEL / "README.md").read_text()
    metrics = json.loads((MODEL / "metrics.json").read_text())
    for metric in metrics["protocol"]:
        assert f"| {metric_header(metric)} | {metrics['metrics'][metric]:.4f} |" in card
    assert "| stored weights | float16: rounded" in card


def test_the_stored_weights_reproduce_the_recorded_evaluation(sketchy_mini_root):
    exported = zsb.load_model(MODEL)
    recorded = json.loads((MODEL / "metrics.json").read_text())
    p = exported.config
    manifest = build_manifest(p["benchmark"], sketchy_mini_root, p["split"] or None, progress=False)
    searcher = load_searcher(MODEL, progress=False)
    embedded = []
    for frame in (manifest.queries(), manifest.gallery()):
        embedding, failed = searcher.embed(frame["path"].tolist())
        assert not failed.any()
        embedded += [embedding, frame["label"].to_numpy()]
    assert (len(embedded[0]), len(embedded[2])) == (recorded["num_queries"], recorded["num_gallery"])
    result = evaluate_retrieval(*embedded, ap_variants=("exact",))
    found = float(np.mean(result.per_query["mAP@all"]))
    assert abs(found - recorded["metrics"]["mAP@all"]) < FLOAT16_COST
