"""benchmarks/campaign.py: its plan adds every variant's seeds in order, what is done is read from the run folders'
files, and each step's command is one that zsb's own parser and configuration accept."""

import importlib.util
from pathlib import Path

import pytest

from zsb.cli import build_parser
from zsb.config import ABLATION_VARIANTS, parse_assignments, resolve

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "campaign.py"
spec = importlib.util.spec_from_file_location("campaign", SCRIPT)
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)


def test_plan_covers_every_claim_with_each_variants_seeds_in_order():
    plan = campaign.PLAN
    assert len(plan) == len(set(plan))
    assert set(campaign.FIRST_SEED) == set(ABLATION_VARIANTS)  # every ablation variant, once per split at least
    for split in campaign.SPLITS:
        for variant in campaign.FIRST_SEED:
            seeds = [s for sp, v, s in plan if (sp, v) == (split, variant)]
            assert seeds == sorted(seeds) == list(range(len(seeds)))  # variant:N means seeds 0 .. N-1
            assert len(seeds) == (3 if variant in campaign.MORE_SEEDS else 1)
    first_pass = plan[:len(campaign.SPLITS) * len(campaign.FIRST_SEED)]
    assert {s for _, _, s in first_pass} == {0}  # every claim on every split with one seed comes first


def touch_metrics(root: Path, variant: str, seed: int) -> None:
    path = campaign.run_folder(root, variant, seed).metrics_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")


def test_done_runs_are_read_from_the_metrics_files_in_the_folders_06_ablation_writes(tmp_path):
    root = tmp_path / "sempcyc25"
    for variant, seed in [("full", 0), ("full", 1), ("no_knowledge", 0), ("frozen", 0)]:
        touch_metrics(root, variant, seed)
    (root / "seeds" / "2").mkdir(parents=True)  # a seed folder without metrics: begun, not done
    assert (root / "metrics.json").is_file() and (root / "seeds/1/metrics.json").is_file()
    assert (root / "ablation/no_knowledge/metrics.json").is_file()
    done = campaign.done_runs(tmp_path)
    assert done == {("sempcyc25", "full", 0), ("sempcyc25", "full", 1), ("sempcyc25", "no_knowledge", 0),
                    ("sempcyc25", "frozen", 0)}
    assert campaign.next_run(done) == ("sempcyc25", "online_teacher", 0)
    assert campaign.ablation_variants("sempcyc25", done | {campaign.next_run(done)}) == \
        "full:2,no_knowledge:1,online_teacher:1,frozen:1"
    assert campaign.ablation_variants("eccv21", done) == ""
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
        ("eccv21", 3, 0, False, "0,1,2")
    assert cfg.variant_seeds == {"full": (0,), "no_knowledge": (0,)}
