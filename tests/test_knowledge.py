"""Class-oriented knowledge: per-class mean of teacher predictions, cached with its settings."""

import logging

import pytest
import torch

from zsb.artifacts import load_or_compute_class_knowledge
from zsb.backbones import build_backbone
from zsb.config import canonical_json as canonical_settings
from zsb.errors import ConfigError, DataError
from zsb.knowledge import compute_class_knowledge, keep_top_k

LABELS = torch.tensor([0, 2, 1, 0, 2, 2, 1])  # classes of uneven size, mixed inside batches
IMAGES = torch.randn(len(LABELS), 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return build_backbone("efficientnet_lite0", None)


def loader(batch_size=3):
    """Batches shaped like ImageDataset's: (images, labels, domains, indices)."""
    return [
        (IMAGES[i:i + batch_size], LABELS[i:i + batch_size], torch.ones_like(LABELS[i:i + batch_size]),
         torch.arange(i, min(i + batch_size, len(LABELS))))
        for i in range(0, len(LABELS), batch_size)
    ]


@pytest.fixture(scope="module")
def single_image_logits(teacher):
    """The teacher's ImageNet logits, one image at a time (eval mode)."""
    teacher.eval()
    with torch.no_grad():
        return [teacher.imagenet_head(teacher(IMAGES[i:i + 1]))[0] for i in range(len(LABELS))]


def reference_knowledge(single_image_logits, temperature):
    """Plain loops: for each class, the mean of its images' softmax(logits / T)."""
    rows = []
    for c in range(3):
        probs = [torch.softmax(logits / temperature, 0) for logits, label in zip(single_image_logits, LABELS) if label == c]
        rows.append(sum(probs) / len(probs))
    return torch.stack(rows)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_class_knowledge_is_the_per_class_mean_of_teacher_predictions(teacher, single_image_logits, temperature):
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    teacher.train()
    knowledge = compute_class_knowledge(teacher, loader(), num_classes=3, temperature=temperature, progress=False)
    assert knowledge.shape == (3, 1000) and knowledge.dtype == torch.float32
    assert torch.allclose(knowledge, reference_knowledge(single_image_logits, temperature), atol=1e-6)
    assert torch.allclose(knowledge.sum(1), torch.ones(3), atol=1e-5)
    assert not teacher.training  # eval mode: BatchNorm running statistics untouched
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())


def test_top_k_rows_keep_k_largest_entries_renormalised():
    probs = torch.softmax(torch.randn(4, 50, generator=torch.Generator().manual_seed(1)), dim=1)
    kept = keep_top_k(probs, 5)
    assert torch.allclose(kept.sum(1), torch.ones(4))
    assert ((kept > 0).sum(1) == 5).all()
    for row, original in zip(kept, probs):
        top = original.topk(5).indices
        assert set(row.nonzero().flatten().tolist()) == set(top.tolist())
        assert torch.allclose(row[top], original[top] / original[top].sum())
    with pytest.raises(ConfigError, match="top_k"):
        keep_top_k(probs, 0)


def test_compute_class_knowledge_applies_top_k(teacher):
    knowledge = compute_class_knowledge(teacher, loader(), num_classes=3, temperature=1.0, top_k=10, progress=False)
    assert ((knowledge > 0).sum(1) == 10).all()
    assert torch.allclose(knowledge.sum(1), torch.ones(3), atol=1e-6)


def test_a_class_without_photos_or_a_label_out_of_range_is_a_data_error(teacher):
    with pytest.raises(DataError, match=r"classes \[3\]"):
        compute_class_knowledge(teacher, loader(), num_classes=4, temperature=1.0, progress=False)
    with pytest.raises(DataError, match="num_classes is 2"):
        compute_class_knowledge(teacher, loader(), num_classes=2, temperature=1.0, progress=False)


def test_cache_is_reused_only_while_settings_match(tmp_path, teacher, single_image_logits, caplog):
    calls = []

    def compute():
        calls.append(1)
        return compute_class_knowledge(teacher, loader(), num_classes=3, temperature=1.0, progress=False)

    path = tmp_path / "knowledge.pt"
    settings = {"teacher": "efficientnet_lite0", "temperature": 1.0, "top_k": None, "classes": ["a", "b", "c"]}
    first = load_or_compute_class_knowledge(path, settings, compute)
    assert len(calls) == 1 and path.is_file()

    stored = torch.load(path, weights_only=True)
    assert torch.equal(stored["knowledge"], first)
    assert stored["settings"] == canonical_settings(settings)
    assert torch.allclose(stored["knowledge"], reference_knowledge(single_image_logits, 1.0), atol=1e-6)

    reordered = dict(reversed(list(settings.items())))  # same settings, other key order
    assert torch.equal(load_or_compute_class_knowledge(path, reordered, compute), first)
    assert len(calls) == 1

    with caplog.at_level(logging.WARNING, logger="zsb.knowledge"):
        load_or_compute_class_knowledge(path, {**settings, "temperature": 2.0}, compute)
    assert len(calls) == 2
    assert "temperature" in caplog.text
    assert torch.load(path, weights_only=True)["settings"] == canonical_settings({**settings, "temperature": 2.0})


def test_unreadable_cache_is_recomputed(tmp_path):
    path = tmp_path / "knowledge.pt"
    path.write_bytes(b"truncated")
    knowledge = load_or_compute_class_knowledge(path, {"a": 1}, lambda: torch.eye(2))
    assert torch.equal(knowledge, torch.eye(2))
    assert torch.equal(torch.load(path, weights_only=True)["knowledge"], torch.eye(2))


def test_settings_must_be_json(tmp_path):
    with pytest.raises(ConfigError, match="JSON"):
        load_or_compute_class_knowledge(tmp_path / "k.pt", {"path": tmp_path}, lambda: torch.eye(2))
