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

from zsb.data.counts import EXPECTED_COUNTS, Count, ReleaseCounts, release_class_names
from zsb.data.layouts import find_layout, inspect_images, list_class_files, list_class_folders
from zsb.data.registry import Benchmark, get_benchmark, normalize_class_name
from zsb.errors import DataError

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
