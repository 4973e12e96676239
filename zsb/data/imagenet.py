"""How much of an evaluation set the teacher has seen: classes and photos from ImageNet-1k synsets, and classes
whose concept is an ImageNet-1k class.

The semantic knowledge preservation loss keeps the network's ImageNet-1k head, and many "unseen" test classes of
the benchmarks are ImageNet-1k classes (the photos of Sketchy and TU-Berlin Extended were collected from ImageNet
synsets), so a zero-shot number partly measures what the pretrained network already knew. The Sketchy and
TU-Berlin photo files are named after their WordNet synset (``n02691156_10151.jpg``); the ImageNet-1k synset list
is the one timm ships. Each evaluation class falls in one of :data:`OVERLAP_CATEGORIES`:

- ``"wholly"``: every photo of the class comes from an ImageNet-1k synset;
- ``"partly"``: some of its photos do, not all;
- ``"concept only"``: none does, but its concept is an ImageNet-1k class under another synset (``bear``: brown
  bear, ice bear, ...), from the committed mapping ``sketchy_imagenet1k_concepts.tsv`` (Sketchy's classes only);
- ``"none"``: neither.

Photos whose name carries no synset id are counted apart.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from zsb.errors import DataError

SYNSET_ID = re.compile(r"^(n\d{8})(?=[_.\-])")

OVERLAP_CATEGORIES = ("wholly", "partly", "concept only", "none")
"""A class's ImageNet-1k overlap, from most to least (see the module docstring)."""

CONCEPT_FILES = {"sketchy_ext": "sketchy_imagenet1k_concepts.tsv", "sketchy_mini": "sketchy_imagenet1k_concepts.tsv"}
"""Benchmark -> its class-to-ImageNet-1k concept mapping in ``zsb/data``; other benchmarks have none, and their
classes without ImageNet-1k photos are of unknown concept overlap."""


@lru_cache(maxsize=None)
def imagenet1k_wnids() -> tuple[str, ...]:
    """The 1,000 WordNet ids of ImageNet-1k in logit order (timm's ``imagenet_synsets.txt``)."""
    text = (resources.files("timm.data") / "_info" / "imagenet_synsets.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@lru_cache(maxsize=None)
def imagenet1k_synsets() -> frozenset[str]:
    """The 1,000 WordNet ids of ImageNet-1k, as a set."""
    return frozenset(imagenet1k_wnids())


def synset_of(path: str | Path) -> str | None:
    """The WordNet id a photo file is named after, or None."""
    match = SYNSET_ID.match(Path(path).name)
    return match.group(1) if match else None


@lru_cache(maxsize=None)
def concept_matches(benchmark: str) -> dict[str, tuple[str, ...]] | None:
    """Class -> the wnids of the ImageNet-1k classes of the same concept (empty: none), from the benchmark's
    committed mapping, or None for a benchmark without one. DataError when the file names a wnid that is not
    ImageNet-1k's or gives it another index."""
    filename = CONCEPT_FILES.get(benchmark)
    if filename is None:
        return None
    lines = [line for line in (resources.files("zsb.data") / filename).read_text().splitlines()
             if line and not line.startswith("#")]
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    wnids = imagenet1k_wnids()
    mapping = {}
    for row in rows:
        record = dict(zip(header, row))
        matches = []
        for item in record["imagenet1k"].split():
            index, wnid = item.split(":")
            if not 0 <= int(index) < len(wnids) or wnids[int(index)] != wnid:
                raise DataError(f"{filename}: class '{record['class']}' names {item}, which is not ImageNet-1k class "
                                f"{index} of timm's imagenet_synsets.txt; correct the index or the wnid")
            matches.append(wnid)
        mapping[record["class"]] = tuple(matches)
    return mapping


def class_photo_counts(photos: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Class -> its number of photos and of photos from ImageNet-1k synsets, from manifest rows with ``path`` and
    ``class_name``."""
    known = imagenet1k_synsets()
    in_1k = photos["path"].map(lambda path: synset_of(path) in known)
    counts = in_1k.groupby(photos["class_name"]).agg(["size", "sum"])
    return {name: {"photos": int(row["size"]), "photos_in_imagenet1k": int(row["sum"])}
            for name, row in counts.iterrows()}


def overlap_category(photos: int, photos_in_imagenet1k: int, concept: bool | None) -> str | None:
    """One class's category (:data:`OVERLAP_CATEGORIES`) from its photo counts and whether its concept is an
    ImageNet-1k class (None: not known, and then so is the category of a class without ImageNet-1k photos)."""
    if photos_in_imagenet1k and photos_in_imagenet1k == photos:
        return "wholly"
    if photos_in_imagenet1k:
        return "partly"
    if concept is None:
        return None
    return "concept only" if concept else "none"


def class_categories(per_class: dict[str, dict[str, int]], benchmark: str) -> dict[str, str | None]:
    """Class -> overlap category, from per-class photo counts (:func:`class_photo_counts`) and the benchmark's
    concept mapping (None for the classes without ImageNet-1k photos of a benchmark without a mapping)."""
    concepts = concept_matches(benchmark)
    if concepts is not None and set(per_class) - set(concepts):
        raise DataError(f"classes {', '.join(sorted(set(per_class) - set(concepts)))} are missing from "
                        f"{CONCEPT_FILES[benchmark]}: add them (with their ImageNet-1k concept or none)")
    return {name: overlap_category(counts["photos"], counts["photos_in_imagenet1k"],
                                   None if concepts is None else bool(concepts[name]))
            for name, counts in per_class.items()}


def imagenet_overlap(photos: pd.DataFrame) -> dict:
    """ImageNet-1k overlap of a set of photos (manifest rows with ``path`` and ``class_name``), as metrics.json
    records it: totals and, per class, its photos and those from ImageNet-1k synsets (categories are derived from
    these by :func:`overlap_summary`)."""
    per_class = class_photo_counts(photos)
    return {
        "classes": len(per_class),
        "photos": int(len(photos)),
        "photos_in_imagenet1k": sum(counts["photos_in_imagenet1k"] for counts in per_class.values()),
        "photos_without_synset_id": int(photos["path"].map(synset_of).isna().sum()),
        "per_class": per_class,
    }


def evaluation_overlap(benchmark: str, data_root: str | Path | None, split: str | None = None, *,
                       evaluate_on: str = "test", max_seen_classes: int | None = None,
                       max_unseen_classes: int | None = None, max_per_class: int | None = None) -> dict:
    """:func:`imagenet_overlap` of the evaluation photos of a split (arguments as
    :func:`zsb.data.manifest.build_manifest`), from the photo files in the data folder (listed, not decoded)."""
    from zsb.data.manifest import build_manifest

    manifest = build_manifest(benchmark, data_root, split, evaluate_on=evaluate_on, verify_images=False,
                              max_seen_classes=max_seen_classes, max_unseen_classes=max_unseen_classes,
                              max_per_class=max_per_class)
    return imagenet_overlap(manifest.gallery())


def split_overlap(benchmark: str, data_root: str | Path | None, split: str | None = None) -> dict[str, str | None]:
    """Class -> overlap category (:data:`OVERLAP_CATEGORIES`) of each test class of a split, from the photos in the
    data folder."""
    return class_categories(evaluation_overlap(benchmark, data_root, split)["per_class"], benchmark)


def overlap_table(benchmark: str, data_root: str | Path | None, splits: list[str]) -> pd.DataFrame:
    """One row per test class of each split: ``split``, ``class_name``, ``photos``, ``photos_in_imagenet1k`` and
    ``category`` (:data:`OVERLAP_CATEGORIES`), from the photos in the data folder."""
    rows = []
    for split in splits:
        per_class = evaluation_overlap(benchmark, data_root, split)["per_class"]
        categories = class_categories(per_class, benchmark)
        rows += [{"split": split, "class_name": name, **counts, "category": categories[name]}
                 for name, counts in per_class.items()]
    return pd.DataFrame(rows)


def overlap_summary(record: dict, parameters: dict) -> dict:
    """The overlap of a metrics.json record (``imagenet_overlap``) by category: ``categories`` (class -> category),
    ``counts`` (category -> classes; ``"concept only"`` None when not known), ``classes``, ``photos`` and
    ``photos_in_imagenet1k``. ``parameters`` are the run's (config.json): a record written before the per-class
    counts were kept is recomputed from the data folder the run read, and must agree with its totals."""
    per_class = record.get("per_class")
    if per_class is None:
        try:
            found = evaluation_overlap(
                parameters["benchmark"], parameters.get("data_root") or None, parameters.get("split") or None,
                evaluate_on=parameters.get("evaluate_on", "test"),
                **{name: parameters.get(name) or None
                   for name in ("max_seen_classes", "max_unseen_classes", "max_per_class")})
        except DataError as error:
            raise DataError(f"{error}\n(the data is read to recompute the per-class ImageNet-1k overlap of a "
                            "metrics.json written before it was recorded; evaluating the run again records it)"
                            ) from error
        recorded = (record["classes"], record["photos"], record["photos_in_imagenet1k"])
        if (found["classes"], found["photos"], found["photos_in_imagenet1k"]) != recorded:
            raise DataError(
                f"the data folder {parameters.get('data_root')!r} holds {found['classes']} classes and "
                f"{found['photos']} photos ({found['photos_in_imagenet1k']} from ImageNet-1k synsets) for this run's "
                f"evaluation, its metrics.json {recorded[0]}, {recorded[1]} ({recorded[2]}): point data_root at the "
                "data the run read, or evaluate the run again to record its per-class counts")
        per_class = found["per_class"]
    categories = class_categories(per_class, parameters["benchmark"])
    counts = {category: sum(value == category for value in categories.values()) for category in OVERLAP_CATEGORIES}
    if None in categories.values():
        counts["concept only"] = counts["none"] = None
    return {"categories": categories, "counts": counts, "classes": len(per_class),
            "photos": sum(c["photos"] for c in per_class.values()),
            "photos_in_imagenet1k": sum(c["photos_in_imagenet1k"] for c in per_class.values())}


def overlap_sentence(summary: dict, classes: str = "classes") -> str:
    """``"11 of the 25 classes come wholly and 3 partly from ImageNet-1k synsets (296 of 625 photos, 47%), and the
    concept of 7 more is an ImageNet-1k class under another synset"``, from :func:`overlap_summary`; ``classes``
    names the classes."""
    counts = summary["counts"]
    text = (f"{counts['wholly']} of the {summary['classes']} {classes} come wholly and {counts['partly']} partly from "
            f"ImageNet-1k synsets ({summary['photos_in_imagenet1k']} of {summary['photos']} photos, "
            f"{summary['photos_in_imagenet1k'] / max(summary['photos'], 1):.0%})")
    if counts["concept only"] is None:
        return text + "; whether the concept of another is an ImageNet-1k class is not mapped"
    return text + f", and the concept of {counts['concept only']} more is an ImageNet-1k class under another synset"
