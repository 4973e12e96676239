"""zsb export: a finished run's model as a hash-checked safetensors folder that loads without pickle, embeds exactly as
the run's model, searches as the run does, and refuses what is unfinished, tampered with or in the way."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

import zsb
from zsb import export as zexport
from zsb import search as zsearch
from zsb.cli import main
from zsb.config import resolve
from zsb.device import to_input
from zsb.errors import ZSBError
from zsb.io import atomic_torch_save
from zsb.metrics import metric_header
from zsb.run import stages
from zsb.run.context import Run

TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "epochs": 1,
        "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu", "eval_batch_size": 4,
        "weights": "none", "eval_hflip": True}


@pytest.fixture(scope="module")
def run(tmp_path_factory, synthetic_env) -> Run:
    """A tiny run on the synthetic benchmark, trained for one epoch and evaluated."""
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    run = Run(tmp_path_factory.mktemp("export") / "run", resolve(TINY))
    run.folder.write_config(run.cfg)
    stages.train(run)
    stages.evaluate(run, "trained")
    return run


@pytest.fixture(scope="module")
def dest(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exported") / "model"
    assert main(["export", str(run.dir), str(out)]) == 0
    return out


@pytest.fixture
def copy(dest, tmp_path) -> Path:
    """A private copy of the export to damage."""
    target = tmp_path / "copy"
    shutil.copytree(dest, target)
    return target


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("zsb: error: ") and err.count("\n") == 1, err
    return err


def test_export_holds_the_files_and_their_hashes(dest):
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["README.md", "config.json", "export.json", "metrics.json", "model.safetensors"]
    manifest = json.loads((dest / "export.json").read_text())
    assert sorted(manifest["files"]) == ["README.md", "config.json", "metrics.json", "model.safetensors"]
    for name, record in manifest["files"].items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == record["sha256"] and (dest / name).stat().st_size == record["bytes"]
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_loaded_model_embeds_exactly_like_the_runs_trained_model(run, dest):
    exported = zsb.load_model(dest)
    original = stages.trained_model(run)
    assert not exported.model.training
    torch.manual_seed(0)
    batch = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(exported.embed(batch), original.embed(to_input(batch, torch.device("cpu"))))
    for (name, a), (other, b) in zip(exported.model.state_dict().items(), original.state_dict().items()):
        assert name == other and torch.equal(a, b)
    pre = exported.preprocessing
    assert (pre.image_size, pre.mean, pre.std, pre.interpolation, pre.hflip) == (32, (0.5,) * 3, (0.5,) * 3,
                                                                                  "bicubic", True)
    sketch = Image.open(run.manifest.queries()["path"].iloc[0]).convert("RGB")
    image = pre.transform()(sketch).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(exported.embed(image), original.embed(to_input(image, torch.device("cpu"))))


def test_a_half_precision_export_stores_float16_and_loads_the_rounded_weights_as_float32(run, dest, tmp_path):
    half = tmp_path / "half"
    assert main(["export", str(run.dir), str(half), "--half"]) == 0
    from safetensors.torch import load_file

    stored, full = load_file(half / "model.safetensors"), load_file(dest / "model.safetensors")
    assert stored.keys() == full.keys()
    for name, tensor in stored.items():
        assert tensor.dtype == (torch.float16 if full[name].is_floating_point() else full[name].dtype), name
        assert torch.equal(tensor, full[name].to(tensor.dtype)), name
    assert (half / "model.safetensors").stat().st_size < 0.6 * (dest / "model.safetensors").stat().st_size
    assert json.loads((half / "export.json").read_text())["stored_dtype"] == "float16"
    assert "| stored weights | float16: rounded" in (half / "README.md").read_text()
    loaded = zsb.load_model(half)
    for name, tensor in loaded.model.state_dict().items():
        assert tensor.dtype == full[name].dtype and torch.equal(tensor, stored[name].to(tensor.dtype)), name
    torch.manual_seed(0)
    batch = torch.randn(4, 3, 32, 32)
    difference = (loaded.embed(batch) - zsb.load_model(dest).embed(batch)).abs().max()
    assert 0 < difference < 0.05


def test_weights_are_safetensors_and_loading_never_unpickles(dest, monkeypatch):
    data = (dest / "model.safetensors").read_bytes()
    header_size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_size])
    assert header["__metadata__"]["format"] == "zsb-export/1"
    assert not data.startswith(b"PK") and not data.startswith(b"\x80")  # no torch.save zip, no raw pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", forbidden)
    assert zsb.load_model(dest).embed(torch.zeros(1, 3, 32, 32)).shape == (1, 16)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "edit_config", "delete_metrics"])
def test_a_tampered_or_truncated_file_is_a_clear_error_naming_it(copy, damage, capsys):
    if damage == "flip_byte":
        name, path = "model.safetensors", copy / "model.safetensors"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        name, path = "model.safetensors", copy / "model.safetensors"
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "edit_config":
        name, path = "config.json", copy / "config.json"
        config = json.loads(path.read_text())
        config["parameters"]["epochs"] = 40
        path.write_text(json.dumps(config))
    else:
        name = "metrics.json"
        (copy / name).unlink()
    with pytest.raises(zexport.ExportError, match=name.replace(".", r"\.")) as caught:
        zsb.load_model(copy)
    assert isinstance(caught.value, ZSBError)
    if damage == "truncate":
        assert "truncated" in str(caught.value)
    sketch = copy.parent / "sketch.png"
    Image.new("RGB", (40, 30), "white").save(sketch)
    assert main(["search", str(sketch), "--model", str(copy), "--gallery", str(copy), "--no-progress"]) == 2
    assert name in one_line_error(capsys)


def test_zsb_search_with_the_export_ranks_as_with_the_run(run, dest, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZSB_CACHE", str(tmp_path / "cache"))
    photos = tmp_path / "photos"
    for path in run.manifest.gallery()["path"]:
        target = photos / Path(path).parent.name / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    query = run.manifest.queries()["path"].iloc[0]
    tables = []
    for model in (run.dir, dest):
        out = tmp_path / f"out-{Path(model).name}"
        assert main(["search", query, "--model", str(model), "--gallery", str(photos), "--top", "10", "--out",
                     str(out), "--no-progress"]) == 0
        tables.append(pd.read_csv(out / f"{Path(query).stem}_ranked.csv"))
    assert tables[0]["path"].tolist() == tables[1]["path"].tolist() and len(tables[0]) == len(list(photos.rglob("*.*")))
    assert (tables[0]["similarity"] - tables[1]["similarity"]).abs().max() < 1e-6
    weights = zsearch.weights_identity(zsb.load_model(dest).model)
    indexes = list((tmp_path / "cache" / "search" / weights[:16]).glob("index-*.pt"))
    assert len(indexes) == 1  # keyed by the weights' hash, in the cache, never inside the export
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.json", "export.json", "metrics.json",
                                                      "model.safetensors"]


def test_the_export_reuses_the_index_its_run_built_and_finds_the_runs_benchmark_gallery(run, dest, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in run.manifest.gallery()["path"]:
        shutil.copy2(path, photos / Path(path).name)
    index = tmp_path / "index.pt"
    searchers = [zsearch.load_searcher(model, progress=False) for model in (run.dir, dest)]
    assert searchers[0].identity == searchers[1].identity  # the weights' values, not the files that hold them
    built = zsearch.index_gallery(searchers[0], photos, index)
    reused = zsearch.index_gallery(searchers[1], photos, index)
    assert (built.embedded, reused.embedded, reused.reused) == (len(built.paths), 0, len(built.paths))
    galleries = [zsearch.index_gallery(searcher, "benchmark", tmp_path / f"bench-{i}.pt")
                 for i, searcher in enumerate(searchers)]
    assert galleries[0].paths == galleries[1].paths == run.manifest.gallery()["path"].tolist()
    assert torch.equal(galleries[0].embeddings, galleries[1].embeddings)


def test_the_exports_query_loader_is_zsb_searchs_transparent_pixels_white(run, dest, tmp_path):
    exported = zsb.load_model(dest)
    sketch = Image.open(run.manifest.queries()["path"].iloc[0]).convert("L").resize((40, 40))
    ink = Image.eval(sketch, lambda v: 255 - v)  # a drawing on a transparent background: black, alpha = ink
    drawn = Image.merge("RGBA", (Image.new("L", sketch.size, 0),) * 3 + (ink,))
    drawn.save(tmp_path / "drawn.png")
    white = Image.alpha_composite(Image.new("RGBA", sketch.size, "white"), drawn).convert("RGB")
    expected = exported.preprocessing.transform()(white).unsqueeze(0)
    assert torch.allclose(exported.load_image(tmp_path / "drawn.png"), expected, atol=1e-6)
    searcher = zsearch.load_searcher(dest, progress=False)
    assert torch.equal(exported.load_image(tmp_path / "drawn.png")[0],
                       zsearch.searcher._Images([str(tmp_path / "drawn.png")], searcher.transform)[0][0])


def test_unfinished_or_unevaluated_runs_are_refused_with_status_2(run, tmp_path, capsys):
    config_only = tmp_path / "untrained"
    config_only.mkdir()
    shutil.copy(run.folder.config_path, config_only / "config.json")
    assert main(["export", str(config_only), str(tmp_path / "a")]) == 2
    assert "checkpoints/last.pt is missing" in one_line_error(capsys)

    stopped = tmp_path / "stopped"
    shutil.copytree(run.dir, stopped)
    checkpoint = torch.load(stopped / "checkpoints" / "last.pt", weights_only=True)
    checkpoint["epoch"] = 0  # as if training was interrupted before finishing its only epoch
    atomic_torch_save(checkpoint, stopped / "checkpoints" / "last.pt")
    assert main(["export", str(stopped), str(tmp_path / "b")]) == 2
    assert "stopped after epoch 0 of 1" in one_line_error(capsys)

    unevaluated = tmp_path / "unevaluated"
    shutil.copytree(run.dir, unevaluated)
    (unevaluated / "metrics.json").unlink()
    assert main(["export", str(unevaluated), str(tmp_path / "c")]) == 2
    assert "never evaluated" in one_line_error(capsys)
    assert main(["export", str(tmp_path / "nowhere"), str(tmp_path / "d")]) == 2
    assert "not a run folder" in one_line_error(capsys)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_an_existing_destination_is_refused_unless_forced_and_an_earlier_export(run, copy, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):
        assert main(["export", str(run.dir), str(other), *force]) == 2
        assert "not empty" in one_line_error(capsys)
    assert (other / "notes.txt").read_text() == "mine" and len(list(other.iterdir())) == 1

    (copy / "model.safetensors").write_bytes(b"damaged")
    assert main(["export", str(run.dir), str(copy)]) == 2
    assert "--force" in one_line_error(capsys)
    assert main(["export", str(run.dir), str(copy), "--force"]) == 0
    assert zsb.load_model(copy).embed(torch.zeros(1, 3, 32, 32)).shape == (1, 16)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export", str(run.dir), str(empty)]) == 0 and (empty / "model.safetensors").is_file()


def test_the_model_card_names_the_benchmark_split_metrics_intervals_and_imagenet_overlap(run, dest):
    card = (dest / "README.md").read_text()
    metrics = json.loads(run.folder.metrics_path("trained").read_text())
    assert metrics["protocol"]
    assert f"Benchmark **{metrics['benchmark']}**, zero-shot split **{metrics['split']}**" in card
    for metric in metrics["protocol"]:
        value = metrics["metrics"][metric]
        query, klass = metrics["intervals"][metric]["query"], metrics["intervals"][metric]["class"]
        row = (f"| {metric_header(metric)} | {value:.4f} | [{query['low']:.4f}, {query['high']:.4f}] | "
               f"[{klass['low']:.4f}, {klass['high']:.4f}] |")
        assert row in card
    assert "mAP@all (exact)" in card and "Over 1 training seeds" not in card and "| None |" not in card
    overlap = metrics["imagenet_overlap"]
    assert (f"0 of the {overlap['classes']} test (unseen) classes come wholly and 0 partly from ImageNet-1k synsets "
            f"(0 of {overlap['photos']} photos, 0%); whether the concept of another is an ImageNet-1k class is not "
            f"mapped ({overlap['photos_without_synset_id']} photos without a synset id)") in card
    assert "may have seen" not in card  # synthetic classes: the teacher has seen none of them
    assert "## Intended use and limitations" in card and "zsb.load_model(" in card
    assert json.loads((dest / "export.json").read_text())["files"]["model.safetensors"]["sha256"] in card


def test_seed_metrics_are_exported_and_shown_when_the_run_has_them(run, tmp_path):
    seeded = tmp_path / "seeded"
    shutil.copytree(run.dir, seeded)
    interval = {"low": 0.1, "high": 0.3}
    record = {"seeds": [0, 1], "protocol": ["mAP@all"],
              "metrics": {"mAP@all": {"values": [0.2, 0.25], "mean": 0.225, "sd": 0.0354,
                                      "interval": {"query": interval, "class": interval}}}}
    (seeded / "metrics_seeds.json").write_text(json.dumps(record))
    out = zexport.export_run(seeded, tmp_path / "dest")
    assert json.loads((out / "metrics_seeds.json").read_text()) == record
    row = "| mAP@all (exact) | 0.2250 | 0.0354 | [0.1000, 0.3000] | [0.1000, 0.3000] |"
    assert row in (out / "README.md").read_text()
    assert "metrics_seeds.json" in json.loads((out / "export.json").read_text())["files"]
    zsb.load_model(out)
    one = {"seeds": [0], "protocol": ["mAP@all"],
           "metrics": {"mAP@all": {"values": [0.2], "mean": 0.2, "sd": None, "interval": {"query": interval}}}}
    (seeded / "metrics_seeds.json").write_text(json.dumps(one))
    card = (zexport.export_run(seeded, tmp_path / "one") / "README.md").read_text()
    assert "Over 1 training seeds" not in card and "| None |" not in card  # one seed has no spread to show


def test_the_search_notebook_runs_on_an_export_with_its_benchmark_gallery(dest, tmp_path, synthetic_env):
    """notebooks/07_search.ipynb with an exported model, its defaults otherwise: the model's own test gallery and
    its first test sketch."""
    import subprocess
    import sys

    import nbformat

    executed = tmp_path / "07_search.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(Path(__file__).resolve().parents[1] / "notebooks" / "07_search.ipynb"),
         str(executed), "-p", "run_dir", str(dest), "-p", "top", "3", "-p", "out", str(tmp_path / "out"),
         "-p", "progress", "False"],
        cwd=tmp_path, env={k: v for k, v in synthetic_env.items() if k != "MPLBACKEND"},
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cells = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert f"model: {dest} (efficientnet_lite0 at 32 px, 16-d embedding)" in "".join(
        o.get("text", "") for c in cells for o in c.outputs)
    assert len(pd.read_csv(next((tmp_path / "out").glob("*_ranked.csv")))) == 3
