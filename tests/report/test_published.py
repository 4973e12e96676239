"""A user's run set beside the published one (zsb reproduce without --publish)."""

import json
from pathlib import Path

from zsb.config import resolve
from zsb.report.published import compare_with_published


def write_run(folder: Path, value: float, intervals: dict | None = None, **changes) -> Path:
    folder.mkdir(parents=True)
    cfg = resolve({"benchmark": "synthetic", **changes})
    (folder / "config.json").write_text(json.dumps({"parameters": cfg.to_dict()}))
    (folder / "metrics.json").write_text(json.dumps({
        "protocol": ["mAP@all", "P@100"], "metrics": {"mAP@all": value, "P@100": 0.2},
        "intervals": intervals or {}}))
    return folder


def interval(low: float, high: float) -> dict:
    return {"query": {"low": low, "high": high}}


def test_each_protocol_metric_is_set_beside_the_published_one_with_its_interval(tmp_path):
    published = write_run(tmp_path / "published", 0.526, {"mAP@all": interval(0.500, 0.553)})
    run = write_run(tmp_path / "run", 0.520)
    assert compare_with_published(run, published) == [
        "mAP@all (exact) 0.520; published 0.526, within the published 95% interval resampling queries [0.500, 0.553]",
        "P@100 0.200; published 0.200",
    ]
    outside = write_run(tmp_path / "low", 0.480)
    assert "published 0.526, outside the published 95% interval" in compare_with_published(outside, published)[0]


def test_the_spread_over_seeds_is_used_where_several_seeds_were_published(tmp_path):
    published = write_run(tmp_path / "published", 0.526, {"mAP@all": interval(0.500, 0.553)})
    (published / "metrics_seeds.json").write_text(json.dumps(
        {"metrics": {"mAP@all": {"mean": 0.53, "sd": 0.01, "seeds": [0, 1, 2]}}}))
    run = write_run(tmp_path / "run", 0.505)
    assert compare_with_published(run, published)[0] == (
        "mAP@all (exact) 0.505; published 0.526, outside the published mean +- 2 sd over 3 seeds [0.510, 0.550]")


def test_other_parameters_or_nothing_published_are_said_not_compared(tmp_path):
    run = write_run(tmp_path / "run", 0.5, epochs=3)
    assert compare_with_published(run, tmp_path / "none") == [
        f"nothing is published in {tmp_path / 'none'} to compare this run with"]
    published = write_run(tmp_path / "published", 0.526, data_root="/elsewhere")
    (line,) = compare_with_published(run, published)
    assert "other parameters (epochs)" in line  # data_root differs too, but where the data lies is not compared


def test_unreadable_published_files_are_said_not_compared(tmp_path):
    run = write_run(tmp_path / "run", 0.5)
    published = tmp_path / "published"
    published.mkdir()
    (published / "metrics.json").write_text('{"published": "earlier"}\n')
    assert "nothing is published" in compare_with_published(run, published)[0]
    (published / "metrics.json").write_text('{"metrics": {"mAP@all": 0.4}}\n')
    (published / "config.json").write_text('{"parameters": "earlier"}\n')
    assert "records no parameters" in compare_with_published(run, published)[0]
