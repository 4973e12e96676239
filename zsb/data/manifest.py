"""The manifest: one table listing every image of a benchmark with its domain, class and zero-shot role.

Zero-shot SBIR (paper, Sec. 4.1) trains on the sketches and photos of the *seen* classes and evaluates by
retrieving photos of the *unseen* classes (the gallery) with their sketches (the queries). :func:`build_manifest`
scans a benchmark release once, checks every image cheaply and records what it had to skip, so that later stages
never meet an unreadable file; :func:`write_manifest` / :func:`read_manifest` store it as a CSV file with a JSON
sidecar.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zsb.data.layouts import find_layout, inspect_images, list_class_files, list_class_folders
from zsb.data.registry import get_benchmark, normalize_class_name, validation_classes
from zsb.domains import DOMAIN_NAMES
from zsb.errors import ConfigError, DataError
from zsb.io import atomic_write_json, atomic_write_text

COLUMNS = ("path", "domain", "class_name", "seen", "label")
"""Manifest columns: absolute image path; "sketch" or "photo"; canonical class name; True for a seen (training)
class; label = index of the class in the sorted seen classes (seen rows) or sorted unseen classes (unseen rows).

"Unseen" means the classes a run evaluates on: the split's test classes, or, with ``evaluate_on="validation"``,
its validation classes (:func:`zsb.data.registry.validation_classes`), held out from the seen classes."""

EVALUATE_ON = ("test", "validation")

NOT_AN_IMAGE = "not an image file"
UNREADABLE = "unreadable image"
_SIDECAR_FORMAT = "zsb-manifest-1"


@dataclass
class Manifest:
    """Every image of one benchmark split, plus what was skipped while building it.

    Attributes:
        frame: DataFrame with the columns :data:`COLUMNS`, sorted by class, domain (sketches first) and path.
        seen_classes: sorted canonical names of the seen (training) classes.
        unseen_classes: sorted canonical names of the unseen (test) classes.
        skipped: (path, reason) of every file left out; the reason starts with :data:`NOT_AN_IMAGE`,
            or :data:`UNREADABLE`.
        benchmark, split, layout: what was read (names from :mod:`zsb.data.registry`).
        data_root: the data root that was read.
    """

    frame: pd.DataFrame
    seen_classes: list[str]
    unseen_classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    benchmark: str = ""
    split: str = ""
    layout: str | None = None
    data_root: str | None = None
    evaluate_on: str = "test"

    def train(self) -> pd.DataFrame:
        """Training rows: sketches and photos of the seen classes (index reset)."""
        return self.frame[self.frame["seen"]].reset_index(drop=True)

    def queries(self) -> pd.DataFrame:
        """Evaluation queries: sketches of the unseen classes (index reset)."""
        return self._unseen("sketch")

    def gallery(self) -> pd.DataFrame:
        """Evaluation gallery: photos of the unseen classes (index reset)."""
        return self._unseen("photo")

    def _unseen(self, domain: str) -> pd.DataFrame:
        rows = ~self.frame["seen"] & (self.frame["domain"] == domain)
        return self.frame[rows].reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Images per class and domain: index class_name, columns seen (bool), sketch, photo (ints)."""
        table = pd.crosstab(self.frame["class_name"], self.frame["domain"])
        table = table.reindex(columns=list(DOMAIN_NAMES), fill_value=0)
        table.insert(0, "seen", table.index.isin(self.seen_classes))
        table.columns.name = None
        return table

    def skipped_summary(self) -> dict[str, int]:
        """Number of skipped files per kind of reason (:data:`NOT_AN_IMAGE`, :data:`UNREADABLE`)."""
        summary: dict[str, int] = {}
        for _, reason in self.skipped:
            kind = reason.split(":", 1)[0]
            summary[kind] = summary.get(kind, 0) + 1
        return summary


def build_manifest(
    benchmark: str,
    data_root: str | os.PathLike | None = None,
    split: str | None = None,
    *,
    max_seen_classes: int | None = None,
    max_unseen_classes: int | None = None,
    max_per_class: int | None = None,
    verify_images: bool = True,
    layout: str | None = None,
    progress: bool = False,
    evaluate_on: str = "test",
    processes: int | None = None,
) -> Manifest:
    """Scan a benchmark release and list the images of one zero-shot split.

    Args:
        benchmark: benchmark name (``zsb.data.registry.BENCHMARKS``).
        data_root: the release's folder (see the benchmark's layouts; for the layouts under a top folder such as
            ``Sketchy/``, either that folder or the folder containing it). None is allowed only for "synthetic",
            which is then generated (once) into its cache folder.
        split: split name; None for the benchmark's default split.
        max_seen_classes: keep only the first N seen classes in sorted order (tiny smoke configs); None keeps all.
        max_unseen_classes: same for the unseen classes.
        max_per_class: keep only the first N readable images in sorted path order of each class *and* domain;
            None keeps all.
        verify_images: check that each kept image decodes (``layouts.check_image``: PNG CRCs, JPEG at 1/8 scale;
            about 0.2 ms per 256x256 file) and skip the ones that do not. Default True.
        layout: force one of the benchmark's layouts by name (when a folder holds several releases); None picks
            the first layout found, those holding the split's standard gallery first
            (:meth:`zsb.data.registry.Benchmark.layouts_for`: SAKE's release for sake25).
        progress: show a progress bar over the image files.
        evaluate_on: ``"test"`` (train on every seen class, evaluate on the split's unseen classes) or
            ``"validation"`` (train on the seen classes but the validation classes, evaluate on those: no file in
            a test class's folder is listed or opened).
        processes: worker processes that check and resolve the images (``layouts.inspect_images``; None: one per
            usable core for large benchmarks, 1: none). The manifest does not depend on it.

    Files that are not images and unreadable images are left out, recorded in
    ``Manifest.skipped`` and summarised in a warning. A split class missing on disk, or a class folder left with no
    readable image, is a DataError.
    """
    for name, value in (
        ("max_seen_classes", max_seen_classes),
        ("max_unseen_classes", max_unseen_classes),
        ("max_per_class", max_per_class),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
    if evaluate_on not in EVALUATE_ON:
        raise ConfigError(f"evaluate_on must be one of {', '.join(EVALUATE_ON)}, got {evaluate_on!r}")
    spec = get_benchmark(benchmark)
    split_spec = spec.split(split)
    seen, unseen = split_spec.load()
    root = spec.resolve_root(data_root)
    found_layout, sketch_dir, photo_dir = find_layout(spec.name, spec.layouts_for(split_spec.name), root, layout)
    folders = {"sketch": _class_folders(sketch_dir), "photo": _class_folders(photo_dir)}
    extra_photo_dir = found_layout.extra_photo_folder(sketch_dir)
    extra_photos = _class_folders(extra_photo_dir) if extra_photo_dir is not None else {}
    domain_dirs = {"sketch": sketch_dir, "photo": photo_dir}

    if seen is None:
        on_both = folders["sketch"].keys() & folders["photo"].keys()
        one_domain = sorted((folders["sketch"].keys() | folders["photo"].keys()) - on_both - set(unseen))
        if one_domain:
            warnings.warn(
                f"{spec.name}: ignoring {len(one_domain)} class folder(s) found in only one of {sketch_dir} and "
                f"{photo_dir}: {', '.join(one_domain)}",
                stacklevel=2,
            )
        seen = sorted(on_both - set(unseen))
    if evaluate_on == "validation":
        held_out = validation_classes(seen)
        seen, unseen = [name for name in seen if name not in held_out], held_out
    for domain in DOMAIN_NAMES:
        missing = [name for name in unseen + seen if name not in folders[domain]]
        if missing:
            raise DataError(
                f"split '{split_spec.name}' of benchmark '{spec.name}' names {len(missing)} class(es) that have no "
                f"folder in {domain_dirs[domain]}: {', '.join(missing)}. That folder has {len(folders[domain])} "
                "class folders (names compared in lower case, spaces and hyphens read as underscores). Check the "
                "data root, or choose the split that matches this release."
            )
    seen, unseen = seen[:max_seen_classes], unseen[:max_unseen_classes]
    roles = {name: (True, label) for label, name in enumerate(seen)}
    roles.update({name: (False, label) for label, name in enumerate(unseen)})

    tasks = [(name, domain) for name in sorted(roles) for domain in DOMAIN_NAMES]
    listed = []  # per task: (class folder, image files in the order they are kept, other entries)
    for name, domain in tasks:
        images, others = list_class_files(folders[domain][name])
        if domain == "photo" and name in extra_photos:
            extra_images, extra_others = list_class_files(extra_photos[name])
            images, others = images + extra_images, others + extra_others
        listed.append((folders[domain][name], images, others))
    inspected = _inspect_in_order([images for _, images, _ in listed], max_per_class, verify_images, processes,
                                  progress, f"{spec.name} manifest")

    rows: list[tuple[str, str, str, bool, int]] = []
    skipped: list[tuple[str, str]] = []
    for (name, domain), (folder, images, others), outcomes in zip(tasks, listed, inspected):
        skipped += [(str(path), NOT_AN_IMAGE) for path in others]
        skipped += [(str(path), f"{UNREADABLE}: {reason}") for path, (_, reason) in zip(images, outcomes) if reason]
        kept = [resolved for resolved, reason in outcomes if reason is None]
        if not kept:
            contents = f"{len(images)} image file(s), none readable" if images else "no image file"
            raise DataError(
                f"class folder {folder} has no readable image: it holds {contents} and {len(others)} other "
                "file(s). Every class of the split needs images in both domains: restore the folder's images, or "
                "choose a split without this class."
            )
        is_seen, label = roles[name]
        rows += [(resolved, domain, name, is_seen, label) for resolved in kept]

    manifest = Manifest(
        frame=pd.DataFrame(rows, columns=list(COLUMNS)),
        seen_classes=seen,
        unseen_classes=unseen,
        skipped=skipped,
        benchmark=spec.name,
        split=split_spec.name,
        layout=found_layout.name,
        data_root=str(root.resolve()),
        evaluate_on=evaluate_on,
    )
    _warn_skipped(manifest)
    return manifest


def _inspect_in_order(
    candidates: list[list[Path]], max_per_class: int | None, verify: bool, processes: int | None, progress: bool,
    desc: str,
) -> list[list[tuple[str, str | None]]]:
    """For each list of candidate images, ``layouts.inspect_image`` of its shortest prefix that holds
    ``max_per_class`` readable images (all of it when None or when it holds fewer): exactly the files a check in
    order, stopping at the ``max_per_class``-th readable one, would open. All lists are checked together, in rounds
    (a list short of readable images after one round gets as many more files in the next), so that
    ``layouts.inspect_images`` can spread the files of every class over its worker processes."""
    inspected: list[list[tuple[str, str | None]]] = [[] for _ in candidates]

    def wanted(index: int) -> range:
        done = inspected[index]
        if max_per_class is None:
            return range(len(done), len(candidates[index]))
        readable = sum(reason is None for _, reason in done)
        return range(len(done), min(len(done) + max_per_class - readable, len(candidates[index])))

    pending = [(index, position) for index in range(len(candidates)) for position in wanted(index)]
    while pending:
        outcomes = inspect_images([candidates[i][position] for i, position in pending], verify, processes, progress,
                                  desc)
        for (index, _), outcome in zip(pending, outcomes):
            inspected[index].append(outcome)
        pending = [(index, position) for index in range(len(candidates)) for position in wanted(index)]
    return inspected


def _class_folders(domain_dir: Path) -> dict[str, Path]:
    """Class folders keyed by canonical class name; DataError when two folders name the same class."""
    folders: dict[str, Path] = {}
    for folder in list_class_folders(domain_dir):
        name = normalize_class_name(folder.name)
        if name in folders:
            raise DataError(
                f"class folders {folders[name]} and {folder} both name the class '{name}' (names are compared in "
                "lower case, spaces and hyphens read as underscores). Remove or merge one of them."
            )
        folders[name] = folder
    return folders


def _warn_skipped(manifest: Manifest) -> None:
    explanations = {
        NOT_AN_IMAGE: "files without an image extension, ignored",
        UNREADABLE: "images that do not decode (corrupt or truncated), skipped",
    }
    for kind, count in manifest.skipped_summary().items():
        examples = [path for path, reason in manifest.skipped if reason.startswith(kind)][:3]
        warnings.warn(
            f"{manifest.benchmark}: {count} {kind}(s) left out of the manifest ({explanations[kind]}), "
            f"e.g. {', '.join(examples)}. The full list is in Manifest.skipped and the manifest's JSON sidecar.",
            stacklevel=3,
        )


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of a manifest CSV: same name with the suffix ``.json`` (``train.csv`` -> ``train.json``)."""
    return Path(path).with_suffix(".json")


def write_manifest(manifest: Manifest, path: str | os.PathLike) -> None:
    """Write the manifest atomically: the table as CSV at ``path``, everything else in its JSON sidecar
    (:func:`sidecar_path`) together with the CSV's SHA-256, so a half-replaced pair is detected on reading."""
    text = manifest.frame.to_csv(index=False, columns=list(COLUMNS))
    atomic_write_text(path, text)
    atomic_write_json(
        sidecar_path(path),
        {
            "format": _SIDECAR_FORMAT,
            "benchmark": manifest.benchmark,
            "split": manifest.split,
            "layout": manifest.layout,
            "data_root": manifest.data_root,
            "evaluate_on": manifest.evaluate_on,
            "seen_classes": manifest.seen_classes,
            "unseen_classes": manifest.unseen_classes,
            "num_rows": len(manifest.frame),
            "csv_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "skipped": [list(entry) for entry in manifest.skipped],
        },
    )


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read a manifest written by :func:`write_manifest`; DataError (saying to run the data stage again) when the
    CSV or its sidecar is missing, damaged, inconsistent, or points at images that are no longer there."""
    path = Path(path)
    rebuild = "Run the data stage again to rebuild it."
    sidecar = sidecar_path(path)
    for required in (path, sidecar):
        if not required.is_file():
            raise DataError(f"manifest file {required} does not exist. {rebuild}")
    try:
        text = path.read_text(encoding="utf-8")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        frame = pd.read_csv(io.StringIO(text), dtype={"path": str, "domain": str, "class_name": str})
        checks = [
            (meta.get("format") == _SIDECAR_FORMAT, f"{sidecar} is not a zsb manifest sidecar"),
            (hashlib.sha256(text.encode("utf-8")).hexdigest() == meta.get("csv_sha256"),
             f"{path} does not match the checksum recorded in {sidecar} (modified, or written by another run)"),
            (list(frame.columns) == list(COLUMNS), f"{path} has columns {list(frame.columns)}, not {list(COLUMNS)}"),
        ]
        for ok, problem in checks:
            if not ok:
                raise DataError(f"manifest {path} is damaged: {problem}. {rebuild}")
        manifest = Manifest(
            frame=frame.astype({"seen": bool, "label": "int64"}),
            seen_classes=list(meta["seen_classes"]),
            unseen_classes=list(meta["unseen_classes"]),
            skipped=[(str(p), str(reason)) for p, reason in meta["skipped"]],
            benchmark=meta["benchmark"],
            split=meta["split"],
            layout=meta["layout"],
            data_root=meta["data_root"],
            evaluate_on=meta.get("evaluate_on", "test"),
        )
    except (ValueError, KeyError, TypeError, pd.errors.ParserError) as error:
        raise DataError(f"manifest {path} could not be read ({type(error).__name__}: {error}). {rebuild}") from error
    _check_consistent(manifest, path, rebuild)
    return manifest


def _check_consistent(manifest: Manifest, path: Path, rebuild: str) -> None:
    """DataError when rows disagree with the class lists, or the first image is gone (the data moved)."""
    frame = manifest.frame
    classes = {True: manifest.seen_classes, False: manifest.unseen_classes}
    expected = [
        classes[seen][label] if 0 <= label < len(classes[seen]) else None
        for seen, label in zip(frame["seen"], frame["label"])
    ]
    if list(frame["class_name"]) != expected or not frame["domain"].isin(DOMAIN_NAMES).all():
        raise DataError(f"manifest {path} is inconsistent: labels, classes or domains do not agree. {rebuild}")
    if len(frame) and not Path(frame["path"].iloc[0]).is_file():
        raise DataError(
            f"manifest {path} lists {frame['path'].iloc[0]}, which no longer exists (was the data moved?). {rebuild}"
        )
