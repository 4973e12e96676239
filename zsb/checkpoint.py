"""The training checkpoint: one file per run folder, rewritten atomically after every epoch, that records what it
was made from (the model's architecture and the training settings) and is refused when loaded for anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from zsb.config import canonical_json
from zsb.errors import WeightsError
from zsb.io import atomic_torch_save, safe_torch_load

if TYPE_CHECKING:
    from zsb.config import RunConfig
    from zsb.model import ZSBModel

def checkpoint_identity(model: ZSBModel, cfg: RunConfig) -> dict:
    """What a checkpoint records of its making: the model's architecture and the settings of the ``checkpoint``
    artifact (every parameter that training depends on, :func:`zsb.config.parameters_of`)."""
    return {"architecture": model.architecture(), "settings": canonical_json(cfg.settings("checkpoint"))}


def checkpoint_settings(path: Path) -> dict:
    """The training settings recorded in the checkpoint at ``path`` (a WeightsError when it is not one)."""
    return json.loads(json.loads(_read_checkpoint(path)["identity"])["settings"])


CHECKPOINT_REMEDY = "Delete it, or pass --force to zsb reproduce, to train this run folder again from epoch 1."
"""What to do about a checkpoint that cannot be read: it is never loaded any other way."""


def _read_checkpoint(path: Path) -> dict:
    state = safe_torch_load(path, "checkpoint", remedy=CHECKPOINT_REMEDY)
    try:
        identity = json.loads(state["identity"])
        if isinstance(identity, dict) and {"architecture", "settings"} <= set(identity) and {"model", "epoch"} <= set(state):
            return state
    except (TypeError, KeyError, ValueError):
        pass
    raise WeightsError(
        f"{path} is not a zsb training checkpoint (expected keys model, epoch, identity). Move it away, or pass "
        "--force to retrain in this run folder."
    )


def checkpoint_bytes(path: Path, model: ZSBModel) -> int:
    """About how many bytes the checkpoint at ``path`` takes when rewritten: the last one's size, else the model's
    weights and Adam's two moments of them."""
    if path.is_file():
        return path.stat().st_size
    return 3 * sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())


def save_checkpoint(path: Path, model: ZSBModel, cfg: RunConfig, optimizer, epoch: int) -> None:
    atomic_torch_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "identity": json.dumps(checkpoint_identity(model, cfg), sort_keys=True),
        },
        path,
    )


def other_parameters_error(path: Path) -> WeightsError:
    """The refusal of a checkpoint trained with other parameters than the run's: it is never overwritten."""
    return WeightsError(
        f"checkpoint {path} was trained with other parameters than this run's. It is left untouched; "
        "start this configuration in a new run folder (or pass --force to retrain here)."
    )


def load_checkpoint(path: Path, model: ZSBModel, cfg: RunConfig | None = None, optimizer=None) -> int:
    """Restore model (and optimizer) state; return the checkpoint's epoch.

    The checkpoint must come from the same architecture (and, when ``cfg`` is given, the same training
    parameters): anything else is a WeightsError that says what differs."""
    state = _read_checkpoint(path)
    saved = json.loads(state["identity"])
    if saved["architecture"] != model.architecture():
        raise WeightsError(
            f"checkpoint {path} was made for model {saved['architecture']}, but this run builds "
            f"{model.architecture()}. Use the run folder that matches these parameters, or a new one."
        )
    if cfg is not None and saved["settings"] != checkpoint_identity(model, cfg)["settings"]:
        raise other_parameters_error(path)
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])
