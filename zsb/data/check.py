"""``zsb data check``: is a copy of a benchmark release on disk complete and readable?

Most data trouble is a copy that differs from the release: a dead link or a download that stopped half way, a
renamed class folder, a truncated image, a class of the split missing. :func:`check_data` finds the release's
layout under a data root (:func:`zsb.data.layouts.find_layout`), counts the image files of every class folder of
each domain, decodes each file (the manifest's own check, :func:`zsb.data.layouts.check_image`) and compares what it
found with what is known of the release (:data:`EXPECTED_COUNTS`): the class names, the files per class where that
is known, the totals where only they are known. :func:`render_report` writes one line per difference, each saying
what to do.

Class names come from the split files: a split that lists both its seen and its unseen classes lists every class of
the release (Sketchy 125, TU-Berlin 250, QuickDraw 110). Counts are only what the sources give; where a count is
not known nothing is compared and the report says so. With ``--split`` (or for every split) the sketches and photos
of the split's unseen classes, its queries and gallery, are compared with the peers' file lists where they are
known: Sketchy's sake25, sempcyc25 and eccv21 (SAKE's zeroshot1 lists, on each layout's gallery), TU-Berlin's sake30
(SAKE's zeroshot lists), QuickDraw's d2s30 (ZSE-SBIR's lists). TU-Berlin's sempcyc30 totals are not known.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zsb.data.layouts import find_layout, inspect_images, list_class_files, list_class_folders
from zsb.data.registry import Benchmark, get_benchmark, normalize_class_name
from zsb.errors import DataError


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

DOMAIN_LABELS = {"sketch": "sketches", "photo": "photos", "extra_photo": "original photos"}


@dataclass
class DomainCheck:
    """What was found in one domain folder, and how it differs from the release.

    Attributes:
        key: "sketch", "photo" or "extra_photo" (the layout's second photo folder).
        folder: the domain folder.
        expected: what is known of it (None: nothing).
        counts: canonical class name -> number of image files.
        folders: canonical class name -> class folder.
        duplicates: pairs of class folders that name the same class.
        extensions: image files per extension, as spelled on disk (".jpg", ".JPEG", ...).
        others: entries of the class folders that are not image files (zsb ignores them).
        unreadable: (file, why) of every image that does not decode.
        missing: classes of the release with no folder here.
        extra: class folders that are no class of the release.
        wrong_size: (class, files found, files expected) of every class whose count differs from the release's.
        empty: classes whose folder holds no image file.
    """

    key: str
    folder: Path
    expected: Count | None
    counts: dict[str, int] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)
    extensions: Counter = field(default_factory=Counter)
    others: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong_size: list[tuple[str, int, int]] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return DOMAIN_LABELS[self.key]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Problem:
    """One difference between the copy and the release: what it is and what to do, on one line."""

    kind: str
    message: str


@dataclass
class CheckReport:
    """The result of :func:`check_data`.

    Attributes:
        benchmark, layout, layout_description: what was found.
        data_root: the data root that was read.
        class_names: the release's classes (canonical names), or None when not known.
        expected_classes: the number of classes of the release, or None.
        domains: one :class:`DomainCheck` per domain folder.
        splits: the splits whose classes were looked for.
        split_totals: (split, domain key, files found, known count) of the unseen classes of a split, where the
            release's count of them is known.
        problems: every difference; the copy matches when there is none.
        notes: things worth knowing that are not differences (estimates, extension spellings, non-image files).
        verified: whether every image was decoded.
    """

    benchmark: str
    layout: str
    layout_description: str
    data_root: Path
    class_names: list[str] | None
    expected_classes: int | None
    domains: list[DomainCheck]
    splits: list[str]
    split_totals: list[tuple[str, str, int, Count]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verified: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


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


def check_data(
    benchmark: str,
    data_root: str | os.PathLike | None,
    split: str | None = None,
    *,
    layout: str | None = None,
    verify: bool = True,
    progress: bool = True,
    expected: ReleaseCounts | None = None,
) -> CheckReport:
    """Compare a copy of a benchmark release on disk with what is known of the release.

    Args:
        benchmark: benchmark name (``zsb.data.registry.BENCHMARKS``).
        data_root: the release's folder, as for ``zsb reproduce`` (None only for "synthetic": its generated tree).
        split: the split whose classes must be on disk; None checks every split of the benchmark.
        layout: force one of the benchmark's layouts by name; None takes the first one found (for a split with a
            standard gallery, the layout holding it first, as the manifest does).
        verify: decode every image file (``layouts.check_image``, the manifest's check); False counts files only.
        progress: show a progress bar while decoding.
        expected: what is known of the release; None reads :data:`EXPECTED_COUNTS`.

    A user error (unknown benchmark, split or layout; a data root that does not exist or holds no layout of the
    benchmark) raises a :class:`zsb.errors.ZSBError` with a one-line message. Everything else is reported.
    """
    spec = get_benchmark(benchmark)
    split_names = [spec.split(split).name] if split is not None else list(spec.splits)
    try:
        root = spec.resolve_root(data_root)
        layouts = spec.layouts_for(split) if split is not None else spec.layouts
        found_layout, sketch_dir, photo_dir = find_layout(spec.name, layouts, root, layout)
    except DataError as error:
        raise DataError(_one_line(str(error))) from error
    if expected is None:
        expected = EXPECTED_COUNTS.get(spec.name, {}).get(found_layout.name)
    counts = expected or ReleaseCounts(None, Count(), Count())
    names = release_class_names(spec)
    report = CheckReport(
        benchmark=spec.name, layout=found_layout.name, layout_description=found_layout.description,
        data_root=root, class_names=names, expected_classes=counts.classes if expected else None,
        domains=[], splits=split_names, verified=verify,
    )
    report.domains = [_scan("sketch", sketch_dir, counts.sketch), _scan("photo", photo_dir, counts.photo)]
    try:
        extra_dir = found_layout.extra_photo_folder(sketch_dir)
    except DataError as error:
        report.problems.append(Problem("missing folder", _one_line(str(error))))
        extra_dir = None
    if extra_dir is not None:
        report.domains.append(_scan("extra_photo", extra_dir, counts.extra_photo))
    if verify:
        _verify(report.domains, progress, spec.name)

    for domain in report.domains:
        _compare(domain, names, report)
    if names is None:
        _compare_class_sets(report)
    for name in split_names:
        _check_split(spec, name, counts.unseen.get(name), report)
    _add_notes(report)
    return report


def _one_line(message: str) -> str:
    """A multi-line error message on one line: the layouts' bullet list joined with semicolons."""
    out, previous_bullet = "", False
    for line in (line.strip() for line in message.splitlines()):
        if not line:
            continue
        bullet = line.startswith("- ")
        line = line.removeprefix("- ")
        if not out:
            out = line
        elif bullet and previous_bullet:
            out += "; " + line
        elif previous_bullet:
            out += ". " + line
        else:
            out += " " + line
        previous_bullet = bullet
    return out


def _scan(key: str, folder: Path, expected: Count | None) -> DomainCheck:
    domain = DomainCheck(key, folder, expected)
    for class_folder in list_class_folders(folder):
        name = normalize_class_name(class_folder.name)
        images, others = list_class_files(class_folder)
        if name in domain.folders:
            domain.duplicates.append((domain.folders[name], class_folder))
            domain.counts[name] += len(images)
        else:
            domain.folders[name] = class_folder
            domain.counts[name] = len(images)
        domain.extensions.update(path.suffix for path in images)
        domain.others += others
        if not images:
            domain.empty.append(name)
    return domain


def _verify(domains: list[DomainCheck], progress: bool, benchmark: str) -> None:
    """Decode every image file of every class folder (a duplicate class's second folder too), in parallel on the
    usable cores (:func:`zsb.data.layouts.inspect_images`, the manifest's check)."""
    files = []
    for domain in domains:
        class_folders = list(domain.folders.values()) + [second for _, second in domain.duplicates]
        files += [(domain, path) for folder in class_folders for path in list_class_files(folder)[0]]
    checked = inspect_images([path for _, path in files], progress=progress, desc=f"{benchmark}: decoding")
    for (domain, path), (_, reason) in zip(files, checked):
        if reason is not None:
            domain.unreadable.append((path, reason))


def _compare(domain: DomainCheck, names: list[str] | None, report: CheckReport) -> None:
    """Add the differences of one domain folder to the report."""
    label, folder = domain.label, domain.folder
    for first, second in domain.duplicates:
        report.problems.append(Problem(
            "duplicate class",
            f"{label}: folders {first} and {second} both name the class '{normalize_class_name(first.name)}' "
            "(names compared in lower case, spaces and hyphens read as underscores): merge them or remove one.",
        ))
    if names is not None:
        domain.missing = sorted(set(names) - domain.folders.keys())
        domain.extra = sorted(domain.folders.keys() - set(names))
        renames = _pair_renames(domain.missing, domain.extra)
        for missing in domain.missing:
            if missing in renames:
                extra_folder = domain.folders[renames[missing]]
                report.problems.append(Problem(
                    "renamed class",
                    f"{label}: class '{missing}' has no folder in {folder}, and folder {extra_folder.name} is no "
                    f"class of the release: rename {extra_folder} to {folder / missing}.",
                ))
            else:
                report.problems.append(Problem(
                    "missing class",
                    f"{label}: class '{missing}' has no folder in {folder}: restore {folder / missing} from the "
                    "release (re-download or re-extract its archive).",
                ))
        for extra in domain.extra:
            if extra not in renames.values():
                report.problems.append(Problem(
                    "extra class",
                    f"{label}: folder {domain.folders[extra]} is no class of the release: move it out of {folder} "
                    "(a split without a seen-class list would train on it).",
                ))
    per_class = domain.expected.per_class if domain.expected else None
    if per_class is not None:
        for name in sorted(domain.counts):
            found = domain.counts[name]
            if found != per_class and (names is None or name in names):
                domain.wrong_size.append((name, found, per_class))
                if found < per_class:
                    what = f"{per_class - found:,} missing: re-download or re-extract this class"
                else:
                    what = f"{found - per_class:,} more: remove the files that are not the release's"
                report.problems.append(Problem(
                    "short class" if found < per_class else "long class",
                    f"{label}: {domain.folders[name]} has {found:,} image files, the release {per_class:,} "
                    f"({what}).",
                ))
    else:
        for name in domain.empty:
            report.problems.append(Problem(
                "empty class",
                f"{label}: {domain.folders[name]} holds no image file: re-download or re-extract this class.",
            ))
    if per_class is None and domain.expected is not None and domain.expected.matches(domain.total) is False:
        # With files per class known, the class lines above name every difference; otherwise only the total can.
        found, wanted = domain.total, domain.expected
        direction = "fewer" if found < wanted.total else "more"
        if domain.missing and direction == "fewer":
            hint = f"{len(domain.missing)} class folder(s) are missing (above); restore them and check again."
        elif direction == "fewer":
            hint = (
                "the release's files per class are not known, so the short classes cannot be named: re-download "
                f"the {label} archive, or compare the folder with the release's file lists."
            )
        else:
            hint = "a second copy or other files in the class folders? Remove what is not the release's."
        report.problems.append(Problem(
            "total",
            f"{label}: {found:,} image files in {folder}, {direction} than the release's {wanted.describe_total()}: "
            f"{hint}",
        ))
    for path, reason in domain.unreadable:
        report.problems.append(Problem(
            "unreadable",
            f"{label}: {path} does not decode ({reason}): re-download it (zsb would skip it with a warning).",
        ))


def _pair_renames(missing: list[str], extra: list[str]) -> dict[str, str]:
    """missing class -> the extra folder name that looks like it under another name (a renamed folder)."""
    pairs: dict[str, str] = {}
    left = list(extra)
    for name in missing:
        match = difflib.get_close_matches(name, left, n=1, cutoff=0.6)
        if match:
            pairs[name] = match[0]
            left.remove(match[0])
    return pairs


def _compare_class_sets(report: CheckReport) -> None:
    """When the release's class names are not known: classes in one domain only, and the number of classes."""
    sketch, photo = report.domains[0], report.domains[1]
    for here, there in ((sketch, photo), (photo, sketch)):
        for name in sorted(here.folders.keys() - there.folders.keys()):
            report.problems.append(Problem(
                "missing class",
                f"{there.label}: class '{name}' has a folder in {here.folder} but none in {there.folder}: restore "
                f"{there.folder / name} from the release, or move {here.folders[name]} out.",
            ))
    if report.expected_classes is not None:
        for domain in (sketch, photo):
            if len(domain.folders) != report.expected_classes:
                report.problems.append(Problem(
                    "class count",
                    f"{domain.label}: {len(domain.folders)} class folders in {domain.folder}, the release has "
                    f"{report.expected_classes}: restore the missing ones or move the others out.",
                ))


def _check_split(spec: Benchmark, split_name: str, unseen_counts: dict[str, Count] | None, report: CheckReport) -> None:
    """The split's classes absent from either domain, and its unseen classes' totals where they are known."""
    seen, unseen = spec.split(split_name).load()
    needed = sorted(set(unseen) | set(seen or ()))
    for domain in report.domains[:2]:
        absent = [name for name in needed if name not in domain.folders]
        if absent:
            shown = ", ".join(absent[:10]) + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
            report.problems.append(Problem(
                "split",
                f"split '{split_name}': {len(absent)} of its classes have no folder in {domain.folder} ({shown}): "
                f"zsb reproduce --split {split_name} stops on them; restore them (see above), or choose a split "
                "that this copy holds.",
            ))
    for key, count in (unseen_counts or {}).items():
        domains = [d for d in report.domains if d.key == key or (key == "photo" and d.key == "extra_photo")]
        found = sum(d.counts.get(name, 0) for d in domains for name in unseen)
        report.split_totals.append((split_name, key, found, count))
        if count.matches(found) is False:
            report.problems.append(Problem(
                "split total",
                f"split '{split_name}': its {len(unseen)} unseen classes hold {found:,} {DOMAIN_LABELS[key]}, the "
                f"release {count.describe_total()} ({count.source}): re-download the {DOMAIN_LABELS[key]} of "
                "those classes.",
            ))


def _add_notes(report: CheckReport) -> None:
    for domain in report.domains:
        spellings = sorted(domain.extensions)
        lower = {ext.lower() for ext in spellings}
        if any(ext != ext.lower() for ext in spellings) or len(spellings) > len(lower):
            listed = ", ".join(f"{domain.extensions[ext]:,} {ext}" for ext in spellings)
            report.notes.append(
                f"{domain.label}: {listed}. zsb reads image extensions in any letter case; a loader that matches "
                "'.jpg' only drops the others."
            )
        if domain.others:
            examples = ", ".join(str(path) for path in domain.others[:3])
            report.notes.append(
                f"{domain.label}: {len(domain.others):,} entries in class folders are no image files and are ignored "
                f"(e.g. {examples}); a '.part' or '.crdownload' name is an unfinished download."
            )


def render_report(report: CheckReport, limit: int | None = 20) -> str:
    """The report as text: what was found against what is known, then one line per problem saying what to do
    (at most ``limit`` lines of each kind; None shows all), then the verdict."""
    header = f"zsb data check: {report.benchmark}, layout '{report.layout}' ({report.layout_description})"
    lines = [f"{header} at {report.data_root}"]
    if report.class_names is not None:
        classes = f"{len(report.class_names)} classes (names from the split files)"
    elif report.expected_classes is not None:
        classes = f"{report.expected_classes} classes (names not known)"
    else:
        classes = "classes not known"
    lines.append(f"  release: {classes}")
    for domain in report.domains:
        expected = domain.expected or Count()
        lines.append(
            f"  {domain.label}: {domain.total:,} image files in {len(domain.folders)} class folders of "
            f"{domain.folder}; release: {expected.describe_total()} [{expected.exactness()}]"
            + (f" ({expected.source})" if expected.source else "")
        )
    files = sum(domain.total for domain in report.domains)
    if report.verified:
        unreadable = sum(len(domain.unreadable) for domain in report.domains)
        lines.append(f"  decoded: {files:,} files, {unreadable:,} unreadable")
    else:
        lines.append("  decoded: no (--no-verify): unreadable files not looked for")
    for split_name, key, found, count in report.split_totals:
        lines.append(
            f"  split '{split_name}', unseen classes: {found:,} {DOMAIN_LABELS[key]}; release: "
            f"{count.describe_total()} [{'exact total' if count.total_max is None else 'total: the sources differ'}]"
            f" ({count.source})"
        )
    lines.append(f"  splits checked: {', '.join(report.splits)}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    if report.ok:
        lines.append("OK: the copy matches everything known of the release.")
        return "\n".join(lines) + "\n"
    lines.append(f"{len(report.problems)} difference(s):")
    shown: Counter = Counter()
    for problem in report.problems:
        shown[problem.kind] += 1
        if limit is None or shown[problem.kind] <= limit:
            lines.append(f"  - {problem.message}")
    for kind, count in shown.items():
        if limit is not None and count > limit:
            lines.append(f"  ... and {count - limit} more '{kind}' line(s) (--all shows every one)")
    lines.append("DIFFERS: the copy is not the release; fix the lines above and run zsb data check again.")
    return "\n".join(lines) + "\n"
