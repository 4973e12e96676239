"""Can the input pipeline keep the accelerator busy? The training loader against decoding alone and against the
compute limit, side by side, on real images through zsb's own code paths.

1. **Decode alone**: PIL opens and converts the training images to RGB, one after another in this process
   (images per second on one core: the raw cost that workers share out).
2. **The training loader** (:func:`zsb.run.stages.training_loader`: decode, random resized crop, flip, normalise,
   collate into domain-balanced batches) with 0, 1, ..., N worker processes: images per second.
3. **The training step** fed by that loader (with ``num_workers`` of the run, -1: the CPUs less one) against the same
   step fed from one batch already in memory on the device (the compute limit): the ratio of their images per second.
   The target on a GPU is a ratio >= 0.9. The knowledge targets are uniform rows (the step's arithmetic does not
   depend on their values), so no teacher pass is needed first.
4. **Evaluation**: images per second of the feature extraction of the evaluation stage (the evaluation loader and
   the pretrained network, :func:`zsb.embeddings.extract_embeddings`) over ``--eval-images`` gallery photos (the
   gallery repeated if it is smaller), worker start-up included.

``--weights none`` times a network without its ImageNet file (the speed does not depend on the weights).

Linked or recently read files sit in the page cache, so the loader figures are upper bounds on what a cold disk
gives. Give the CPU (and GPU) with every figure; the script prints them.

    python benchmarks/bench_input_pipeline.py                                  # sketchy-mini, CPU preset sizes
    python benchmarks/bench_input_pipeline.py --benchmark sketchy_ext --data-root /data/Sketchy \\
        --backbone resnet50 --image-size 224 --workers 0,4,8,15 --steps 50   # the paper's setting, on a GPU
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import pandas as pd
import torch
from PIL import Image

from zsb import engine
from zsb.device import to_device, to_input
from zsb.device import resolve_workers
from zsb.embeddings import extract_embeddings
from zsb.io import machine_info
from zsb.losses import ParadigmLosses
from zsb.run import stages
from zsb.run.context import Run


def images_per_second(batches, count: int, warmup: int = 1) -> float:
    """Images per second over ``count`` batches of an iterator, after ``warmup`` batches (workers starting)."""
    iterator = iter(batches)
    for _ in range(warmup):
        next(iterator)
    started, images = time.perf_counter(), 0
    for batch in itertools.islice(iterator, count):
        images += len(batch[1])
    return images / (time.perf_counter() - started)


def decode_rate(paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.convert("RGB")
    return len(paths) / (time.perf_counter() - started)


def step_rate(run: Run, batches, steps: int) -> float:
    """Images per second of zsb's real training step over ``steps`` batches of ``batches`` (after one warm-up)."""
    cfg = run.cfg
    model = to_device(run.model(), run.device)
    if cfg.compile:
        model.compile()
    model.train()
    optimizer = engine.build_optimizer(model, cfg)
    losses = ParadigmLosses.from_config(cfg)
    knowledge = torch.full((len(run.manifest.seen_classes), 1000), 1e-3, device=run.device)

    def timed():
        for images, labels, domains, _ in batches:
            images = to_input(images, run.device)
            labels, domains = labels.to(run.device, non_blocking=True), domains.to(run.device, non_blocking=True)
            engine.train_step(model, optimizer, losses, cfg, images, labels, domains, knowledge)
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            yield images, labels

    return images_per_second(timed(), steps)


def eval_rate(run: Run, images: int) -> float:
    """Images per second of the evaluation stage's feature extraction over ``images`` gallery photos."""
    gallery = run.manifest.gallery()
    frame = pd.concat([gallery] * -(-images // len(gallery)), ignore_index=True).head(images)
    encode = to_device(run.backbone(), run.device).eval()
    started = time.perf_counter()
    embedded = extract_embeddings(encode, run.eval_loader(frame), run.device, progress=False)
    return len(embedded) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="sketchy_mini")
    parser.add_argument("--data-root", default="../shared/data/sketchy-mini")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts for the loader alone")
    parser.add_argument("--num-workers", type=int, default=-1, help="workers of the loader that feeds the step")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per loader setting")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per feeding")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (GPU)")
    parser.add_argument("--weights", default="imagenet", help="imagenet | none")
    parser.add_argument("--eval-images", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as run_dir:
        run = Run.open(run_dir, benchmark=args.benchmark, data_root=args.data_root, backbone=args.backbone,
                       image_size=args.image_size, device=args.device, precision=args.precision,
                       compile=args.compile, weights=args.weights, cache_images=False, progress=False, num_workers=args.num_workers)
        cfg = run.cfg
        frame = run.manifest.train()
        print(f"machine: {machine_info()}; device {run.device}"
              + (f" ({torch.cuda.get_device_name()})" if run.device.type == "cuda" else ""))
        batch = 2 * min(cfg.classes_per_batch, len(run.manifest.seen_classes)) * cfg.samples_per_domain
        print(f"{args.benchmark}: {len(frame)} training images; {cfg.backbone} at {cfg.image_size} px, "
              f"{cfg.precision}, batch {batch}, compile {cfg.compile}")

        decoded = decode_rate(frame["path"].sample(n=min(200, len(frame)), random_state=0).tolist())
        print(f"\ndecode alone (PIL, one core): {decoded:8.1f} images/s")
        print(f"{'loader workers':>14}  {'images/s':>9}  {'/ decode alone':>14}")
        for workers in (int(w) for w in args.workers.split(",")):
            loader = stages.training_loader(Run(run.folder, cfg.replace(num_workers=workers)))(1)
            rate = images_per_second(loader, args.batches)
            print(f"{workers:>14}  {rate:9.1f}  {rate / decoded:14.2f}")
            del loader

        workers = resolve_workers(cfg.num_workers)
        fed = stages.training_loader(run)(1)
        in_memory = next(iter(fed))
        from_loader = step_rate(run, fed, args.steps)
        from_memory = step_rate(run, itertools.repeat(in_memory), args.steps)
        print(f"\ntraining step fed by the loader ({workers} workers): {from_loader:8.1f} images/s")
        print(f"training step fed from memory (compute limit):   {from_memory:8.1f} images/s")
        print(f"ratio loader / compute limit: {from_loader / from_memory:.3f}  (target on a GPU >= 0.9)")
        print(f"evaluation (feature extraction, {workers} workers): {eval_rate(run, args.eval_images):8.1f} images/s")
        if run.device.type == "cuda":
            print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
