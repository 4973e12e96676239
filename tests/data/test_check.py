"""``zsb data check`` on tiny trees shaped like each release, with scaled-down known counts injected, and on the
real sketchy-mini copy."""

import shutil

import pytest

from zsb.cli import main
from zsb.data.check import (
    EXPECTED_COUNTS,
    Count,
    ReleaseCounts,
    check_data,
    release_class_names,
    render_report,
)
from zsb.data.manifest import build_manifest
from zsb.data.registry import BENCHMARKS, get_benchmark, load_split

from .trees import make_tree, truncate, uniform_classes, write_image

SKETCHY_CLASSES = release_class_names(get_benchmark("sketchy_ext"))
TUBERLIN_CLASSES = release_class_names(get_benchmark("tuberlin_ext"))
QUICKDRAW_CLASSES = release_class_names(get_benchmark("quickdraw_ext"))
SEMPCYC_UNSEEN = load_split("sketchy_ext", "sempcyc25")[1]

# Scaled-down tables: two files per class and domain. Sketchy's photos have a known total only, as the release's.
SKETCHY_SCALED = ReleaseCounts(125, sketch=Count(250, per_class=2), photo=Count(250))
TUBERLIN_SCALED = ReleaseCounts(250, sketch=Count(500, per_class=2), photo=Count(500))
QUICKDRAW_SCALED = ReleaseCounts(
    110, sketch=Count(about=330), photo=Count(about=220),
    unseen={"d2s30": {"sketch": Count(60, source="scaled"), "photo": Count(60, source="scaled")}},
)


def run_check(capsys, *args):
    """(exit status, stdout, stderr) of ``zsb data check`` with the given arguments, no progress bar."""
    code = main(["data", "check", "--no-progress", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sketchy(tmp_path, monkeypatch):
    """SEM-PCYC release of Sketchy: 125 classes, 2 sketches and 2 photos each; its scaled table injected."""
    monkeypatch.setitem(EXPECTED_COUNTS["sketchy_ext"], "sempcyc", SKETCHY_SCALED)
    make_tree(tmp_path / "Sketchy", "sketch/tx_000000000000", "extended_photo", uniform_classes(SKETCHY_CLASSES))
    return tmp_path / "Sketchy"


@pytest.fixture
def tuberlin(tmp_path, monkeypatch):
    """TU-Berlin Extended: 250 classes, 2 sketches (.png) and 2 photos (.jpg and .JPEG) each."""
    monkeypatch.setitem(EXPECTED_COUNTS["tuberlin_ext"], "sempcyc", TUBERLIN_SCALED)
    classes = uniform_classes(TUBERLIN_CLASSES, photos=("a.jpg", "b.JPEG"))
    make_tree(tmp_path / "TU-Berlin", "sketches", "images", classes)
    return tmp_path / "TU-Berlin"


def test_matching_sketchy_copy_exits_0(capsys, sketchy):
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy.parent)
    assert code == 0, out
    assert "layout 'sempcyc'" in out and "250 image files in 125 class folders" in out
    assert "files per class exact (2 each)" in out and "per class not known: total only" in out
    assert "500 files, 0 unreadable" in out and "sempcyc25, sake25, eccv21" in out
    assert out.rstrip().endswith("OK: the copy matches everything known of the release.")


def test_files_removed_from_a_class_name_the_short_class(capsys, tuberlin):
    (tuberlin / "sketches" / "zebra" / "b.png").unlink()
    code, out, _ = run_check(capsys, "--benchmark", "tuberlin_ext", "--data-root", tuberlin)
    assert code == 1
    assert f"sketches: {tuberlin / 'sketches' / 'zebra'} has 1 image files, the release 2 (1 missing" in out
    assert "re-download" in out and "DIFFERS" in out
    assert out.count("\n  - ") == 1  # one difference, one line


def test_photos_removed_where_only_the_total_is_known_say_so(capsys, sketchy):
    (sketchy / "extended_photo" / "zebra" / "a.jpg").unlink()
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy)
    assert code == 1
    assert "photos: 249 image files" in out and "fewer than the release's 250" in out
    assert "short classes cannot be named" in out


def test_renamed_class_folder_names_the_missing_and_the_extra_class(capsys, sketchy):
    unseen = SEMPCYC_UNSEEN[0]
    (sketchy / "sketch" / "tx_000000000000" / unseen).rename(sketchy / "sketch" / "tx_000000000000" / f"{unseen}_old")
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy, "--split", "sempcyc25")
    assert code == 1
    sketch_dir = sketchy / "sketch" / "tx_000000000000"
    assert f"class '{unseen}' has no folder in {sketch_dir}" in out
    assert f"rename {sketch_dir / (unseen + '_old')} to {sketch_dir / unseen}" in out
    assert f"split 'sempcyc25': 1 of its classes have no folder in {sketch_dir} ({unseen})" in out
    assert "splits checked: sempcyc25\n" in out


def test_removed_class_and_unknown_folder_are_reported_apart(capsys, sketchy):
    photos = sketchy / "extended_photo"
    shutil.rmtree(photos / "airplane")
    write_image(photos / "zzzz_downloads" / "x.jpg")
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy)
    assert code == 1
    assert f"class 'airplane' has no folder in {photos}: restore {photos / 'airplane'}" in out
    assert f"folder {photos / 'zzzz_downloads'} is no class of the release: move it out" in out
    assert "split 'sake25': 1 of its classes have no folder" in out  # sake25 lists every class


def test_duplicate_class_folders_are_named(capsys, sketchy):
    write_image(sketchy / "extended_photo" / "Zebra" / "c.jpg")  # "Zebra" and "zebra" name the same class
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy)
    assert code == 1
    assert "both name the class 'zebra'" in out


def test_corrupt_file_is_named(capsys, sketchy):
    bad = truncate(sketchy / "sketch" / "tx_000000000000" / "zebra" / "a.png")
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy)
    assert code == 1
    assert f"sketches: {bad} does not decode (" in out and "500 files, 1 unreadable" in out
    # Counting only: the file is still there, so the counts match and nothing else differs.
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", sketchy, "--no-verify")
    assert code == 0 and "unreadable files not looked for" in out


def test_sake_layout_checks_the_original_photos_per_class(capsys, tmp_path, monkeypatch):
    scaled = ReleaseCounts(125, Count(125, per_class=1), Count(125), extra_photo=Count(250, per_class=2))
    monkeypatch.setitem(EXPECTED_COUNTS["sketchy_ext"], "sake", scaled)
    top = tmp_path / "Sketchy"
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
              uniform_classes(SKETCHY_CLASSES, sketches=["s.png"], photos=["e.jpg"]))
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path)
    assert code == 1 and "has no 256x256/photo/tx_000000000000_ready folder" in out
    make_tree(top, "256x256/sketch/tx_000000000000_ready", "256x256/photo/tx_000000000000_ready",
              uniform_classes(SKETCHY_CLASSES, sketches=[], photos=["n1.jpg", "n2.jpg"]))
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path)
    assert code == 0, out
    assert "original photos: 250 image files in 125 class folders" in out
    (top / "256x256/photo/tx_000000000000_ready/ant/n2.jpg").unlink()
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path)
    assert code == 1 and "original photos:" in out and "ant has 1 image files, the release 2" in out


def test_quickdraw_compares_the_split_side_and_shows_estimates(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(EXPECTED_COUNTS["quickdraw_ext"], "d2s", QUICKDRAW_SCALED)
    make_tree(tmp_path / "QuickDraw", "sketches", "images", uniform_classes(QUICKDRAW_CLASSES))
    code, out, _ = run_check(capsys, "--benchmark", "quickdraw_ext", "--data-root", tmp_path)
    assert code == 0, out
    assert "about 330 (an estimate, not compared)" in out
    assert "split 'd2s30', unseen classes: 60 sketches; release: 60 [exact total]" in out
    unseen = load_split("quickdraw_ext", "d2s30")[1][0]
    (tmp_path / "QuickDraw" / "images" / unseen / "a.jpg").unlink()
    code, out, _ = run_check(capsys, "--benchmark", "quickdraw_ext", "--data-root", tmp_path)
    assert code == 1
    assert "split 'd2s30': its 30 unseen classes hold 59 photos, the release 60" in out


def test_jpeg_spellings_are_noted_not_counted_as_differences(capsys, tuberlin):
    code, out, _ = run_check(capsys, "--benchmark", "tuberlin_ext", "--data-root", tuberlin)
    assert code == 0, out
    assert "note: photos: 250 .JPEG, 250 .jpg" in out and "drops the others" in out


def test_user_errors_exit_2_with_one_line(capsys, tmp_path):
    for args in (
        ("--benchmark", "sketchy_ext", "--data-root", tmp_path / "nowhere"),
        ("--benchmark", "sketchy_ext", "--data-root", tmp_path),  # exists, holds no layout
        ("--benchmark", "sketchy", "--data-root", tmp_path),
        ("--benchmark", "sketchy_mini", "--data-root", tmp_path, "--split", "nope"),
        ("--benchmark", "sketchy_ext"),  # no data root
    ):
        code, out, err = run_check(capsys, *args)
        assert code == 2, args
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("zsb: error: "), err
    code, _, err = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path / "nowhere")
    assert "does not exist" in err and "sketch/tx_000000000000/<class>/" in err


def test_long_lists_are_cut_unless_all(tmp_path, monkeypatch):
    monkeypatch.setitem(EXPECTED_COUNTS["sketchy_mini"], "mini", ReleaseCounts(125, Count(250, per_class=2),
                                                                                 Count(250, per_class=2)))
    make_tree(tmp_path, "sketch", "photo", uniform_classes(SKETCHY_CLASSES[:100]))
    report = check_data("sketchy_mini", tmp_path, "sake25", progress=False)
    assert not report.ok and len(report.problems) == 25 + 25 + 2
    text = render_report(report)
    # 25 classes missing in each domain: 50 lines of one kind, 20 shown; and one line per domain for the split.
    assert "... and 30 more 'missing class' line(s)" in text
    assert text.count("has no folder in") == 20 and text.count("have no folder in") == 2
    assert render_report(report, limit=None).count("has no folder in") == 25 + 25


def test_known_counts_agree_with_the_split_files():
    """Every layout of every benchmark has an entry; its class count is the number of classes the split files
    name; every exact count says where it comes from."""
    for name, benchmark in BENCHMARKS.items():
        assert {layout.name for layout in benchmark.layouts} == set(EXPECTED_COUNTS[name]), name
        names = release_class_names(benchmark)
        for counts in EXPECTED_COUNTS[name].values():
            assert counts.classes == len(names), name
            for count in (counts.sketch, counts.photo, counts.extra_photo):
                if count is not None and count.per_class is not None:
                    assert count.total == count.per_class * counts.classes, name
                if count is not None and (count.total or count.about):
                    assert count.source, name
    assert release_class_names(get_benchmark("tuberlin_ext")) == TUBERLIN_CLASSES and len(TUBERLIN_CLASSES) == 250


def test_real_sketchy_mini_matches(capsys, sketchy_mini_root):
    code, out, err = run_check(capsys, "--benchmark", "sketchy_mini", "--data-root", sketchy_mini_root)
    assert code == 0, out + err
    assert "3,125 image files in 125 class folders" in out and "files per class exact (25 each)" in out
    assert "6,250 files, 0 unreadable" in out
    assert "OK: the copy matches" in out


def sake_shaped_lists(unseen: list[str]) -> tuple[list[str], list[str]]:
    """(photo list, sketch list) of sake25's unseen classes in the shape of SAKE's zeroshot1 files
    (``all_photo_filelist_zero.txt``, ``sketch_tx_000000000000_ready_filelist_zero.txt``: one ``<path> <label>`` line
    per image, paths relative to SAKE's Sketchy folder) with the published sizes: 100 original photos per class
    under ``256x256/photo/tx_000000000000_ready``, 14,601 extended photos under ``EXTEND_image_sketchy_ready``
    (2,499 of them named like an original), 15,229 sketches."""
    extended = [14_601 // 25 + (i < 14_601 % 25) for i in range(25)]
    sketches = [15_229 // 25 + (i < 15_229 % 25) for i in range(25)]
    photos, sketch_lines = [], []
    for label, name in enumerate(unseen):
        shared = 99 if label == 0 else 100  # stems in both folders: 2,499
        photos += [f"256x256/photo/tx_000000000000_ready/{name}/n{label:02d}_{k}.jpg {label}" for k in range(100)]
        photos += [f"EXTEND_image_sketchy_ready/{name}/n{label:02d}_{k if k < shared else f'ext{k}'}.jpg {label}"
                   for k in range(extended[label])]
        sketch_lines += [f"256x256/sketch/tx_000000000000_ready/{name}/n{label:02d}_{k}-1.png {label}"
                         for k in range(sketches[label])]
    return photos, sketch_lines


def test_sake25_totals_follow_sakes_own_file_lists(capsys, tmp_path):
    """The layout rule (both SAKE photo folders) read on a tree laid out from lists in SAKE's file shape gives
    exactly the listed files, and ``zsb data check --split sake25`` compares them with the published totals
    (15,229 sketches, 17,101 photos): the counts come from the lists, not from a plan of 14,601 + 2,500."""
    seen, unseen = load_split("sketchy_ext", "sake25")
    photos, sketches = sake_shaped_lists(unseen)
    top = tmp_path / "Sketchy"
    for line in photos + sketches:
        path = top / line.rsplit(" ", 1)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # counted, never decoded (--no-verify, verify_images=False)
    for name in seen:
        for folder in ("256x256/sketch/tx_000000000000_ready", "EXTEND_image_sketchy_ready",
                       "256x256/photo/tx_000000000000_ready"):
            (top / folder / name).mkdir(parents=True)
            (top / folder / name / "seen.png").touch()
    assert len(photos) == 17_101 and len(sketches) == 15_229

    manifest = build_manifest("sketchy_ext", tmp_path, "sake25", verify_images=False)
    assert manifest.layout == "sake"
    listed = sorted(str((top / line.rsplit(" ", 1)[0]).resolve()) for line in photos)
    assert sorted(manifest.gallery()["path"]) == listed  # every listed photo, once each; nothing else
    assert sorted(manifest.queries()["path"]) == sorted(str((top / l.rsplit(" ", 1)[0]).resolve()) for l in sketches)

    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path, "--split", "sake25",
                             "--no-verify")
    assert ("split 'sake25', unseen classes: 15,229 sketches; release: 15,219 to 15,229 [total: the sources "
            "differ] (SAKE's zeroshot1 lists: 15,229 sketches, Sketchy up to 10 fewer)") in out
    assert "split 'sake25', unseen classes: 17,101 photos; release: 17,101 [exact total]" in out
    assert "split total" not in out and "hold" not in out
    shutil.rmtree(top / "256x256/photo/tx_000000000000_ready" / unseen[3])
    code, out, _ = run_check(capsys, "--benchmark", "sketchy_ext", "--data-root", tmp_path, "--split", "sake25",
                             "--no-verify")
    assert code == 1
    assert ("split 'sake25': its 25 unseen classes hold 17,001 photos, the release 17,101 (SAKE's zeroshot1 "
            "lists: 14,601 extended + 2,500 original photos)") in out


def test_split_totals_are_known_where_the_peers_lists_give_them():
    """The totals of each split's unseen classes, per layout: SAKE's lists (sake25; sempcyc25 and eccv21 summed
    from their per-class counts), SAKE's TU-Berlin lists (sake30), ZSE-SBIR's QuickDraw lists (d2s30)."""
    def totals(benchmark, layout):
        return {split: {key: (count.total, count.total_max) for key, count in domains.items()}
                for split, domains in EXPECTED_COUNTS[benchmark][layout].unseen.items()}

    assert totals("sketchy_ext", "sake") == {
        "sake25": {"sketch": (15_219, 15_229), "photo": (17_101, None)},
        "sempcyc25": {"sketch": (14_411, 14_421), "photo": (14_626 + 2_500, None)},
        "eccv21": {"sketch": (12_684, 12_694), "photo": (10_453 + 2_100, None)},
    }
    on_sempcyc = totals("sketchy_ext", "sempcyc")  # the extended photos only
    assert {split: domains["photo"][0] for split, domains in on_sempcyc.items()} == {
        "sake25": 14_601, "sempcyc25": 14_626, "eccv21": 10_453}
    extended = EXPECTED_COUNTS["sketchy_ext"]["sempcyc"].photo.total
    assert extended == 73_002 and all(total <= extended for total in (14_601, 14_626, 10_453))
    assert totals("tuberlin_ext", "sempcyc") == {"sake30": {"sketch": (2_400, None), "photo": (27_989, None)}}
    assert 2_400 == 80 * len(load_split("tuberlin_ext", "sake30")[1])  # TU-Berlin's 80 sketches per class
    assert totals("quickdraw_ext", "d2s") == {"d2s30": {"sketch": (92_291, None), "photo": (54_151, None)}}
