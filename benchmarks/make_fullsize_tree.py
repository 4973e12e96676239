"""Lay out full-size benchmark data roots from sketchy-mini by links, to measure zsb at the real benchmarks' scale
without their data.

Each tree is a data root in one real release's folder layout (the layouts zsb reads, :mod:`zsb.data.registry`),
with the benchmark's real class names and its real number of files, every file a link to a sketchy-mini image
(sketches to sketches, photos to photos, cycling through them); no image is copied. The trees:

=================  ============  ==========================================================================
tree               benchmark     files
=================  ============  ==========================================================================
sketchy_sempcyc    sketchy_ext   SEM-PCYC / Doodle2Search release: 75,471 sketches, 73,002 extended photos
sketchy_sake       sketchy_ext   SAKE release: the same, plus the 12,500 original photos (100 per class)
tuberlin_ext       tuberlin_ext  20,000 sketches (80 per class), 204,489 photos (``.jpg`` and ``.JPEG``)
quickdraw_ext      quickdraw_ext about 330,000 sketches and 204,000 photos; the 30 unseen classes of d2s30 hold
                                 92,291 sketches and 54,151 photos
=================  ============  ==========================================================================

Known and estimated counts (../shared/reference/README.md, "Dataset facts", and ``zsb.data.check``):

* Known exactly: every total above except QuickDraw's two whole-release totals (the Doodle2Search paper's "about"
  figures); TU-Berlin's 80 sketches and Sketchy's 100 original photos per class; and the unseen classes' share of
  one split per benchmark: SAKE ``zeroshot1`` (15,229 query sketches; 14,601 extended gallery photos, the 17,101
  gallery less its 2,500 originals), SAKE TU-Berlin ``zeroshot`` (27,989 gallery photos), Doodle2Search's 30
  unseen QuickDraw classes (92,291 sketches, 54,151 photos).
* Estimated: every other per-class count. Each known group total (a split's unseen classes, the other classes) is
  divided over its classes in proportion to a weight 1 + spread * (2u - 1), u in [0, 1) read from the SHA-256 of
  the class's canonical name (deterministic, independent of the other classes), by largest remainder, each class
  getting at least one file. The spread is 0.1 for sketches (collected per class in near-equal numbers) and 0.5
  for the extended photos (gathered from image searches, unequal); both spreads are guesses.

Class folders are spelled as the releases spell them where zsb knows it: Sketchy's own folder names (sketchy-mini's),
TU-Berlin's as SAKE's class lists write them (``alarm clock``, ``mouse (animal)``), QuickDraw's as its split lists
do, with the photo folder ``effiel_tower`` misspelt as in the release. File names: Sketchy's links keep their
sketchy-mini file's name (``n02691156_10151-1.png``), with ``_<k>`` added on the k-th pass through the class's 25
files; TU-Berlin's sketches are numbered through the release (``1.png`` .. ``20000.png``), its photos per class,
every second one ``.JPEG`` (the release mixes the two spellings; the share is not known); QuickDraw's files are
numbered per class. Sketchy classes link to the same sketchy-mini class; the other benchmarks' classes cycle
through all of sketchy-mini's images of the domain, so their contents have nothing to do with their class names:
the trees are for timing the plumbing, not for accuracy.

Each tree is built in ``OUT/.<tree>.partial`` and renamed to ``OUT/<tree>`` when complete, with its plan (the
counts per class, the scale, the source) in ``OUT/<tree>/fullsize_tree.json``. An existing tree is refused unless
``--force`` is given, which removes it first (only a folder holding that plan file, or a leftover ``.partial``).
``--scale`` multiplies every group total (each class keeps at least one file) for quick trees and tests.

Symbolic links (the default) leave the source untouched; every file of such a tree is a link that zsb resolves (its
manifest lists the sketchy-mini file). Hard links (``--link hard``) read like a release's regular files, but add
links to the source's files: make them from a private copy of sketchy-mini, not from the shared folder.

Linked files sit in the page cache once read, so any input speed measured on these trees is an upper bound of the
speed on the real, larger and distinct, files.

    python benchmarks/make_fullsize_tree.py /work/fullsize                        # all four trees, full size
    python benchmarks/make_fullsize_tree.py /tmp/trees --trees quickdraw_ext --scale 0.01
    python benchmarks/make_fullsize_tree.py /work/fullsize/hard --source COPY_OF_SKETCHY_MINI --link hard
    zsb data check --benchmark quickdraw_ext --data-root /work/fullsize/quickdraw_ext --no-verify
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zsb.data.layouts import Layout, list_class_files, list_class_folders
from zsb.data.registry import get_benchmark, load_split, normalize_class_name
from zsb.errors import ZSBError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "sketchy-mini"
PLAN_FILE = "fullsize_tree.json"
LINK_NAMES = {"symlink": "symbolic links", "hard": "hard links"}
SKETCH_SPREAD, PHOTO_SPREAD = 0.1, 0.5
"""Relative spread of the estimated per-class counts (see the module docstring): guesses."""


@dataclass(frozen=True)
class Group:
    """A known total of files in one domain folder, over a set of classes (canonical names)."""

    classes: tuple[str, ...]
    total: int
    spread: float
    source: str


@dataclass(frozen=True)
class TreeSpec:
    """One data root to lay out: the benchmark and release layout, class folder spellings and the known totals.

    Attributes:
        folders: canonical class name -> the release's folder name, per domain key ("sketch", "photo",
            "extra_photo").
        groups: domain key -> the groups whose totals are known, covering every class.
        estimated: which counts are estimates, in words.
    """

    name: str
    benchmark: str
    layout: str
    folders: dict[str, dict[str, str]]
    groups: dict[str, tuple[Group, ...]]
    estimated: tuple[str, ...]

    def layout_spec(self) -> Layout:
        return next(layout for layout in get_benchmark(self.benchmark).layouts if layout.name == self.layout)

    def domain_dirs(self, root: Path) -> dict[str, Path]:
        """Domain key -> its folder under the data root ``root``, as the layout places them."""
        layout = self.layout_spec()
        top = root / layout.container if layout.container else root
        dirs = {"sketch": top / layout.sketch_dir, "photo": top / layout.photo_dir}
        if layout.extra_photo_dir:
            dirs["extra_photo"] = top / layout.extra_photo_dir
        return dirs


def split_groups(total: int, unseen: list[str], every: list[str], unseen_total: int, spread: float,
                 source: str) -> tuple[Group, ...]:
    """Two groups: a split's unseen classes with their known total, and the other classes with the rest."""
    rest = tuple(name for name in every if name not in set(unseen))
    return (Group(tuple(unseen), unseen_total, spread, source),
            Group(rest, total - unseen_total, spread, f"the rest of {total:,}"))


def read_split_spelling(filename: str) -> dict[str, str]:
    """Canonical class name -> the spelling of a split file in zsb/data/splits (the release's folder name)."""
    lines = (resources.files("zsb.data") / "splits" / filename).read_text(encoding="utf-8").splitlines()
    return {normalize_class_name(line): line.strip() for line in lines if line.strip()}


def tree_specs(source: Path) -> dict[str, TreeSpec]:
    """The four trees (module docstring), their class folder spellings and known totals."""
    mini = {normalize_class_name(folder.name): folder.name for folder in list_class_folders(source / "sketch")}
    sketchy = sorted(mini)
    sake_unseen = load_split("sketchy_ext", "sake25")[1]
    sketchy_groups = {
        "sketch": split_groups(75_471, sake_unseen, sketchy, 15_229, SKETCH_SPREAD, "SAKE zeroshot1 queries"),
        "photo": split_groups(73_002, sake_unseen, sketchy, 14_601, PHOTO_SPREAD,
                              "SAKE zeroshot1 gallery: 17,101 less 2,500 originals"),
    }
    sketchy_estimated = ("per-class sketches and extended photos (group totals known)",)

    tuberlin = {**read_split_spelling("tuberlin_sake_zeroshot_seen220.txt"),
                **read_split_spelling("tuberlin_sake_zeroshot_unseen30.txt")}
    tuberlin_unseen = load_split("tuberlin_ext", "sake30")[1]
    quickdraw = {**read_split_spelling("quickdraw_zse_seen80.txt"),
                 **read_split_spelling("quickdraw_d2s_unseen30.txt")}
    quickdraw_photos = {**quickdraw, "eiffel_tower": "effiel_tower"}  # the release's misspelt photo folder
    quickdraw_unseen = load_split("quickdraw_ext", "d2s30")[1]
    return {
        "sketchy_sempcyc": TreeSpec(
            "sketchy_sempcyc", "sketchy_ext", "sempcyc", {"sketch": mini, "photo": mini}, sketchy_groups,
            sketchy_estimated,
        ),
        "sketchy_sake": TreeSpec(
            "sketchy_sake", "sketchy_ext", "sake", {"sketch": mini, "photo": mini, "extra_photo": mini},
            {**sketchy_groups,
             "extra_photo": (Group(tuple(sketchy), 12_500, 0.0, "Sketchy: 100 original photos per class"),)},
            sketchy_estimated,
        ),
        "tuberlin_ext": TreeSpec(
            "tuberlin_ext", "tuberlin_ext", "sempcyc", {"sketch": tuberlin, "photo": tuberlin},
            {"sketch": (Group(tuple(sorted(tuberlin)), 20_000, 0.0, "TU-Berlin: 80 sketches per class"),),
             "photo": split_groups(204_489, tuberlin_unseen, sorted(tuberlin), 27_989, PHOTO_SPREAD,
                                   "SAKE zeroshot gallery")},
            ("per-class photos (group totals known)", "share of .JPEG photo names (every second)"),
        ),
        "quickdraw_ext": TreeSpec(
            "quickdraw_ext", "quickdraw_ext", "d2s", {"sketch": quickdraw, "photo": quickdraw_photos},
            {"sketch": split_groups(330_000, quickdraw_unseen, sorted(quickdraw), 92_291, SKETCH_SPREAD,
                                    "ZSE-SBIR's test lists"),
             "photo": split_groups(204_000, quickdraw_unseen, sorted(quickdraw), 54_151, PHOTO_SPREAD,
                                   "ZSE-SBIR's test lists")},
            ("whole-release totals (Doodle2Search's 'about' 330,000 sketches, 204,000 photos; seen classes: the rest)",
             "per-class sketches and photos (group totals known)"),
        ),
    }


def class_weight(name: str, spread: float) -> float:
    """1 + spread * (2u - 1), u in [0, 1) from the SHA-256 of the canonical class name."""
    u = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) / 16**12
    return 1.0 + spread * (2.0 * u - 1.0)


def apportion(group: Group, scale: float) -> dict[str, int]:
    """Files per class of one group: the (scaled) total, at least one per class, divided by largest remainder
    over the classes' weights (ties broken by class name)."""
    total = max(len(group.classes), round(group.total * scale))
    weights = {name: class_weight(name, group.spread) for name in group.classes}
    spare = total - len(group.classes)  # after one file each
    exact = {name: spare * weight / sum(weights.values()) for name, weight in weights.items()}
    counts = {name: 1 + int(value) for name, value in exact.items()}
    left = total - sum(counts.values())
    for name in sorted(exact, key=lambda n: (-(exact[n] - int(exact[n])), n))[:left]:
        counts[name] += 1
    return counts


def plan_counts(spec: TreeSpec, scale: float) -> dict[str, dict[str, int]]:
    """Domain key -> canonical class name -> files to make, sorted by class name."""
    plan = {}
    for key, groups in spec.groups.items():
        counts = {name: count for group in groups for name, count in apportion(group, scale).items()}
        plan[key] = dict(sorted(counts.items()))
    return plan


def link_names(spec: TreeSpec, key: str, plan: dict[str, int], pool: dict[str, list[Path]] | list[Path]):
    """Yield (class folder name, file name, source file) for every file of one domain folder, class by class.

    ``pool`` is a class -> files mapping (Sketchy: each class links to its own sketchy-mini class, its files keep
    their names) or one list of files that the whole domain cycles through (files numbered as in the module
    docstring)."""
    serial = 0  # files made so far in this domain folder
    for name, count in plan.items():
        folder = spec.folders[key][name]
        for index in range(count):
            if isinstance(pool, dict):
                files = pool[name]
                source, turn = files[index % len(files)], index // len(files)
                file_name = source.name if turn == 0 else f"{source.stem}_{turn}{source.suffix}"
            else:
                source = pool[serial % len(pool)]
                if spec.benchmark == "tuberlin_ext" and key == "sketch":
                    file_name = f"{serial + 1}.png"  # TU-Berlin numbers its sketches through the release
                elif spec.benchmark == "tuberlin_ext":
                    file_name = f"{index + 1}{'.JPEG' if index % 2 else '.jpg'}"
                else:
                    file_name = f"{index + 1}{source.suffix}"
            serial += 1
            yield folder, file_name, source


def source_pools(source: Path, spec: TreeSpec) -> dict[str, dict[str, list[Path]] | list[Path]]:
    """Domain key -> the sketchy-mini files to link to: per class for Sketchy, one list otherwise."""
    pools = {}
    for key in spec.groups:
        domain = "sketch" if key == "sketch" else "photo"
        per_class = {normalize_class_name(folder.name): list_class_files(folder)[0]
                     for folder in list_class_folders(source / domain)}
        if spec.benchmark == "sketchy_ext":
            pools[key] = per_class
        else:
            pools[key] = [path for name in sorted(per_class) for path in per_class[name]]
    return pools


def remove_tree(folder: Path) -> None:
    """Remove an earlier tree of this script (a folder holding its plan file, or a leftover ``.partial``)."""
    if not folder.name.endswith(".partial") and not (folder / PLAN_FILE).is_file():
        raise SystemExit(f"error: {folder} exists and is no tree of this script (no {PLAN_FILE}); remove it "
                         "yourself or choose another output folder")
    print(f"  removing {folder} ...", flush=True)
    shutil.rmtree(folder)


def make_tree(spec: TreeSpec, out: Path, source: Path, scale: float, link: str, force: bool) -> dict:
    """Lay out one tree under ``out/<name>``; returns its plan (as written to the plan file)."""
    final, partial = out / spec.name, out / f".{spec.name}.partial"
    if final.exists() and not force:
        raise SystemExit(f"error: {final} exists; pass --force to rebuild it (it is removed first)")
    for folder in (final, partial):
        if folder.exists():
            remove_tree(folder)
    partial.mkdir(parents=True)
    plan = plan_counts(spec, scale)
    record = {
        "tree": spec.name, "benchmark": spec.benchmark, "layout": spec.layout, "scale": scale, "link": link,
        "source": str(source), "estimated": list(spec.estimated),
        "groups": {key: [{"classes": len(g.classes), "total": sum(plan[key][n] for n in g.classes),
                          "full_size_total": g.total, "source": g.source} for g in groups]
                   for key, groups in spec.groups.items()},
        "totals": {key: sum(counts.values()) for key, counts in plan.items()},
        "counts": plan,
    }
    (partial / PLAN_FILE).write_text(json.dumps(record, indent=1) + "\n")
    make_link = os.symlink if link == "symlink" else os.link
    dirs, pools = spec.domain_dirs(partial), source_pools(source, spec)
    started = time.perf_counter()
    for key, counts in plan.items():
        made, total, current = 0, sum(counts.values()), None
        for folder, file_name, target in link_names(spec, key, counts, pools[key]):
            if folder != current:
                current = folder
                (dirs[key] / folder).mkdir(parents=True)
            make_link(target, dirs[key] / folder / file_name)
            made += 1
            if made % 50_000 == 0:
                print(f"  {spec.name} {key}: {made:,} / {total:,} links", flush=True)
        print(f"  {spec.name} {key}: {made:,} links in {len(counts)} class folders of "
              f"{dirs[key].relative_to(partial)} ({time.perf_counter() - started:.0f} s so far)", flush=True)
    partial.rename(final)
    return record


def describe(record: dict, root: Path) -> str:
    """The counts made, against the full-size totals, with what is estimated."""
    header = (f"{record['tree']}: data root {root} (benchmark {record['benchmark']}, layout '{record['layout']}', "
              f"scale {record['scale']:g}, {LINK_NAMES[record['link']]})")
    lines = [header]
    for key, groups in record["groups"].items():
        parts = [f"{g['total']:,} in {g['classes']} classes (full size {g['full_size_total']:,}: {g['source']})"
                 for g in groups]
        counts = record["counts"][key].values()
        lines.append(f"  {key}: {record['totals'][key]:,} files, {min(counts):,} to {max(counts):,} per class = "
                     + " + ".join(parts))
    lines.append("  estimated: " + "; ".join(record["estimated"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for the counts and what is estimated.")
    parser.add_argument("out", type=Path, help="folder to create the trees in (one sub-folder per tree)")
    parser.add_argument("--trees", default="sketchy_sempcyc,sketchy_sake,tuberlin_ext,quickdraw_ext",
                        help="comma-separated trees to make (default: all four)")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the sketchy-mini folder (sketch/<class>/, photo/<class>/) to link to")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every known total by this (at least one file per class); default 1")
    parser.add_argument("--link", choices=tuple(LINK_NAMES), default="symlink",
                        help="symbolic links (default) or hard links (same file system as the source only)")
    parser.add_argument("--force", action="store_true", help="remove and rebuild trees that exist")
    args = parser.parse_args(argv)

    source = args.source.expanduser().resolve()
    if not (source / "sketch").is_dir() or not (source / "photo").is_dir():
        parser.error(f"--source {source} has no sketch/ and photo/ folders (sketchy-mini's layout)")
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1], got {args.scale}")
    specs = tree_specs(source)
    names = [name.strip() for name in args.trees.split(",") if name.strip()]
    unknown = [name for name in names if name not in specs]
    if unknown or not names:
        parser.error(f"unknown tree(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(specs)}")
    out = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        records = []
        for name in names:
            print(f"making {name} in {out / name} ...", flush=True)
            records.append(make_tree(specs[name], out, source, args.scale, args.link, args.force))
    except (OSError, ZSBError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\nmade:")
    for record in records:
        print(describe(record, out / record["tree"]))
    print("Linked files sit in the page cache once read: input speeds measured on these trees are upper bounds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
