"""How hard is the synthetic benchmark for an untrained model? Frozen ImageNet features on its unseen classes.

The zero-shot test of the embedded synthetic benchmark (:mod:`zsb.data.synthetic`) queries the photos of its 6
unseen classes with their sketches. This script embeds both with a frozen ImageNet backbone (pooled features, no
training) and prints mAP@all and P@10 beside chance (the mean fraction of relevant gallery items per query).
Training should lift these numbers well above the frozen baseline, which itself should sit well above chance but
far below 1: otherwise the generator is too easy or too hard to show what the paper's method adds.

    python benchmarks/synthetic_frozen_baseline.py [--backbone efficientnet_lite0] [--image-size 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from zsb.backbones import BACKBONES, build_backbone
from zsb.data.synthetic import IMAGE_SUFFIX, SYNTHETIC_UNSEEN, ensure_synthetic
from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.metrics import evaluate_retrieval


def load_domain(root, domain: int, image_size: int, mean, std, interpolation: str) -> tuple[torch.Tensor, np.ndarray]:
    """All images of the unseen classes in one domain as a normalised (N, 3, S, S) batch, with their labels."""
    resample = Image.BICUBIC if interpolation == "bicubic" else Image.BILINEAR
    images, labels = [], []
    for label, class_name in enumerate(SYNTHETIC_UNSEEN):
        for path in sorted((root / DOMAIN_NAMES[domain] / class_name).glob(f"*{IMAGE_SUFFIX[domain]}")):
            image = Image.open(path).convert("RGB").resize((image_size, image_size), resample)
            images.append(np.asarray(image, dtype=np.float32) / 255.0)
            labels.append(label)
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    batch = (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return batch, np.asarray(labels)


@torch.no_grad()
def embed(backbone: torch.nn.Module, batch: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    return torch.cat([backbone(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet_lite0", choices=BACKBONES)
    parser.add_argument("--image-size", type=int, default=128, help="network input size in pixels (default 128)")
    parser.add_argument("--cache-dir", default=None, help="synthetic cache folder (default $ZSB_CACHE or ~/.cache/zsb)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    parser.add_argument("--num-per-domain", type=int, default=40, help="images per class and domain (default 40)")
    args = parser.parse_args()

    torch.manual_seed(0)
    start = time.perf_counter()
    root = ensure_synthetic(args.cache_dir, seed=args.seed, num_per_domain=args.num_per_domain)
    print(f"synthetic benchmark at {root} ({time.perf_counter() - start:.1f} s)")

    backbone = build_backbone(args.backbone, "imagenet").eval()
    prep = (args.image_size, backbone.mean, backbone.std, backbone.interpolation)
    sketches, sketch_labels = load_domain(root, SKETCH, *prep)
    photos, photo_labels = load_domain(root, PHOTO, *prep)
    result = evaluate_retrieval(embed(backbone, sketches), sketch_labels, embed(backbone, photos), photo_labels,
                                precision_ks=(10,), map_ks=(), ap_variants=("exact",))
    summary = result.summary()
    chance = float(np.mean([(photo_labels == label).mean() for label in sketch_labels]))

    print(f"frozen {args.backbone} (ImageNet), {args.image_size} px, {len(SYNTHETIC_UNSEEN)} unseen classes: "
          f"{len(sketch_labels)} sketch queries x {len(photo_labels)} photos")
    print(f"  mAP@all {summary['mAP@all']:.3f}   P@10 {summary['P@10']:.3f}   chance {chance:.3f}")
    per_class = result.per_class().set_index("label")["mAP@all"]
    print("  mAP@all per class: " + ", ".join(f"{SYNTHETIC_UNSEEN[i]} {v:.3f}" for i, v in per_class.items()))


if __name__ == "__main__":
    main()
