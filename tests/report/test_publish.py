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
