"""Publishing replaces the published set as a whole: no file of an earlier run stays beside the new run's."""

from zsb.artifacts import RunFolder
from zsb.report.publish import publish


def test_files_of_an_earlier_publication_are_removed_and_sub_folders_kept(tmp_path):
    run = tmp_path / "results" / "bench" / "runs" / "new"
    (run / "tables").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "tables" / "per_class_ap.csv").write_text("a\n")
    target = tmp_path / "results" / "bench"
    (target / "ablation.csv").write_text("an earlier run's ablation\n")
    (target / "notes").mkdir()
    (target / "notes" / "README.md").write_text("kept\n")

    publish(RunFolder(run), target)
    assert sorted(p.name for p in target.iterdir() if p.is_file()) == ["RUN.txt", "metrics.json", "per_class_ap.csv"]
    assert (target / "RUN.txt").read_text() == "copied from runs/new\n"
    assert (target / "notes" / "README.md").read_text() == "kept\n" and (target / "runs" / "new").is_dir()


def test_each_split_and_validation_run_publishes_to_its_own_folder(tmp_path):
    from zsb.config import resolve
    from zsb.report.publish import published_folder, published_folders

    root = tmp_path / "results"
    mini = {"benchmark": "sketchy_mini"}
    assert published_folder(root, resolve(mini)) == root / "sketchy_mini"
    assert published_folder(root, resolve({**mini, "split": "sempcyc25"})) == root / "sketchy_mini"  # the default
    assert published_folder(root, resolve({**mini, "split": "eccv21"})) == root / "sketchy_mini" / "eccv21"
    assert (published_folder(root, resolve({**mini, "split": "eccv21", "evaluate_on": "validation"}))
            == root / "sketchy_mini" / "eccv21" / "validation")
    for folder in ("sketchy_mini", "sketchy_mini/eccv21", "sketchy_mini/eccv21/validation", "sketchy_mini/runs/x"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "metrics.json").write_text("{}")
    assert [p.relative_to(root).as_posix() for p in published_folders(root)] == [
        "sketchy_mini", "sketchy_mini/eccv21", "sketchy_mini/eccv21/validation"]


def test_readme_shows_mean_and_sd_over_seeds_intervals_and_paired_gains(tmp_path):
    import json
    import statistics

    import pandas as pd

    from zsb.report.publish import results_markdown

    folder = tmp_path / "sketchy_mini"
    folder.mkdir()
    parameters = {"benchmark": "sketchy_mini", "split": "", "backbone": "efficientnet_lite0", "image_size": 224,
                  "precision": "bf16", "eval_hflip": False, "epochs": 6, "seed": 0}
    (folder / "config.json").write_text(json.dumps({"parameters": parameters, "git_commit": "abc",
                                                    "machine": {"cpu": "Xeon", "cpu_flags": ["amx_bf16"]}}))
    (folder / "metrics.json").write_text(json.dumps({
        "metrics": {"mAP@all": 0.45, "P@100": 0.2}, "num_queries": 625, "num_gallery": 625, "chance_mAP": 0.04,
        "evaluated_on": "test", "failed_images": {"queries": 0, "gallery": 0}}))
    values = [0.45, 0.44, 0.47]
    interval = {"low": 0.41, "high": 0.49}
    (folder / "metrics_seeds.json").write_text(json.dumps({"seeds": [0, 1, 2], "metrics": {
        metric: {"values": values, "mean": statistics.mean(values), "sd": statistics.stdev(values),
                 "interval": {"query": interval, "class": {"low": 0.3, "high": 0.6}}}
        for metric in ("mAP@all", "P@100")}}))
    pd.DataFrame([
        {"variant": "full", "seeds": 3, "mAP@all": 0.45, "mAP@all sd": 0.01, "P@100": 0.2, "epochs": 3},
        {"variant": "no_knowledge", "seeds": 1, "mAP@all": 0.44, "P@100": 0.19, "epochs": 3,
         "mAP@all gain": 0.012, "mAP@all gain low": -0.002, "mAP@all gain high": 0.025},
    ]).to_csv(folder / "ablation.csv", index=False)

    text = results_markdown(tmp_path)

    def cells(label: str) -> list[str]:
        line = next(line for line in text.splitlines() if label in line)
        return [cell.strip() for cell in line.strip("|").split("|")]

    mean_sd = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert cells("seeds 0,1,2: mean ± sd")[1:] == [mean_sd, mean_sd]
    assert cells("resampling queries")[1] == "[0.410, 0.490]" and cells("resampling classes")[1] == "[0.300, 0.600]"
    assert "; evaluated on Xeon, commit `abc`; stages " in text  # no training log: the machine that evaluated
    (folder / "train_log.jsonl").write_text("".join(json.dumps({"epoch": e, "seconds": 60.0}) + "\n" for e in (1, 2)))
    assert "; training 2.0 min (2 epochs) on Xeon, commit `abc`; stages " in results_markdown(tmp_path)
    assert cells("| full ")[:4] == ["full", "3", "3", "0.450 ± 0.010"]
    assert "+0.012 [-0.002, +0.025]" in cells("no_knowledge") and "gain, mAP@all (exact)" in text


def test_the_ablation_table_reads_each_gain_on_the_headline_metric_spread_before_claims():
    """An interval above 0 is "full ahead" only when the gain exceeds the spread over seeds; a gain inside it is a
    tie; a variant compared on one seed each is provisional. The reading column follows the headline metric only."""
    import pandas as pd

    from zsb.report.publish import ablation_markdown

    def gain(value, low, high, metric="mAP@all"):
        return {f"{metric} gain": value, f"{metric} gain low": low, f"{metric} gain high": high}

    table = pd.DataFrame([
        {"variant": "full", "seeds": 3, "epochs": 3, "mAP@all": 0.45, "mAP@all sd": 0.008, "P@100": 0.2},
        {"variant": "beyond", "seeds": 3, "epochs": 3, "mAP@all": 0.43, "mAP@all sd": 0.004, "P@100": 0.1,
         **gain(0.020, 0.010, 0.030), **gain(0.1, 0.05, 0.15, "P@100")},
        {"variant": "inside", "seeds": 3, "epochs": 3, "mAP@all": 0.44, "mAP@all sd": 0.004, "P@100": 0.2,
         **gain(0.006, 0.002, 0.010), **gain(0.0, -0.01, 0.01, "P@100")},
        {"variant": "ahead", "seeds": 3, "epochs": 3, "mAP@all": 0.47, "mAP@all sd": 0.004, "P@100": 0.2,
         **gain(-0.020, -0.030, -0.010), **gain(0.0, -0.01, 0.01, "P@100")},
    ])
    lines = ablation_markdown(table, ["mAP@all", "P@100"]).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header.count("reading") == 1 and header.index("reading") == header.index("gain, mAP@all (exact)") + 1
    readings = {row[0]: row[header.index("reading")]
                for row in ([cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:])}
    assert readings == {"full": "", "beyond": "full ahead", "inside": "tie", "ahead": "ahead ahead"}
    one_seed = table.drop(columns="mAP@all sd")
    lines = ablation_markdown(one_seed, ["mAP@all", "P@100"]).splitlines()
    assert "| inside " in lines[4] and "full ahead (1 seed)" in lines[4]


def test_epoch_counts_are_worded_in_the_singular_for_one():
    from zsb.report.publish import epochs_text

    assert [epochs_text(n) for n in (1, 2, 6)] == ["1 epoch", "2 epochs", "6 epochs"]


def test_seeds_are_named_in_the_singular_for_one_seed():
    from zsb.report.publish import seeds_text

    assert seeds_text([0]) == "seed 0"
    assert seeds_text([0, 1, 2]) == "seeds 0, 1, 2"
    assert seeds_text((3, 4), separator=",") == "seeds 3,4"
