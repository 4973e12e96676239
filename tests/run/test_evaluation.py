"""Evaluation: an image that fails to decode is dropped and counted, never replaced; metrics.json holds every AP
variant, the split's protocol, the other flip setting when asked, and the ImageNet-1k overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zsb.config import resolve
from zsb.data.synthetic import SYNTHETIC_UNSEEN
from zsb.metrics import AP_VARIANTS
from zsb.run import stages
from zsb.run.context import Run

from data.trees import make_tree, truncate, uniform_classes


@pytest.fixture
def small_tree(tmp_path):
    """The synthetic benchmark's layout with 3 photos and 3 sketches per class, generated as tiny images."""
    names = ["photo_a.jpg", "photo_b.jpg", "photo_c.jpg"]
    classes = uniform_classes(list(SYNTHETIC_UNSEEN) + ["seen_one", "seen_two"],
                              sketches=["a.png", "b.png", "c.png"], photos=names)
    return make_tree(tmp_path / "data", "sketch", "photo", classes)


def test_a_gallery_image_that_fails_to_decode_is_dropped_and_counted(small_tree, tmp_path):
    cfg = resolve({"data_root": str(small_tree), "max_unseen_classes": 2, "weights": "none", "epochs": 0,
                   "image_size": 32, "device": "cpu", "progress": False, "eval_both_flips": True,
                   "cache_images": False})
    run = Run(tmp_path / "run", cfg)
    stages.prepare_data(run)
    gallery = run.manifest.gallery()
    broken = gallery["path"].iloc[1]
    truncate(Path(broken), keep=0.3)  # damaged after the data stage checked it

    with pytest.warns(UserWarning, match="left out of the evaluation"):
        summary = stages.evaluate(run, "frozen")
    record = json.loads(run.folder.metrics_path("frozen").read_text())
    assert record["failed_images"] == {"queries": 0, "gallery": 1}
    assert record["num_gallery"] == len(gallery) - 1 and record["num_queries"] == 6
    features = stages.embeddings(run, "frozen")
    kept = features["gallery_index"].tolist()
    assert 1 not in kept and kept == [i for i in range(len(gallery)) if i != 1]
    assert len(features["gallery"]) == len(kept)  # nothing in its place
    assert features["gallery_labels"].tolist() == gallery["label"].iloc[kept].tolist()
    assert set(summary) == set(record["metrics"])
    assert {"mAP@all (voc)", "mAP@200 (sem-pcyc)"} <= set(summary) and len(AP_VARIANTS) == 3
    assert record["protocol"] == ["mAP@all", "P@100", "P@10"] and record["evaluated_on"] == "test"
    assert record["other_flip"]["eval_hflip"] is True and record["eval_hflip"] is False
    assert set(record["other_flip"]["metrics"]) == set(record["metrics"])
    assert record["imagenet_overlap"]["photos_without_synset_id"] == len(gallery)
    assert record["gallery"] == {"name": "mini: photo", "split_standard": None}  # which photos it retrieved among


def test_binary_codes_are_fitted_on_seen_training_embeddings_only(tmp_path, synthetic_env, monkeypatch):
    import os

    import numpy as np

    from zsb import binary

    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    cfg = resolve({"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 3, "image_size": 32,
                   "epochs": 1, "classes_per_batch": 3, "embed_dim": 16, "binary_bits": 8, "weights": "none",
                   "device": "cpu", "progress": False})
    run = Run(tmp_path / "run", cfg)
    fitted = []
    real_fit = binary.fit_itq
    monkeypatch.setattr(binary, "fit_itq", lambda x, **kw: fitted.append(np.array(x)) or real_fit(x, **kw))
    stages.train(run)
    summary = stages.evaluate(run, "trained")

    from zsb.data.datasets import ImageDataset

    opened = []
    real_load = ImageDataset._load
    monkeypatch.setattr(ImageDataset, "_load", lambda self, i: opened.append(self.paths[i]) or real_load(self, i))
    run.folder.features_path("trained_seen").unlink()
    seen = stages.seen_embeddings(run)  # rebuilt: every image it opens is recorded
    manifest = run.manifest
    train_paths = set(manifest.train()["path"])
    assert set(opened) == train_paths and len(seen["embeddings"]) == len(train_paths)
    assert not train_paths & (set(manifest.queries()["path"]) | set(manifest.gallery()["path"]))
    assert set(manifest.train()["class_name"]) <= set(manifest.seen_classes)
    assert len(fitted) == 1 and np.array_equal(fitted[0], seen["embeddings"].numpy())
    record = json.loads(run.folder.metrics_path().read_text())["binary"]
    assert record["bits"] == 8 and record["bytes_per_item"] == 1 and record["real_valued_bytes_per_item"] == 64
    assert record["fitted_on"]["seen_training_images"] == len(train_paths)
    assert set(record["metrics"]) == set(summary) | {"mAP@all (sklearn ties)"}
    assert 0 <= record["metrics"]["mAP@all"] <= 1
    itq = real_fit(seen["embeddings"].numpy(), bits=8)
    features = stages.embeddings(run, "trained")
    codes = binary.as_signed(itq.encode(features["queries"].numpy()))
    assert set(np.unique(codes[:, :8])) == {-1.0, 1.0} and codes.shape[1] == 16 and (codes[:, 8:] == 1).all()
    # SEM-PCYC's binary mAP@all: scikit-learn's AP on exp(-Hamming distance) per query, averaged
    from sklearn.metrics import average_precision_score

    distances = binary.hamming_distances(binary.pack(itq.encode(features["queries"].numpy())),
                                         binary.pack(itq.encode(features["gallery"].numpy())))
    relevant = features["queries_labels"].numpy()[:, None] == features["gallery_labels"].numpy()[None, :]
    sem_pcyc = np.mean([average_precision_score(r, np.exp(-d / 8)) for r, d in zip(relevant, distances)])
    assert record["metrics"]["mAP@all (sklearn ties)"] == pytest.approx(sem_pcyc, abs=1e-12)
