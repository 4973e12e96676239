"""Published numbers stand beside zsb's only when benchmark, split, metric and AP variant match."""

import json
from pathlib import Path

import pandas as pd

from zsb.report.literature import comparable_rows, published_results, zsb_metric
from zsb.report.publish import results_markdown


def test_variants_map_to_zsb_metrics_or_to_nothing():
    assert zsb_metric("mAP@all", "exact (sklearn in its code)") == "mAP@all"
    assert zsb_metric("mAP@all", "voc (its code)") == "mAP@all (voc)"
    assert zsb_metric("mAP@all", "voc; per-class (macro) mean in its code") is None  # TCN: another mean
    assert zsb_metric("mAP@all", "not stated") is None
    assert zsb_metric("P@200", "relevance at rank 201 in its code") is None  # Doodle2Search's P@200
    assert zsb_metric("P@100", "K clipped to the number of relevant items") is None
    assert zsb_metric("P@100", "") == "P@100"


def test_only_rows_measured_the_same_way_are_returned():
    table = published_results()
    rows = comparable_rows("sketchy_ext", "sake25", ("mAP@all (voc)", "P@100"))
    assert set(rows["method"]) >= {"SAKE", "DSN", "ZSE-SBIR (RN)"}
    sake = rows.set_index("method").loc["SAKE"]
    assert sake["mAP@all (voc)"] == 0.547 and sake["P@100"] == 0.692
    tcn = rows.set_index("method").loc["TCN"]
    assert pd.isna(tcn["mAP@all (voc)"])  # TCN's per-class mean is not zsb's mean over queries
    assert comparable_rows("sketchy_ext", "sempcyc25", ("mAP@all (voc)",)).empty  # SEM-PCYC's is exact AP
    assert comparable_rows("sketchy_mini", "sempcyc25", ("mAP@all", "P@100")).empty
    assert len(table) > 40


def published_folder(root: Path, benchmark: str, split: str) -> Path:
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
    }))
    return folder


def test_readme_section_sets_matching_published_rows_beside_the_run(tmp_path):
    published_folder(tmp_path, "sketchy_ext", "sake25")
    published_folder(tmp_path, "sketchy_mini", "sempcyc25")
    text = results_markdown(tmp_path)
    sake_part, mini_part = text.split("**sketchy_mini**")
    assert "mAP@all (VOC)" in sake_part and "| SAKE" in sake_part and "0.547" in sake_part
    assert "mAP@all (exact)" not in sake_part  # sake25's protocol is SAKE's VOC AP
    assert ("1 of the 2 classes come wholly and 0 partly from ImageNet-1k synsets (9 of 20 photos, 45%), and the "
            "concept of 1 more is an ImageNet-1k class") in sake_part and "0 + 1 unreadable" in sake_part
    assert "mAP@all (exact)" in mini_part and "none is shown" in mini_part and "| SAKE" not in mini_part
