"""The README's "Your first hour", end to end in a fresh folder holding what a clone holds (the published model),
each command in its own process: the data fetched from a loopback server (an archive built from the shared
sketchy-mini copy), a drawn sketch searched against the benchmark gallery with the published model (no --model, no
--data-root), then a model trained on the fetched copy (shortened), as a newcomer types it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.data.loopback import ArchiveServer, build_archive, hash_list
from zsb.search import PUBLISHED_MODEL, render_strokes

REPO = Path(__file__).resolve().parents[1]

SHORT = {"max_seen_classes": 5, "max_unseen_classes": 3, "max_per_class": 5, "epochs": 1, "image_size": 48,
         "classes_per_batch": 4, "samples_per_domain": 1, "ablation_epochs": 0}
"""The training shortened: a few classes, one epoch, small images."""


def zsb(*args: str, cwd, env) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "zsb", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"zsb {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_fetch_train_and_search_a_drawn_sketch_from_a_fresh_folder(sketchy_mini_root, tmp_path, synthetic_env):
    home = tmp_path / "zsb"
    shutil.copytree(REPO / PUBLISHED_MODEL, home / PUBLISHED_MODEL)  # as a clone has them
    shutil.copytree(REPO / "configs", home / "configs")
    env = {**synthetic_env, "ZSB_DATA": str(tmp_path / "data")}
    (tmp_path / "sketchy_mini.sha256").write_text(hash_list(sketchy_mini_root))
    with ArchiveServer(build_archive(sketchy_mini_root)) as server:
        fetched = zsb("data", "fetch", "sketchy_mini", "--url", server.url, "--sha256-list",
                      str(tmp_path / "sketchy_mini.sha256"), "--no-progress", cwd=home, env=env)
    data = tmp_path / "data" / "sketchy-mini"
    assert f"{data} downloaded and checked" in fetched.stdout
    assert len(list((data / "photo").rglob("*.jpg"))) == 3125

    strokes = [(60, 200, 200, 200), (200, 200, 180, 110), (180, 110, 80, 110), (80, 110, 60, 200),
               (90, 110, 130, 50), (130, 50, 170, 110)]
    render_strokes(strokes).save(home / "my_sketch.png")
    searched = zsb("search", "my_sketch.png", "--gallery", "benchmark", "--no-progress", cwd=home, env=env)
    ranked = pd.read_csv(home / "search_out" / "my_sketch_ranked.csv")
    assert ranked["rank"].tolist() == list(range(1, 11)) and ranked["similarity"].is_monotonic_decreasing
    found = [home / "search_out" / path for path in ranked["path"]]
    assert all(path.resolve().is_relative_to((data / "photo").resolve()) and path.is_file() for path in found)
    assert "my_sketch_ranked.png" in searched.stdout

    zsb("reproduce", "--benchmark", "sketchy_mini", "--config", "configs/sketchy_mini_classroom.yaml",
        "--run-id", "short", "--no-progress", "--stages", "01_data,02_knowledge,03_train,04_evaluate",
        *(f"--set={name}={value}" for name, value in SHORT.items()), cwd=home, env=env)
    run = home / "results" / "sketchy_mini" / "runs" / "short"
    parameters = json.loads((run / "config.json").read_text())["parameters"]
    assert (parameters["epochs"], parameters["binary_bits"], parameters["ablation_variants"]) == (1, 0, "full,frozen")
    assert (run / "metrics.json").is_file()
