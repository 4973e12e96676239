"""The model of a search: a :class:`Searcher` embeds sketches and photos as a finished run's evaluation does
(:func:`load_searcher`: a run folder or a ``zsb export`` folder); :func:`default_model` is ``zsb search``'s."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from zsb.artifacts import CONFIG_NAME, RunFolder
from zsb.backbones import BACKBONES
from zsb.config import canonical_json
from zsb.data.datasets import read_image
from zsb.data.transforms import build_transform
from zsb.device import resolve_device, resolve_workers, to_device
from zsb.embeddings import extract_embeddings
from zsb.errors import ConfigError, DataError, ZSBError
from zsb.export import MANIFEST_NAME, is_export, load_model
from zsb.io import default_cache_dir
from zsb.model import ZSBModel
from zsb.run.context import Run
from zsb.run.stages import trained_model

PUBLISHED_MODEL = Path("results") / "sketchy_mini" / "model"
"""The model published with zsb (a ``zsb export`` folder), relative to the checkout: the default ``--model``."""


@dataclass
class Searcher:
    """A model that embeds sketches and photos, and what an index records of it.

    ``transform`` turns an RGB PIL image into the model's input; ``identity`` is what decides the embeddings (an
    index made with another identity is another model's); ``hflip`` averages each embedding with its mirror
    image's; ``run`` is the run folder the model comes from (the home of its indexes and of the benchmark gallery),
    or None; ``index_home`` is where its indexes live when it has no run folder (an exported model), and
    ``parameters`` its run's recorded parameters (which benchmark gallery is its own); ``description`` says what the
    model is."""

    model: ZSBModel
    transform: Callable[[Image.Image], torch.Tensor]
    identity: str
    device: torch.device
    hflip: bool = False
    batch_size: int = 64
    num_workers: int = 0
    progress: bool = True
    run: Run | None = None
    index_home: Path | None = None
    parameters: dict | None = None
    description: str = ""

    @cached_property
    def manifest(self):
        """The manifest of the model's own benchmark: the run's, or for an export one built from its recorded
        parameters (the data root it recorded where that exists here, else the benchmark's default: the fetched
        copy)."""
        if self.run is not None:
            return self.run.manifest
        from zsb.data.manifest import build_manifest

        p = self.parameters or {}
        root = p.get("data_root") or None
        if root is not None and not Path(root).is_dir():
            root = None
        return build_manifest(p.get("benchmark", "synthetic"), root, p.get("split") or None,
                              max_seen_classes=p.get("max_seen_classes") or None,
                              max_unseen_classes=p.get("max_unseen_classes") or None,
                              max_per_class=p.get("max_per_class") or None, evaluate_on=p.get("evaluate_on", "test"))

    def embed(self, paths: Sequence[str], desc: str = "embedding") -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) float32 unit embeddings of the images at ``paths``, and the (N,) mask of the images that could
        not be decoded (their rows mean nothing)."""
        images = _Images(list(paths), self.transform)
        if not len(images):
            return torch.zeros(0, self.model.embed_dim), torch.zeros(0, dtype=torch.bool)
        loader = DataLoader(images, batch_size=self.batch_size, num_workers=self.num_workers)
        embedded = extract_embeddings(self.model.embed, loader, self.device, self.progress, desc=desc,
                                             hflip=self.hflip)
        return embedded, images.failed.clone()


class _Images(Dataset):
    """Images by path as model inputs; one that cannot be decoded is a white image, marked in ``failed`` (shared
    with DataLoader worker processes)."""

    def __init__(self, paths: list[str], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths, self.transform = paths, transform
        self.failed = torch.zeros(len(paths), dtype=torch.bool).share_memory_()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        try:
            image = read_image(self.paths[index])
        except DataError:
            self.failed[index] = True
            image = Image.new("RGB", (8, 8), "white")
        return self.transform(image), index


def weights_identity(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights: every state-dict entry's name, dtype, shape and values, in name order. The same
    for a run's checkpoint and its export (whatever the file holds beside the weights)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{values.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def default_model() -> Path:
    """The model ``zsb search`` uses when none is named, looked up from the working directory (the zsb checkout):
    the published model (:data:`PUBLISHED_MODEL`), else the finished run of ``zsb reproduce --benchmark
    sketchy_mini`` with its defaults; a ConfigError saying what to do when neither is there."""
    from zsb.config import resolve
    from zsb.driver.reproduce import default_run_id

    if is_export(PUBLISHED_MODEL):
        return PUBLISHED_MODEL
    run = PUBLISHED_MODEL.parent / "runs" / default_run_id(resolve({"benchmark": "sketchy_mini"}))
    if RunFolder(run).checkpoint_path.is_file():
        return run
    raise ConfigError(f"no --model given, and there is neither a published model ({PUBLISHED_MODEL}) nor a trained "
                      f"run of `zsb reproduce --benchmark sketchy_mini` ({run}) here: run zsb search from the zsb "
                      "folder, train that run first, or pass --model RUN_DIR (or a zsb export folder).")


def load_searcher(run_dir: str | os.PathLike, progress: bool | None = None) -> Searcher:
    """The fine-tuned model of the finished run in ``run_dir`` (its config.json and checkpoints/last.pt), or of the
    export folder ``run_dir`` (``zsb export``), embedding as the run's evaluation does. ``progress``: tqdm bars
    (None: the run's setting)."""
    if (Path(run_dir) / MANIFEST_NAME).is_file():  # an export (a damaged export.json: a clear ExportError)
        return _exported_searcher(Path(run_dir), progress)
    folder = RunFolder(Path(run_dir))
    if not folder.config_path.is_file():
        raise ZSBError(f"{folder.dir} is not a run folder: it has no {CONFIG_NAME}. Pass the folder of a finished "
                       "run, e.g. results/<benchmark>/runs/<run_id>.")
    if not folder.checkpoint_path.is_file():
        raise ZSBError(f"no trained model in {folder.dir}: {folder.checkpoint_path} is missing. Run the training "
                       "stage first (notebooks/03_train.ipynb, or zsb reproduce --stages 03_train).")
    run = Run(folder, folder.read_config())
    cfg = run.cfg
    model = trained_model(run)
    identity = canonical_json({"weights_sha256": weights_identity(model), "eval_hflip": cfg.eval_hflip})
    transform = build_transform(BACKBONES[cfg.backbone].preprocessing, cfg.image_size, train=False)
    return Searcher(model, transform, identity, run.device, hflip=cfg.eval_hflip, batch_size=cfg.eval_batch_size,
                    num_workers=resolve_workers(cfg.num_workers),
                    progress=cfg.progress if progress is None else progress, run=run, parameters=cfg.to_dict(),
                    description=_describe_model(folder.dir, cfg.backbone, cfg.image_size, model.embed_dim))


def _describe_model(folder: Path, backbone: str, image_size: int, embed_dim: int) -> str:
    return f"{folder} ({backbone} at {image_size} px, {embed_dim}-d embedding)"


def _exported_searcher(folder: Path, progress: bool | None) -> Searcher:
    """A searcher of the exported model in ``folder``: its device, batch size and workers from its config.json."""
    exported = load_model(folder)
    parameters = exported.config
    device = resolve_device("cpu" if parameters.get("device") == "cpu" else "auto")  # the run's GPU may be absent
    to_device(exported.model, device)
    pre = exported.preprocessing
    weights = weights_identity(exported.model)
    identity = canonical_json({"weights_sha256": weights, "eval_hflip": pre.hflip})
    return Searcher(exported.model, pre.transform(), identity, device, hflip=pre.hflip,
                    batch_size=int(parameters.get("eval_batch_size", 64)), num_workers=0,
                    progress=bool(parameters.get("progress", True)) if progress is None else progress,
                    index_home=default_cache_dir() / "search" / weights[:16], parameters=parameters,
                    description=_describe_model(folder, exported.model.architecture()["backbone"], pre.image_size,
                                                exported.model.embed_dim))
