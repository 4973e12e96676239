"""Published numbers stand beside zsb's only when benchmark, split, metric, its variant and gallery all match; zsb's
table is the reference copy with the listed corrections."""

import json
from pathlib import Path

import pandas as pd
import pytest

from zsb.data.registry import SAKE_GALLERY, SEMPCYC_GALLERY, get_benchmark
from zsb.report.literature import comparable_rows, published_results, zsb_metric
from zsb.report.publish import results_markdown

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "literature.csv"
KEY = ["method", "benchmark", "split", "metric"]


def test_variants_map_to_zsb_metrics_or_to_nothing():
    assert zsb_metric("mAP@all", "exact (sklearn in its code)") == "mAP@all"
    assert zsb_metric("mAP@all", "voc (its code)") == "mAP@all (voc)"
    assert zsb_metric("mAP@all", "voc; per-class (macro) mean in its code") is None  # TCN: another mean
    assert zsb_metric("mAP@all", "not stated") is None
    assert zsb_metric("P@200", "relevance at rank 201 in its code") is None  # Doodle2Search's P@200
    assert zsb_metric("P@100", "K clipped to the number of relevant items") is None
    assert zsb_metric("P@100", "top K, divided by K (its code)") == "P@100"  # SAKE's eval_precision
    assert zsb_metric("P@100", "per-class (macro) mean in its code") is None  # TCN
    for unknown in ("", "not stated"):  # a P@K whose code was never read
        assert zsb_metric("P@200", unknown) is None


def reference_table() -> pd.DataFrame:
    if not REFERENCE.is_file():
        pytest.skip(f"reference table not found at {REFERENCE}")
    return pd.read_csv(REFERENCE, dtype=str, keep_default_na=False)


def test_the_table_is_the_reference_copy_with_the_stated_corrections():
    """Row by row, zsb's table equals the reference except for the added ``gallery`` column, the P@K variants the
    reference leaves empty, and Doodle2Search's eccv21 mAP, which is its mAP@all (module docstring)."""
    ours = pd.read_csv(Path(__file__).resolve().parents[2] / "zsb" / "report" / "literature.csv", dtype=str,
                       keep_default_na=False)
    reference = reference_table()
    assert list(ours.columns) == [*reference.columns, "gallery"]
    assert len(ours) == len(reference)
    changed = {}
    for (_, mine), (_, theirs) in zip(ours.iterrows(), reference.iterrows()):
        columns = [c for c in reference.columns if mine[c] != theirs[c]]
        if columns:
            changed[tuple(theirs[KEY])] = {c: (theirs[c], mine[c]) for c in columns}
    d2s = changed.pop(("Doodle2Search", "sketchy_ext", "eccv21", "mAP@200"))
    assert set(d2s) == {"metric", "source"} and d2s["metric"] == ("mAP@200", "mAP@all")
    assert "src/test.py prints scikit-learn's mAP@all" in d2s["source"][1]
    expected_variants = {  # P@K rows: the reference's empty variant, named where the code was read
        ("SEM-PCYC", "sketchy_ext", "sempcyc25", "P@100"): "top K, divided by K (its code)",
        ("SEM-PCYC", "tuberlin_ext", "sempcyc30", "P@100"): "top K, divided by K (its code)",
        ("SEM-PCYC", "quickdraw_ext", "d2s30", "P@200"): "not stated",
        **{("SAKE", b, s, m): "top K, divided by K (its code)" for b, s, m in (
            ("sketchy_ext", "sake25", "P@100"), ("sketchy_ext", "eccv21", "P@200"),
            ("tuberlin_ext", "sake30", "P@100"), ("quickdraw_ext", "d2s30", "P@200"))},
        **{("DSN", b, s, "P@100"): "top K, divided by K (SAKE-based code)"
           for b, s in (("sketchy_ext", "sake25"), ("tuberlin_ext", "sake30"))},
        **{("TCN", b, s, m): "per-class (macro) mean in its code" for b, s, m in (
            ("sketchy_ext", "sake25", "P@100"), ("sketchy_ext", "eccv21", "P@200"),
            ("tuberlin_ext", "sake30", "P@100"), ("quickdraw_ext", "d2s30", "P@200"))},
        ("Sketch3T", "sketchy_ext", "eccv21", "P@200"): "not stated",
        ("Sketch3T", "tuberlin_ext", "", "P@100"): "not stated",
        ("PSKD", "sketchy_ext", "", "P@100"): "not stated",
        ("PSKD", "sketchy_ext", "eccv21", "P@200"): "not stated",
        ("SpLIP", "sketchy_ext", "", "P@100"): "not stated",
        ("SpLIP", "sketchy_ext", "eccv21", "P@200"): "not stated",
    }
    assert changed == {key: {"ap_variant": ("", variant)} for key, variant in expected_variants.items()}
    assert (reference["metric"].str.startswith("P@") & (reference["ap_variant"] == "")).sum() == len(expected_variants)
    # Every gallery is one a zsb layout reads, or "not stated".
    layouts = {layout.gallery_name() for name in ("sketchy_ext", "tuberlin_ext", "quickdraw_ext")
               for layout in get_benchmark(name).layouts}
    assert set(ours["gallery"]) <= layouts | {"not stated"}
    sake_family = ours["method"].isin(["SAKE", "DSN", "ZSE-SBIR (RN)", "ZSE-SBIR (Ret)"])
    assert set(ours.loc[sake_family & (ours["benchmark"] == "sketchy_ext"), "gallery"]) == {SAKE_GALLERY}
    assert set(ours.loc[ours["method"].isin(["SEM-PCYC", "Doodle2Search"]) & (ours["benchmark"] == "sketchy_ext")
                        & (ours["split"] != ""), "gallery"]) == {SEMPCYC_GALLERY}


def test_only_rows_measured_the_same_way_on_the_same_gallery_are_returned():
    table = published_results()
    rows = comparable_rows("sketchy_ext", "sake25", ("mAP@all (voc)", "P@100"), SAKE_GALLERY).set_index("method")
    assert set(rows.index) == {"SAKE", "DSN", "ZSE-SBIR (RN)", "ZSE-SBIR (Ret)"}  # TCN: per-class means
    assert rows.loc["SAKE", "mAP@all (voc)"] == 0.547 and rows.loc["SAKE", "P@100"] == 0.692
    assert pd.isna(rows.loc["ZSE-SBIR (RN)", "P@100"])  # its P@K is clipped to the relevant items
    # A gallery mismatch: SAKE's numbers retrieve among 17,101 photos, a run on the SEM-PCYC release among 14,601.
    assert comparable_rows("sketchy_ext", "sake25", ("mAP@all (voc)", "P@100"), SEMPCYC_GALLERY).empty
    assert comparable_rows("sketchy_ext", "sake25", ("mAP@all (voc)", "P@100"), None).empty  # not recorded
    assert comparable_rows("sketchy_ext", "sempcyc25", ("mAP@all (voc)",), SEMPCYC_GALLERY).empty  # exact AP
    assert comparable_rows("sketchy_mini", "sempcyc25", ("mAP@all", "P@100"), "mini: photo").empty
    assert len(table) > 40


def test_eccv21_rows_follow_the_gallery_and_refuse_unknown_p_at_k():
    protocol = get_benchmark("sketchy_ext").protocol("eccv21")
    sake = comparable_rows("sketchy_ext", "eccv21", protocol, SAKE_GALLERY).set_index("method")
    assert list(sake.index) == ["SAKE"]  # not TCN (per class), nor Sketch3T, PSKD, SpLIP (code never read)
    assert sake.loc["SAKE", "mAP@200 (voc)"] == 0.497 and sake.loc["SAKE", "P@200"] == 0.598
    sempcyc = comparable_rows("sketchy_ext", "eccv21", protocol, SEMPCYC_GALLERY).set_index("method")
    assert list(sempcyc.index) == ["Doodle2Search"]
    assert sempcyc.loc["Doodle2Search", "mAP@all"] == 0.369  # its mAP@all; its P@200 is rank 201's relevance
    assert "P@200" not in sempcyc.columns and "mAP@200 (sem-pcyc)" not in sempcyc.columns


def published_folder(root: Path, benchmark: str, split: str, gallery: dict | None = None) -> Path:
    folder = root / benchmark
    folder.mkdir(parents=True)
    parameters = {"benchmark": benchmark, "split": split, "backbone": "resnet50", "image_size": 224,
                  "precision": "bf16", "eval_hflip": False, "epochs": 20}
    (folder / "config.json").write_text(json.dumps({"parameters": parameters, "git_commit": "abc"}))
    metrics = {"mAP@all": 0.5, "mAP@all (voc)": 0.52, "P@100": 0.6, "P@200": 0.5, "mAP@200": 0.4}
    (folder / "metrics.json").write_text(json.dumps({
        "metrics": metrics, "num_queries": 10, "num_gallery": 20, "chance_mAP": 0.1, "evaluated_on": "test",
        "failed_images": {"queries": 0, "gallery": 1},
        "imagenet_overlap": {"classes": 2, "photos": 20, "photos_in_imagenet1k": 9, "per_class": {
            "harp": {"photos": 9, "photos_in_imagenet1k": 9}, "cup": {"photos": 11, "photos_in_imagenet1k": 0}}},
        **({"gallery": gallery} if gallery else {}),
    }))
    return folder


def test_readme_section_sets_matching_published_rows_beside_the_run(tmp_path):
    published_folder(tmp_path, "sketchy_ext", "sake25", {"name": SAKE_GALLERY, "split_standard": SAKE_GALLERY})
    published_folder(tmp_path, "sketchy_mini", "sempcyc25", {"name": "mini: photo", "split_standard": None})
    text = results_markdown(tmp_path)
    sake_part, mini_part = text.split("**sketchy_mini**")
    assert "mAP@all (VOC)" in sake_part and "| SAKE" in sake_part and "0.547" in sake_part
    assert f"gallery `{SAKE_GALLERY}`" in sake_part
    assert "mAP@all (exact)" not in sake_part  # sake25's protocol is SAKE's VOC AP
    assert ("1 of the 2 classes come wholly and 0 partly from ImageNet-1k synsets (9 of 20 photos, 45%), and the "
            "concept of 1 more is an ImageNet-1k class") in sake_part and "0 + 1 unreadable" in sake_part
    assert "mAP@all (exact)" in mini_part and "none is shown" in mini_part and "| SAKE" not in mini_part


def test_a_run_that_records_no_gallery_is_set_beside_no_published_row(tmp_path):
    published_folder(tmp_path, "sketchy_ext", "sake25")
    text = results_markdown(tmp_path)
    assert "| SAKE" not in text and "a gallery this run does not record" in text


def test_sake25_on_the_sempcyc_release_says_so_and_shows_no_sake_family_row(tmp_path):
    from zsb.data.manifest import Manifest
    from zsb.run.stages import gallery_record

    manifest = Manifest(pd.DataFrame(), [], [], benchmark="sketchy_ext", split="sake25", layout="sempcyc")
    published_folder(tmp_path, "sketchy_ext", "sake25", gallery_record(manifest))
    text = results_markdown(tmp_path)
    assert f"Gallery: the gallery is '{SEMPCYC_GALLERY}', not the '{SAKE_GALLERY}' that the published results" in text
    assert f"gallery `{SEMPCYC_GALLERY}`), so none is shown" in text
    for method in ("SAKE", "DSN", "ZSE-SBIR", "TCN"):
        assert f"| {method}" not in text


def test_a_benchmark_with_one_gallery_names_it_without_a_record(tmp_path):
    published_folder(tmp_path, "sketchy_mini", "sempcyc25")
    assert "gallery `mini: photo`), so none is shown" in results_markdown(tmp_path)
