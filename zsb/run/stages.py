"""The pipeline's stages as plain functions of a :class:`~zsb.run.context.Run`: what each notebook calls.

Files in the run folder are the contract between stages (data flows one way):

    manifest.csv (01) -> knowledge.pt (02) -> checkpoints/last.pt + train_log.jsonl (03)
    -> features/*.pt + metrics.json + tables/ (04) -> figures (05) -> ablation/ + tables (06)

Each stage reads only what earlier stages wrote, and an input that is missing or stale (made with other
settings, :mod:`zsb.artifacts`) is built first with the run's parameters, so any notebook can run alone.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from zsb import artifacts, binary, engine, stats
from zsb.artifacts import RunFolder, load_or_compute_class_knowledge, suffix
from zsb.checkpoint import load_checkpoint
from zsb.config import ARTIFACTS
from zsb.data.imagenet import imagenet_overlap
from zsb.data.manifest import Manifest
from zsb.data.registry import get_benchmark
from zsb.data.sampler import DomainBalancedBatchSampler, SeededBatches, collate_loaded
from zsb.device import to_device
from zsb.distributed import Ranks
from zsb.domains import PHOTO, SKETCH
from zsb.embeddings import extract_embeddings
from zsb.errors import ZSBError
from zsb.io import atomic_write_json, atomic_write_text
from zsb.knowledge import compute_class_knowledge
from zsb.log import get_logger
from zsb.metrics import AP_VARIANTS, SKLEARN_TIES, evaluate_retrieval
from zsb.model import ZSBModel
from zsb.run.context import Run, write_table
from zsb.run.launch import launch
from zsb.trainlog import read_log

logger = get_logger(__name__)

STAGES: dict[str, tuple[str, ...]] = {
    stage: tuple(name for name, artifact in ARTIFACTS.items() if stage in artifact.stages)
    for stage in sorted({stage for artifact in ARTIFACTS.values() for stage in artifact.stages})
}
"""Each stage notebook and the artifacts it makes or draws (derived from :data:`zsb.config.ARTIFACTS`): its outputs
depend on exactly the parameters of those artifacts."""


# --- 01 data ---
def prepare_data(run: Run) -> Manifest:
    """Index the benchmark's images into manifest.csv (+ per-class counts), by the zero-shot split."""
    return run.build_manifest()


# --- 02 knowledge ---
def prepare_knowledge(run: Run) -> torch.Tensor:
    """Class-oriented knowledge: for each seen class the mean of the frozen teacher's softmax(z/T) over the
    class's training photos, computed once and kept while its settings are unchanged."""
    train = run.manifest.train()
    photos = train[train.domain == "photo"]

    def compute() -> torch.Tensor:
        teacher = to_device(run.backbone(), run.device)
        return compute_class_knowledge(
            teacher,
            run.eval_loader(photos),
            num_classes=len(run.manifest.seen_classes),
            temperature=run.cfg.kd_temperature,
            top_k=run.cfg.kd_top_k or None,
            progress=run.cfg.progress,
        )

    settings = {**run.cfg.settings("knowledge"), "seen_classes": list(run.manifest.seen_classes)}
    return load_or_compute_class_knowledge(run.folder.knowledge_path, settings, compute)


# --- 03 train ---
def train_seeds(run: Run, resume: bool = True) -> pd.DataFrame:
    """Train the run once per seed of ``seeds`` (the first in the run folder, the others in ``seeds/<seed>/``);
    a seed whose training finished earlier is not trained again, nor one after the first whose evaluation is
    recorded (:func:`train_unless_evaluated`). One row per seed and epoch."""
    rows = [{"seed": seeded.cfg.seed, **record} for seeded in run.seed_runs()
            for record in (train(seeded, resume) if seeded is run else train_unless_evaluated(seeded, resume))]
    return pd.DataFrame(rows)


def train(run: Run, resume: bool = True) -> list[dict]:
    """Fine-tune the model with the three losses for the run's ``seed``; checkpoint and log every epoch (see
    :func:`engine.train`). With ``processes`` above 1, the manifest and class knowledge are made here and training
    runs in that many processes under torchrun (:mod:`zsb.run.launch`), each of which runs this function
    (:mod:`zsb.run.worker`). The run's ``config.json`` then names this code and machine
    (:meth:`RunFolder.write_config`): they trained the model, also
    where an earlier one was recorded (``--force``, or a run whose parameters changed)."""
    c = run.cfg
    ranks = Ranks.current()
    if c.processes > 1 and ranks is None:
        if c.w_knowledge and c.teacher == "precomputed":
            prepare_knowledge(run)
        logger.info(f"training {len(run.manifest.train())} images of {run.dir} in {c.processes} processes")
        history = launch(run, resume)
    else:
        engine.seed_everything(c.seed)
        model = run.model()
        loader_for_epoch = training_loader(run, ranks)
        class_knowledge = teacher = None
        if c.w_knowledge and c.teacher == "precomputed":
            class_knowledge = prepare_knowledge(run)
        elif c.w_knowledge:
            teacher = run.backbone()
        history = engine.train(model, loader_for_epoch, c, run.dir, class_knowledge=class_knowledge, teacher=teacher,
                               resume=resume, ranks=ranks)
    if ranks is None:  # the launching process (or the only one) records; the ranks under torchrun do not
        run.folder.write_config(c, keep_environment=False)
    return history


def train_unless_evaluated(run: Run, resume: bool = True) -> list[dict]:
    """:func:`train`, unless the run's evaluation is recorded for its current features (:func:`recorded_metrics`) and
    its log holds every epoch: then the logged history. For the runs that are only summarised (further seeds,
    ablation variants): a run folder restored from its small files (``config.json``, ``train_log.jsonl``,
    ``metrics.json``, ``per_query.csv``; no checkpoint) on another machine is tabulated, not trained again."""
    if resume and recorded_metrics(run) is not None:
        history = read_log(run.folder.log_path)
        if [r["epoch"] for r in history] == list(range(1, run.cfg.epochs + 1)):
            return history
    return train(run, resume)


def training_loader(run: Run, ranks: Ranks | None = None) -> Callable[[int], DataLoader]:
    """``epoch -> DataLoader`` of the run's domain-balanced training batches (P classes x (K sketches + K photos)),
    augmented with per-item seeds (:class:`SeededBatches`): one DataLoader whose workers persist from epoch to
    epoch (:meth:`Run.loader_options`). With ``ranks``, each process decodes only its share of every batch."""
    c = run.cfg
    frame = run.manifest.train().reset_index(drop=True)
    dataset = run.dataset(frame, train=True)
    sampler = DomainBalancedBatchSampler(
        frame["label"].tolist(),
        [SKETCH if d == "sketch" else PHOTO for d in frame["domain"]],
        classes_per_batch=min(c.classes_per_batch, len(run.manifest.seen_classes)),
        samples_per_domain=c.samples_per_domain,
        seed=c.seed,
        batches_per_epoch=c.batches_per_epoch or None,
    )
    batches = SeededBatches(sampler, *((ranks.rank, ranks.world_size) if ranks else ()))
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_loaded, **run.loader_options(persistent=True))

    def loader_for_epoch(epoch: int) -> DataLoader:
        batches.set_epoch(epoch)
        return loader

    return loader_for_epoch


def trained_model(run: Run) -> ZSBModel:
    """The fine-tuned model of a finished training stage, on the run's device, in eval mode."""
    model = run.model(pretrained=False)
    path = run.folder.checkpoint_path
    if not path.exists():
        raise ZSBError(
            f"no trained model in {run.dir}: {path} is missing. "
            "Run the training stage first (notebooks/03_train.ipynb, or zsb reproduce --stages 03_train)."
        )
    epoch = load_checkpoint(path, model, run.cfg)
    if epoch < run.cfg.epochs:
        raise ZSBError(
            f"training in {run.dir} stopped after epoch {epoch} of {run.cfg.epochs}; rerun the training "
            "stage (it resumes from the last checkpoint) before evaluating."
        )
    return to_device(model, run.device).eval()


# --- 04 evaluate ---
def embeddings(run: Run, which: str) -> dict[str, torch.Tensor]:
    """Embeddings of the evaluation queries (sketches) and gallery (photos), kept in ``features/``.

    ``which="trained"`` uses the fine-tuned model's retrieval embedding (or, for a run with 0 epochs, the frozen
    pretrained features); ``which="frozen"`` always uses the frozen pretrained pooled features. With
    ``eval_hflip`` each image's embedding is averaged with its mirror image's (test-time flip); with
    ``eval_both_flips`` the other setting's embeddings are kept too (``queries_other_flip``, ...). An image that
    fails to decode is dropped, never replaced: ``<part>_index`` holds the manifest rows kept and
    ``<part>_failed`` how many were dropped."""
    frozen = which == "frozen" or run.cfg.epochs == 0
    kind = "frozen" if frozen else "trained"
    settings = run.cfg.settings("frozen_features" if frozen else "features")

    def compute() -> dict[str, torch.Tensor]:
        encode = to_device(run.backbone(), run.device).eval() if frozen else trained_model(run).embed
        out: dict[str, torch.Tensor] = {}
        for part, frame in (("queries", run.manifest.queries()), ("gallery", run.manifest.gallery())):
            loader = run.eval_loader(frame)
            both = run.cfg.eval_both_flips  # the mirrored pass runs only when a flipped result is wanted
            embedded = extract_embeddings(encode, loader, run.device, run.cfg.progress, desc=f"{which} {part}",
                                                 hflip=run.cfg.eval_hflip, both=both)
            kept = ~loader.dataset.failed_mask()
            out[part] = (embedded[run.cfg.eval_hflip] if both else embedded)[kept]
            if both:
                out[f"{part}_other_flip"] = embedded[not run.cfg.eval_hflip][kept]
            out[f"{part}_labels"] = torch.tensor(frame["label"].to_numpy(), dtype=torch.long)[kept]
            out[f"{part}_index"] = kept.nonzero().flatten()
            out[f"{part}_failed"] = torch.tensor(int((~kept).sum()))
        return out

    return artifacts.cached_tensor(run.folder.features_path(kind), "features", settings, compute,
                                   f"{kind} features", logger)


def evaluate(run: Run, which: str = "trained") -> dict[str, float]:
    """Retrieval metrics of the evaluation sketches against the evaluation photos; writes metrics.json (every
    metric and AP variant, the protocol's columns named, the gallery used (:func:`gallery_record`), failed images,
    the ImageNet-1k overlap) and the per-query and per-class tables."""
    features = embeddings(run, which)

    def retrieval(queries: torch.Tensor, gallery: torch.Tensor):
        return evaluate_retrieval(queries, features["queries_labels"], gallery, features["gallery_labels"],
                                  ap_variants=AP_VARIANTS)

    result = retrieval(features["queries"], features["gallery"])
    summary = result.summary()
    per_class = result.per_class()
    per_class.insert(0, "class_name", [run.manifest.unseen_classes[i] for i in per_class.index])
    write_table(per_class, run.folder.table(f"per_class_ap{suffix(which)}"))
    per_query = result.per_query
    per_query.insert(0, "query", features["queries_index"].numpy())
    atomic_write_text(run.folder.per_query_path(which), per_query.to_csv(index=False))
    frozen = which == "frozen" or run.cfg.epochs == 0
    benchmark = get_benchmark(run.cfg.benchmark)
    split = run.cfg.split or benchmark.default_split
    record = {
        "which": which,
        "benchmark": run.cfg.benchmark,
        "split": split,
        "evaluated_on": run.cfg.evaluate_on,
        "protocol": run.protocol,
        "gallery": gallery_record(run.manifest),
        "num_queries": int(len(features["queries"])),
        "num_gallery": int(len(features["gallery"])),
        "failed_images": {"queries": int(features["queries_failed"]), "gallery": int(features["gallery_failed"])},
        "chance_mAP": chance_level(features["queries_labels"], features["gallery_labels"]),
        "imagenet_overlap": imagenet_overlap(run.manifest.gallery()),
        "eval_hflip": run.cfg.eval_hflip,
        "fingerprint": run.cfg.fingerprint("frozen_features" if frozen else "features"),
        "metrics": summary,
        "intervals": query_and_class_intervals(per_query, run.protocol),
    }
    if which == "trained" and not frozen and run.cfg.binary_bits:
        record["binary"] = binary_codes(run, features)
    if "queries_other_flip" in features:
        other = retrieval(features["queries_other_flip"], features["gallery_other_flip"]).summary()
        record["other_flip"] = {"eval_hflip": not run.cfg.eval_hflip, "metrics": other}
    atomic_write_json(run.folder.metrics_path(which), record)
    return summary


def gallery_record(manifest: Manifest) -> dict[str, Any]:
    """Which gallery a run evaluated on (``metrics.json``'s ``gallery``): its name (the layout's,
    :meth:`zsb.data.layouts.Layout.gallery_name`), the split's standard gallery where it has one, and, when the two
    differ, a note saying so (published results are then matched to the gallery used, never to the standard)."""
    benchmark = get_benchmark(manifest.benchmark)
    record = {"name": benchmark.layout(manifest.layout).gallery_name(),
              "split_standard": benchmark.standard_gallery(manifest.split)}
    note = benchmark.gallery_note(manifest.split, manifest.layout)
    return {**record, "note": note} if note else record


def evaluated(run: Run) -> dict[str, float]:
    """The trained model's metrics: read from ``metrics.json`` when it was written for the run's current features
    (and binary codes), else :func:`evaluate` first. The notebooks evaluate a run and then summarise its seeds and
    its ablation, which must not rank, bootstrap and fit ITQ a second time."""
    metrics = recorded_metrics(run)
    return evaluate(run, "trained") if metrics is None else metrics


def recorded_metrics(run: Run) -> dict[str, float] | None:
    """The trained model's metrics in ``metrics.json`` if they were written for the run's current features
    (:meth:`RunFolder.metrics_record`) and binary codes, else None."""
    record = run.folder.metrics_record(run.cfg)
    if record is None:
        return None
    frozen = run.cfg.epochs == 0
    if frozen or not run.cfg.binary_bits or record.get("binary", {}).get("bits") == run.cfg.binary_bits:
        return record["metrics"]
    return None


def seen_embeddings(run: Run) -> dict[str, torch.Tensor]:
    """The trained model's embeddings of the seen classes' training images (``features/trained_seen.pt``): what
    ITQ is fitted on, never an evaluation image. ``index`` holds the rows of ``manifest.train()`` kept."""
    def compute() -> dict[str, torch.Tensor]:
        frame = run.manifest.train()
        loader = run.eval_loader(frame)
        embedded = extract_embeddings(trained_model(run).embed, loader, run.device, run.cfg.progress,
                                             desc="trained seen", hflip=run.cfg.eval_hflip)
        kept = ~loader.dataset.failed_mask()
        return {"embeddings": embedded[kept], "index": torch.as_tensor(frame.index.to_numpy())[kept]}

    return artifacts.cached_tensor(run.folder.features_path("trained_seen"), "features", run.cfg.settings("features"),
                                   compute, "seen-class training features", logger)


def binary_codes(run: Run, features: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Retrieval with ``binary_bits``-bit ITQ codes (:mod:`zsb.binary`) fitted on the seen classes' training
    embeddings, ranked by Hamming distance: every metric of the real-valued result (each the expectation over the
    orders of tied distances), and "mAP@all (sklearn ties)", SEM-PCYC's binary mAP@all (a tied block as one
    threshold)."""
    bits = run.cfg.binary_bits
    if bits > run.cfg.embed_dim:
        reason = (f"ITQ with {bits} bits needs an embedding of at least {bits} dimensions, this run has "
                  f"{run.cfg.embed_dim}")
        logger.warning(f"no binary codes: {reason}; set binary_bits=0 to silence this")
        return {"bits": bits, "skipped": reason}
    seen = seen_embeddings(run)
    if len(seen["embeddings"]) <= bits:
        reason = (f"ITQ with {bits} bits needs more than {bits} seen-class training images, this run has "
                  f"{len(seen['embeddings'])}")
        logger.warning(f"no binary codes: {reason} (a smoke run?); set binary_bits=0 to silence this")
        return {"bits": bits, "skipped": reason}
    itq = binary.fit_itq(seen["embeddings"].numpy(), bits=bits)
    result = evaluate_retrieval(binary.as_signed(itq.encode(features["queries"].numpy())), features["queries_labels"],
                                binary.as_signed(itq.encode(features["gallery"].numpy())), features["gallery_labels"],
                                ap_variants=(*AP_VARIANTS, SKLEARN_TIES))
    return {
        "method": f"ITQ, {bits} bits, Hamming ranking",
        "bits": bits,
        "fitted_on": {"seen_training_images": int(len(seen["embeddings"]))},
        "bytes_per_item": bits // 8,
        "real_valued_bytes_per_item": int(features["gallery"].shape[1]) * 4,
        "metrics": result.summary(),
        "intervals": query_and_class_intervals(result.per_query, run.protocol),
    }


def retrieval_examples(run: Run, num_queries: int = 4, top: int = 10, seed: int = 0) -> dict[str, list]:
    """Top-``top`` gallery photos of a few random unseen queries (one per class where possible), for the
    retrieval figure: query paths, ranked gallery paths and whether each is of the query's class."""
    features = embeddings(run, "trained")
    queries = run.manifest.queries().iloc[features["queries_index"].numpy()].reset_index(drop=True)
    gallery = run.manifest.gallery().iloc[features["gallery_index"].numpy()].reset_index(drop=True)
    generator = torch.Generator().manual_seed(seed)
    classes = torch.randperm(len(run.manifest.unseen_classes), generator=generator)[:num_queries]
    picks = []
    for label in classes.tolist():
        rows = (features["queries_labels"] == label).nonzero().flatten()
        picks.append(int(rows[torch.randint(len(rows), (1,), generator=generator)]))
    similarity = features["queries"][picks] @ features["gallery"].T
    ranked = similarity.topk(min(top, similarity.shape[1]), dim=1).indices
    gallery_labels = features["gallery_labels"]
    return {
        "query_paths": [queries["path"].iloc[i] for i in picks],
        "query_titles": [run.manifest.unseen_classes[int(features["queries_labels"][i])] for i in picks],
        "ranked_paths": [[gallery["path"].iloc[j] for j in row.tolist()] for row in ranked],
        "ranked_correct": [(gallery_labels[row] == features["queries_labels"][i]).tolist()
                           for i, row in zip(picks, ranked)],
    }


def query_and_class_intervals(per_query: pd.DataFrame, metrics: list[str]) -> dict[str, dict]:
    """95% bootstrap intervals of each metric's mean: over queries and over classes (:mod:`zsb.stats`)."""
    return {
        metric: {
            "query": stats.bootstrap_ci(per_query[metric].to_numpy()).to_dict(),
            "class": stats.bootstrap_ci(per_query[metric].to_numpy(), clusters=per_query["label"].to_numpy()).to_dict(),
        }
        for metric in metrics
    }


def per_query_values(folders: list[RunFolder], metric: str) -> np.ndarray:
    """(runs, queries) values of ``metric`` from each folder's ``per_query.csv``, in the order given. Every run must
    have evaluated the same queries (the same manifest rows), else a paired or pooled statistic is meaningless: a
    ZSBError says which files differ."""
    paths = [folder.per_query_path("trained") for folder in folders]
    frames = []
    for path in paths:
        if not path.is_file():
            raise ZSBError(f"{path} does not exist: run the evaluation stage (04_evaluate) of {path.parent} first.")
        frames.append(pd.read_csv(path))
        if "query" not in frames[-1]:
            raise ZSBError(f"{path} was written by an older zsb without the query column; rerun its 04_evaluate stage "
                           "(zsb reproduce ... --stages 04_evaluate --force) to compare it query by query.")
    for path, frame in zip(paths, frames):
        if not frame["query"].equals(frames[0]["query"]):
            raise ZSBError(
                f"{path} holds other queries than {paths[0]}: runs compared query by query must evaluate the same "
                "manifest. Rerun their evaluation stage (04_evaluate)."
            )
    return np.stack([frame[metric].to_numpy() for frame in frames])


def paired_gain(first: list[RunFolder], second: list[RunFolder], metric: str) -> stats.Interval:
    """The paired gain ``first - second`` of ``metric`` (runs matched by position: the same seeds) on the same
    queries, with its bootstrap interval (:func:`zsb.stats.paired_difference`)."""
    values = per_query_values([*first, *second], metric)  # one read checks that every run has the same queries
    return stats.paired_difference(values[: len(first)], values[len(first):])


def evaluate_seeds(run: Run) -> pd.DataFrame:
    """Evaluate the trained model of every seed and summarise: per seed, mean and sample sd over seeds, and the
    pooled 95% bootstrap intervals (over queries, and over classes) of each protocol metric. Writes
    ``metrics_seeds.json`` and ``tables/seeds``; returns the table (one row per seed, then the summary rows)."""
    runs = {seeded.cfg.seed: seeded for seeded in run.seed_runs()}
    summaries = {seed: evaluated(seeded) for seed, seeded in runs.items()}
    labels = pd.read_csv(run.folder.per_query_path("trained"))["label"].to_numpy()
    record: dict[str, Any] = {"seeds": list(runs), "protocol": run.protocol, "metrics": {}}
    for metric in run.protocol:
        values = per_query_values([r.folder for r in runs.values()], metric)
        record["metrics"][metric] = {
            **stats.summarise_seeds({seed: summaries[seed][metric] for seed in runs}),
            "interval": {"query": stats.bootstrap_ci(values).to_dict(),
                         "class": stats.bootstrap_ci(values, clusters=labels).to_dict()},
        }
    atomic_write_json(run.folder.seeds_metrics_path, record)
    table = seeds_table(record)
    write_table(table, run.folder.table("seeds"))
    return table


def seeds_table(record: dict[str, Any]) -> pd.DataFrame:
    """The seeds table of a ``metrics_seeds.json`` record: one row per seed, then mean, sd and the pooled
    intervals' bounds (over queries and over classes)."""
    metrics = record["metrics"]
    rows = [{"seed": str(seed), **{m: metrics[m]["values"][i] for m in metrics}}
            for i, seed in enumerate(record["seeds"])]
    rows.append({"seed": "mean", **{m: metrics[m]["mean"] for m in metrics}})
    rows.append({"seed": "sd", **{m: metrics[m]["sd"] for m in metrics}})
    for kind in ("query", "class"):
        for bound in ("low", "high"):
            rows.append({"seed": f"95% interval ({kind} bootstrap), {bound}",
                         **{m: metrics[m]["interval"][kind][bound] for m in metrics}})
    return pd.DataFrame(rows)


# --- 06 ablation ---
def ablation(run: Run) -> pd.DataFrame:
    """Train and evaluate every variant on its seeds (``ablation_variants``: all seeds, or the first N with
    ``variant:N``), with the same budget. One row per variant: the mean of every metric over its seeds; for the
    protocol metrics the sample sd over seeds, the pooled 95% bootstrap interval over queries (``low``, ``high``),
    and for each variant but ``full`` the paired gain of the full method over it
    (``<metric> gain``: full minus variant on the same seeds and queries) with its 95% bootstrap interval over
    queries (``gain low``, ``gain high``). A component earns its place when that interval lies above 0 and the gain
    exceeds the spread over seeds (:func:`zsb.stats.reading`, which the report and the figure of gains apply)."""
    variant_runs: dict[str, dict[int, Run]] = {}
    rows: list[dict[str, Any]] = []
    for name, seeds in run.cfg.variant_seeds.items():
        variant_runs[name] = {seed: run.for_seed(seed).variant(name) for seed in seeds}
        summaries, seconds = [], []
        for variant in variant_runs[name].values():
            if variant.cfg.epochs:
                history = train_unless_evaluated(variant)
                seconds.append(sum(r["seconds"] for r in history) / max(len(history), 1))
            summaries.append(evaluated(variant))
        row: dict[str, Any] = {"variant": name, "seeds": len(seeds)}
        for metric in summaries[0]:
            mean, sd = stats.mean_sd([summary[metric] for summary in summaries])
            row[metric] = mean
            if metric in run.protocol:
                runs_of_variant = [r.folder for r in variant_runs[name].values()]
                interval = stats.bootstrap_ci(per_query_values(runs_of_variant, metric))
                row.update({f"{metric} sd": sd, f"{metric} low": interval.low, f"{metric} high": interval.high})
        row["epochs"] = next(iter(variant_runs[name].values())).cfg.epochs
        row["seconds_per_epoch"] = round(float(np.mean(seconds)), 1) if seconds else 0.0
        rows.append(row)
    table = pd.DataFrame(rows)
    if "full" in variant_runs:
        for metric in run.protocol:
            for i, name in enumerate(table["variant"]):
                common = [seed for seed in variant_runs[name] if seed in variant_runs["full"]]
                if name == "full" or not common:
                    continue
                gain = paired_gain([variant_runs["full"][s].folder for s in common],
                                   [variant_runs[name][s].folder for s in common], metric)
                table.loc[i, [f"{metric} gain", f"{metric} gain low", f"{metric} gain high"]] = (
                    gain.estimate, gain.low, gain.high)
    if rows:
        write_table(table, run.folder.table("ablation"))
    return table


def chance_level(query_labels: torch.Tensor, gallery_labels: torch.Tensor) -> float:
    """Expected AP of a random ranking, averaged over queries: the fraction of the gallery that is relevant."""
    counts = torch.bincount(gallery_labels, minlength=int(query_labels.max()) + 1).double()
    return float((counts[query_labels] / len(gallery_labels)).mean())
