"""Layout detection and file-level helpers, on tiny trees built in a temporary folder."""

import numpy as np
import pytest
from PIL import Image

from zsb.data.layouts import (
    check_image,
    find_layout,
    inspect_images,
    is_image_file,
    list_class_files,
)
from zsb.data.registry import get_benchmark
from zsb.errors import ConfigError, DataError

from .trees import make_tree, truncate, uniform_classes, write_image

SKETCHY = get_benchmark("sketchy_ext").layouts


def test_sempcyc_layout_found_from_parent_or_sketchy_folder(tmp_path):
    make_tree(tmp_path / "Sketchy", "sketch/tx_000000000000", "extended_photo", uniform_classes(["cat"]))
    for root in (tmp_path, tmp_path / "Sketchy"):
        layout, sketch_dir, photo_dir = find_layout("sketchy_ext", SKETCHY, root)
        assert layout.name == "sempcyc"
        assert sketch_dir == tmp_path / "Sketchy" / "sketch" / "tx_000000000000"
        assert photo_dir == tmp_path / "Sketchy" / "extended_photo"


def test_sake_layout_found(tmp_path):
    make_tree(
        tmp_path / "Sketchy", "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
        uniform_classes(["cat"]),
    )
    layout, sketch_dir, _ = find_layout("sketchy_ext", SKETCHY, tmp_path)
    assert layout.name == "sake" and layout.extra_photo_dir == "256x256/photo/tx_000000000000_ready"
    assert sketch_dir.name == "tx_000000000000_ready"


def test_layout_can_be_forced_when_a_folder_holds_both_releases(tmp_path):
    make_tree(tmp_path / "Sketchy", "sketch/tx_000000000000", "extended_photo", uniform_classes(["cat"]))
    make_tree(
        tmp_path / "Sketchy", "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
        uniform_classes(["cat"]),
    )
    assert find_layout("sketchy_ext", SKETCHY, tmp_path)[0].name == "sempcyc"
    assert find_layout("sketchy_ext", SKETCHY, tmp_path, "sake")[0].name == "sake"
    with pytest.raises(ConfigError, match="sempcyc, sake"):
        find_layout("sketchy_ext", SKETCHY, tmp_path, "doodle")


@pytest.mark.parametrize("sketch_dir, photo_dir, name", [
    ("sketches", "images", "d2s"), ("QuickDraw_sketches_final", "QuickDraw_images_final", "final"),
])
def test_quickdraw_layouts(tmp_path, sketch_dir, photo_dir, name):
    make_tree(tmp_path / "QuickDraw", sketch_dir, photo_dir, uniform_classes(["cat"]))
    assert find_layout("quickdraw_ext", get_benchmark("quickdraw_ext").layouts, tmp_path)[0].name == name


def test_missing_root_names_path_and_expected_layouts(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as error:
        find_layout("sketchy_ext", SKETCHY, missing)
    message = str(error.value)
    assert str(missing) in message and "does not exist" in message
    assert "[Sketchy/]sketch/tx_000000000000/<class>/" in message
    assert "[Sketchy/]256x256/sketch/tx_000000000000_ready/<class>/" in message
    assert "[Sketchy/]EXTEND_image_sketchy_ready/<class>/" in message


def test_root_matching_no_layout_lists_its_content_and_the_layouts(tmp_path):
    (tmp_path / "Sketchy" / "photo").mkdir(parents=True)
    with pytest.raises(DataError) as error:
        find_layout("tuberlin_ext", get_benchmark("tuberlin_ext").layouts, tmp_path)
    message = str(error.value)
    assert "does not match any supported layout" in message and "Sketchy" in message
    assert "[TU-Berlin/]sketches/<class>/" in message and "[TU-Berlin/]images/<class>/" in message


def test_image_extensions_match_in_any_case(tmp_path):
    names = ["a.jpg", "b.JPEG", "c.Png", "d.jpeg", "e.JPG", "notes.txt", ".DS_Store", "f.jpg.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    images, others = list_class_files(tmp_path)
    assert [p.name for p in images] == ["a.jpg", "b.JPEG", "c.Png", "d.jpeg", "e.JPG"]
    assert sorted(p.name for p in others) == sorted([".DS_Store", "f.jpg.part", "notes.txt", "sub.png"])
    assert not is_image_file(tmp_path / "sub.png")


def _noise(path, mode):
    """A 64x64 noise image: the compressed data outweighs the header, so truncation cuts into the pixels."""
    rng = np.random.default_rng(0)
    shape = (64, 64) if mode == "L" else (64, 64, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


@pytest.mark.parametrize("name, mode", [("photo.jpg", "RGB"), ("sketch.png", "L"), ("photo.JPEG", "RGB")])
def test_check_image_accepts_good_and_rejects_truncated_files(tmp_path, name, mode):
    path = _noise(tmp_path / name, mode)
    assert check_image(path) is None
    truncate(path, 0.9)
    assert check_image(path) is not None


def test_check_image_rejects_flipped_png_bytes_and_non_images(tmp_path):
    path = write_image(tmp_path / "sketch.png", size=32)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert check_image(path) is not None
    text = tmp_path / "fake.jpg"
    text.write_text("not an image")
    assert "UnidentifiedImageError" in check_image(text)


@pytest.mark.parametrize("verify", [True, False])
def test_inspect_images_in_worker_processes_equals_one_file_at_a_time(tmp_path, verify):
    """Resolved paths and reasons, in order, whatever the number of processes, equal Path.resolve and check_image
    of each file: a symbolic link resolves to its target, a file in a linked folder to the folder's target."""
    (tmp_path / "real").mkdir()
    good = _noise(tmp_path / "real" / "a.png", "L")
    truncated = truncate(_noise(tmp_path / "b.jpg", "RGB"), 0.5)
    fake = tmp_path / "c.jpg"
    fake.write_text("not an image")
    link = tmp_path / "d.png"
    link.symlink_to(good)
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    paths = [good, truncated, fake, link, tmp_path / "linked" / "a.png", tmp_path / "linked" / ".." / "b.jpg"] * 3
    obvious = [(str(path.resolve()), check_image(path) if verify else None) for path in paths]
    assert inspect_images(paths, verify, processes=2) == inspect_images(paths, verify, processes=1) == obvious
    assert obvious[3][0] == obvious[4][0] == str(good.resolve()) and (obvious[1][1] is not None) == verify
