"""Seeds as a parameter: one run folder trains, evaluates and ablates once per seed; the tables give mean and
sample sd over seeds (checked against ``statistics``), pooled bootstrap intervals, and paired gains of the full
method over each variant on the same seeds and queries (checked against a plain recomputation)."""

from __future__ import annotations

import json
import os
import shutil
import statistics

import numpy as np
import pandas as pd
import pytest

from zsb import artifacts
from zsb.artifacts import copy_small_files
from zsb.config import resolve
from zsb.driver.reproduce import default_run_id
from zsb.errors import ConfigError, ZSBError
from zsb.run import stages
from zsb.run.context import Run
from zsb.stats import bootstrap_ci, paired_difference

TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 3, "image_size": 32, "epochs": 1,
        "ablation_epochs": 1, "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu",
        "eval_batch_size": 8, "weights": "none", "backbone": "efficientnet_lite0"}


def test_seeds_set_the_seed_and_keep_the_run_folder():
    assert resolve({"seeds": "3,4"}).seed == 3 and resolve({"seeds": "3,4"}).seed_list == (3, 4)
    assert resolve({"seed": 5}).seed_list == (5,)
    more = [default_run_id(resolve({"seeds": s})) for s in ("0,1", "0,1,2", "")]
    assert len(set(more)) == 1  # asking for more seeds reuses the folder: only the new seeds are trained
    assert default_run_id(resolve({"seeds": "1,2"})) != more[0]  # another first seed is another run
    for bad in ("0,0", "a,1", "-1"):
        with pytest.raises(ConfigError, match="seeds="):
            resolve({"seeds": bad})
    with pytest.raises(ConfigError, match="variant:N"):
        resolve({"ablation_variants": "full:0"})
    assert resolve({"seeds": "0,1,2", "ablation_variants": "full,triplet:1"}).variant_seeds == {
        "full": (0, 1, 2), "triplet": (0,)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, synthetic_env):
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    cfg = resolve({**TINY, "seeds": "0,1", "ablation_variants": "full,no_knowledge:1,frozen"})
    run = Run(tmp_path_factory.mktemp("seeds") / "run", cfg)
    stages.prepare_data(run)
    history = stages.train_seeds(run)
    table = stages.evaluate_seeds(run)
    ablation = stages.ablation(run)
    return run, history, table, ablation


def test_every_seed_is_trained_in_its_own_folder_on_the_shared_data(seeded):
    run, history, _, _ = seeded
    assert sorted(set(history["seed"])) == [0, 1] and len(history) == 2
    second = run.dir / "seeds" / "1"
    assert (second / "checkpoints" / "last.pt").exists() and not (second / "manifest.csv").exists()
    assert json.loads((second / "config.json").read_text())["parameters"]["seed"] == 1
    assert run.for_seed(1).folder.manifest_path == run.folder.manifest_path
    first, other = (pd.read_csv(r.folder.per_query_path("trained")) for r in run.seed_runs())
    assert first["query"].equals(other["query"])  # the same queries, so they can be paired
    assert not np.allclose(first["mAP@all"], other["mAP@all"])  # the seed changed training



def test_the_frozen_features_are_computed_once_for_every_seed_and_variant(seeded):
    """The frozen pretrained network's embeddings depend on no seed or training parameter: every seed's frozen
    variant reads the one cache beside the shared manifest, and no folder keeps a copy."""
    run, *_ = seeded
    shared = run.folder.features_path("frozen")
    assert shared == run.dir / "features" / "frozen.pt" and shared.exists()
    for seed in (0, 1):
        assert run.for_seed(seed).variant("frozen").folder.features_path("frozen") == shared
    assert sorted(p.relative_to(run.dir).as_posix() for p in run.dir.rglob("frozen.pt")) == ["features/frozen.pt"]

def test_the_seeds_table_matches_statistics_and_a_pooled_bootstrap(seeded):
    run, _, table, _ = seeded
    record = json.loads(run.folder.seeds_metrics_path.read_text())
    assert record["seeds"] == [0, 1] and record["protocol"] == run.protocol
    per_seed = [json.loads(r.folder.metrics_path().read_text())["metrics"] for r in run.seed_runs()]
    frames = [pd.read_csv(r.folder.per_query_path("trained")) for r in run.seed_runs()]
    for metric in run.protocol:
        values = [m[metric] for m in per_seed]
        entry = record["metrics"][metric]
        assert entry["values"] == values
        assert entry["mean"] == pytest.approx(statistics.mean(values))
        assert entry["sd"] == pytest.approx(statistics.stdev(values))
        stacked = np.stack([f[metric].to_numpy() for f in frames])
        assert entry["interval"]["query"] == bootstrap_ci(stacked).to_dict()
        assert entry["interval"]["class"] == bootstrap_ci(stacked, clusters=frames[0]["label"]).to_dict()
        assert entry["interval"]["query"]["resamples"] == 2000 and entry["interval"]["query"]["seed"] == 0
    assert list(table["seed"][:4]) == ["0", "1", "mean", "sd"]
    assert (run.dir / "tables" / "seeds.md").read_text().count("mAP@all (exact)") == 1
    metrics = json.loads(run.folder.metrics_path().read_text())
    assert set(metrics["intervals"]) == set(run.protocol) and metrics["intervals"]["mAP@all"]["class"]["kind"] == "class"


def test_the_ablation_pairs_each_variant_with_the_full_method_on_common_seeds(seeded):
    run, _, _, table = seeded
    rows = table.set_index("variant")
    assert rows.loc["full", "seeds"] == 2 and rows.loc["no_knowledge", "seeds"] == 1
    assert not (run.dir / "seeds" / "1" / "ablation" / "no_knowledge").exists()  # variant:1 runs seed 0 only
    full = {s: run.for_seed(s).variant("full") for s in (0, 1)}
    full_query = [pd.read_csv(r.folder.per_query_path()) for r in full.values()]
    full_metrics = [json.loads(r.folder.metrics_path().read_text())["metrics"]["mAP@all"] for r in full.values()]
    assert rows.loc["full", "mAP@all"] == pytest.approx(statistics.mean(full_metrics))
    assert rows.loc["full", "mAP@all sd"] == pytest.approx(statistics.stdev(full_metrics))
    assert np.isnan(rows.loc["full", "mAP@all gain"])
    variant = pd.read_csv(run.for_seed(0).variant("no_knowledge").folder.per_query_path())
    expected_gain = float(np.mean(full_query[0]["mAP@all"].to_numpy() - variant["mAP@all"].to_numpy()))
    assert rows.loc["no_knowledge", "mAP@all gain"] == pytest.approx(expected_gain)
    interval = paired_difference(full_query[0]["mAP@all"], variant["mAP@all"])
    assert (rows.loc["no_knowledge", "mAP@all gain low"], rows.loc["no_knowledge", "mAP@all gain high"]) == \
        pytest.approx((interval.low, interval.high))
    assert rows.loc["frozen", "seeds"] == 2 and rows.loc["frozen", "mAP@all sd"] == pytest.approx(0.0)
    markdown = (run.dir / "tables" / "ablation.md").read_text()
    assert "mAP@all (exact) gain low" in markdown


def test_the_ablation_figures_draw_intervals(seeded, tmp_path):
    from zsb.report import viz

    _, _, _, table = seeded
    fig = viz.plot_ablation(table, metrics=["mAP@all", "P@100"], path=tmp_path / "ablation.png")
    assert len(fig.axes[0].containers) >= len(table)  # bars, each with an error-bar container
    assert any(type(c).__name__ == "ErrorbarContainer" for c in fig.axes[0].containers)
    viz.plot_ablation_gains(table, "mAP@all", path=tmp_path / "gains.png")
    assert (tmp_path / "gains.png").stat().st_size > 0


def test_a_run_restored_from_its_small_files_is_tabulated_not_trained_again(seeded, tmp_path, monkeypatch):
    """On another machine, a run folder holds only its small files (no checkpoints, no feature caches): the
    ablation and the further seeds are summarised from them; the first seed, whose model the evaluation stage
    draws, and a variant whose record is stale are trained."""
    run, _, _, table = seeded
    restored_dir = tmp_path / "restored"
    copies = copy_small_files(run.dir, restored_dir)
    kept = {path.relative_to(restored_dir).as_posix() for path in copies}
    assert {"seeds/1/config.json", "train_log.jsonl", "metrics.json", "per_query.csv", "seeds/1/metrics.json",
            "ablation/no_knowledge/per_query.csv", "tables/ablation.md"} <= kept
    assert not any(name.endswith(".pt") or name.startswith(("manifest.", "checkpoints/")) for name in kept)
    data_root = json.loads(run.folder.manifest_path.with_suffix(".json").read_text())["data_root"]
    for copy in copies:  # nothing kept names this machine's paths
        text = copy.read_bytes().decode("utf-8", errors="ignore")
        assert str(run.dir) not in text and data_root not in text, copy
    assert all(path.read_bytes() == (run.dir / path.relative_to(restored_dir)).read_bytes() for path in copies)
    restored = Run(restored_dir, run.cfg)
    trained: list = []
    monkeypatch.setattr(stages, "train", lambda r, resume=True: trained.append(r.dir) or [])
    again = stages.ablation(restored)
    assert trained == []
    columns = [c for c in table.columns if c != "seconds_per_epoch"]
    pd.testing.assert_frame_equal(again[columns], table[columns])
    assert list(again["seconds_per_epoch"]) == list(table["seconds_per_epoch"])  # read from the logs

    stages.train_seeds(restored)
    assert trained == [restored_dir]  # the first seed only: its checkpoint is gone and 04 needs its model

    variant = restored.for_seed(0).variant("no_knowledge")
    record = json.loads(variant.folder.metrics_path().read_text())
    variant.folder.metrics_path().write_text(json.dumps({**record, "fingerprint": "another configuration"}))
    trained.clear()
    with pytest.raises(ZSBError, match="no trained model"):
        stages.ablation(restored)  # the stand-in trains nothing, so the stale variant's evaluation finds no model
    assert trained == [variant.dir]


def test_a_reused_run_keeps_the_environment_that_trained_it(seeded, tmp_path, monkeypatch):
    """config.json names the commit and machine that trained and evaluated a run: reopening its folder later on
    another commit and CPU (a campaign step that adds a variant, say) rewrites the parameters but keeps that record;
    a run whose evaluation is stale for its parameters gets the environment that will train it again."""
    run, _, _, _ = seeded
    run.folder.write_config(run.cfg)  # as the driver does, here with this machine's environment
    restored_dir = tmp_path / "restored"
    copy_small_files(run.dir, restored_dir)
    elsewhere = {"git_commit": "f" * 40, "python": "3.99", "platform": "elsewhere",
                 "machine": {"cpu": "Another CPU", "logical_cores": 64, "cpu_flags": []}, "versions": {}}
    monkeypatch.setattr(artifacts, "environment_info", lambda: elsewhere)

    def environment(folder):
        return {k: v for k, v in json.loads((folder / "config.json").read_text()).items() if k != "parameters"}

    trained_with = environment(run.dir / "seeds" / "1")
    assert trained_with["git_commit"] != elsewhere["git_commit"] and trained_with["machine"] != elsewhere["machine"]
    restored = Run(restored_dir, run.cfg.replace(ablation_variants="full,no_knowledge:1,frozen,triplet:1"))
    restored.folder.write_config(restored.cfg)
    assert environment(restored_dir) == environment(run.dir)
    recorded = json.loads((restored_dir / "config.json").read_text())["parameters"]
    assert recorded["ablation_variants"] == "full,no_knowledge:1,frozen,triplet:1"  # the parameters are current
    assert environment(restored.for_seed(1).dir) == trained_with
    assert environment(restored.for_seed(0).variant("frozen").dir) == environment(run.dir / "ablation" / "frozen")

    variant = restored.for_seed(0).variant("no_knowledge")
    record = json.loads(variant.folder.metrics_path().read_text())
    variant.folder.metrics_path().write_text(json.dumps({**record, "fingerprint": "another configuration"}))
    assert environment(restored.for_seed(0).variant("no_knowledge").dir) == elsewhere
    assert environment(restored.for_seed(0).variant("triplet").dir) == elsewhere  # never run: the new environment
    restored.folder.write_config(restored.cfg, keep_environment=False)  # --force: trained again here
    assert environment(restored_dir) == elsewhere


def test_tabulating_more_variants_leaves_the_seed_and_variant_config_files_unchanged(seeded):
    """Each seed and variant folder records the parameters of its own model: a campaign step that asks for one more
    variant or seed rewrites the run's config.json and leaves theirs byte for byte (no variant list copied into
    each)."""
    run, _, _, _ = seeded
    existing = [(seed, name) for name, seeds in run.cfg.variant_seeds.items() for seed in seeds]
    derived = {run.for_seed(seed).variant(name).folder.config_path for seed, name in existing}
    derived |= {run.for_seed(seed).folder.config_path for seed in run.cfg.seed_list}
    derived.discard(run.folder.config_path)
    assert len(derived) >= 3  # seeds/1 and the no_knowledge and frozen folders
    before = {path: path.read_bytes() for path in derived}
    grown = Run(run.dir, run.cfg.replace(seeds="0,1,2", ablation_variants="full,no_knowledge,frozen,triplet:1"))
    grown.folder.write_config(grown.cfg)
    for seed, name in existing:
        grown.for_seed(seed).variant(name)
    assert {path: path.read_bytes() for path in derived} == before
    assert all(json.loads(before[path])["parameters"]["ablation_variants"] == "" for path in derived)
    assert json.loads(grown.folder.config_path.read_text())["parameters"]["ablation_variants"].endswith("triplet:1")
    run.folder.write_config(run.cfg)  # the fixture's own parameters again, for the tests that follow


def test_the_recorded_environment_is_what_config_json_holds_beside_the_parameters(tmp_path):
    """RunFolder.recorded_environment: config.json without its parameters; {} for a folder with none or a broken one."""
    folder = artifacts.RunFolder(tmp_path / "run")
    assert folder.recorded_environment() == {}
    folder.dir.mkdir(parents=True)
    folder.write_config(resolve(TINY))
    written = json.loads(folder.config_path.read_text())
    assert folder.recorded_environment() == {k: v for k, v in written.items() if k != "parameters"}
    assert {"git_commit", "machine"} <= set(folder.recorded_environment())
    for broken in ("{not json", "[1, 2]"):
        folder.config_path.write_text(broken)
        assert folder.recorded_environment() == {}


def test_a_run_trained_again_records_the_environment_that_trained_it(seeded, tmp_path, monkeypatch):
    """``--force`` retrains every seed: each seed's config.json then names the code and machine that trained it
    again, not the earlier record that reopening the folder keeps."""
    run, _, _, _ = seeded
    copy = tmp_path / "copy"
    shutil.copytree(run.dir, copy)
    elsewhere = {"git_commit": "e" * 40, "python": "3.99", "platform": "elsewhere",
                 "machine": {"cpu": "Another CPU", "logical_cores": 64, "cpu_flags": []}, "versions": {}}
    monkeypatch.setattr(artifacts, "environment_info", lambda: elsewhere)
    second = Run(copy, run.cfg).for_seed(1)
    assert json.loads(second.folder.config_path.read_text())["git_commit"] != elsewhere["git_commit"]  # reopened
    stages.train(second, resume=False)
    recorded = json.loads(second.folder.config_path.read_text())
    assert {k: v for k, v in recorded.items() if k != "parameters"} == elsewhere
    assert recorded["parameters"] == second.cfg.to_dict()
