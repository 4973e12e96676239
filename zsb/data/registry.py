"""The benchmarks zsb knows: their on-disk layouts, zero-shot class splits and headline metrics.

Zero-shot SBIR trains on the *seen* classes and retrieves photos of *unseen* classes with sketch queries (paper,
Sec. 4.1). Each benchmark below lists the releases it can read (:mod:`zsb.data.layouts`), the standard unseen
class splits (the text files in ``zsb/data/splits``, see their README in the project's reference folder) and the
metrics its papers report. Class names are compared after :func:`normalize_class_name`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from zsb.data.layouts import Layout, describe_layouts
from zsb.errors import ConfigError, DataError
from zsb.io import default_cache_dir

CLASS_NAME_ALIASES = {
    # QuickDraw Extended's photo folders misspell the Eiffel tower.
    "effiel_tower": "eiffel_tower",
}
"""Known misspellings in the releases, after normalisation, mapped to the canonical class name. The other
spelling differences between releases and split files (``car (sedan)`` / ``car_(sedan)``, ``hot air balloon`` /
``hot-air_balloon``, ``teddy-bear`` / ``teddy_bear``, ``jack-o-lantern``, ``wrist-watch``) are removed by the
normalisation itself."""


def data_dir() -> Path:
    """zsb's data folder: ``$ZSB_DATA`` if set, else ``data`` under zsb's cache (``$ZSB_CACHE``, else
    ``~/.cache/zsb``)."""
    return Path(os.environ.get("ZSB_DATA") or default_cache_dir() / "data").expanduser()


def normalize_class_name(name: str) -> str:
    """Canonical class name: lower case, runs of spaces, hyphens and underscores read as one underscore, known
    misspellings (:data:`CLASS_NAME_ALIASES`) corrected. ``"Hot-air Balloon"`` -> ``"hot_air_balloon"``."""
    canonical = re.sub(r"[\s_\-]+", "_", name.strip().lower())
    return CLASS_NAME_ALIASES.get(canonical, canonical)


@dataclass(frozen=True)
class Split:
    """A zero-shot class split: which classes are unseen (test) and which are seen (training).

    Attributes:
        name: the split's name in configs (``"sempcyc25"``, ...).
        description: its source.
        unseen_file: file in ``zsb/data/splits`` listing the unseen classes, one per line.
        seen_file: file listing the seen classes, or None: every other class found on disk is seen.
        protocol: the metrics the split's literature reports, each with the AP variant the peers' code computes
            (names as in :mod:`zsb.metrics`: "mAP@all" is exact AP, "mAP@all (voc)" SAKE's interpolated AP), or
            None for the benchmark's own.
        gallery: the gallery (:meth:`Layout.gallery_name`) that the split's published results were measured on,
            where one release defines it, or None. A benchmark that has a layout with this gallery reads that
            layout first for this split (:meth:`Benchmark.layouts_for`).
    """

    name: str
    description: str
    unseen_file: str | None = None
    seen_file: str | None = None
    protocol: tuple[str, ...] | None = None
    gallery: str | None = None

    def load(self) -> tuple[list[str] | None, list[str]]:
        """(seen classes or None, unseen classes), canonical names, sorted."""
        unseen = _read_split_file(self.unseen_file)
        seen = _read_split_file(self.seen_file) if self.seen_file else None
        _check_disjoint(self.name, seen, unseen)
        return seen, unseen


@dataclass(frozen=True)
class SyntheticSplit(Split):
    """The embedded synthetic benchmark's split: unseen classes from ``zsb.data.synthetic.SYNTHETIC_UNSEEN``."""

    def load(self) -> tuple[list[str] | None, list[str]]:
        from zsb.data.synthetic import SYNTHETIC_UNSEEN

        return None, sorted(normalize_class_name(name) for name in SYNTHETIC_UNSEEN)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: how to find it on disk, its class splits and its headline metrics.

    Attributes:
        name: the benchmark's name in configs.
        description: what it is.
        layouts: the releases it can be read from, tried in order.
        splits: split name -> :class:`Split`.
        default_split: the split used when none is named.
        default_protocol: the metrics (with their AP variant, as in ``zsb.metrics``) its papers report, for
            splits that do not declare their own.
        needs_data_root: False only for the synthetic benchmark, which is generated when no data root is given.
        fetched: the folder under zsb's data folder (:func:`data_dir`) that ``zsb data fetch`` fills
            and that is read when no data root is given, or None: the data root must be given.
    """

    name: str
    description: str
    layouts: tuple[Layout, ...]
    splits: dict[str, Split] = field(hash=False)
    default_split: str
    default_protocol: tuple[str, ...]
    needs_data_root: bool = True
    fetched: str | None = None

    def split(self, name: str | None = None) -> Split:
        """The named split (the default one for None); ConfigError listing the valid names otherwise."""
        name = self.default_split if name is None else name
        if name not in self.splits:
            raise ConfigError(
                f"unknown split '{name}' for benchmark '{self.name}'; valid splits: {', '.join(self.splits)}"
            )
        return self.splits[name]

    def protocol(self, split: str | None = None) -> tuple[str, ...]:
        """The metric columns a split is reported with, AP variant included (``"mAP@all (voc)"``)."""
        return self.split(split).protocol or self.default_protocol

    def metrics(self, split: str | None = None) -> tuple[str, ...]:
        """The headline metrics of a split, without their variant (some splits are reported with other metrics
        than the benchmark's)."""
        return tuple(dict.fromkeys(name.split(" (")[0] for name in self.protocol(split)))

    def layout(self, name: str) -> Layout:
        """The benchmark's layout of that name; ConfigError listing the valid names otherwise."""
        by_name = {layout.name: layout for layout in self.layouts}
        if name not in by_name:
            raise ConfigError(f"unknown layout '{name}' for benchmark '{self.name}'; valid layouts: {', '.join(by_name)}")
        return by_name[name]

    def standard_gallery(self, split: str | None = None) -> str | None:
        """The gallery the split's published results use (:attr:`Split.gallery`) when one of this benchmark's
        layouts holds it, else None (any layout's gallery is the split's, or none is)."""
        gallery = self.split(split).gallery
        return gallery if any(layout.gallery_name() == gallery for layout in self.layouts) else None

    def layouts_for(self, split: str | None = None) -> tuple[Layout, ...]:
        """The layouts in the order a data root is searched for the split: those holding the split's standard
        gallery first (SAKE's for sake25, where a folder holds both Sketchy releases), then the others in order."""
        gallery = self.standard_gallery(split)
        return tuple(sorted(self.layouts, key=lambda layout: layout.gallery_name() != gallery))

    def gallery_note(self, split: str | None, layout: str) -> str | None:
        """Why a run of the split on ``layout`` is not measured on the split's standard gallery, or None when it
        is (or the split has none)."""
        standard = self.standard_gallery(split)
        used = self.layout(layout).gallery_name()
        if standard is None or used == standard:
            return None
        standard_layout = next(candidate for candidate in self.layouts if candidate.gallery_name() == standard)
        return (f"the gallery is '{used}', not the '{standard}' that the published results of split "
                f"'{self.split(split).name}' use: the data root holds no {standard_layout.description} "
                f"({standard_layout.expected()}), so no published result of that gallery is set beside it")

    def resolve_root(self, data_root: str | Path | None) -> Path:
        """The data root to read: the given one; else the fetched copy, or the generated synthetic data."""
        if data_root is not None:
            return Path(data_root).expanduser()
        if self.fetched:
            root = data_dir() / self.fetched
            if not root.is_dir():
                raise DataError(f"benchmark '{self.name}' was given no data root and {root} does not exist: run "
                                f"`zsb data fetch {self.name}` to download it there, or pass --data-root")
            return root
        if self.needs_data_root:
            raise DataError(
                f"benchmark '{self.name}' needs a data root (the folder of the downloaded release) holding one of "
                f"these layouts:\n{describe_layouts(self.layouts)}"
            )
        from zsb.data.synthetic import ensure_synthetic

        return Path(ensure_synthetic())


def _read_split_file(filename: str) -> list[str]:
    """Canonical class names of one split file, sorted; DataError on a missing file or a repeated class."""
    resource = resources.files("zsb.data") / "splits" / filename
    try:
        lines = resource.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as error:
        raise DataError(
            f"split file {resource} is missing from the zsb installation; reinstall zsb (pip install -e .)"
        ) from error
    names = [normalize_class_name(line) for line in lines if line.strip()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"split file {resource} lists these classes more than once: {', '.join(repeated)}")
    return sorted(names)


def _check_disjoint(split: str, seen: list[str] | None, unseen: list[str]) -> None:
    overlap = sorted(set(seen or ()) & set(unseen))
    if overlap:
        raise DataError(f"split '{split}' lists these classes as both seen and unseen: {', '.join(overlap)}")


SEMPCYC_GALLERY = "sem-pcyc: extended_photo"
"""Sketchy's extended photos only: SEM-PCYC's ``extended_photo`` (Doodle2Search reads the same photos as
``EXTEND_image_sketchy``)."""
SAKE_GALLERY = "sake: 256x256/photo + EXTEND_image_sketchy_ready"
"""SAKE's Sketchy gallery: the original photos and the extended photos of a class, both (its photo lists)."""

_SKETCHY_SPLITS = {
    "sempcyc25": Split(
        "sempcyc25",
        "SEM-PCYC (Dutta & Akata 2019) random 25 unseen classes, numpy seed 0; seen = the other 100",
        unseen_file="sketchy_sempcyc_seed0_unseen25.txt",
        protocol=("mAP@all", "P@100"),  # SEM-PCYC's code: scikit-learn's exact AP
        gallery=SEMPCYC_GALLERY,  # SEM-PCYC's code: the extended photos
    ),
    "sake25": Split(
        "sake25",
        "SAKE (Liu et al. 2019) zeroshot1: 25 unseen / 100 seen classes",
        unseen_file="sketchy_sake_zeroshot1_unseen25.txt",
        seen_file="sketchy_sake_zeroshot1_seen100.txt",
        protocol=("mAP@all (voc)", "P@100"),  # SAKE, DSN, TCN, ZSE-SBIR: SAKE's interpolated AP
        gallery=SAKE_GALLERY,  # SAKE's zeroshot1 photo lists: 17,101 photos from both of its photo folders
    ),
    "eccv21": Split(
        "eccv21",
        "Yelamarthi et al. 2018: 21 unseen classes the authors chose as absent from ImageNet-1K, seen = the other 104; "
        "yet songbird's photos come partly from an ImageNet-1K synset (brambling), and dolphin and door have kinds "
        "among ImageNet-1K's classes (killer whale, sliding door)",
        unseen_file="sketchy_eccv18_yelamarthi_unseen21.txt",
        # SAKE's code (mAP@200 (voc), the headline: SAKE's and TCN's eccv21 numbers); SEM-PCYC's code (mAP@200 over
        # the hits in the top 200, the mAP@200 Doodle2Search's code holds commented out); Doodle2Search's code
        # (scikit-learn's exact mAP@all, what its evaluation prints)
        protocol=("mAP@200 (voc)", "mAP@200 (sem-pcyc)", "mAP@all", "P@200"),
    ),
}

QUICKDRAW_GALLERY = "doodle2search: images"
"""QuickDraw Extended's photos, under either folder name (Doodle2Search reads them as ``EXTEND_image_quickdraw``)."""

_MINI_LAYOUT = Layout("mini", "one folder per domain", "sketch", "photo")

BENCHMARKS: dict[str, Benchmark] = {
    "sketchy_ext": Benchmark(
        name="sketchy_ext",
        description="Sketchy Extended: 75,471 sketches and 73,002 photos of 125 classes",
        layouts=(
            Layout(
                "sempcyc",
                "SEM-PCYC / Doodle2Search release",
                "sketch/tx_000000000000",
                "extended_photo",
                container="Sketchy",
                gallery=SEMPCYC_GALLERY,
            ),
            Layout(
                "sake",
                "SAKE release",
                "256x256/sketch/tx_000000000000_ready",
                "EXTEND_image_sketchy_ready",
                container="Sketchy",
                extra_photo_dir="256x256/photo/tx_000000000000_ready",  # the folder SAKE's photo lists name
                gallery=SAKE_GALLERY,
            ),
        ),
        splits=_SKETCHY_SPLITS,
        default_split="sempcyc25",
        default_protocol=("mAP@all", "P@100"),
    ),
    "tuberlin_ext": Benchmark(
        name="tuberlin_ext",
        description="TU-Berlin Extended: 20,000 sketches and 204,489 photos of 250 classes",
        # One photo folder: SEM-PCYC's, SAKE's and zsb's galleries are every photo of the unseen classes.
        layouts=(Layout("sempcyc", "SEM-PCYC / SAKE release", "sketches", "images", container="TU-Berlin",
                        gallery="tu-berlin: images"),),
        splits={
            "sempcyc30": Split(
                "sempcyc30",
                "SEM-PCYC random 30 unseen classes, numpy seed 0; seen = the other 220",
                unseen_file="tuberlin_sempcyc_seed0_unseen30.txt",
                protocol=("mAP@all", "P@100"),
            ),
            "sake30": Split(
                "sake30",
                "SAKE zeroshot: 30 unseen / 220 seen classes",
                unseen_file="tuberlin_sake_zeroshot_unseen30.txt",
                seen_file="tuberlin_sake_zeroshot_seen220.txt",
                protocol=("mAP@all (voc)", "P@100"),
            ),
        },
        default_split="sempcyc30",
        default_protocol=("mAP@all", "P@100"),
    ),
    "quickdraw_ext": Benchmark(
        name="quickdraw_ext",
        description="QuickDraw Extended (Doodle2Search): 330,000 sketches and 204,000 photos of 110 classes",
        layouts=(
            Layout("d2s", "Doodle2Search release", "sketches", "images", container="QuickDraw",
                   gallery=QUICKDRAW_GALLERY),
            Layout(
                "final",
                "Doodle2Search release, original folder names",
                "QuickDraw_sketches_final",
                "QuickDraw_images_final",
                container="QuickDraw",
                gallery=QUICKDRAW_GALLERY,
            ),
        ),
        splits={
            "d2s30": Split(
                "d2s30",
                "Doodle2Search (Dey et al. 2019): 30 unseen / 80 seen classes",
                unseen_file="quickdraw_d2s_unseen30.txt",
                seen_file="quickdraw_zse_seen80.txt",
                protocol=("mAP@all", "mAP@all (voc)", "P@200"),  # Doodle2Search: exact; SAKE, TCN: voc
            ),
        },
        default_split="d2s30",
        default_protocol=("mAP@all", "P@200"),
    ),
    "sketchy_mini": Benchmark(
        name="sketchy_mini",
        description="sketchy-mini: real Sketchy subset, 125 classes, 25 sketches + 25 photos each",
        layouts=(_MINI_LAYOUT,),
        splits=_SKETCHY_SPLITS,
        default_split="sempcyc25",
        default_protocol=("mAP@all", "P@100"),
        fetched="sketchy-mini",
    ),
    "synthetic": Benchmark(
        name="synthetic",
        description="embedded procedural benchmark (30 classes, generated on first use)",
        layouts=(_MINI_LAYOUT,),
        splits={"default": SyntheticSplit("default", "the 6 unseen classes of zsb.data.synthetic.SYNTHETIC_UNSEEN")},
        default_split="default",
        default_protocol=("mAP@all", "P@100", "P@10"),
        needs_data_root=False,
    ),
}


VALIDATION_FRACTION = 0.2
"""Share of a split's seen classes held out as validation classes (at least one)."""


def validation_classes(seen: list[str]) -> list[str]:
    """The validation classes of a split: :data:`VALIDATION_FRACTION` of its seen classes, the ones whose canonical
    names have the smallest SHA-256, sorted. Every choice (hyperparameters, defaults, variants) is made by training
    on the other seen classes and evaluating on these; the test classes are never read.

    No peer ships class-level validation lists for these splits (SAKE's held-out seen-class sketches are other
    images of the training classes, not other classes), so zsb draws its own. A hash rather than a seeded shuffle:
    the choice of a class does not depend on which other classes are on disk, nor on a library's RNG."""
    count = max(1, round(VALIDATION_FRACTION * len(seen)))
    return sorted(sorted(seen, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:count])


def get_benchmark(name: str) -> Benchmark:
    """The named benchmark; ConfigError listing the valid names otherwise."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{name}'; valid benchmarks: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def load_split(benchmark_name: str, split_name: str | None = None) -> tuple[list[str] | None, list[str]]:
    """(seen classes, unseen classes) of a benchmark's split, canonical names, sorted. ``seen`` is None when the
    split's seen classes are every other class found on disk. ``split_name`` None means the default split."""
    return get_benchmark(benchmark_name).split(split_name).load()
