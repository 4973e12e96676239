"""benchmarks/make_fullsize_tree.py: its full-size plan has the totals ``zsb data check`` knows, and a tree made at a
tiny scale is read by zsb's own manifest and data check with exactly the counts it planned."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zsb.data.check import EXPECTED_COUNTS, Count, ReleaseCounts, check_data
from zsb.data.manifest import build_manifest
from zsb.data.registry import get_benchmark

from benchmarks import make_fullsize_tree

SCRIPT = Path(make_fullsize_tree.__file__)
UNSEEN_SPLIT = {"sketchy_ext": "sake25", "tuberlin_ext": "sake30", "quickdraw_ext": "d2s30"}
"""The split whose unseen classes' totals each tree's plan keeps (the reference README's known figures)."""


def run_script(*args) -> subprocess.CompletedProcess:
    """The script's exit status and output (not raising on failure)."""
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=False, capture_output=True,
                          text=True)


def unseen_total(record: dict, key: str, split: str) -> int:
    unseen = get_benchmark(record["benchmark"]).split(split).load()[1]
    return sum(record["counts"][key][name] for name in unseen)


def test_full_size_plan_matches_the_known_counts(sketchy_mini_root):
    script = make_fullsize_tree
    specs = script.tree_specs(sketchy_mini_root.resolve())
    for spec in specs.values():
        plan = script.plan_counts(spec, 1.0)
        known = EXPECTED_COUNTS[spec.benchmark][spec.layout]
        assert len(plan["sketch"]) == len(plan["photo"]) == known.classes
        for key in plan:
            count = getattr(known, key)
            assert count.matches(sum(plan[key].values())) in (True, None), (spec.name, key)
            if count.per_class is not None:
                assert set(plan[key].values()) == {count.per_class}
        split = UNSEEN_SPLIT[spec.benchmark]  # the split whose totals the plan keeps; the others' are estimates
        unseen = get_benchmark(spec.benchmark).split(split).load()[1]
        for key, count in known.unseen[split].items():  # "photo": both photo folders of a layout that has two
            keys = [k for k in plan if k == key or (key == "photo" and k == "extra_photo")]
            assert count.matches(sum(plan[k][n] for k in keys for n in unseen)), (spec.name, split, key)
    quickdraw = script.plan_counts(specs["quickdraw_ext"], 1.0)
    assert sum(quickdraw["sketch"].values()) == 330_000 and sum(quickdraw["photo"].values()) == 204_000
    # That SAKE's layout rule reads SAKE's 17,101 listed photos is tested on a tree laid out from lists in SAKE's
    # own file shape (tests/data/test_check.py), not on this plan, which is made from 14,601 + 2,500.


def test_tiny_trees_are_read_by_zsb_with_the_planned_counts(tmp_path, sketchy_mini_root):
    scale = 0.002
    args = [tmp_path, "--scale", scale, "--source", sketchy_mini_root]
    done = run_script(*args)
    assert done.returncode == 0, done.stderr
    assert "quickdraw_ext: data root" in done.stdout and "upper bounds" in done.stdout

    for tree in ("sketchy_sempcyc", "sketchy_sake", "tuberlin_ext", "quickdraw_ext"):
        root = tmp_path / tree
        record = json.loads((root / "fullsize_tree.json").read_text())
        for groups in record["groups"].values():  # every known total scaled, at least one file per class
            assert all(g["total"] == max(g["classes"], round(g["full_size_total"] * scale)) for g in groups)
        counts = record["counts"]

        manifest = build_manifest(record["benchmark"], root)
        assert manifest.layout == record["layout"] and manifest.skipped == []
        table = manifest.counts()
        photos = {name: n + counts.get("extra_photo", {}).get(name, 0) for name, n in counts["photo"].items()}
        assert table["sketch"].to_dict() == counts["sketch"] and table["photo"].to_dict() == photos

        split = UNSEEN_SPLIT[record["benchmark"]]
        scaled = ReleaseCounts(
            len(counts["sketch"]),
            **{key: Count(sum(values.values())) for key, values in counts.items()},
            unseen={split: {"sketch": Count(unseen_total(record, "sketch", split)),
                            "photo": Count(sum(unseen_total(record, key, split) for key in counts if key != "sketch"))}},
        )
        report = check_data(record["benchmark"], root, progress=False, expected=scaled)
        assert report.ok, [problem.message for problem in report.problems]
        assert report.layout == record["layout"] and len(report.split_totals) == 2
        if tree == "tuberlin_ext":
            assert report.domains[1].extensions.keys() == {".jpg", ".JPEG"}
            counts_before = counts

    refused = run_script(*args, "--trees", "tuberlin_ext")
    assert refused.returncode != 0 and "pass --force" in refused.stderr
    rebuilt = run_script(*args, "--trees", "tuberlin_ext", "--force")
    assert rebuilt.returncode == 0 and "removing" in rebuilt.stdout
    assert json.loads((tmp_path / "tuberlin_ext" / "fullsize_tree.json").read_text())["counts"] == counts_before
    (tmp_path / "tuberlin_ext" / "fullsize_tree.json").unlink()
    refused = run_script(*args, "--trees", "tuberlin_ext", "--force")
    assert refused.returncode != 0 and "no tree of this script" in refused.stderr


@pytest.mark.parametrize("scale", ["0", "2"])
def test_scale_outside_0_1_is_refused(tmp_path, scale):
    done = run_script(tmp_path, "--scale", scale)
    assert done.returncode == 2 and "--scale must be in (0, 1]" in done.stderr
