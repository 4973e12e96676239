"""Every RunConfig field declares the artifacts it affects; everything that decides "is this stale?" is derived
from that declaration. These tests hold the declarations against the code that reads the parameters."""

from __future__ import annotations

import logging
from dataclasses import fields

import pytest
import torch

from zsb.config import (
    AFFECTS, ARTIFACTS, CHOICES, EXECUTION, EXECUTION_ONLY, FIELD_TYPES, NEUTRAL, RunConfig, downstream, parameters_of,
    resolve,
)
from zsb.driver.notebooks import notebook_path, own_parameter_lines, parameters_cell, stage_run_parameters
from zsb.driver.reproduce import default_run_id
from zsb.errors import WeightsError
from zsb.run import stages
from zsb.run.context import Run
from zsb.run.stages import STAGES

TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "epochs": 1,
        "binary_bits": 8, "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu",
        "eval_batch_size": 4}
OTHER_VALUE = {"benchmark": "sketchy_mini", "data_root": "/elsewhere", "split": "default", "backbone": "resnet50",
               "weights": "none", "kd_domains": "sketch", "ablation_variants": "full", "seeds": "0,4"}


def changed_value(name: str, cfg: RunConfig):
    """Another valid value of parameter ``name``."""
    value = getattr(cfg, name)
    if name in CHOICES:
        return next(choice for choice in CHOICES[name] if choice != value)
    if name in OTHER_VALUE and OTHER_VALUE[name] != value:
        return OTHER_VALUE[name]
    kind = FIELD_TYPES[name]
    if kind is bool:
        return not value
    if kind is int:
        return value + 3
    if kind is float:
        return value / 2 if value else 0.25
    raise AssertionError(f"no other value for {name}")


def test_every_field_declares_known_artifacts_and_a_description():
    for f in fields(RunConfig):
        assert f.metadata["affects"], f.name
        assert all(a == EXECUTION or a in ARTIFACTS for a in f.metadata["affects"]), f.name
        assert f.metadata["doc"].strip(), f.name


@pytest.mark.parametrize("name", list(FIELD_TYPES))
def test_changing_a_field_invalidates_exactly_the_artifacts_it_declares(name):
    """A data parameter invalidates everything downstream; an execution parameter invalidates nothing."""
    cfg = RunConfig()
    other = RunConfig(**{**cfg.to_dict(), name: changed_value(name, cfg)})  # no validation: only the hashes matter
    stale = {a for a in ARTIFACTS if cfg.fingerprint(a) != other.fingerprint(a)}
    declared = set().union(*(downstream(a) for a in AFFECTS[name] if a != EXECUTION))
    assert stale == declared
    assert (cfg.fingerprint() == other.fingerprint()) == (name in EXECUTION_ONLY)
    run_id_changes = default_run_id(cfg) != default_run_id(other)
    reusing = {"ablation_table", "seed_checkpoints"}  # more variants or seeds: the same folder, only new work
    assert run_id_changes == (name not in EXECUTION_ONLY and not set(AFFECTS[name]) <= reusing)


def test_data_parameters_reach_every_artifact_and_execution_ones_none():
    assert set(downstream("manifest")) == set(ARTIFACTS)
    for name in ("progress", "num_workers", "eval_batch_size", "device", "cache_images"):
        assert name in EXECUTION_ONLY and not any(name in parameters_of(a) for a in ARTIFACTS)


class RecordingConfig:
    """A RunConfig stand-in that records every field a stage reads directly."""

    def __init__(self, cfg: RunConfig):
        self._cfg, self.read = cfg, set()

    def __getattr__(self, name):
        if name in FIELD_TYPES:
            self.read.add(name)
        return getattr(self._cfg, name)


@pytest.fixture(scope="module")
def built(tmp_path_factory, synthetic_env):
    """A tiny synthetic run with every artifact built once, through the real stage functions."""
    import os

    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    cfg = resolve(TINY)
    run_dir = tmp_path_factory.mktemp("declared") / "run"
    run = Run(run_dir, cfg)
    stages.prepare_data(run)
    stages.prepare_knowledge(run)
    stages.train(run)
    stages.evaluate(run, "trained")
    stages.evaluate(run, "frozen")
    return run_dir, cfg


@pytest.mark.parametrize("stage, artifact", [
    (lambda run: stages.prepare_data(run), "manifest"),
    (lambda run: stages.prepare_knowledge(run), "knowledge"),
    (lambda run: stages.train(run), "checkpoint"),
    (lambda run: stages.embeddings(run, "frozen"), "frozen_features"),
    (lambda run: stages.embeddings(run, "trained"), "features"),
    (lambda run: stages.evaluate(run, "trained"), "binary"),
], ids=["manifest", "knowledge", "checkpoint", "frozen_features", "features", "metrics_and_binary_codes"])
def test_a_stage_reads_only_parameters_its_artifact_declares(built, tmp_path, stage, artifact):
    """Building an artifact from scratch reads no parameter that its declaration (and its inputs') leaves out:
    an undeclared dependency would let a stale artifact be reused."""
    import shutil

    run_dir, cfg = built
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    for path in {"manifest": [], "knowledge": ["knowledge.pt"], "checkpoint": ["checkpoints", "train_log.jsonl"],
                 "frozen_features": ["features/frozen.pt"], "features": ["features/trained.pt"],
                 "binary": ["features/trained.pt", "features/trained_seen.pt"]}[artifact]:
        target = copy / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    recording = RecordingConfig(cfg)
    stage(Run(copy, recording))
    assert recording.read, "the stage read no parameter at all"
    undeclared = recording.read - set(parameters_of(artifact)) - set(EXECUTION_ONLY)
    assert not undeclared, f"{artifact} is built from {sorted(undeclared)} but does not declare them"


def test_stale_artifacts_are_rebuilt_and_fresh_ones_reused(built, tmp_path, caplog):
    """Through the real store: a knowledge parameter rebuilds the knowledge and not the manifest; an evaluation
    parameter rebuilds the features and keeps the checkpoint; an execution parameter rebuilds nothing; a training
    parameter meets the kept checkpoint and is refused."""
    import shutil

    run_dir, cfg = built
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    manifest_before = (copy / "manifest.csv").stat().st_mtime_ns
    caplog.set_level(logging.INFO, logger="zsb")

    stages.prepare_knowledge(Run(copy, cfg.replace(eval_batch_size=2, progress=False)))
    stages.embeddings(Run(copy, cfg.replace(eval_batch_size=2)), "trained")
    assert "reusing class knowledge" in caplog.text and "reusing trained features" in caplog.text
    caplog.clear()

    stages.prepare_knowledge(Run(copy, cfg.replace(kd_temperature=4.0)))
    assert "computing class knowledge" in caplog.text
    assert (copy / "manifest.csv").stat().st_mtime_ns == manifest_before
    caplog.clear()

    flipped = Run(copy, cfg.replace(eval_hflip=not cfg.eval_hflip))
    stages.embeddings(flipped, "trained")
    assert "computing trained features" in caplog.text and "differing: eval_hflip" in caplog.text
    before = (copy / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(WeightsError, match="trained with other parameters"):
        stages.evaluate(Run(copy, cfg.replace(lr_head=0.5)), "trained")
    assert (copy / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("stage", list(STAGES))
def test_notebook_parameters_cells_are_generated_from_the_declarations(stage):
    """Each stage notebook declares exactly the parameters its artifacts depend on, with the declared comment:
    `python -m zsb.driver.notebooks` regenerates them."""
    import nbformat

    nb = nbformat.read(notebook_path(stage), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert cell.source == parameters_cell(stage, own_parameter_lines(cell.source))
    declared = {line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line.split("#")[0]}
    assert {n for n in declared if n in FIELD_TYPES} == set(stage_run_parameters(stage))


def test_the_checkpoint_is_identified_by_every_training_parameter(built):
    from zsb.checkpoint import checkpoint_settings

    run_dir, cfg = built
    saved = checkpoint_settings(run_dir / "checkpoints" / "last.pt")
    at_neutral = {name for name, value in NEUTRAL.items() if getattr(cfg, name) == value}  # left out by design
    assert set(saved) == set(parameters_of("checkpoint")) - at_neutral
    assert saved == {k: v for k, v in cfg.to_dict().items() if k in saved}
    assert torch.load(run_dir / "knowledge.pt", weights_only=True)["knowledge"].shape == (3, 1000)
