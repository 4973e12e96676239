"""What is known of each benchmark release: its class names (from the split files) and its image files per class
and in total, as its sources give them (:data:`EXPECTED_COUNTS`); :mod:`zsb.data.check` compares a copy on disk
with them."""

from __future__ import annotations

from dataclasses import dataclass, field

from zsb.data.registry import Benchmark, get_benchmark, normalize_class_name


@dataclass(frozen=True)
class Count:
    """What is known of the number of image files in one domain folder of a release (or in the unseen classes of
    one split).

    Attributes:
        total: the exact number of files, or None when it is not known.
        total_max: when two sources disagree, the larger count: any total from ``total`` to ``total_max`` matches.
        per_class: the exact number of files in every class folder, or None when it is not known (classes differ).
        about: an estimate, shown beside the count found and never compared; only where no exact total is known.
        source: where the numbers come from.
    """

    total: int | None = None
    total_max: int | None = None
    per_class: int | None = None
    about: int | None = None
    source: str = ""

    def matches(self, found: int) -> bool | None:
        """Whether ``found`` files agree with the known total; None when no exact total is known."""
        if self.total is None:
            return None
        return self.total <= found <= (self.total_max or self.total)

    def describe_total(self) -> str:
        if self.total is not None:
            return f"{self.total:,} to {self.total_max:,}" if self.total_max else f"{self.total:,}"
        if self.about is not None:
            return f"about {self.about:,} (an estimate, not compared)"
        return "not known"

    def exactness(self) -> str:
        """Which checks this count allows, in words."""
        if self.per_class is not None:
            return f"files per class exact ({self.per_class:,} each)"
        if self.total is not None:
            return "per class not known: total only" + (" (sources differ: a range)" if self.total_max else "")
        if self.about is not None:
            return "total only an estimate: not compared"
        return "counts not known: not compared"

@dataclass(frozen=True)
class ReleaseCounts:
    """What is known of one release of a benchmark (one layout).

    Attributes:
        classes: the number of classes, or None when not known.
        sketch: the sketch folder's count.
        photo: the photo folder's count.
        extra_photo: the count of the layout's second photo folder (``Layout.extra_photo_dir``), if it has one.
        unseen: split name -> domain ("sketch", "photo") -> the count of that split's unseen classes, where only the
            test side of a release is known ("photo" counts both photo folders of a layout that has two).
    """

    classes: int | None
    sketch: Count
    photo: Count
    extra_photo: Count | None = None
    unseen: dict[str, dict[str, Count]] = field(default_factory=dict, hash=False)

_SKETCHY_SKETCHES = Count(
    75_471, 75_481,
    # Sketchy (Sangkloy et al. 2016) and SEM-PCYC count 75,471 sketches; SAKE's file lists sum to 75,481
    # (../shared/reference/README.md, "Dataset facts"). Either total matches.
    source="Sketchy / SEM-PCYC: 75,471 sketches; SAKE's file lists: 75,481",
)

_SKETCHY_EXTENDED = Count(
    73_002,  # the extended photos (Liu et al. 2017), as the peers' file lists count them (reference README)
    source="Sketchy Extended: 73,002 photos (the peers' file lists)",
)

_SKETCHY_ORIGINAL = Count(
    12_500, per_class=100,  # Sketchy's 12,500 photos: 100 of each of the 125 classes (reference README)
    source="Sketchy: 12,500 original photos, 100 per class",
)

SKETCHY_UNSEEN = {
    # split: (sketches, extended photos) of its unseen classes in SAKE's zeroshot1 file lists (qliu24/SAKE,
    # dataset/Sketchy/zeroshot1), which list every Sketchy sketch and extended photo once: sake25's are its query and
    # gallery lists (15,229 sketches; 14,601 extended + 2,500 original photos = 17,101, the reference README), the
    # others are summed from the lists' per-class counts.
    "sake25": (15_229, 14_601),
    "sempcyc25": (14_421, 14_626),
    "eccv21": (12_694, 10_453),
}

SAKE_EXTRA_SKETCHES = 10
"""SAKE's sketch lists hold 75,481 sketches, Sketchy 75,471: a split's unseen classes may hold up to this many
sketches fewer than SAKE's lists count."""

def _sketchy_unseen(original_photos: bool) -> dict[str, dict[str, Count]]:
    """The known totals of the Sketchy splits' unseen classes on one layout: with the original photos (SAKE's
    layout) the gallery holds each class's 100 originals besides its extended photos."""
    totals = {}
    for split, (sketches, extended) in SKETCHY_UNSEEN.items():
        originals = 100 * len(get_benchmark("sketchy_ext").split(split).load()[1]) if original_photos else 0
        what = f"{extended:,} extended + {originals:,} original photos" if originals else f"{extended:,} extended photos"
        totals[split] = {
            "sketch": Count(sketches - SAKE_EXTRA_SKETCHES, sketches,
                            source=f"SAKE's zeroshot1 lists: {sketches:,} sketches, Sketchy up to "
                                   f"{SAKE_EXTRA_SKETCHES} fewer"),
            "photo": Count(extended + originals, source=f"SAKE's zeroshot1 lists: {what}"),
        }
    return totals

_QUICKDRAW = ReleaseCounts(
    110,  # 30 unseen + 80 seen classes (quickdraw_d2s_unseen30.txt, quickdraw_zse_seen80.txt)
    # The whole release's totals are estimates (Doodle2Search: "about 330,000 sketches and 204,000 photos").
    sketch=Count(about=330_000, source="Doodle2Search: about 330,000 sketches (an estimate)"),
    photo=Count(about=204_000, source="Doodle2Search: about 204,000 photos (an estimate)"),
    unseen={
        "d2s30": {
            # ZSE-SBIR's test lists: 92,291 query sketches and 54,151 gallery photos of the 30 unseen classes.
            "sketch": Count(92_291, source="ZSE-SBIR's lists: 92,291 query sketches"),
            "photo": Count(54_151, source="ZSE-SBIR's lists: 54,151 gallery photos"),
        }
    },
)

EXPECTED_COUNTS: dict[str, dict[str, ReleaseCounts]] = {
    "sketchy_ext": {
        "sempcyc": ReleaseCounts(125, _SKETCHY_SKETCHES, _SKETCHY_EXTENDED, unseen=_sketchy_unseen(False)),
        # SAKE's EXTEND_image_sketchy_ready holds the extended photos, 256x256/photo/tx_000000000000_ready the
        # originals.
        "sake": ReleaseCounts(125, _SKETCHY_SKETCHES, _SKETCHY_EXTENDED, extra_photo=_SKETCHY_ORIGINAL,
                              unseen=_sketchy_unseen(True)),
    },
    "tuberlin_ext": {
        "sempcyc": ReleaseCounts(
            250,
            # TU-Berlin (Eitz et al. 2012): 250 classes of exactly 80 sketches.
            sketch=Count(20_000, per_class=80, source="TU-Berlin: 20,000 sketches, 80 per class"),
            # Extended photos (Zhang et al. 2016), as the peers' file lists count them (reference README).
            photo=Count(204_489, source="TU-Berlin Extended: 204,489 photos (the peers' file lists)"),
            unseen={
                # SAKE's zeroshot lists (qliu24/SAKE, dataset/TUBerlin/zeroshot): queries and gallery of its 30 classes.
                "sake30": {"sketch": Count(2_400, source="SAKE's zeroshot query list: 2,400 sketches"),
                           "photo": Count(27_989, source="SAKE's zeroshot gallery list: 27,989 photos")},
            },
        ),
    },
    "quickdraw_ext": {"d2s": _QUICKDRAW, "final": _QUICKDRAW},
    "sketchy_mini": {
        # ../shared/data/sketchy-mini/README.md: 125 classes, 25 sketches and 25 photos each.
        "mini": ReleaseCounts(
            125,
            sketch=Count(3_125, per_class=25, source="sketchy-mini README: 25 sketches per class"),
            photo=Count(3_125, per_class=25, source="sketchy-mini README: 25 photos per class"),
        ),
    },
    # The synthetic tree's counts depend on its generation parameters (num_per_domain): only the classes are known.
    "synthetic": {"mini": ReleaseCounts(30, Count(), Count())},
}
"""benchmark -> layout name -> what is known of that release. Tests inject scaled-down tables here."""

def release_class_names(benchmark: Benchmark) -> list[str] | None:
    """Canonical names of every class of a benchmark, or None when not known: the union of the seen and unseen lists
    of its splits that list both (a split whose seen classes are "the rest" does not tell the release's classes)."""
    if benchmark.name == "synthetic":
        from zsb.data.synthetic import SYNTHETIC_CLASSES

        return sorted(normalize_class_name(name) for name in SYNTHETIC_CLASSES)
    names: set[str] = set()
    complete = False
    for split in benchmark.splits.values():
        seen, unseen = split.load()
        names |= set(unseen)
        if seen is not None:
            complete = True
            names |= set(seen)
    return sorted(names) if complete else None
