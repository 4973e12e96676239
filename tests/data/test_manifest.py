"""build_manifest on every layout (tiny trees) and on the real sketchy-mini; write/read round trip; errors."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from zsb.data.layouts import check_image, list_class_files
from zsb.data.manifest import (
    COLUMNS, NOT_AN_IMAGE, UNREADABLE, Manifest, build_manifest, read_manifest, sidecar_path,
    write_manifest,
)
from zsb.data.registry import get_benchmark, load_split
from zsb.errors import ConfigError, DataError

from .trees import make_tree, truncate, uniform_classes, write_image

SEMPCYC_UNSEEN = load_split("sketchy_ext", "sempcyc25")[1]
SEEN_EXTRA = ["airplane", "zebra"]  # two classes outside the sempcyc25 unseen list: the seen classes of the trees


def sketchy_tree(base, classes=None):
    """SEM-PCYC release of Sketchy: the 25 unseen classes plus two seen ones, two images each per domain."""
    return make_tree(
        base / "Sketchy", "sketch/tx_000000000000", "extended_photo",
        classes or uniform_classes(SEMPCYC_UNSEEN + SEEN_EXTRA),
    )


def test_sketchy_sempcyc_layout(tmp_path):
    sketchy_tree(tmp_path)
    manifest = build_manifest("sketchy_ext", tmp_path)
    assert manifest.layout == "sempcyc" and manifest.split == "sempcyc25"
    assert manifest.seen_classes == SEEN_EXTRA and manifest.unseen_classes == SEMPCYC_UNSEEN
    assert list(manifest.frame.columns) == list(COLUMNS)
    assert len(manifest.train()) == 2 * 2 * 2 and len(manifest.queries()) == len(manifest.gallery()) == 25 * 2
    assert manifest.skipped == []
    row = manifest.frame.iloc[0]
    assert row["path"].startswith(str(tmp_path.resolve())) and row["path"].endswith("a.png")


def test_labels_index_the_sorted_seen_or_unseen_classes(tmp_path):
    sketchy_tree(tmp_path)
    manifest = build_manifest("sketchy_ext", tmp_path / "Sketchy")
    for seen, classes in ((True, manifest.seen_classes), (False, manifest.unseen_classes)):
        rows = manifest.frame[manifest.frame["seen"] == seen]
        assert [classes[label] for label in rows["label"]] == list(rows["class_name"])
    assert set(manifest.queries()["domain"]) == {"sketch"} and set(manifest.gallery()["domain"]) == {"photo"}
    assert list(manifest.train().index) == list(range(len(manifest.train())))


def test_sake_layout_reads_both_photo_folders_and_keeps_photos_that_share_a_stem(tmp_path):
    """SAKE's zeroshot1 gallery rule: the extended photos plus the original Sketchy photos, a photo in both folders
    kept twice (at full size: 14,601 + 2,500 = 17,101 photos for the 25 unseen classes)."""
    seen, unseen = load_split("sketchy_ext", "sake25")
    top = tmp_path / "Sketchy"
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
              uniform_classes(seen + unseen, sketches=["s.png"], photos=["ext_1.jpg", "n01.jpg", "n02.png"]))
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "256x256/photo/tx_000000000000_ready",
              uniform_classes(seen + unseen, sketches=["s.png"], photos=["n01.jpg", "n03.jpg"]))
    manifest = build_manifest("sketchy_ext", tmp_path, "sake25")
    assert manifest.layout == "sake" and manifest.skipped == []
    assert manifest.counts()["photo"].eq(5).all() and manifest.counts()["sketch"].eq(1).all()
    assert len(manifest.gallery()) == 25 * 5 and len(manifest.train()) == 100 * (5 + 1)
    names = manifest.gallery()["path"].map(lambda p: Path(p).parent.parent.name + "/" + Path(p).name)
    assert (names == "EXTEND_image_sketchy_ready/n01.jpg").sum() == 25
    assert (names == "tx_000000000000_ready/n01.jpg").sum() == 25
    assert len(manifest.seen_classes) == 100 and len(manifest.unseen_classes) == 25


def test_sake25_reads_sakes_release_first_and_every_run_records_its_gallery(tmp_path):
    """With both Sketchy releases in one folder, sake25 reads SAKE's (its published gallery), the other splits the
    first layout; without SAKE's release sake25 reads the SEM-PCYC one and its gallery record says so."""
    from zsb.data.registry import SAKE_GALLERY, SEMPCYC_GALLERY
    from zsb.run.stages import gallery_record

    seen, unseen = load_split("sketchy_ext", "sake25")
    every = uniform_classes(seen + unseen, sketches=["s.png"], photos=["p.jpg"])
    top = tmp_path / "Sketchy"
    make_tree(top, "sketch/tx_000000000000", "extended_photo", every)
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready", every)
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "256x256/photo/tx_000000000000_ready", every)
    layouts = {split: build_manifest("sketchy_ext", tmp_path, split, verify_images=False).layout
               for split in ("sake25", "sempcyc25", "eccv21")}
    assert layouts == {"sake25": "sake", "sempcyc25": "sempcyc", "eccv21": "sempcyc"}
    sake = build_manifest("sketchy_ext", tmp_path, "sake25", verify_images=False)
    assert len(sake.gallery()) == 25 * 2  # an extended and an original photo per class
    assert gallery_record(sake) == {"name": SAKE_GALLERY, "split_standard": SAKE_GALLERY}
    eccv21 = build_manifest("sketchy_ext", tmp_path, "eccv21", verify_images=False)
    assert gallery_record(eccv21) == {"name": SEMPCYC_GALLERY, "split_standard": None}  # peers used both
    assert "holds no SEM-PCYC / Doodle2Search release" in get_benchmark("sketchy_ext").gallery_note("sempcyc25", "sake")

    shutil.rmtree(top / "256x256")
    fallback = build_manifest("sketchy_ext", tmp_path, "sake25", verify_images=False)
    assert fallback.layout == "sempcyc" and len(fallback.gallery()) == 25
    record = gallery_record(fallback)
    assert record["name"] == SEMPCYC_GALLERY and record["split_standard"] == SAKE_GALLERY
    assert record["note"].startswith(f"the gallery is '{SEMPCYC_GALLERY}', not the '{SAKE_GALLERY}'")
    assert "holds no SAKE release" in record["note"]


def test_sake_layout_without_the_original_photos_is_a_clear_error(tmp_path):
    seen, unseen = load_split("sketchy_ext", "sake25")
    make_tree(tmp_path / "Sketchy", "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
              uniform_classes(seen + unseen))
    with pytest.raises(DataError, match="has no 256x256/photo/tx_000000000000_ready folder"):
        build_manifest("sketchy_ext", tmp_path, "sake25")


def test_sempcyc_layout_keeps_photos_with_the_same_stem(tmp_path):
    sketchy_tree(tmp_path, uniform_classes(SEMPCYC_UNSEEN + SEEN_EXTRA, photos=["a.jpg", "a.png"]))
    assert build_manifest("sketchy_ext", tmp_path).counts()["photo"].eq(2).all()


def test_tuberlin_layout_reads_every_image_extension_case(tmp_path):
    unseen = load_split("tuberlin_ext", "sempcyc30")[1]
    classes = uniform_classes(unseen + ["airplane"], sketches=["1.png"], photos=["a.jpg", "b.JPEG", "c.Png", "d.jpeg"])
    make_tree(tmp_path / "TU-Berlin", "sketches", "images", classes)
    manifest = build_manifest("tuberlin_ext", tmp_path)
    assert manifest.seen_classes == ["airplane"]
    assert manifest.counts()["photo"].eq(4).all()
    assert {p.rsplit(".", 1)[1] for p in manifest.gallery()["path"]} == {"jpg", "JPEG", "Png", "jpeg"}


def test_tuberlin_folder_spelling_is_normalised(tmp_path):
    seen, unseen = load_split("tuberlin_ext", "sake30")
    folder_names = {"car_(sedan)": "car (sedan)", "teddy_bear": "teddy-bear", "hot_air_balloon": "hot air balloon"}
    classes = uniform_classes([folder_names.get(name, name) for name in seen + unseen], ["1.png"], ["1.jpg"])
    make_tree(tmp_path / "TU-Berlin", "sketches", "images", classes)
    manifest = build_manifest("tuberlin_ext", tmp_path / "TU-Berlin", "sake30", verify_images=False)
    assert {"car_(sedan)", "teddy_bear"} <= set(manifest.seen_classes)
    assert "hot_air_balloon" in manifest.unseen_classes
    assert manifest.frame.query("class_name == 'car_(sedan)'")["path"].str.contains("/car (sedan)/", regex=False).all()


@pytest.mark.parametrize("sketch_dir, photo_dir", [
    ("sketches", "images"), ("QuickDraw_sketches_final", "QuickDraw_images_final"),
])
def test_quickdraw_layouts_and_the_effiel_tower_alias(tmp_path, sketch_dir, photo_dir):
    seen, unseen = load_split("quickdraw_ext", "d2s30")
    for name in seen + unseen:
        write_image(tmp_path / "QuickDraw" / sketch_dir / name / "1.png")
        photo_folder = "effiel_tower" if name == "eiffel_tower" else name
        write_image(tmp_path / "QuickDraw" / photo_dir / photo_folder / "1.jpg")
    manifest = build_manifest("quickdraw_ext", tmp_path)
    assert len(manifest.seen_classes) == 80 and len(manifest.unseen_classes) == 30
    eiffel = manifest.frame[manifest.frame["class_name"] == "eiffel_tower"]
    assert list(eiffel["domain"]) == ["sketch", "photo"]
    assert "/effiel_tower/" in eiffel["path"].iloc[1]


def test_max_options_keep_the_first_in_sorted_order(tmp_path):
    sketches, photos = [f"{index}.png" for index in range(5)], [f"{index}.jpg" for index in range(5)]
    sketchy_tree(tmp_path, uniform_classes(SEMPCYC_UNSEEN + SEEN_EXTRA, sketches, photos))
    manifest = build_manifest(
        "sketchy_ext", tmp_path, max_seen_classes=1, max_unseen_classes=3, max_per_class=2
    )
    assert manifest.seen_classes == SEEN_EXTRA[:1] and manifest.unseen_classes == SEMPCYC_UNSEEN[:3]
    assert manifest.counts()[["sketch", "photo"]].eq(2).all().all()
    assert sorted(p.rsplit("/", 1)[1] for p in manifest.queries()["path"]) == ["0.png"] * 3 + ["1.png"] * 3
    again = build_manifest("sketchy_ext", tmp_path, max_seen_classes=1, max_unseen_classes=3, max_per_class=2)
    pd.testing.assert_frame_equal(manifest.frame, again.frame)


@pytest.mark.parametrize("option", ["max_seen_classes", "max_unseen_classes", "max_per_class"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_max_options_must_be_positive_integers(tmp_path, option, value):
    with pytest.raises(ConfigError, match=option):
        build_manifest("sketchy_ext", tmp_path, **{option: value})


def test_unknown_benchmark_and_split_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="sketchy_ext"):
        build_manifest("sketchy-ext", tmp_path)
    with pytest.raises(ConfigError, match="sempcyc25, sake25, eccv21"):
        build_manifest("sketchy_ext", tmp_path, "zs1")


def test_missing_data_root(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        build_manifest("sketchy_ext", tmp_path / "missing")
    with pytest.raises(DataError, match="needs a data root"):
        build_manifest("sketchy_ext")
    monkeypatch.setenv("ZSB_DATA", str(tmp_path / "data"))  # sketchy_mini: the fetched copy, absent here
    with pytest.raises(DataError, match="run `zsb data fetch sketchy_mini` to download it there, or pass --data-root"):
        build_manifest("sketchy_mini")


def test_missing_split_class_names_the_classes_and_folder(tmp_path):
    classes = [name for name in SEMPCYC_UNSEEN if name not in ("bear", "cannon")] + SEEN_EXTRA
    root = sketchy_tree(tmp_path, uniform_classes(classes))
    with pytest.raises(DataError) as error:
        build_manifest("sketchy_ext", tmp_path)
    message = str(error.value)
    assert "2 class(es)" in message and "bear, cannon" in message
    assert str(root / "sketch" / "tx_000000000000") in message


def test_empty_class_folder_is_named(tmp_path):
    root = sketchy_tree(tmp_path)
    for image in (root / "extended_photo" / "bear").iterdir():
        image.unlink()
    (root / "extended_photo" / "bear" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as error:
        build_manifest("sketchy_ext", tmp_path)
    assert str(root / "extended_photo" / "bear") in str(error.value)
    assert "no image file" in str(error.value)


def test_class_folder_with_only_corrupt_images_is_an_error(tmp_path):
    root = sketchy_tree(tmp_path)
    for image in (root / "sketch" / "tx_000000000000" / "zebra").iterdir():
        image.write_bytes(b"broken")
    with pytest.raises(DataError, match="2 image file\\(s\\), none readable"):
        build_manifest("sketchy_ext", tmp_path)


def test_corrupt_and_non_image_files_are_skipped_counted_and_warned(tmp_path):
    root = sketchy_tree(tmp_path)
    truncate(root / "extended_photo" / "bear" / "b.jpg", 0.3)
    (root / "sketch" / "tx_000000000000" / "zebra" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "extended_photo" / "airplane" / "Thumbs.db").write_bytes(b"x")
    with pytest.warns(UserWarning) as caught:
        manifest = build_manifest("sketchy_ext", tmp_path)
    messages = " ".join(str(w.message) for w in caught)
    assert f"2 {UNREADABLE}(s)" in messages and f"1 {NOT_AN_IMAGE}(s)" in messages
    assert manifest.skipped_summary() == {UNREADABLE: 2, NOT_AN_IMAGE: 1}
    skipped = {path.rsplit("/", 2)[1] + "/" + path.rsplit("/", 1)[1] for path, _ in manifest.skipped}
    assert skipped == {"bear/b.jpg", "zebra/b.png", "airplane/Thumbs.db"}
    counts = manifest.counts()
    assert counts.loc["bear", "photo"] == 1 and counts.loc["zebra", "sketch"] == 1
    assert counts.loc["airplane", "photo"] == 2


def test_without_verification_corrupt_files_stay(tmp_path):
    root = sketchy_tree(tmp_path)
    truncate(root / "extended_photo" / "bear" / "b.jpg", 0.3)
    manifest = build_manifest("sketchy_ext", tmp_path, verify_images=False)
    assert manifest.skipped == [] and manifest.counts().loc["bear", "photo"] == 2


def test_max_per_class_counts_readable_images_only(tmp_path):
    root = sketchy_tree(tmp_path)
    (root / "extended_photo" / "bear" / "a.jpg").write_bytes(b"broken")
    with pytest.warns(UserWarning, match=UNREADABLE):
        manifest = build_manifest("sketchy_ext", tmp_path, max_per_class=1)
    assert manifest.gallery().query("class_name == 'bear'")["path"].str.endswith("b.jpg").all()


def obvious_manifest_rows(root: Path, max_per_class: int | None) -> tuple[list[str], list[tuple[str, str]]]:
    """(paths, skipped) of the SEM-PCYC tree at ``root`` as zsb's first manifest loop made them: class by class
    (sorted), sketches then photos, each image checked in order until ``max_per_class`` are readable."""
    paths, skipped = [], []
    for name in sorted(SEMPCYC_UNSEEN + SEEN_EXTRA):
        for folder in (root / "sketch" / "tx_000000000000" / name, root / "extended_photo" / name):
            images, others = list_class_files(folder)
            skipped += [(str(path), NOT_AN_IMAGE) for path in others]
            kept = []
            for path in images:
                if max_per_class is not None and len(kept) == max_per_class:
                    break
                reason = check_image(path)
                if reason is None:
                    kept.append(path)
                else:
                    skipped.append((str(path), f"{UNREADABLE}: {reason}"))
            paths += [str(path.resolve()) for path in kept]
    return paths, skipped


@pytest.mark.parametrize("max_per_class", [None, 1, 2, 4])
def test_images_checked_in_worker_processes_and_rounds_give_the_one_by_one_manifest(tmp_path, max_per_class):
    """The manifest's checks run together and in worker processes (layouts.inspect_images); rows, their order and
    the skipped files equal those of checking each class's images one by one. Broken files sit first, in the
    middle and last, so that max_per_class needs a second and a third round."""
    names = [f"{index}.png" for index in range(5)], [f"{index}.jpg" for index in range(5)]
    root = sketchy_tree(tmp_path / "data", uniform_classes(SEMPCYC_UNSEEN + SEEN_EXTRA, *names))
    for broken in ("0.png", "1.png", "3.png"):
        (root / "sketch" / "tx_000000000000" / "bear" / broken).write_bytes(b"broken")
    truncate(root / "extended_photo" / "zebra" / "4.jpg", 0.3)
    (root / "extended_photo" / "airplane" / "notes.txt").write_text("x")
    (root / "extended_photo" / "airplane" / "5.jpg").symlink_to(root / "extended_photo" / "zebra" / "0.jpg")
    paths, skipped = obvious_manifest_rows(root, max_per_class)
    for processes in (1, 2):
        with pytest.warns(UserWarning):
            manifest = build_manifest("sketchy_ext", root, max_per_class=max_per_class, processes=processes)
        assert list(manifest.frame["path"]) == paths and manifest.skipped == skipped


def test_class_folder_in_one_domain_only_is_ignored_with_a_warning(tmp_path):
    root = sketchy_tree(tmp_path)
    write_image(root / "sketch" / "tx_000000000000" / "ghost" / "a.png")
    with pytest.warns(UserWarning, match="ghost"):
        manifest = build_manifest("sketchy_ext", tmp_path)
    assert "ghost" not in manifest.seen_classes


def test_two_folders_naming_one_class_is_an_error(tmp_path):
    root = sketchy_tree(tmp_path)
    write_image(root / "extended_photo" / "Zebra" / "a.jpg")
    with pytest.raises(DataError, match="both name the class 'zebra'"):
        build_manifest("sketchy_ext", tmp_path)


def test_write_read_round_trip(tmp_path):
    root = sketchy_tree(tmp_path / "data")
    (root / "extended_photo" / "airplane" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning):
        manifest = build_manifest("sketchy_ext", tmp_path / "data")
    path = tmp_path / "out" / "manifest.csv"
    write_manifest(manifest, path)
    assert sidecar_path(path) == tmp_path / "out" / "manifest.json"
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["benchmark"] == "sketchy_ext" and meta["split"] == "sempcyc25"
    assert meta["unseen_classes"] == SEMPCYC_UNSEEN and len(meta["skipped"]) == 1
    loaded = read_manifest(path)
    pd.testing.assert_frame_equal(loaded.frame, manifest.frame)
    for field in ("seen_classes", "unseen_classes", "skipped", "benchmark", "split", "layout", "data_root"):
        assert getattr(loaded, field) == getattr(manifest, field)
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.csv", "manifest.json"]  # no temporary files


@pytest.fixture
def written_manifest(tmp_path):
    sketchy_tree(tmp_path / "data")
    path = tmp_path / "manifest.csv"
    write_manifest(build_manifest("sketchy_ext", tmp_path / "data", max_unseen_classes=2), path)
    return path


def test_read_missing_manifest_says_to_run_the_data_stage(tmp_path, written_manifest):
    with pytest.raises(DataError, match="data stage"):
        read_manifest(tmp_path / "other.csv")
    sidecar_path(written_manifest).unlink()
    with pytest.raises(DataError, match="manifest.json does not exist.*data stage"):
        read_manifest(written_manifest)


@pytest.mark.parametrize("damage", ["edit_csv", "truncate_csv", "bad_json", "empty_csv", "wrong_label"])
def test_read_damaged_manifest_says_to_run_the_data_stage(written_manifest, damage):
    sidecar = sidecar_path(written_manifest)
    text = written_manifest.read_text()
    if damage == "edit_csv":
        written_manifest.write_text(text.replace("sketch", "photo", 1))
    elif damage == "truncate_csv":
        written_manifest.write_text(text[: len(text) // 2])
    elif damage == "bad_json":
        sidecar.write_text(sidecar.read_text()[:-10])
    elif damage == "empty_csv":
        written_manifest.write_text("")
    else:  # consistent checksum, inconsistent content: a label pointing at another class
        meta = json.loads(sidecar.read_text())
        meta["unseen_classes"] = meta["unseen_classes"][::-1]
        sidecar.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="data stage"):
        read_manifest(written_manifest)


def test_read_manifest_whose_images_moved(tmp_path, written_manifest):
    (tmp_path / "data").rename(tmp_path / "moved")
    with pytest.raises(DataError, match="no longer exists"):
        read_manifest(written_manifest)


def test_sketchy_mini_sempcyc25(sketchy_mini_root):
    manifest = build_manifest("sketchy_mini", sketchy_mini_root, verify_images=False)
    assert len(manifest.seen_classes) == 100 and len(manifest.unseen_classes) == 25
    assert len(manifest.train()) == 100 * 25 * 2
    assert len(manifest.queries()) == 625 and len(manifest.gallery()) == 625
    counts = manifest.counts()
    assert len(counts) == 125 and counts["sketch"].eq(25).all() and counts["photo"].eq(25).all()
    assert counts["seen"].sum() == 100
    assert {"car_(sedan)", "hot_air_balloon", "jack_o_lantern"} <= set(counts.index)


@pytest.mark.parametrize("split, num_seen, num_unseen", [("sake25", 100, 25), ("eccv21", 104, 21)])
def test_sketchy_mini_other_splits(sketchy_mini_root, split, num_seen, num_unseen):
    manifest = build_manifest("sketchy_mini", sketchy_mini_root, split, verify_images=False)
    assert (len(manifest.seen_classes), len(manifest.unseen_classes)) == (num_seen, num_unseen)
    assert len(manifest.queries()) == num_unseen * 25 and len(manifest.train()) == num_seen * 50


def test_sketchy_mini_verified_subset_has_nothing_to_skip(sketchy_mini_root):
    manifest = build_manifest("sketchy_mini", sketchy_mini_root, max_per_class=3)
    assert manifest.skipped == [] and len(manifest.frame) == 125 * 2 * 3


def test_synthetic_without_data_root_generates_it(tmp_path, monkeypatch):
    synthetic = pytest.importorskip("zsb.data.synthetic")
    calls = []
    generate = synthetic.ensure_synthetic

    def small_synthetic(**kwargs):
        calls.append(kwargs)
        return generate(cache_dir=tmp_path, num_per_domain=2, image_size=16, progress=False, workers=1)

    monkeypatch.setattr(synthetic, "ensure_synthetic", small_synthetic)
    manifest = build_manifest("synthetic")
    assert calls == [{}]
    assert manifest.split == "default" and manifest.skipped == []
    assert len(manifest.unseen_classes) == 6 and len(manifest.seen_classes) == 24
    assert len(manifest.queries()) == len(manifest.gallery()) == 6 * 2 and len(manifest.train()) == 24 * 4


def test_manifest_can_be_built_from_a_frame():
    frame = pd.DataFrame(
        [("/x/a.png", "sketch", "cat", True, 0), ("/x/b.jpg", "photo", "dog", False, 0)], columns=list(COLUMNS)
    )
    manifest = Manifest(frame, ["cat"], ["dog"])
    assert (len(manifest.train()), len(manifest.queries()), len(manifest.gallery())) == (1, 0, 1)
    assert manifest.counts().to_dict("index") == {
        "cat": {"seen": True, "sketch": 1, "photo": 0}, "dog": {"seen": False, "sketch": 0, "photo": 1},
    }
