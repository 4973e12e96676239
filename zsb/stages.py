"""The pipeline's stages as plain functions: what each notebook calls.

Files in the run folder are the contract between stages (data flows one way):

    manifest.csv (01) -> knowledge.pt (02) -> checkpoints/last.pt + train_log.jsonl (03)
    -> features/*.pt + metrics.json + tables/ (04) -> figures (05) -> ablation/ + tables (06)

Each stage reads only what earlier stages wrote, and a stage whose inputs are missing builds them first with
the same parameters, so any notebook can run alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch
from torch.utils.data import DataLoader

from zsb import engine
from zsb.backbones import build_backbone, to_device
from zsb.config import ABLATION_VARIANTS, FIELD_TYPES, RunConfig, resolve
from zsb.data.datasets import ImageDataset
from zsb.data.manifest import Manifest, build_manifest, read_manifest, write_manifest
from zsb.data.registry import get_benchmark
from zsb.data.sampler import DomainBalancedBatchSampler
from zsb.data.transforms import build_transform
from zsb.domains import PHOTO, SKETCH
from zsb.errors import ZSBError
from zsb.io import atomic_write_json, atomic_write_text, environment_info, safe_torch_load, atomic_torch_save
from zsb.knowledge import compute_class_knowledge, load_or_compute_class_knowledge
from zsb.metrics import evaluate_retrieval
from zsb.model import ZSBModel

DATA_PARAMETERS = ("benchmark", "data_root", "split", "max_seen_classes", "max_unseen_classes", "max_per_class")
KNOWLEDGE_PARAMETERS = DATA_PARAMETERS + ("backbone", "weights", "image_size", "kd_temperature", "kd_top_k")
EVAL_PARAMETERS = engine.TRAINING_PARAMETERS + ("eval_hflip",)
FROZEN_FEATURE_PARAMETERS = DATA_PARAMETERS + ("backbone", "weights", "image_size", "eval_hflip")


def default_run_dir(benchmark: str, results_root: str | Path = "results") -> Path:
    """Where a notebook run alone (``run_dir=""``) keeps its files."""
    return Path(results_root) / benchmark / "runs" / "notebook"


@dataclass
class Run:
    """A run folder and its resolved parameters. ``Run.open`` writes ``config.json`` (parameters, git commit,
    package versions) so that every later stage, and every reader, sees the same values."""

    dir: Path
    cfg: RunConfig

    @classmethod
    def open(cls, run_dir: str | Path = "", **overrides: Any) -> "Run":
        """Resolve the parameters (defaults <- preset <- run_dir/config.json <- non-None overrides)."""
        benchmark = overrides.get("benchmark") or RunConfig.benchmark
        run_dir = Path(run_dir) if run_dir else default_run_dir(benchmark)
        cfg = resolve(overrides, run_dir)
        run = cls(run_dir, cfg)
        run.save_config()
        return run

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> "Run":
        """Open the run a notebook's parameters describe: ``run_dir`` plus every RunConfig field defined in
        ``namespace`` (a notebook passes ``globals()``); a parameter left at ``None`` is inherited."""
        overrides = {name: namespace[name] for name in FIELD_TYPES if name in namespace}
        return cls.open(namespace.get("run_dir", ""), **overrides)

    def save_config(self) -> None:
        atomic_write_json(self.dir / "config.json", {"parameters": self.cfg.to_dict(), **environment_info()})

    def variant(self, name: str) -> "Run":
        """The run of ablation variant ``name``: the full method with :data:`ABLATION_VARIANTS` changes, and
        ``ablation_epochs`` epochs of training. A variant identical to this run is this run."""
        changes = dict(ABLATION_VARIANTS[name])
        changes.setdefault("epochs", self.cfg.ablation_epochs or self.cfg.epochs)
        cfg = self.cfg.replace(**changes)
        if cfg.fingerprint(EVAL_PARAMETERS) == self.cfg.fingerprint(EVAL_PARAMETERS):
            return self
        run = Run(self.dir / "ablation" / name, cfg)
        run.save_config()
        return run

    # --- file layout of a run folder ---
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.csv"

    @property
    def knowledge_path(self) -> Path:
        return self.dir / "knowledge.pt"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoints" / engine.CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    def table(self, name: str) -> Path:
        return self.dir / "tables" / name

    def figure(self, name: str) -> Path:
        return self.dir / "figures" / name

    @cached_property
    def device(self) -> torch.device:
        return engine.resolve_device(self.cfg.device)

    # --- 01 data ---
    def prepare_data(self) -> Manifest:
        """Index the benchmark's images into manifest.csv (+ per-class counts), by the zero-shot split."""
        c = self.cfg
        manifest = build_manifest(
            c.benchmark,
            c.data_root or None,
            c.split or None,
            max_seen_classes=c.max_seen_classes or None,
            max_unseen_classes=c.max_unseen_classes or None,
            max_per_class=c.max_per_class or None,
        )
        write_manifest(manifest, self.manifest_path)
        write_table(manifest.counts().reset_index(), self.table("class_counts"))
        atomic_write_json(self.dir / "data_settings.json", self._settings(DATA_PARAMETERS))
        return manifest

    @cached_property
    def manifest(self) -> Manifest:
        """The run's manifest, built first if it is missing or was made with other data parameters."""
        settings_path = self.dir / "data_settings.json"
        if self.manifest_path.exists() and settings_path.exists():
            if json.loads(settings_path.read_text()) == self._settings(DATA_PARAMETERS):
                return read_manifest(self.manifest_path)
        return self.prepare_data()

    def _settings(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {k: v for k, v in self.cfg.to_dict().items() if k in names}

    # --- shared pieces ---
    @cached_property
    def backbone_preprocessing(self):
        """The backbone's input constants (mean, std, interpolation); a random-init build, only these are read."""
        return build_backbone(self.cfg.backbone, weights=None)

    def backbone(self):
        """The configured backbone; a random init (weights="none") is seeded, so every stage builds the same one."""
        weights = None if self.cfg.weights == "none" else self.cfg.weights
        torch.manual_seed(self.cfg.seed)
        return build_backbone(self.cfg.backbone, weights=weights)

    def dataset(self, frame: pd.DataFrame, train: bool) -> ImageDataset:
        transform = build_transform(
            self.backbone_preprocessing, self.cfg.image_size, train=train, crop_scale=(self.cfg.crop_scale, 1.0)
        )
        return ImageDataset(frame, transform, cache_in_memory=self.cfg.cache_images)

    def eval_loader(self, frame: pd.DataFrame) -> DataLoader:
        return DataLoader(
            self.dataset(frame, train=False),
            batch_size=self.cfg.eval_batch_size,
            shuffle=False,
            num_workers=self.cfg.num_workers,
        )

    # --- 02 knowledge ---
    def knowledge_settings(self) -> dict[str, Any]:
        return {**self._settings(KNOWLEDGE_PARAMETERS), "seen_classes": list(self.manifest.seen_classes),
                "transform": "eval resize"}

    def prepare_knowledge(self) -> torch.Tensor:
        """Class-oriented knowledge: for each seen class the mean of the frozen teacher's softmax(z/T) over the
        class's training photos, computed once and cached with its settings."""
        train = self.manifest.train()
        photos = train[train.domain == "photo"]

        def compute() -> torch.Tensor:
            teacher = to_device(self.backbone(), self.device)
            return compute_class_knowledge(
                teacher,
                self.eval_loader(photos),
                num_classes=len(self.manifest.seen_classes),
                temperature=self.cfg.kd_temperature,
                top_k=self.cfg.kd_top_k or None,
                progress=self.cfg.progress,
            )

        return load_or_compute_class_knowledge(self.knowledge_path, self.knowledge_settings(), compute)

    # --- 03 train ---
    def build_model(self, weights: str | None = "from-config") -> ZSBModel:
        backbone = self.backbone() if weights == "from-config" else build_backbone(self.cfg.backbone, weights=weights)
        return ZSBModel(backbone, num_seen_classes=len(self.manifest.seen_classes), embed_dim=self.cfg.embed_dim)

    def train(self, resume: bool = True) -> list[dict]:
        """Fine-tune the model with the three losses; checkpoint and log every epoch (see :func:`engine.train`)."""
        c = self.cfg
        engine.seed_everything(c.seed)
        model = self.build_model()
        train = self.manifest.train().reset_index(drop=True)
        dataset = self.dataset(train, train=True)
        sampler = DomainBalancedBatchSampler(
            train["label"].tolist(),
            [SKETCH if d == "sketch" else PHOTO for d in train["domain"]],
            classes_per_batch=min(c.classes_per_batch, len(self.manifest.seen_classes)),
            samples_per_domain=c.samples_per_domain,
            seed=c.seed,
            batches_per_epoch=c.batches_per_epoch or None,
        )

        def loader_for_epoch(epoch: int) -> DataLoader:
            sampler.set_epoch(epoch)
            return DataLoader(dataset, batch_sampler=sampler, num_workers=c.num_workers)

        class_knowledge = teacher = None
        if c.w_knowledge and c.teacher == "precomputed":
            class_knowledge = self.prepare_knowledge()
        elif c.w_knowledge:
            teacher = self.backbone()
        return engine.train(
            model, loader_for_epoch, c, self.dir, class_knowledge=class_knowledge, teacher=teacher, resume=resume
        )

    def trained_model(self) -> ZSBModel:
        model = self.build_model(weights=None)
        if not self.checkpoint_path.exists():
            raise ZSBError(
                f"no trained model in {self.dir}: {self.checkpoint_path} is missing. "
                "Run the training stage first (notebooks/03_train.ipynb, or zsb reproduce --stages 03_train)."
            )
        epoch = engine.load_checkpoint(self.checkpoint_path, model, self.cfg)
        if epoch < self.cfg.epochs:
            raise ZSBError(
                f"training in {self.dir} stopped after epoch {epoch} of {self.cfg.epochs}; rerun the training "
                "stage (it resumes from the last checkpoint) before evaluating."
            )
        return to_device(model, self.device).eval()

    # --- 04 evaluate ---
    def embeddings(self, which: str) -> dict[str, torch.Tensor]:
        """Embeddings of the unseen queries (sketches) and gallery (photos), cached in ``features/``.

        ``which="trained"`` uses the fine-tuned model's retrieval embedding (or, for a run with 0 epochs, the
        frozen pretrained features); ``which="frozen"`` always uses the frozen pretrained pooled features.
        With ``eval_hflip`` each image's embedding is averaged with its mirror image's (test-time flip)."""
        frozen = which == "frozen" or self.cfg.epochs == 0
        path = self.dir / "features" / f"{'frozen' if frozen else 'trained'}.pt"
        fingerprint = self.cfg.fingerprint(FROZEN_FEATURE_PARAMETERS if frozen else EVAL_PARAMETERS)
        if path.exists():
            cached = safe_torch_load(path, "feature cache")
            if cached.get("fingerprint") == fingerprint:
                return cached
        encode = to_device(self.backbone(), self.device).eval() if frozen else self.trained_model().embed
        out: dict[str, Any] = {"fingerprint": fingerprint}
        for part, frame in (("queries", self.manifest.queries()), ("gallery", self.manifest.gallery())):
            out[f"{part}"] = engine.extract_embeddings(
                encode, self.eval_loader(frame), self.device, self.cfg.progress, desc=f"{which} {part}",
                hflip=self.cfg.eval_hflip,
            )
            out[f"{part}_labels"] = torch.tensor(frame["label"].to_numpy(), dtype=torch.long)
        atomic_torch_save(out, path)
        return out

    def evaluate(self, which: str = "trained") -> dict[str, float]:
        """Retrieval metrics of the unseen-class sketches against the unseen-class photos; writes metrics.json
        and the per-query and per-class tables."""
        features = self.embeddings(which)
        result = evaluate_retrieval(
            features["queries"], features["queries_labels"], features["gallery"], features["gallery_labels"]
        )
        summary = result.summary()
        per_class = result.per_class()
        per_class.insert(0, "class_name", [self.manifest.unseen_classes[i] for i in per_class.index])
        tag = "" if which == "trained" else f"_{which}"
        write_table(per_class, self.table(f"per_class_ap{tag}"))
        result.per_query.to_csv(self.dir / f"per_query{tag}.csv", index=False)
        record = {
            "which": which,
            "benchmark": self.cfg.benchmark,
            "split": self.cfg.split or get_benchmark(self.cfg.benchmark).default_split,
            "num_queries": int(len(features["queries"])),
            "num_gallery": int(len(features["gallery"])),
            "chance_mAP": chance_level(features["queries_labels"], features["gallery_labels"]),
            "fingerprint": features["fingerprint"],
            "metrics": summary,
        }
        atomic_write_json(self.dir / f"metrics{tag}.json", record)
        return summary

    def retrieval_examples(self, num_queries: int = 4, top: int = 10, seed: int = 0) -> dict[str, list]:
        """Top-``top`` gallery photos of a few random unseen queries (one per class where possible), for the
        retrieval figure: query paths, ranked gallery paths and whether each is of the query's class."""
        features = self.embeddings("trained")
        queries, gallery = self.manifest.queries(), self.manifest.gallery()
        generator = torch.Generator().manual_seed(seed)
        classes = torch.randperm(len(self.manifest.unseen_classes), generator=generator)[:num_queries]
        picks = []
        for label in classes.tolist():
            rows = (features["queries_labels"] == label).nonzero().flatten()
            picks.append(int(rows[torch.randint(len(rows), (1,), generator=generator)]))
        similarity = features["queries"][picks] @ features["gallery"].T
        ranked = similarity.topk(min(top, similarity.shape[1]), dim=1).indices
        gallery_labels = features["gallery_labels"]
        return {
            "query_paths": [queries["path"].iloc[i] for i in picks],
            "query_titles": [self.manifest.unseen_classes[int(features["queries_labels"][i])] for i in picks],
            "ranked_paths": [[gallery["path"].iloc[j] for j in row.tolist()] for row in ranked],
            "ranked_correct": [(gallery_labels[row] == features["queries_labels"][i]).tolist()
                               for i, row in zip(picks, ranked)],
        }

    # --- 06 ablation ---
    def ablation(self) -> pd.DataFrame:
        """Train and evaluate every variant with the same budget and seed; one row per variant."""
        rows = []
        for name in self.cfg.variant_list:
            run = self.variant(name)
            if run.cfg.epochs:
                history = run.train()
                seconds = sum(r["seconds"] for r in history) / max(len(history), 1)
            else:
                seconds = 0.0
            metrics = run.evaluate()
            rows.append({"variant": name, **metrics, "epochs": run.cfg.epochs, "seconds_per_epoch": round(seconds, 1)})
        table = pd.DataFrame(rows)
        write_table(table, self.table("ablation"))
        return table


def chance_level(query_labels: torch.Tensor, gallery_labels: torch.Tensor) -> float:
    """Expected AP of a random ranking, averaged over queries: the fraction of the gallery that is relevant."""
    counts = torch.bincount(gallery_labels, minlength=int(query_labels.max()) + 1).double()
    return float((counts[query_labels] / len(gallery_labels)).mean())


def write_table(frame: pd.DataFrame, stem: Path, floatfmt: str | tuple[str, ...] = ".4f") -> None:
    """A table as CSV and Markdown side by side (``stem.csv``, ``stem.md``), each written atomically;
    ``floatfmt`` formats the Markdown's numbers (one format, or one per column)."""
    stem = Path(stem)
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    atomic_write_text(stem.with_suffix(".md"), frame.to_markdown(index=False, floatfmt=floatfmt) + "\n")
