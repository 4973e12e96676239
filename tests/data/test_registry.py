"""Benchmark registry: names, class splits against the real Sketchy class names, metrics, errors."""

import pytest

from zsb.data.registry import BENCHMARKS, get_benchmark, load_split, normalize_class_name
from zsb.errors import ConfigError, DataError


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("airplane", "airplane"),
        ("Alarm Clock", "alarm_clock"),
        ("hot-air_balloon", "hot_air_balloon"),
        ("hot air balloon", "hot_air_balloon"),
        ("car (sedan)", "car_(sedan)"),
        ("car_(sedan)", "car_(sedan)"),
        ("jack-o-lantern", "jack_o_lantern"),
        ("teddy-bear", "teddy_bear"),
        ("wrist-watch", "wrist_watch"),
        ("effiel_tower", "eiffel_tower"),
        ("Effiel Tower", "eiffel_tower"),
        ("eiffel tower", "eiffel_tower"),
        (" ice-cream-cone\n", "ice_cream_cone"),
    ],
)
def test_normalize_class_name(raw, canonical):
    assert normalize_class_name(raw) == canonical


def test_benchmark_names():
    assert set(BENCHMARKS) == {"sketchy_ext", "tuberlin_ext", "quickdraw_ext", "sketchy_mini", "synthetic"}


def test_unknown_benchmark_lists_choices():
    with pytest.raises(ConfigError) as error:
        get_benchmark("sketchy")
    assert "'sketchy'" in str(error.value)
    for name in BENCHMARKS:
        assert name in str(error.value)


def test_unknown_split_lists_choices():
    with pytest.raises(ConfigError) as error:
        load_split("sketchy_ext", "random25")
    message = str(error.value)
    assert "random25" in message and "sempcyc25" in message and "sake25" in message and "eccv21" in message


@pytest.mark.parametrize(
    "benchmark_name, split, num_seen, num_unseen",
    [
        ("sketchy_ext", "sempcyc25", None, 25),
        ("sketchy_ext", "sake25", 100, 25),
        ("sketchy_ext", "eccv21", None, 21),
        ("tuberlin_ext", "sempcyc30", None, 30),
        ("tuberlin_ext", "sake30", 220, 30),
        ("quickdraw_ext", "d2s30", 80, 30),
    ],
)
def test_split_sizes(benchmark_name, split, num_seen, num_unseen):
    seen, unseen = load_split(benchmark_name, split)
    assert len(unseen) == num_unseen == len(set(unseen))
    assert unseen == sorted(unseen)
    assert (seen is None) == (num_seen is None)
    if seen is not None:
        assert len(seen) == num_seen and not set(seen) & set(unseen)


def test_default_splits():
    assert load_split("sketchy_ext") == load_split("sketchy_ext", "sempcyc25")
    assert load_split("sketchy_mini", None) == load_split("sketchy_ext", "sempcyc25")
    assert get_benchmark("tuberlin_ext").split().name == "sempcyc30"
    assert get_benchmark("quickdraw_ext").split().name == "d2s30"


def test_the_two_sketchy_25_splits_differ():
    # The README warns they share only 4 classes: make sure the files were not swapped or merged.
    assert len(set(load_split("sketchy_ext", "sempcyc25")[1]) & set(load_split("sketchy_ext", "sake25")[1])) == 4


def test_tuberlin_splits_use_one_spelling():
    sake_seen, sake_unseen = load_split("tuberlin_ext", "sake30")
    all_classes = set(sake_seen) | set(sake_unseen)
    assert len(all_classes) == 250
    assert set(load_split("tuberlin_ext", "sempcyc30")[1]) <= all_classes


def test_quickdraw_classes_include_eiffel_tower():
    seen, unseen = load_split("quickdraw_ext", "d2s30")
    assert len(set(seen) | set(unseen)) == 110
    assert "eiffel_tower" in seen


@pytest.mark.parametrize("split, num_unseen", [("sempcyc25", 25), ("sake25", 25), ("eccv21", 21)])
def test_sketchy_splits_match_the_real_class_folders(sketchy_mini_root, split, num_unseen):
    on_disk = {normalize_class_name(p.name) for p in (sketchy_mini_root / "sketch").iterdir() if p.is_dir()}
    assert len(on_disk) == 125
    seen, unseen = load_split("sketchy_mini", split)
    assert len(unseen) == num_unseen and set(unseen) <= on_disk
    if seen is not None:
        assert len(seen) == 100 and set(seen) | set(unseen) == on_disk


def test_headline_metrics():
    assert get_benchmark("sketchy_ext").metrics() == ("mAP@all", "P@100")
    assert get_benchmark("sketchy_ext").metrics("eccv21") == ("mAP@200", "mAP@all", "P@200")
    assert get_benchmark("sketchy_mini").metrics("eccv21") == ("mAP@200", "mAP@all", "P@200")
    assert get_benchmark("sketchy_mini").protocol("eccv21")[0] == "mAP@200 (voc)"  # SAKE's code, as SAKE and TCN
    assert get_benchmark("tuberlin_ext").metrics("sake30") == ("mAP@all", "P@100")
    assert get_benchmark("quickdraw_ext").metrics() == ("mAP@all", "P@200")
    assert get_benchmark("synthetic").metrics() == ("mAP@all", "P@100", "P@10")


def test_real_benchmarks_need_a_data_root():
    with pytest.raises(DataError) as error:
        get_benchmark("sketchy_ext").resolve_root(None)
    message = str(error.value)
    assert "sketch/tx_000000000000" in message and "EXTEND_image_sketchy_ready" in message


def test_synthetic_split_comes_from_the_synthetic_module():
    synthetic = pytest.importorskip("zsb.data.synthetic")
    seen, unseen = load_split("synthetic")
    assert seen is None
    assert unseen == sorted(normalize_class_name(name) for name in synthetic.SYNTHETIC_UNSEEN)
    assert len(unseen) == 6
    assert set(unseen) <= {normalize_class_name(name) for name in synthetic.SYNTHETIC_CLASSES}


def test_each_split_declares_its_literature_protocol_with_the_ap_variant():
    assert get_benchmark("sketchy_ext").protocol("sempcyc25") == ("mAP@all", "P@100")  # SEM-PCYC: exact AP
    assert get_benchmark("sketchy_ext").protocol("sake25") == ("mAP@all (voc)", "P@100")  # SAKE's VOC AP
    assert get_benchmark("sketchy_mini").protocol("sake25") == ("mAP@all (voc)", "P@100")
    assert get_benchmark("sketchy_ext").protocol("eccv21") == ("mAP@200 (voc)", "mAP@200 (sem-pcyc)", "mAP@all", "P@200")
    assert get_benchmark("tuberlin_ext").protocol("sake30") == ("mAP@all (voc)", "P@100")
    assert get_benchmark("tuberlin_ext").protocol("sempcyc30") == ("mAP@all", "P@100")
    assert get_benchmark("quickdraw_ext").protocol() == ("mAP@all", "mAP@all (voc)", "P@200")
    from zsb.metrics import metric_header

    assert [metric_header(m) for m in get_benchmark("sketchy_ext").protocol("eccv21")] == [
        "mAP@200 (VOC)", "mAP@200 (SEM-PCYC)", "mAP@all (exact)", "P@200"]
    assert metric_header("mAP@200 (sem-pcyc)") == "mAP@200 (SEM-PCYC)"
