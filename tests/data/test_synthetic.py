"""The embedded synthetic benchmark: class list, rendering, deterministic generation and the cache's atomicity."""

import json

import numpy as np
import pytest
from PIL import Image

from zsb.data import synthetic
from zsb.data.synthetic import (
    SYNTHETIC_CLASSES,
    SYNTHETIC_UNSEEN,
    ensure_synthetic,
    image_rng,
    is_complete,
    render_photo,
    render_sketch,
    sample_shape,
    synthetic_root,
)
from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError

SMALL = dict(num_per_domain=2, image_size=32, progress=False)  # 120 images: a generation takes well under a second


def tree_bytes(root):
    """Every image of a generated tree: relative path -> file content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.suffix in (".png", ".jpg")}


def test_classes_and_unseen_split():
    assert len(SYNTHETIC_CLASSES) >= 30
    assert len(set(SYNTHETIC_CLASSES)) == len(SYNTHETIC_CLASSES)
    assert len(SYNTHETIC_UNSEEN) == 6 and len(set(SYNTHETIC_UNSEEN)) == 6
    assert set(SYNTHETIC_UNSEEN) <= set(SYNTHETIC_CLASSES)


@pytest.mark.parametrize("class_name", SYNTHETIC_CLASSES)
def test_every_shape_family_is_normalised_and_varies(class_name):
    first, second = (sample_shape(class_name, np.random.default_rng(seed)) for seed in (1, 2))
    for parts in (first, second):
        points = np.concatenate([part.points for part in parts])
        assert np.isfinite(points).all()
        extent = points.max(0) - points.min(0)
        assert extent.max() == pytest.approx(2.0)
        assert np.abs(points.max(0) + points.min(0)).max() == pytest.approx(0.0, abs=1e-9)  # centred
        assert all(part.role in synthetic.ROLES for part in parts)
    same_layout = len(first) == len(second) and all(a.points.shape == b.points.shape for a, b in zip(first, second))
    assert not same_layout or any(not np.allclose(a.points, b.points) for a, b in zip(first, second))


def test_sketches_are_dark_strokes_on_white_and_photos_are_coloured_scenes():
    for class_name in ("house", "fish", "ladder"):
        sketch = np.asarray(render_sketch(class_name, np.random.default_rng(0), 64))
        photo = np.asarray(render_photo(class_name, np.random.default_rng(0), 64)).astype(float)
        assert sketch.shape == (64, 64) and sketch.dtype == np.uint8
        assert (sketch > 230).mean() > 0.7  # mostly white paper ...
        assert (sketch < 128).mean() > 0.01  # ... with some ink
        assert photo.shape == (64, 64, 3)
        assert (photo > 230).all(axis=2).mean() < 0.2  # not a white page
        assert np.abs(photo[..., 0] - photo[..., 2]).mean() > 3 or np.abs(photo[..., 0] - photo[..., 1]).mean() > 3


def test_unknown_class_and_bad_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown synthetic class 'dragon'.*anchor"):
        render_sketch("dragon", np.random.default_rng(0))
    with pytest.raises(ConfigError, match="num_per_domain"):
        ensure_synthetic(tmp_path, num_per_domain=0)
    with pytest.raises(ConfigError, match="image_size"):
        ensure_synthetic(tmp_path, image_size="128")
    with pytest.raises(ConfigError, match="workers"):
        ensure_synthetic(tmp_path, workers=0)


def test_generation_writes_the_sketchy_layout_with_exact_counts(tmp_path):
    root = ensure_synthetic(tmp_path, seed=3, workers=1, **SMALL)
    assert root == synthetic_root(tmp_path, seed=3, num_per_domain=2, image_size=32)
    for domain, suffix in ((SKETCH, ".png"), (PHOTO, ".jpg")):
        folders = sorted(p.name for p in (root / DOMAIN_NAMES[domain]).iterdir())
        assert folders == sorted(SYNTHETIC_CLASSES)
        for class_name in SYNTHETIC_CLASSES:
            files = sorted((root / DOMAIN_NAMES[domain] / class_name).iterdir())
            assert [f.name for f in files] == [f"0000{suffix}", f"0001{suffix}"]
            with Image.open(files[0]) as image:
                assert image.size == (32, 32)
                assert image.mode == ("L" if domain == SKETCH else "RGB")
    metadata = json.loads((root / synthetic.METADATA_FILE).read_text())
    assert metadata["parameters"] == {"format_version": synthetic.FORMAT_VERSION, "seed": 3, "num_per_domain": 2,
                                      "image_size": 32}
    assert metadata["unseen_classes"] == list(SYNTHETIC_UNSEEN)
    assert is_complete(root, seed=3, num_per_domain=2, image_size=32)
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no staging folder left behind


def test_generation_is_deterministic_and_independent_of_worker_count(tmp_path):
    in_process = ensure_synthetic(tmp_path / "a", seed=5, workers=1, **SMALL)
    two_workers = ensure_synthetic(tmp_path / "b", seed=5, workers=2, **SMALL)
    other_seed = ensure_synthetic(tmp_path / "c", seed=6, workers=1, **SMALL)
    reference = tree_bytes(in_process)
    assert len(reference) == 2 * len(SYNTHETIC_CLASSES) * 2
    assert tree_bytes(two_workers) == reference
    different = tree_bytes(other_seed)
    assert different.keys() == reference.keys()
    assert sum(different[k] != reference[k] for k in reference) == len(reference)


def test_image_rng_depends_on_every_coordinate():
    draws = {(s, c, d, i): image_rng(s, c, d, i).integers(1 << 62)
             for s in (0, 1) for c in ("fish", "star") for d in (SKETCH, PHOTO) for i in (0, 1)}
    assert len(set(draws.values())) == len(draws)
    assert image_rng(0, "fish", PHOTO, 7).integers(1 << 62) == image_rng(0, "fish", PHOTO, 7).integers(1 << 62)


def count_generated_images(monkeypatch):
    """Wrap the per-folder generator to count the images it writes."""
    written = []
    original = synthetic.cache._generate_images

    def counting(*args):
        written.append(original(*args))
        return written[-1]

    monkeypatch.setattr(synthetic.cache, "_generate_images", counting)
    return written


def test_a_complete_cache_is_reused(tmp_path, monkeypatch):
    written = count_generated_images(monkeypatch)
    root = ensure_synthetic(tmp_path, workers=1, **SMALL)
    assert sum(written) == 2 * len(SYNTHETIC_CLASSES) * 2
    stamp = (root / synthetic.METADATA_FILE).stat().st_mtime_ns
    assert ensure_synthetic(tmp_path, workers=1, **SMALL) == root
    assert sum(written) == 2 * len(SYNTHETIC_CLASSES) * 2  # nothing generated the second time
    assert (root / synthetic.METADATA_FILE).stat().st_mtime_ns == stamp


def test_a_partial_folder_is_never_taken_as_complete(tmp_path, monkeypatch):
    root = synthetic_root(tmp_path, num_per_domain=2, image_size=32)
    (root / "sketch" / "fish").mkdir(parents=True)  # what a crash in an older, non-atomic writer could leave
    (root / "sketch" / "fish" / "0000.png").write_bytes(b"not an image")
    assert not is_complete(root, num_per_domain=2, image_size=32)
    with pytest.warns(UserWarning, match="replacing the incomplete"):
        assert ensure_synthetic(tmp_path, workers=1, **SMALL) == root
    assert is_complete(root, num_per_domain=2, image_size=32)
    reference = tree_bytes(root)

    (root / "photo" / "star" / "0001.jpg").unlink()  # a tree with its metadata but an image missing
    assert not is_complete(root, num_per_domain=2, image_size=32)
    with pytest.warns(UserWarning):
        ensure_synthetic(tmp_path, workers=1, **SMALL)
    assert tree_bytes(root) == reference

    metadata = json.loads((root / synthetic.METADATA_FILE).read_text())
    assert not is_complete(root, seed=1, num_per_domain=2, image_size=32)  # other parameters
    metadata["parameters"]["format_version"] = synthetic.FORMAT_VERSION - 1
    (root / synthetic.METADATA_FILE).write_text(json.dumps(metadata))
    assert not is_complete(root, num_per_domain=2, image_size=32)  # written by an older generator


def test_a_crash_during_generation_leaves_no_tree(tmp_path, monkeypatch):
    calls = []

    def failing_photo(class_name, rng, image_size):
        calls.append(class_name)
        if len(calls) > 5:
            raise RuntimeError("simulated crash")
        return render_photo(class_name, rng, image_size)

    monkeypatch.setitem(synthetic.RENDERERS, PHOTO, failing_photo)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ensure_synthetic(tmp_path, workers=1, **SMALL)
    assert list(tmp_path.iterdir()) == []  # neither a tree nor its staging folder


def test_default_cache_folder_follows_zsb_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSB_CACHE", str(tmp_path))
    assert synthetic_root(seed=0) == tmp_path / f"synthetic-v{synthetic.FORMAT_VERSION}-seed0-n40-128px"
