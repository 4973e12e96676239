"""benchmarks/campaign.py: its plan adds every variant's seeds in order, what is done is read from the run folders'
files, and each step's command is one that zsb's own parser and configuration accept."""

import json
import re
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zsb.cli import build_parser
from zsb.config import ABLATION_VARIANTS, parse_assignments, resolve
from zsb.report import summary
from zsb.report.claims import run_folder

from benchmarks import campaign

SCRIPT = Path(campaign.__file__)


def test_plan_covers_every_claim_with_each_variants_seeds_in_order():
    plan = campaign.PLAN
    assert len(plan) == len(set(plan))
    assert set(campaign.FIRST_SEED) == set(ABLATION_VARIANTS)  # every ablation variant, once per split at least
    every_seed = [int(seed) for seed in campaign.BUDGET["seeds"].split(",")]
    for split in campaign.SPLITS:
        for variant in campaign.FIRST_SEED:
            seeds = [s for sp, v, s in plan if (sp, v) == (split, variant)]
            assert seeds == sorted(seeds) == list(range(len(seeds)))  # variant:N means seeds 0 .. N-1
            assert seeds == ([0] if variant == "frozen" else every_seed)  # the balanced design
    assert sorted(campaign.ORDER) == sorted(campaign.SPLITS)
    first = campaign.FIRST_DESIGN
    assert plan[:len(first)] == first and len(first) == 39
    per_split = len(first) // len(campaign.ORDER)
    for block, split in enumerate(campaign.ORDER):  # one split at a time, every variant with seed 0 first
        runs = first[block * per_split:(block + 1) * per_split]
        assert {sp for sp, _, _ in runs} == {split}
        assert [v for _, v, s in runs if s == 0] == list(campaign.FIRST_SEED) == [v for _, v, _ in runs[:7]]
    seeds_so_far = {}
    for split, variant, seed in campaign.BALANCED:  # a seed is added to every variant before the next seed
        seeds_so_far[(split, variant)] = seed
        assert all(s >= seed - 1 for (sp, v), s in seeds_so_far.items() if seed >= 3)


def touch_metrics(root: Path, variant: str, seed: int) -> None:
    path = run_folder(root, variant, seed).metrics_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")


def test_done_runs_are_read_from_the_metrics_files_in_the_folders_06_ablation_writes(tmp_path):
    first, other = campaign.ORDER[:2]
    root = tmp_path / first
    for variant, seed in [("full", 0), ("full", 1), ("no_knowledge", 0), ("frozen", 0)]:
        touch_metrics(root, variant, seed)
    (root / "seeds" / "2").mkdir(parents=True)  # a seed folder without metrics: begun, not done
    assert (root / "metrics.json").is_file() and (root / "seeds/1/metrics.json").is_file()
    assert (root / "ablation/no_knowledge/metrics.json").is_file()
    done = campaign.done_runs(tmp_path)
    assert done == {(first, "full", 0), (first, "full", 1), (first, "no_knowledge", 0), (first, "frozen", 0)}
    assert campaign.next_run(done) == (first, "online_teacher", 0)
    assert campaign.ablation_variants(first, done | {campaign.next_run(done)}) == \
        "full:2,no_knowledge:1,online_teacher:1,frozen:1"
    assert campaign.ablation_variants(other, done) == ""
    assert campaign.next_run(set(campaign.PLAN)) is None


def test_a_gap_in_a_variants_seeds_is_refused():
    with pytest.raises(ValueError, match="seeds 0 .. N-1"):
        campaign.ablation_variants("sake25", {("sake25", "full", 0), ("sake25", "full", 2)})


def test_each_steps_command_is_accepted_by_zsb_and_asks_for_the_budget(tmp_path):
    command = campaign.reproduce_command(tmp_path, "eccv21", "full:1,no_knowledge:1")
    assert command[1:3] == ["-m", "zsb"]
    args = build_parser().parse_args(command[3:])
    assert args.data_root == campaign.DATA_ROOT and args.run_id == "eccv21"
    cfg = resolve({"benchmark": args.benchmark, **parse_assignments(args.assignments)})
    assert (cfg.split, cfg.epochs, cfg.binary_bits, cfg.eval_both_flips, cfg.seeds) == \
        ("eccv21", 3, 0, False, "0,1,2,3,4")
    assert cfg.variant_seeds == {"full": (0,), "no_knowledge": (0,)}


LABELS = np.repeat(np.arange(4), 3)
"""The test classes of the 12 queries of :func:`write_run`'s runs."""


def per_query(variant: str, seed: int, value: float) -> np.ndarray:
    """A run's per-query values with mean ``value``, each variant and seed spread over the queries its own way."""
    return value + np.linspace(-0.05, 0.05, len(LABELS))[::1 if seed % 2 else -1] * (1 + len(variant) % 3)


def write_run(root: Path, variant: str, seed: int, value: float, seconds: list[float]) -> None:
    """A finished run's small files as 06_ablation leaves them: metrics, per-query values, config (commit, machine)
    and training log."""
    folder = run_folder(root, variant, seed)
    folder.metrics_path().parent.mkdir(parents=True, exist_ok=True)
    values = per_query(variant, seed, value)
    pd.DataFrame({"query": range(len(LABELS)), "label": LABELS, "mAP@all": values, "mAP@all (voc)": values, "mAP@200 (voc)": values,
                  "P@100": values / 2}).to_csv(folder.per_query_path(), index=False)
    folder.metrics_path().write_text(json.dumps({
        "metrics": {"mAP@all": value, "mAP@200 (voc)": value, "P@100": value / 2}, "num_queries": 50, "num_gallery": 60, "chance_mAP": 0.1,
        "imagenet_overlap": {"classes": 2, "photos": 4, "photos_in_imagenet1k": 3, "per_class": {
            "bear": {"photos": 2, "photos_in_imagenet1k": 1}, "tiger": {"photos": 2, "photos_in_imagenet1k": 2}}}}))
    folder.config_path.write_text(json.dumps({"parameters": {"benchmark": "sketchy_mini"}, "git_commit": "abcdef1234",
                                              "machine": {"cpu": "Test CPU", "logical_cores": 2,
                                                          "cpu_flags": ["avx512_bf16"]}}))
    folder.log_path.write_text("".join(json.dumps({"epoch": i + 1, "seconds": s}) + "\n"
                                       for i, s in enumerate(seconds)))


def test_the_summary_tabulates_the_committed_files_and_reads_the_claims_off_the_gains(tmp_path):
    root = tmp_path / "sempcyc25"
    write_run(root, "full", 0, 0.40, [100.0, 300.0])
    write_run(root, "full", 1, 0.44, [200.0, 200.0])
    write_run(root, "triplet", 0, 0.35, [50.0, 70.0])
    write_run(root, "online_teacher", 0, 0.41, [400.0, 400.0])
    write_run(root, "frozen", 0, 0.12, [])  # not trained: no epochs
    write_run(root, "no_classification", 0, 0.40, [90.0])
    (root / "tables").mkdir()
    columns = ["variant", "seeds", "mAP@all", "mAP@all sd", "mAP@all low", "mAP@all high", "P@100", "mAP@all gain",
               "mAP@all gain low", "mAP@all gain high", "P@100 gain", "P@100 gain low", "P@100 gain high"]
    rows = [["full", 2, 0.42, 0.0283, 0.38, 0.46, 0.21, "", "", "", "", "", ""],
            ["triplet", 1, 0.35, "", 0.31, 0.39, 0.175, 0.05, 0.02, 0.08, 0.025, 0.01, 0.04],
            ["online_teacher", 1, 0.41, "", 0.37, 0.45, 0.205, -0.01, -0.03, 0.01, -0.005, -0.02, 0.01],
            ["frozen", 1, 0.12, "", 0.10, 0.14, 0.06, 0.30, 0.28, 0.32, 0.15, 0.14, 0.16],
            ["no_classification", 1, 0.40, "", 0.36, 0.44, 0.2, 0.02, 0.005, 0.035, 0.01, 0.0, 0.02]]
    (root / "tables" / "ablation.csv").write_text(
        "\n".join(",".join(map(str, row)) for row in [columns, *rows]) + "\n")

    text, project = campaign.summaries(tmp_path)
    lines = text.splitlines()
    full = next(line for line in lines if line.startswith("| full |"))
    assert "| 0, 1 | 0.4200 ± 0.0283 | 0.4000, 0.4400 | [0.380, 0.460] |" in full
    assert full.endswith(f"| {statistics.median([100, 300, 200, 200]):.0f} |")
    triplet = next(line for line in lines if line.startswith("| triplet |"))
    assert "| 0 | 0.3500 | 0.3500 |" in triplet and "| +0.0500 [+0.0200, +0.0800] | 0.1750 |" in triplet
    frozen = next(line for line in lines if line.startswith("| frozen |"))
    assert frozen.endswith("| +0.3000 [+0.2800, +0.3200] | 0.0600 | +0.1500 [+0.1400, +0.1600] | "
                           "- (not trained) |")
    assert "| sempcyc25: 50 query" not in text
    assert ("### sempcyc25: 50 query sketches x 60 gallery photos, chance 0.100; ImageNet-1k overlap of the 2 test "
            "classes: 1 wholly, 1 partly, 0 concept only, 0 none") in text
    assert "Training: 9 epochs, 0.5 h" in text and "zsb code at `abcdef1`; Test CPU, 2 cores, bf16 units" in text

    from zsb.report.claims import claims_markdown, judge, project_markdown

    judgement = judge(tmp_path)  # the claims' part is the analysis plan's code, written as it is
    assert claims_markdown(judgement, campaign.FIGURE.name) in text
    assert "| 2 | sempcyc25 | triplet | 1 | mAP@all (exact) | +0.0500 [" in text
    assert "| 1 | sempcyc25 | no_knowledge | 0 | mAP@all (exact) | not run yet |" in text
    assert "**Interim**: 5 of the design's 90 trained runs exist" in text
    assert "### eccv21" not in text  # nothing run there: no table
    left = next(line for line in lines if line.startswith("| sempcyc25 |") and "still" not in line)
    assert "full (seeds 2, 3, 4)" in left and "triplet (seeds 1, 2, 3, 4)" in left
    assert "online_teacher (seeds 1, 2, 3, 4)" in left
    assert f"### Not run yet ({len(campaign.PLAN) - 6} of {len(campaign.PLAN)} planned runs)" in text

    assert f"campaign, 6 of {len(campaign.PLAN)} planned runs" in project
    assert "- `sempcyc25`, mAP@all (exact): the full method 0.4200 ± 0.0283 over 2 seeds, [0.380, 0.460]." in project
    assert "- `eccv21`, mAP@200 (VOC): the full method not run yet." in project
    assert project.endswith(project_markdown(judgement, str(campaign.README)))

    figure = summary.draw_gains(tmp_path, tmp_path / "gains.png")  # the only split with an ablation table
    assert [ax.get_title() for ax in figure.axes] == list(campaign.SPLITS) and (tmp_path / "gains.png").stat().st_size
    assert f"]({campaign.FIGURE.name})" in text


def test_a_complete_campaign_says_so_and_lists_nothing_left_to_train(tmp_path):
    for split, variant, seed in campaign.PLAN[:-1]:
        write_run(tmp_path / split, variant, seed, 0.4, [100.0])
    text, project = campaign.summaries(tmp_path)
    assert f"### Not run yet (1 of {len(campaign.PLAN)} planned runs)" in text
    assert f"{len(campaign.PLAN) - 1} of {len(campaign.PLAN)} planned runs so far" in project
    split, variant, seed = campaign.PLAN[-1]
    write_run(tmp_path / split, variant, seed, 0.4, [100.0])
    text, project = campaign.summaries(tmp_path)
    assert text.endswith(f"### Every planned run is done ({len(campaign.PLAN)} of {len(campaign.PLAN)})")
    assert "Not run yet" not in text and "still to train" not in text
    assert f"campaign, complete, all {len(campaign.PLAN)} planned runs;" in project


def test_what_is_left_to_train_names_one_seed_in_the_singular():
    split = campaign.SPLITS[0]
    done = {run for run in campaign.PLAN if run[0] == split and not (run[1] == "full" and run[2] >= 3)}
    assert summary.still_to_train(campaign.CAMPAIGN, split, done) == "full (seeds 3, 4)"
    assert summary.still_to_train(campaign.CAMPAIGN, split, done | {(split, "full", 3)}) == "full (seed 4)"


def test_the_summary_is_written_between_the_markers_and_nowhere_else(tmp_path):
    readme = tmp_path / "README.md"
    start, end = campaign.MARKERS
    readme.write_text(f"intro\n{start}\nold table\n{end}\nclosing words\n")
    campaign.write_between_markers(readme, campaign.MARKERS, "new table")
    assert readme.read_text() == f"intro\n{start}\nnew table\n{end}\nclosing words\n"
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="lacks the lines"):
        campaign.write_between_markers(readme, campaign.MARKERS, "new table")
    assert readme.read_text() == "no markers here\n"


def test_the_committed_readmes_hold_the_summary_of_the_committed_runs():
    """Whoever adds runs regenerates both summaries (`campaign.py summary --write`); a stale README fails here. In a
    clone without the history (shallow), the code versions cannot be looked up, so only they are left out."""
    repo = SCRIPT.parents[1]
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=repo, capture_output=True, check=False,
                             text=True).stdout.strip() != "false"

    def comparable(text: str) -> str:
        return re.sub(r"zsb code at [^;]*;", "zsb code at ...;", text) if shallow else text

    for readme, text in zip((repo / campaign.README, repo / "README.md"), campaign.summaries(repo / campaign.PUBLISHED)):
        start, end = campaign.MARKERS
        assert comparable(readme.read_text().split(start)[1].split(end)[0]) == comparable(f"\n{text}\n"), \
            f"{readme} is stale: run `python benchmarks/campaign.py summary --write`"


def test_the_pooled_table_names_the_seed_pairs_each_split_contributes():
    """The stratified pooled estimate uses each split's own seed pairs, which differ while the design is unbalanced."""
    from zsb.report.claims import SPLITS, judge, pooled_table

    judgement = judge(SCRIPT.parents[1] / campaign.PUBLISHED)
    rows = pooled_table(judgement).splitlines()
    assert f"| seed pairs ({', '.join(SPLITS)}) |" in rows[0]
    assert judgement.pooled
    for pooled in judgement.pooled:
        pairs = ", ".join(str(len(judgement.find(split, pooled.variant).seeds)) for split in SPLITS)
        row = next(row for row in rows if f"| {pooled.variant} |" in row)
        assert f"| {pooled.variant} | {pairs} |" in row


def test_a_runs_commit_is_named_by_the_last_commit_that_changed_zsb():
    repo = SCRIPT.parents[1]

    def git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    head = git("rev-parse", "HEAD")
    assert summary.code_version(head) == git("log", "-1", "--format=%h", "--abbrev=7", "--", "zsb")
    assert summary.code_version(head + "-dirty") == summary.code_version(head)
    assert summary.code_version("0" * 40) == "0000000"  # unknown to git: the recorded hash
    older, newer = git("log", "-2", "--format=%H", "--", "zsb").split()[::-1]
    assert summary.code_versions({"0" * 40, newer, older, newer}) == [older[:7], newer[:7], "0000000"]


def test_each_split_is_read_on_its_own_protocols_headline_metric():
    from zsb.data.registry import get_benchmark

    for split in campaign.SPLITS:
        assert summary.protocol(split) == tuple(get_benchmark("sketchy_mini").protocol(split))
    assert summary.protocol("sempcyc25")[0] == "mAP@all" and summary.protocol("eccv21")[0] == "mAP@200 (voc)"


def test_a_split_with_the_full_method_alone_is_tabulated(tmp_path):
    root = tmp_path / "eccv21"
    write_run(root, "full", 0, 0.30, [100.0])
    (root / "tables").mkdir()
    (root / "tables" / "ablation.csv").write_text(  # 06_ablation writes no gain columns without a variant
        "variant,seeds,mAP@200 (voc),mAP@200 (voc) sd,mAP@200 (voc) low,mAP@200 (voc) high,P@200\nfull,1,0.30,,0.25,0.35,0.2\n")
    text, project = campaign.summaries(tmp_path)
    assert "| full | 0 | 0.3000 | 0.3000 | [0.250, 0.350] |  | 0.2000 |  | 100 |" in text.splitlines()
    assert "- `eccv21`, mAP@200 (VOC): the full method 0.3000 (1 seed), [0.250, 0.350]." in project


def test_pairing_check_compares_results_and_losses_but_not_wall_times(tmp_path):
    from benchmarks.campaign_pairing import compare

    def run(name: str, loss: float, seconds: float, rows: str = "query,mAP@all\n0,0.25\n") -> Path:
        variant = tmp_path / name / "ablation" / "full"
        variant.mkdir(parents=True)
        (variant / "per_query.csv").write_text(rows)
        (variant / "train_log.jsonl").write_text(json.dumps({"epoch": 1, "loss/total": loss, "seconds": seconds}))
        return tmp_path / name

    old = run("old", 0.5, 100.0)
    assert compare(old, run("slower", 0.5, 250.0)) == [("ablation/full/per_query.csv", True),
                                                       ("ablation/full/train_log.jsonl", True)]
    assert compare(old, run("loss", 0.5000001, 100.0))[1] == ("ablation/full/train_log.jsonl", False)
    assert compare(old, run("metric", 0.5, 100.0, "query,mAP@all\n0,0.26\n"))[0] == ("ablation/full/per_query.csv",
                                                                                       False)
    missing = run("missing", 0.5, 100.0)
    (missing / "ablation" / "full" / "per_query.csv").unlink()
    assert ("ablation/full/per_query.csv", False) in compare(old, missing)
