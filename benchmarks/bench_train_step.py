"""The efficiency claim, measured side by side: one training step with the precomputed class-oriented knowledge
(the paper) against the SAKE-style online teacher that runs a frozen copy of the network on every batch.

Each variant runs in its own subprocess so that peak memory (max RSS) is measured separately; both use the same
backbone, image size, batch (P classes x (K sketches + K photos)) and the real training step of zsb.engine.
Also reports the one-off cost of the knowledge precomputation (teacher forward passes over the training photos).

    python benchmarks/bench_train_step.py                      # efficientnet_lite0, 160 px, 16 x (1 + 1), fp32
    python benchmarks/bench_train_step.py --image-size 224 --precision bf16   # the sketchy_mini CPU preset
    python benchmarks/bench_train_step.py --image-size 128 --steps 10 --photos 2500
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(args: argparse.Namespace) -> dict:
    import torch

    from zsb import engine
    from zsb.losses import ParadigmLosses
    from zsb.backbones import build_backbone
    from zsb.device import to_device, to_input
    from zsb.config import RunConfig
    from zsb.model import ZSBModel

    torch.manual_seed(0)
    cpu = torch.device("cpu")
    cfg = RunConfig(teacher=args.variant, image_size=args.image_size, device="cpu", precision=args.precision)
    classes = args.classes
    model = to_device(ZSBModel(build_backbone(args.backbone, "imagenet"), num_seen_classes=classes), cpu)
    teacher = (to_device(build_backbone(args.backbone, "imagenet"), cpu).eval().requires_grad_(False)
               if args.variant == "online" else None)
    knowledge = torch.softmax(torch.randn(classes, 1000), dim=1) if args.variant == "precomputed" else None
    optimizer = engine.build_optimizer(model, cfg)
    losses = ParadigmLosses.from_config(cfg)
    p, k = args.classes_per_batch, args.samples_per_domain
    labels = torch.arange(p).repeat_interleave(k).repeat(2)
    domains = torch.cat([torch.zeros(p * k, dtype=torch.long), torch.ones(p * k, dtype=torch.long)])
    images = to_input(torch.randn(len(labels), 3, args.image_size, args.image_size), cpu)
    model.train()
    for _ in range(args.warmup):
        engine.train_step(model, optimizer, losses, cfg, images, labels, domains, knowledge, teacher)
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        engine.train_step(model, optimizer, losses, cfg, images, labels, domains, knowledge, teacher)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "variant": args.variant,
        "batch": len(labels),
        "median_step_s": times[len(times) // 2],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def precompute_cost(args: argparse.Namespace) -> float:
    """Seconds per training photo for the teacher pass of the knowledge precomputation."""
    import torch

    from zsb.backbones import build_backbone

    from zsb.device import to_device, to_input

    cpu = torch.device("cpu")
    teacher = to_device(build_backbone(args.backbone, "imagenet"), cpu).eval()
    batch = to_input(torch.randn(64, 3, args.image_size, args.image_size), cpu)
    with torch.no_grad():
        teacher.imagenet_head(teacher(batch))
        started = time.perf_counter()
        for _ in range(3):
            torch.softmax(teacher.imagenet_head(teacher(batch)), dim=1)
    return (time.perf_counter() - started) / (3 * len(batch))


def main() -> None:
    from zsb.config import CHOICES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--classes-per-batch", type=int, default=16)
    parser.add_argument("--samples-per-domain", type=int, default=1)
    parser.add_argument("--precision", choices=CHOICES["precision"], default="fp32", help="training arithmetic")
    parser.add_argument("--classes", type=int, default=100, help="seen classes (size of the classifier)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--photos", type=int, default=2500, help="training photos of the benchmark (sketchy-mini: 2500)")
    parser.add_argument("--variant", choices=("precomputed", "online"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args)))
        return
    results = {}
    for variant in ("precomputed", "online"):
        cmd = [sys.executable, __file__, "--variant", variant] + [
            f"--{name.replace('_', '-')}={value}" for name, value in vars(args).items() if name != "variant"
        ]
        results[variant] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    ours, online = results["precomputed"], results["online"]
    from zsb.io import machine_info, machine_summary

    print(f"machine: {machine_summary(machine_info())}")
    print(f"backbone {args.backbone}, {args.image_size} px, {args.precision}, batch {ours['batch']} "
          f"({args.classes_per_batch} classes x ({args.samples_per_domain} sketch + {args.samples_per_domain} photo)), "
          f"median of {args.steps} steps")
    print(f"{'variant':<34}{'step (s)':>10}{'peak RSS (MiB)':>16}")
    for name, r in (("precomputed class knowledge (zsb)", ours), ("online teacher (SAKE-style)", online)):
        print(f"{name:<34}{r['median_step_s']:>10.3f}{r['peak_rss_mib']:>16.0f}")
    print(f"time ratio precomputed / online: {ours['median_step_s'] / online['median_step_s']:.3f}  (target <= 0.65)")
    print(f"peak memory ratio precomputed / online: {ours['peak_rss_mib'] / online['peak_rss_mib']:.3f}")
    per_photo = precompute_cost(args)
    print(f"one-off knowledge precomputation: {per_photo * 1000:.1f} ms per photo, "
          f"{per_photo * args.photos:.1f} s for {args.photos} training photos "
          f"(= {per_photo * args.photos / online['median_step_s']:.1f} online-teacher steps)")


if __name__ == "__main__":
    main()
