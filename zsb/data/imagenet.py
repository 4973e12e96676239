"""How much of an evaluation set the teacher has seen: classes and photos from ImageNet-1k synsets.

The semantic knowledge preservation loss keeps the network's ImageNet-1k head, and many "unseen" test classes of
the benchmarks are ImageNet-1k classes (the photos of Sketchy and TU-Berlin Extended were collected from ImageNet
synsets), so a zero-shot number partly measures what the pretrained network already knew. The Sketchy and
TU-Berlin photo files are named after their WordNet synset (``n02691156_10151.jpg``); the ImageNet-1k synset list
is the one timm ships. A class counts as an ImageNet-1k class when any of its photos comes from one of those
synsets (the teacher has seen that class, at least in part); photos whose name carries no synset id are counted
apart.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

SYNSET_ID = re.compile(r"^(n\d{8})(?=[_.\-])")


@lru_cache(maxsize=None)
def imagenet1k_synsets() -> frozenset[str]:
    """The 1,000 WordNet ids of ImageNet-1k (timm's ``imagenet_synsets.txt``, in logit order)."""
    text = (resources.files("timm.data") / "_info" / "imagenet_synsets.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def synset_of(path: str | Path) -> str | None:
    """The WordNet id a photo file is named after, or None."""
    match = SYNSET_ID.match(Path(path).name)
    return match.group(1) if match else None


def imagenet_overlap(photos: pd.DataFrame) -> dict:
    """ImageNet-1k overlap of a set of photos (manifest rows with ``path`` and ``class_name``): how many classes and
    photos come from ImageNet-1k synsets, and which classes."""
    known = imagenet1k_synsets()
    synsets = photos["path"].map(synset_of)
    in_1k = synsets.map(lambda s: s in known if s is not None else False)
    share = in_1k.groupby(photos["class_name"]).mean()
    classes = sorted(share.index[share > 0])
    return {
        "classes": int(len(share)),
        "classes_in_imagenet1k": len(classes),
        "class_names_in_imagenet1k": classes,
        "photos": int(len(photos)),
        "photos_in_imagenet1k": int(in_1k.sum()),
        "photos_without_synset_id": int(synsets.isna().sum()),
    }
