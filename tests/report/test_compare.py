"""``zsb compare``: the per-run table shows exactly the differing parameters, and the seed summary equals
``statistics.mean`` / ``statistics.stdev`` over the runs of one setting."""

import json
import math
import re
import statistics
from dataclasses import asdict

import pandas as pd
import pytest

from zsb.cli import main
from zsb.config import RunConfig
from zsb.data.registry import get_benchmark
from zsb.errors import ZSBError
from zsb.report.compare import compare_runs, write_comparison

METRICS = get_benchmark("synthetic").protocol()  # the columns compare shows: the split's protocol


def make_run(root, name, metric_values, **parameters):
    """A run folder as zsb reproduce leaves it after 04_evaluate: config.json and metrics.json."""
    run = root / name
    run.mkdir(parents=True)
    config = asdict(RunConfig(**parameters))
    (run / "config.json").write_text(json.dumps({"parameters": config, "git_commit": None}))
    metrics = {m: value for m, value in zip(METRICS, metric_values)}
    (run / "metrics.json").write_text(json.dumps({"which": "trained", "metrics": {"mAP@200": 0.1, **metrics}}))
    return run


@pytest.fixture
def runs(tmp_path):
    return [
        make_run(tmp_path, "kd_s0", (0.45, 0.44, 0.52, 0.42), seed=0),
        make_run(tmp_path, "kd_s1", (0.46, 0.45, 0.53, 0.43), seed=1),
        make_run(tmp_path, "kd_s2", (0.47, 0.43, 0.50, 0.41), seed=2),
        make_run(tmp_path, "nokd_s0", (0.40, 0.39, 0.48, 0.38), seed=0, w_knowledge=0.0),
    ]


def test_per_run_table_shows_only_the_differing_parameters_and_the_metrics(runs):
    per_run, _ = compare_runs(runs)
    assert list(per_run.columns) == ["run", "w_knowledge", "seed", *METRICS]
    assert per_run["run"].tolist() == ["kd_s0", "kd_s1", "kd_s2", "nokd_s0"]
    assert per_run["w_knowledge"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert per_run.loc[3, "mAP@all"] == 0.40


def test_seed_summary_is_mean_and_sample_sd_per_setting(runs):
    _, over_seeds = compare_runs(runs)
    assert over_seeds["w_knowledge"].tolist() == [1.0, 0.0]
    assert over_seeds["seeds"].tolist() == ["0,1,2", "0"]
    assert over_seeds["n"].tolist() == [3, 1]
    for i, m in enumerate(METRICS):
        samples = [(0.45, 0.44, 0.52, 0.42), (0.46, 0.45, 0.53, 0.43), (0.47, 0.43, 0.50, 0.41)]
        column = [s[i] for s in samples]
        assert over_seeds.loc[0, f"{m} mean"] == pytest.approx(statistics.mean(column), abs=1e-12)
        assert over_seeds.loc[0, f"{m} sd"] == pytest.approx(statistics.stdev(column), abs=1e-12)
        assert math.isnan(over_seeds.loc[1, f"{m} sd"])  # one run: no spread to report


def test_parameters_missing_from_an_older_run_count_as_their_defaults(tmp_path):
    old = make_run(tmp_path, "old", (0.3, 0.3, 0.3, 0.3))
    config = json.loads((old / "config.json").read_text())
    del config["parameters"]["eval_hflip"]
    (old / "config.json").write_text(json.dumps(config))
    new = make_run(tmp_path, "new", (0.4, 0.4, 0.4, 0.4), eval_hflip=RunConfig().eval_hflip)
    per_run, _ = compare_runs([old, new])
    assert list(per_run.columns) == ["run", *METRICS]


def test_output_writes_both_tables_as_csv_and_markdown(runs, tmp_path):
    text = write_comparison(runs, tmp_path / "out" / "search.md")
    for stem in ("search", "search_over_seeds"):
        assert (tmp_path / "out" / f"{stem}.md").read_text().strip() in text
    assert pd.read_csv(tmp_path / "out" / "search.csv")["run"].tolist() == ["kd_s0", "kd_s1", "kd_s2", "nokd_s0"]
    assert pd.read_csv(tmp_path / "out" / "search_over_seeds.csv")["n"].tolist() == [3, 1]


def test_unfinished_run_folder_is_a_clear_error(runs, tmp_path, capsys):
    (runs[1] / "metrics.json").unlink()
    with pytest.raises(ZSBError, match="kd_s1/metrics.json does not exist.*04_evaluate"):
        compare_runs(runs)
    assert main(["compare", *map(str, runs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zsb: error:") and "Traceback" not in err


def test_cli_prints_the_comparison(runs, capsys):
    assert main(["compare", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "| nokd_s0" in out and "over seeds" in out


def test_runs_with_the_same_folder_name_are_labelled_by_their_parents(tmp_path):
    first = make_run(tmp_path / "cfg-1" / "ablation", "full", (0.4, 0.4, 0.4, 0.4))
    second = make_run(tmp_path / "cfg-2" / "ablation", "full", (0.5, 0.5, 0.5, 0.5), seed=1)
    other = make_run(tmp_path, "single", (0.3, 0.3, 0.3, 0.3), seed=2)
    per_run, _ = compare_runs([first, second, other])
    single = "/".join(other.resolve().parts[-3:])  # one depth for all rows: three parts tell the runs apart
    assert per_run["run"].tolist() == ["cfg-1/ablation/full", "cfg-2/ablation/full", single]


def test_columns_are_the_split_protocol_with_the_variant_named(tmp_path):
    """A sake25 run is compared in SAKE's interpolated AP, and every header names its variant."""
    run = tmp_path / "sake"
    run.mkdir()
    config = asdict(RunConfig(benchmark="sketchy_mini", split="sake25"))
    (run / "config.json").write_text(json.dumps({"parameters": config}))
    (run / "metrics.json").write_text(json.dumps({"metrics": {"mAP@all": 0.5, "mAP@all (voc)": 0.52, "P@100": 0.2}}))
    per_run, _ = compare_runs([run])
    assert list(per_run.columns) == ["run", "mAP@all (voc)", "P@100"]
    text = write_comparison([run, *[make_run(tmp_path, f"s{i}", (0.4, 0.3, 0.5), seed=i) for i in range(2)]])
    assert "mAP@all (VOC)" in text and "mAP@all (exact) mean" in text and "| mAP@all |" not in text


def write_per_query(run, values, queries=None):
    queries = list(range(len(values))) if queries is None else queries
    pd.DataFrame({"query": queries, "label": [q % 3 for q in queries],
                  **{m: values for m in METRICS}}).to_csv(run / "per_query.csv", index=False)


def test_paired_gains_are_the_first_setting_minus_each_other_on_common_seeds(runs, tmp_path):
    import numpy as np

    from zsb.stats import paired_difference

    rng = np.random.default_rng(0)
    per_query = {run.name: rng.random(30) for run in runs}
    for run in runs:
        write_per_query(run, per_query[run.name])
    per_run, over_seeds, paired = compare_runs(runs, paired=True)
    assert len(paired) == 1 and paired.loc[0, "w_knowledge"] == 0.0 and paired.loc[0, "common seeds"] == "0"
    expected = paired_difference(per_query["kd_s0"], per_query["nokd_s0"])
    assert paired.loc[0, "mAP@all gain"] == pytest.approx(float(np.mean(per_query["kd_s0"] - per_query["nokd_s0"])))
    assert (paired.loc[0, "mAP@all gain low"], paired.loc[0, "mAP@all gain high"]) == (expected.low, expected.high)
    text = write_comparison(runs, tmp_path / "out" / "cmp", paired=True)
    assert "paired gain" in text and "mAP@all (exact) gain low" in text
    assert (tmp_path / "out" / "cmp_paired.csv").is_file()


def test_paired_comparison_refuses_runs_on_other_queries(runs):
    for run in runs:
        write_per_query(run, [0.5, 0.4, 0.3], queries=[0, 1, 2] if run.name != "nokd_s0" else [0, 1, 5])
    with pytest.raises(ZSBError, match="other queries"):
        compare_runs(runs, paired=True)
    (runs[3] / "per_query.csv").unlink()
    with pytest.raises(ZSBError, match="04_evaluate"):
        compare_runs(runs, paired=True)


def test_trained_runs_show_their_median_epoch_seconds_and_machine(runs):
    """The training cost is the median of the log's epoch seconds (a plain sort, checked here against
    statistics.median), beside the machine the run recorded; a run without a log shows none."""
    epochs = {"kd_s0": [95.0, 31.0, 30.0], "kd_s1": [40.0, 42.0], "kd_s2": [], "nokd_s0": [12.0, 50.0, 11.0, 13.0]}
    for run in runs:
        (run / "train_log.jsonl").write_text("".join(
            json.dumps({"epoch": i + 1, "loss/total": 1.0, "seconds": s}) + "\n" for i, s in enumerate(epochs[run.name])))
    config = json.loads((runs[0] / "config.json").read_text())
    config["machine"] = {"cpu": "AMD EPYC", "logical_cores": 2, "cpu_flags": ["avx2", "avx512_bf16"]}
    (runs[0] / "config.json").write_text(json.dumps(config))
    per_run, _ = compare_runs(runs)
    assert list(per_run.columns) == ["run", "w_knowledge", "seed", *METRICS, "train s/epoch (median)", "machine"]
    seconds = per_run["train s/epoch (median)"].tolist()
    assert seconds[0] == sorted(epochs["kd_s0"])[1] == 31.0
    assert seconds[1] == statistics.median(epochs["kd_s1"]) == 41.0
    assert math.isnan(seconds[2])  # no epoch logged: not trained
    assert seconds[3] == statistics.median(epochs["nokd_s0"]) == 12.5
    assert per_run["machine"].tolist() == ["AMD EPYC, 2 cores, bf16 units", "unknown", "", "unknown"]
    assert re.search(r"\|\s+31\.0 \| AMD EPYC, 2 cores, bf16 units", write_comparison(runs))


def test_machine_summary_names_emulated_bf16_and_the_gpu():
    from zsb.io import machine_summary

    assert machine_summary(None) == "unknown"
    assert machine_summary({"cpu": "Intel Xeon", "logical_cores": 16, "cpu_flags": ["avx2"],
                            "gpu": "NVIDIA H200"}) == "Intel Xeon, 16 cores, bf16 emulated, NVIDIA H200"
    assert machine_summary({"cpu": "Xeon", "logical_cores": 2, "cpu_flags": ["amx_bf16"]}).endswith("bf16 units")
