"""What a stage builds from a run's configuration: the manifest, the backbone, datasets, loaders and the model.

A :class:`Run` is a run folder with its resolved parameters. It holds no stage logic (see :mod:`zsb.run.stages`);
it only builds, always the same way, the pieces that several stages need.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch
from torch.utils.data import DataLoader

from zsb.backbones import BACKBONES, Backbone, build_backbone

from zsb import artifacts
from zsb.artifacts import RunFolder, default_run_dir, open_config
from zsb.config import ABLATION_VARIANTS, FIELD_TYPES, RunConfig
from zsb.data.datasets import ImageDataset
from zsb.data.manifest import Manifest, build_manifest, read_manifest, write_manifest
from zsb.data.registry import get_benchmark
from zsb.data.transforms import build_transform
from zsb.device import resolve_device, resolve_workers
from zsb.io import atomic_write_text
from zsb.metrics import metric_header
from zsb.model import ZSBModel

RANDOM_INIT_SEED = 0
"""``weights="none"`` initialises the backbone from this fixed seed, so every stage builds the same network and the
training ``seed`` affects training only."""


@dataclass
class Run:
    """A run folder and its resolved parameters."""

    folder: RunFolder
    cfg: RunConfig

    def __post_init__(self) -> None:
        if not isinstance(self.folder, RunFolder):
            self.folder = RunFolder(self.folder)

    @classmethod
    def open(cls, run_dir: str | Path = "", **overrides: Any) -> "Run":
        """The run in ``run_dir`` (default: ``results/<benchmark>/runs/notebook``): its recorded configuration, or,
        when a parameter is overridden (not ``None``), the configuration resolved with it and recorded."""
        benchmark = overrides.get("benchmark") or RunConfig.benchmark
        run_dir = Path(run_dir) if run_dir else default_run_dir(benchmark)
        return cls(RunFolder(run_dir), open_config(run_dir, overrides))

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> "Run":
        """The run a notebook's parameters describe: ``run_dir`` plus every RunConfig field defined in
        ``namespace`` (a notebook passes ``globals()``); a parameter left at ``None`` is inherited."""
        overrides = {name: namespace[name] for name in FIELD_TYPES if name in namespace}
        return cls.open(namespace.get("run_dir", ""), **overrides)

    @property
    def dir(self) -> Path:
        return self.folder.dir

    def derived_config(self, **changes: Any) -> RunConfig:
        """The parameters of a run derived from this one (a further seed, an ablation variant) with ``changes``: it
        trains and evaluates one model, so it lists no seeds or ablation variants of its own (its ``config.json``
        stays the same however many this run tabulates) and fits no binary codes (the ablation compares real-valued
        retrieval; the codes are of the first seed's model only)."""
        return self.cfg.replace(seeds="", ablation_variants="", binary_bits=0, **changes)

    def variant(self, name: str) -> "Run":
        """Ablation variant ``name``: the full method with :data:`ABLATION_VARIANTS` changes and ``ablation_epochs``
        epochs, in ``ablation/<name>/``. A variant whose features would equal this run's is this run. The variant
        reads this run's manifest and class knowledge when it would make the same ones (every variant does today)."""
        changes = dict(ABLATION_VARIANTS[name])
        changes.setdefault("epochs", self.cfg.ablation_epochs or self.cfg.epochs)
        cfg = self.derived_config(**changes)
        if cfg.settings("features") == self.cfg.settings("features"):
            return self
        shared = cfg.settings("knowledge") == self.cfg.settings("knowledge")
        run = Run(self.folder.variant(name, shared=shared), cfg)
        run.folder.write_config(cfg)
        return run

    def for_seed(self, seed: int) -> "Run":
        """This run trained with another ``seed``: this run itself for its own seed, else ``seeds/<seed>/`` (which
        reads this run's manifest and class knowledge: the seed changes training only)."""
        if seed == self.cfg.seed:
            return self
        cfg = self.derived_config(seed=seed)
        run = Run(self.folder.seed(seed), cfg)
        run.folder.write_config(cfg)
        return run

    def seed_runs(self) -> list["Run"]:
        """One run per training seed of :attr:`RunConfig.seed_list` (the first is this run)."""
        return [self.for_seed(seed) for seed in self.cfg.seed_list]

    @property
    def protocol(self) -> list[str]:
        """The metric columns the run's split is reported with (:meth:`zsb.data.registry.Benchmark.protocol`)."""
        benchmark = get_benchmark(self.cfg.benchmark)
        return list(benchmark.protocol(self.cfg.split or benchmark.default_split))

    @cached_property
    def device(self) -> torch.device:
        return resolve_device(self.cfg.device)

    # --- data ---
    @cached_property
    def manifest(self) -> Manifest:
        """The run's manifest, built first (:meth:`build_manifest`) if it is missing or stale."""
        if artifacts.is_fresh(self.folder.manifest_path, self.cfg.settings("manifest")):
            return read_manifest(self.folder.manifest_path)
        return self.build_manifest()

    def build_manifest(self) -> Manifest:
        """Index the benchmark's images into manifest.csv by the zero-shot split, and tabulate the class counts."""
        c = self.cfg
        path = self.folder.manifest_path
        artifacts.invalidate(path)
        manifest = build_manifest(
            c.benchmark,
            c.data_root or None,
            c.split or None,
            max_seen_classes=c.max_seen_classes or None,
            max_unseen_classes=c.max_unseen_classes or None,
            max_per_class=c.max_per_class or None,
            evaluate_on=c.evaluate_on,
        )
        write_manifest(manifest, path)
        write_table(manifest.counts().reset_index(), self.folder.table("class_counts"))
        artifacts.record(path, c.settings("manifest"))
        self.__dict__["manifest"] = manifest
        return manifest

    # --- networks ---
    def backbone(self) -> Backbone:
        """The configured pretrained backbone (teacher, frozen baseline, student's initialisation)."""
        if self.cfg.weights == "none":
            torch.manual_seed(RANDOM_INIT_SEED)
            return build_backbone(self.cfg.backbone, weights=None)
        return build_backbone(self.cfg.backbone, weights=self.cfg.weights)

    def model(self, pretrained: bool = True) -> ZSBModel:
        """The student: the backbone (pretrained, or untrained to load a checkpoint into) with its new heads."""
        backbone = self.backbone() if pretrained else build_backbone(self.cfg.backbone, weights=None)
        return ZSBModel(backbone, num_seen_classes=len(self.manifest.seen_classes), embed_dim=self.cfg.embed_dim,
                        classifier=self.cfg.classifier, classifier_scale=self.cfg.classifier_scale)

    # --- images ---
    def dataset(self, frame: pd.DataFrame, train: bool) -> ImageDataset:
        """Images of ``frame``: with training augmentation (random resized crop down to ``crop_scale``, flip) or
        the deterministic evaluation resize."""
        preprocessing = BACKBONES[self.cfg.backbone].preprocessing
        augmentation = {"crop_scale": (self.cfg.crop_scale, 1.0)} if train else {}
        transform = build_transform(preprocessing, self.cfg.image_size, train=train, **augmentation)
        dataset = ImageDataset(frame, transform, cache_in_memory=self.cfg.cache_images, substitute_failed=train)
        if self.cfg.cache_images and self.workers:
            dataset.preload(self.cfg.progress)  # decoded once here; forked workers share the cache
        return dataset

    @property
    def workers(self) -> int:
        """DataLoader worker processes of this process (:func:`zsb.device.resolve_workers`)."""
        return resolve_workers(self.cfg.num_workers, self.cfg.processes)

    def loader_options(self, persistent: bool = False) -> dict[str, Any]:
        """DataLoader settings that keep an accelerator fed: ``num_workers`` worker processes
        (:attr:`workers`), each with 4 batches prefetched and, with ``persistent``, kept alive from one epoch to
        the next; on CUDA, batches in pinned memory (copied to the GPU without blocking)."""
        options: dict[str, Any] = {"num_workers": self.workers, "pin_memory": self.device.type == "cuda"}
        if self.workers:
            options.update(prefetch_factor=4, persistent_workers=persistent)
        return options

    def eval_loader(self, frame: pd.DataFrame) -> DataLoader:
        return DataLoader(self.dataset(frame, train=False), batch_size=self.cfg.eval_batch_size, shuffle=False,
                          **self.loader_options())


def write_table(frame: pd.DataFrame, stem: Path, floatfmt: str | tuple[str, ...] = ".4f") -> None:
    """A table as CSV and Markdown side by side (``stem.csv``, ``stem.md``), each written atomically;
    ``floatfmt`` formats the Markdown's numbers (one format, or one per column). The Markdown names each metric's
    AP variant in its header (``mAP@all (exact)``); the CSV keeps the metric names of ``metrics.json``."""
    stem = Path(stem)
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    shown = frame.rename(columns=lambda c: metric_header(c) if isinstance(c, str) else c)
    atomic_write_text(stem.with_suffix(".md"), shown.to_markdown(index=False, floatfmt=floatfmt) + "\n")
