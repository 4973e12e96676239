"""Data-parallel training under torchrun, on CPUs with gloo: one step is the single process's step, a run whose
process dies stops with its rank and log and resumes exactly, and two launchers train as two machines.

Run as a script under torchrun (``python -m torch.distributed.run ... tests/test_distributed.py OUT``), this file
is the worker of the one-step comparison."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from zsb import engine
from zsb.config import RunConfig, resolve
from zsb.data.sampler import rank_share
from zsb.distributed import Ranks
from zsb.domains import PHOTO, SKETCH
from zsb.errors import ConfigError, WeightsError, ZSBError
from zsb.losses import ParadigmLosses
from zsb.io import safe_torch_load
from zsb.run import stages
from zsb.run.context import Run
from zsb.trainlog import read_log

TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "classes_per_batch": 3,
        "embed_dim": 16, "weights": "none", "precision": "fp32", "device": "cpu", "progress": False,
        "epochs": 2, "batches_per_epoch": 3}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


# --- the shares of a batch ---

def test_the_shares_of_a_batch_are_balanced_by_domain_and_class_and_make_up_the_batch():
    domains = [SKETCH, SKETCH, PHOTO, PHOTO] * 5  # P = 5 classes, K = 2: class by class, K sketches then K photos
    for world_size in (1, 2, 3, 4, 10):
        shares = [rank_share(domains, rank, world_size) for rank in range(world_size)]
        assert sorted(i for share in shares for i in share) == list(range(len(domains)))  # every image once
        for share in shares:
            assert share == sorted(share)
            sketches = [i for i in share if domains[i] == SKETCH]
            photos = [i for i in share if domains[i] == PHOTO]
            assert len(sketches) == len(photos) >= 1
            assert {i // 4 for i in sketches} == {i // 4 for i in photos}  # the same classes (4 images per class)
        assert max(map(len, shares)) - min(map(len, shares)) <= 2


def test_more_processes_than_a_batch_can_feed_and_zero_processes_are_refused():
    images = torch.zeros(4, 3, 8, 8)
    with pytest.raises(ConfigError, match="processes <= classes_per_batch x samples_per_domain"):
        Ranks(0, 3).share(images, torch.tensor([SKETCH, PHOTO, SKETCH, PHOTO]))
    with pytest.raises(ConfigError, match="processes=0"):
        resolve({"processes": 0})


# --- one step ---

STEP_CASES = {"all losses, hard mining": {},
              "random mining, no knowledge loss": {"mining": "random", "w_knowledge": 0.0},
              "online teacher": {"teacher": "online"}}


def one_step_worker(out_dir: str) -> None:
    """Under torchrun: each process makes the single-process step on the whole batch (in a copy of the model, no
    communication) and the data-parallel step, both in float64, and records how far apart they end up."""
    import torch.distributed as dist

    from zsb.backbones import build_backbone
    from zsb.model import ZSBModel

    dist.init_process_group("gloo")
    ranks = Ranks.current()
    torch.manual_seed(0)
    model = ZSBModel(build_backbone("efficientnet_lite0", weights=None), num_seen_classes=3, embed_dim=16).double()
    labels = torch.arange(3).repeat_interleave(4)  # P = 3 classes x (K = 2 sketches + 2 photos)
    domains = torch.tensor([SKETCH, SKETCH, PHOTO, PHOTO] * 3)
    images = torch.randn(12, 3, 32, 32, dtype=torch.float64)
    knowledge = torch.softmax(torch.randn(3, 1000, dtype=torch.float64), dim=1)
    teacher = build_backbone("efficientnet_lite0", weights=None).double().eval().requires_grad_(False)
    report = {}
    for case, changes in STEP_CASES.items():
        cfg = RunConfig(precision="fp32", device="cpu", classes_per_batch=3, samples_per_domain=2, **changes)
        losses = ParadigmLosses.from_config(cfg)
        models = {"single": copy.deepcopy(model).train(), "parallel": copy.deepcopy(model).train()}
        values, optimizers = {}, {}
        for name, replica in models.items():
            optimizers[name] = engine.build_optimizer(replica, cfg)
            torch.manual_seed(7)  # random mining draws from torch's RNG, which agrees in every process
            values[name] = engine.train_step(replica, optimizers[name], losses, cfg, images, labels, domains,
                                             knowledge, teacher, ranks=ranks if name == "parallel" else None)
        single, parallel = (list(models[name].parameters()) for name in ("single", "parallel"))
        grads = [(a.grad, b.grad) for a, b in zip(single, parallel)]
        report[case] = {
            "losses": {term: [values["single"][term], values["parallel"][term]] for term in values["single"]},
            "same_gradients_missing": [a is None for a, _ in grads] == [b is None for _, b in grads],
            "gradients_missing": sum(a is None for a, _ in grads),
            "gradient_scale": max(float(a.abs().max()) for a, _ in grads if a is not None),
            "gradient_difference": max(float((a - b).abs().max()) for a, b in grads if a is not None),
            "parameter_change": max(float((a - b).abs().max()) for a, b in zip(single, model.parameters())),
            "parameter_difference": max(float((a - b).abs().max()) for a, b in zip(single, parallel)),
            "running_statistics_difference": max(
                float((a.double() - b.double()).abs().max())
                for a, b in zip(models["single"].buffers(), models["parallel"].buffers())),
        }
    Path(out_dir, f"rank{ranks.rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


def test_one_data_parallel_step_is_the_single_process_step(tmp_path):
    """Two processes (each embedding 6 of the 12 images), in float64 so that float rounding (reduction order,
    convolutions on smaller batches, statistics combined from parts) stays far below the tolerances: the same loss
    terms, the same gradients (so the gathered outputs and the averaging scale them right), the same parameters after
    Adam, the same batch-norm running statistics (normalised over the global batch). A gradient error by a constant
    factor would not show in Adam's first update (it normalises the gradient), hence the gradients themselves."""
    result = subprocess.run([*TORCHRUN, "--standalone", "--nproc-per-node", "2", __file__, str(tmp_path)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert reports[0] == reports[1]  # every process made the same step
    for case, report in reports[0].items():
        for term, (single, parallel) in report["losses"].items():
            assert parallel == pytest.approx(single, abs=1e-9), (case, term)
        assert report["same_gradients_missing"], case  # an unused head gets no gradient, as in one process
        assert report["gradient_difference"] <= 1e-9 * report["gradient_scale"], case
        assert report["parameter_change"] > 1e-4  # the step did move the weights
        assert report["parameter_difference"] <= 1e-6, case  # Adam divides by |g| + 1e-8: tiny g amplify rounding
        assert report["running_statistics_difference"] <= 1e-10, case
    assert reports[0]["random mining, no knowledge loss"]["gradients_missing"] == 2  # the ImageNet head's


# --- runs through the training stage ---

@pytest.fixture(scope="module")
def prepared(tmp_path_factory, synthetic_env):
    """A tiny synthetic run folder with its manifest and class knowledge made (in this process)."""
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    run_dir = tmp_path_factory.mktemp("distributed") / "prepared"
    run = Run(run_dir, resolve(TINY))
    stages.prepare_knowledge(run)
    return run_dir


def copy_of(prepared: Path, tmp_path: Path, **changes) -> Run:
    import shutil

    shutil.copytree(prepared, tmp_path / "run")
    cfg = resolve({**TINY, **changes})
    run = Run(tmp_path / "run", cfg)
    run.folder.write_config(cfg)
    return run


@pytest.fixture(scope="module")
def uninterrupted(prepared, tmp_path_factory):
    """The final checkpoint of an uninterrupted 2-process run, launched by the training stage."""
    run = copy_of(prepared, tmp_path_factory.mktemp("uninterrupted"), processes=2)
    history = stages.train(run)
    assert [record["epoch"] for record in history] == [1, 2]
    return safe_torch_load(run.folder.checkpoint_path)


def assert_same_training(state: dict, reference: dict) -> None:
    assert state["epoch"] == reference["epoch"]
    for name, tensor in reference["model"].items():
        assert torch.equal(state["model"][name], tensor), name
    for index, slot in reference["optimizer"]["state"].items():
        assert torch.equal(state["optimizer"]["state"][index]["exp_avg"], slot["exp_avg"]), index


def test_a_process_that_dies_stops_the_run_with_its_rank_and_log_and_the_rerun_resumes_exactly(
        prepared, uninterrupted, tmp_path, capfd):
    """Rank 1 is killed (SIGKILL) in epoch 2: the stage raises a ZSBError that names rank 1 and its log, the
    checkpoint of epoch 1 and the files the other stages read are intact, and rerunning the stage resumes from that
    checkpoint to the very weights of the uninterrupted run."""
    run = copy_of(prepared, tmp_path, processes=2)
    kept = {name: (run.dir / name).read_bytes() for name in ("config.json", "manifest.csv", "knowledge.pt")}
    log_of_rank1 = run.folder.process_log(1)

    def kill_rank1_in_epoch_2():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(read_log(run.folder.log_path)) < 1:
            time.sleep(0.02)
        header = log_of_rank1.read_text().splitlines()[0]
        os.kill(int(header.rsplit("pid ", 1)[1].rstrip(")")), signal.SIGKILL)

    killer = threading.Thread(target=kill_rank1_in_epoch_2)
    killer.start()
    with pytest.raises(ZSBError) as failure:
        stages.train(run)
    killer.join()
    message = str(failure.value)
    assert "rank 1 of 2 died (killed by SIGKILL" in message and str(log_of_rank1) in message
    assert "checkpoint of epoch 1 of 2" in message and "rerun the training stage" in message
    assert '{"epoch": 1' in capfd.readouterr().out  # rank 0's output is shown here as it comes
    assert '{"epoch": 1' in run.folder.process_log(0).read_text()  # and kept in its log
    assert safe_torch_load(run.folder.checkpoint_path)["epoch"] == 1
    assert [record["epoch"] for record in read_log(run.folder.log_path)] == [1]
    assert not list(run.folder.checkpoint_path.parent.glob("*.tmp"))
    assert all((run.dir / name).read_bytes() == data for name, data in kept.items())

    history = stages.train(run)
    assert [record["epoch"] for record in history] == [1, 2]
    assert_same_training(safe_torch_load(run.folder.checkpoint_path), uninterrupted)
    assert log_of_rank1.read_text().count("=== ") == 2  # each launch's output appended to the process's log
    with pytest.raises(WeightsError, match="trained with other parameters"):  # refused before any process starts
        stages.train(Run(run.dir, run.cfg.replace(margin=0.5)))


def test_the_process_that_died_is_found_without_torchruns_report(prepared, tmp_path):
    """torchrun may end without its report of failures (when it fails itself): the dead process is then the one
    whose log since the launch lacks the line each process writes as it ends; or, when every process wrote one, the
    first that raised. A process stopped by torchrun's SIGTERM is not the cause."""
    from zsb.run.launch import _failure

    run = copy_of(prepared, tmp_path, processes=3)
    logs = [run.folder.process_log(rank) for rank in range(3)]
    logs[0].parent.mkdir(parents=True, exist_ok=True)
    for log in logs:
        log.write_text("=== an earlier launch\nzsb.distributed: rank 9 ended at 1.0: finished\n")
    starts = [log.stat().st_size for log in logs]
    said = {0: "zsb.distributed: rank 0 ended at 20.5: RuntimeError: Connection closed by peer\n",
            1: "epoch 2/2 ...\n", 2: "zsb.distributed: rank 2 ended at 21.0: stopped by SIGTERM\n"}
    for rank, text in said.items():
        with open(logs[rank], "a") as log:
            log.write(text)
    message = str(_failure(run, 1, "Traceback ...\njson.decoder.JSONDecodeError: Expecting value", starts))
    assert "rank 1 of 3 died (it ended without a word, so a signal killed it" in message and str(logs[1]) in message
    with open(logs[1], "a") as log:  # torchrun's report, where there is one, gives the signal
        log.write("zsb.distributed: rank 1 ended at 20.0: ValueError: a bad batch\n")
    assert "rank 1 of 3 died (ValueError: a bad batch)" in str(_failure(run, 1, "", starts))
    report = "[1]:\n  time : x\n  rank      : 1 (local_rank: 1)\n  exitcode  : 1 (pid: 7)\n"
    assert "rank 1 of 3 died (exit code 1: ValueError: a bad batch)" in str(_failure(run, 1, report, starts))
    with open(logs[1], "w") as log:
        log.write("")
    starts[1] = 0
    report = "  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 7)\n"
    assert "rank 1 of 3 died (killed by SIGKILL: out of memory" in str(_failure(run, 1, report, starts))
    starts = [log.stat().st_size for log in logs]  # no process said anything: torchrun's status, and the logs
    assert f"torchrun ended with status 1; the processes' logs: {logs[0].parent}" in str(_failure(run, 1, "", starts))


def test_the_error_file_torchrun_reads_is_whole_or_absent(tmp_path, monkeypatch):
    """A process's error file is written under a temporary name and renamed: cut short (a SIGTERM, a full disk)
    it leaves the previous file or none, never a partial one that torchrun cannot parse."""
    from tests.faults import FailingWrite  # here, not at the top: torchrun runs this file as a script
    from zsb.run.worker import AtomicErrorHandler

    error_file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    try:
        raise ValueError("a bad batch")
    except ValueError as e:
        AtomicErrorHandler().record_exception(e)
        recorded = json.loads(error_file.read_text())
        assert recorded["message"]["message"] == "ValueError: a bad batch"
        assert "a bad batch" in recorded["message"]["extraInfo"]["py_callstack"]
        real_fdopen = os.fdopen

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: FailingWrite(real_fdopen(*a, **k), KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            AtomicErrorHandler().record_exception(ValueError("another"))
    assert json.loads(error_file.read_text()) == recorded
    assert [p.name for p in tmp_path.iterdir()] == ["error.json"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_launchers_train_as_two_machines(prepared, uninterrupted, tmp_path, synthetic_env):
    """``torchrun --nnodes 2 --node-rank 0|1 --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m zsb.run.worker RUN_DIR``
    twice, one process each, as two machines sharing the run folder (its config.json gives the parameters): the
    run ends with the weights of the 2-process run on one machine (the same world size, the same reductions)."""
    run = copy_of(prepared, tmp_path, processes=2)
    endpoint = f"127.0.0.1:{free_port()}"
    # torchrun sets OMP_NUM_THREADS=1 for 2 processes on one machine (the reference run) but not for one process
    # per machine: the same thread count gives the same reduction order, hence the same weights bit for bit
    one_thread = {**synthetic_env, "OMP_NUM_THREADS": "1"}
    launchers = [
        subprocess.Popen([*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(node),
                          "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "zsb-test",
                          "-m", "zsb.run.worker", str(run.dir)],
                         env=one_thread, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node in (0, 1)
    ]
    outputs = [launcher.communicate(timeout=300)[0] for launcher in launchers]
    assert [launcher.returncode for launcher in launchers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert [record["epoch"] for record in read_log(run.folder.log_path)] == [1, 2]
    assert '{"epoch": 2' in "".join(outputs)  # rank 0 (whichever machine the rendezvous made it) logs each epoch
    assert_same_training(safe_torch_load(run.folder.checkpoint_path), uninterrupted)


if __name__ == "__main__":
    one_step_worker(sys.argv[1])
