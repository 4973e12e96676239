"""End to end: `zsb reproduce` runs every stage notebook through papermill on a tiny synthetic configuration,
writing only its run folder; `--publish` then publishes it without rerunning a stage; a notebook also runs alone
under papermill."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "max_seen_classes": 4,
    "max_unseen_classes": 3,
    "max_per_class": 6,
    "epochs": 1,
    "image_size": 48,
    "classes_per_batch": 4,
    "samples_per_domain": 1,
}


def zsb(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "zsb", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def outside_runs(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the run folders, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and "runs" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, synthetic_env):
    """A checkout's README and published synthetic results."""
    work = tmp_path_factory.mktemp("reproduce")
    shutil.copy(REPO / "README.md", work / "README.md")
    shutil.copytree(REPO / "results" / "synthetic", work / "results" / "synthetic",
                    ignore=shutil.ignore_patterns("runs"))
    return work


@pytest.fixture(scope="module")
def first_run(workdir, synthetic_env):
    """A user's `zsb reproduce`: (its output, its arguments, the files outside runs/ before and after it)."""
    args = ["reproduce", "--run-id", "tiny", "--no-progress"]
    for name, value in TINY.items():
        args += ["--set", f"{name}={value}"]
    before = outside_runs(workdir)
    done = zsb(*args, cwd=workdir, env=synthetic_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, args, before, outside_runs(workdir)


@pytest.fixture(scope="module")
def reproduced(first_run, workdir, synthetic_env):
    """The same run published: `zsb reproduce ... --publish` reruns no stage."""
    _, args, _, _ = first_run
    done = zsb(*args, "--publish", cwd=workdir, env=synthetic_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("up to date, skipped") == 6
    return workdir / "results" / "synthetic", done, args


def test_a_run_writes_only_its_run_folder_and_says_how_it_compares(first_run):
    done, _, before, after = first_run
    assert after == before  # the README and results/synthetic/ untouched
    assert "the README are unchanged (--publish copies them there)" in done.stdout
    # the published run used the default budget, this one a tiny one: not comparable, and said so
    assert "was made with other parameters (" in done.stdout and "max_per_class" in done.stdout


def test_every_stage_leaves_its_files(reproduced):
    published, _, _ = reproduced
    run = published / "runs" / "tiny"
    for stage in ("01_data", "02_knowledge", "03_train", "04_evaluate", "05_tsne", "06_ablation"):
        assert (run / "notebooks" / f"{stage}.ipynb").is_file()
        assert (run / "stages" / f"{stage}.json").is_file()
    for name in ("manifest.csv", "knowledge.pt", "checkpoints/last.pt", "train_log.jsonl", "metrics.json",
                 "features/trained.pt", "features/frozen.pt"):
        assert (run / name).is_file(), name
    for name in ("samples.png", "class_knowledge.png", "loss_curves.png", "per_class_ap.png", "retrieval.png",
                 "tsne.png", "ablation.png", "ablation.csv", "ablation.md", "per_class_ap.csv", "class_counts.csv",
                 "metrics.json", "config.json"):
        assert (published / name).is_file(), name


def test_config_records_parameters_commit_and_versions(reproduced):
    published, _, _ = reproduced
    config = json.loads((published / "runs" / "tiny" / "config.json").read_text())
    assert config["parameters"]["epochs"] == 1 and config["parameters"]["max_per_class"] == 6
    assert config["versions"]["torch"] and "git_commit" in config


def test_metrics_are_finite_and_above_chance(reproduced):
    published, _, _ = reproduced
    metrics = json.loads((published / "metrics.json").read_text())
    assert metrics["num_queries"] == 3 * 6 and metrics["num_gallery"] == 3 * 6
    assert all(math.isfinite(v) for v in metrics["metrics"].values())
    assert metrics["metrics"]["mAP@all"] > metrics["chance_mAP"]
    table = pd.read_csv(published / "ablation.csv")
    assert set(table["variant"]) == {"full", "no_knowledge", "no_classification", "no_quadruplet", "triplet",
                                     "frozen", "online_teacher"}
    assert table["mAP@all"].notna().all() and (table["mAP@all"] > 0).all()


def test_readme_table_is_regenerated(reproduced, workdir):
    text = (workdir / "README.md").read_text()
    section = text.split("<!-- zsb:results:start -->")[1].split("<!-- zsb:results:end -->")[0]
    assert "synthetic" in section and "online_teacher" in section


def test_second_call_skips_every_stage(reproduced, workdir, synthetic_env):
    _, _, args = reproduced
    again = zsb(*args, cwd=workdir, env=synthetic_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("up to date, skipped") == 6


def test_a_notebook_runs_alone_under_papermill(tmp_path, synthetic_env):
    cmd = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "03_train.ipynb"), str(tmp_path / "out.ipynb"),
           "-p", "benchmark", "synthetic", "-p", "progress", "False"]
    for name, value in TINY.items():
        cmd += ["-p", name, str(value)]
    done = subprocess.run(cmd, cwd=tmp_path, env=synthetic_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "results" / "synthetic" / "runs" / "notebook"
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "manifest.csv").is_file()


def test_real_data_smoke_on_sketchy_mini(tmp_path, sketchy_mini_root, synthetic_env):
    """A few real Sketchy classes, one epoch, through data, knowledge, training and evaluation."""
    args = ["reproduce", "--benchmark", "sketchy_mini", "--data-root", str(sketchy_mini_root), "--run-id", "smoke",
            "--stages", "01_data,02_knowledge,03_train,04_evaluate", "--no-progress"]
    for name, value in {**TINY, "max_seen_classes": 5, "max_unseen_classes": 3, "max_per_class": 5}.items():
        args += ["--set", f"{name}={value}"]
    done = zsb(*args, cwd=tmp_path, env=synthetic_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((tmp_path / "results" / "sketchy_mini" / "runs" / "smoke" / "metrics.json").read_text())
    assert metrics["split"] == "sempcyc25" and metrics["num_queries"] == 15 and metrics["num_gallery"] == 15
    assert all(math.isfinite(v) for v in metrics["metrics"].values())


def test_tables_without_results_is_a_clear_error(tmp_path, capsys):
    from zsb.cli import main

    assert main(["tables", "--results", str(tmp_path / "missing"), "--readme", str(REPO / "README.md")]) == 2
    assert "does not exist; run `zsb reproduce` first" in capsys.readouterr().err


def test_more_ablation_variants_reuse_the_run_folder():
    from zsb.config import resolve
    from zsb.driver.reproduce import default_run_id

    cfg = resolve({"ablation_variants": "full,frozen"})
    assert default_run_id(cfg) == default_run_id(cfg.replace(ablation_variants="full,frozen,no_knowledge"))
    assert default_run_id(cfg) != default_run_id(cfg.replace(epochs=cfg.epochs + 1))


def test_published_files_hold_relative_paths(reproduced):
    published, _, _ = reproduced
    assert (published / "RUN.txt").read_text() == "copied from runs/tiny\n"
    for name in ("metrics.json", "metrics_frozen.json", "timing.json"):
        assert str(published.parent.parent) not in (published / name).read_text(), name


def test_a_run_continues_on_another_machine_from_its_small_files(reproduced, workdir, synthetic_env):
    """The small files of a run (zsb.artifacts.copy_small_files: no checkpoint, no tensors, no manifest) are enough
    for another machine to rerun the data, knowledge and ablation stages: the finished variants are tabulated from
    their records, none is trained again, and the table is the original's."""
    from zsb.artifacts import copy_small_files

    published, _, args = reproduced
    original, moved = published / "runs" / "tiny", workdir / "elsewhere" / "synthetic" / "runs" / "tiny"
    copy_small_files(original, moved)
    assert not list(moved.rglob("*.pt")) and not (moved / "manifest.csv").exists()
    done = zsb(*args, "--results", "elsewhere", "--stages", "01_data,02_knowledge,06_ablation", "--force",
               cwd=workdir, env=synthetic_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not list(moved.rglob("last.pt"))  # nothing was trained
    pd.testing.assert_frame_equal(pd.read_csv(moved / "tables" / "ablation.csv"),
                                  pd.read_csv(original / "tables" / "ablation.csv"))
