"""zsb search: a tiny trained run ranks a folder of photos (or its own test gallery) for sketches of any kind; the
gallery index is reused, updated file by file, owned by one model and never damaged by an interrupted write."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from zsb import search as zsearch
from zsb.backbones import BACKBONES
from zsb.cli import main
from zsb.config import resolve
from zsb.data.transforms import build_transform
from zsb.errors import ConfigError, WeightsError, ZSBError
from zsb.run import stages
from zsb.run.context import Run

REPO = Path(__file__).resolve().parents[1]
TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "epochs": 1,
        "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu", "eval_batch_size": 4,
        "weights": "none", "eval_hflip": True}


def train_run(run_dir: Path, **changes) -> Run:
    run = Run(run_dir, resolve({**TINY, **changes}))
    run.folder.write_config(run.cfg)
    stages.train(run)
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_env) -> Run:
    """A tiny run on the synthetic benchmark, trained for one epoch (test-time flip on)."""
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    return train_run(tmp_path_factory.mktemp("search") / "run")


@pytest.fixture
def photos(trained, tmp_path) -> Path:
    """Every photo of the tiny run copied into class sub-folders (one with an upper-case suffix), and a text file."""
    root = tmp_path / "photos"
    frame = trained.manifest.frame
    for i, path in enumerate(frame[frame.domain == "photo"]["path"]):
        target = root / Path(path).parent.name / (Path(path).stem + (".JPG" if i == 0 else ".jpg"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (root / "notes.txt").write_text("not a photo")
    return root


@pytest.fixture
def sketches(trained, tmp_path) -> dict[str, Path]:
    """One test sketch saved as grayscale, RGB and RGBA (black ink whose paper is transparent), at another size."""
    source = Image.open(trained.manifest.queries()["path"].iloc[0]).convert("L").resize((150, 90))
    folder = tmp_path / "sketches"
    folder.mkdir()
    rgba = Image.merge("RGBA", (*[Image.new("L", source.size, 0)] * 3, source.point(lambda v: 255 - v)))
    out = {"gray": folder / "gray.png", "rgb": folder / "rgb.png", "rgba": folder / "rgba.png"}
    source.save(out["gray"])
    source.convert("RGB").save(out["rgb"])
    rgba.save(out["rgba"])
    return out


def own_embeddings(searcher: zsearch.Searcher, paths: list) -> torch.Tensor:
    """The model's embeddings computed here: evaluation transform, mirror image averaged in, L2-normalised."""
    cfg = searcher.run.cfg
    transform = build_transform(BACKBONES[cfg.backbone].preprocessing, cfg.image_size, train=False)
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        plain = F.normalize(searcher.model.embed(batch), dim=1)
        mirrored = F.normalize(searcher.model.embed(batch.flip(3)), dim=1)
    return F.normalize(plain + mirrored, dim=1)


def count_embedded(searcher: zsearch.Searcher, monkeypatch) -> list[int]:
    """Spy on the model: the number of images of every batch it embeds (twice per image: the flip is on)."""
    sizes: list[int] = []
    real = searcher.model.embed
    monkeypatch.setattr(searcher.model, "embed", lambda x: sizes.append(len(x)) or real(x))
    return sizes


def test_sketches_are_embedded_like_the_runs_evaluation_and_the_benchmark_gallery_ranks_as_evaluated(trained):
    searcher = zsearch.load_searcher(trained.dir)
    features = stages.embeddings(trained, "trained")
    queries, gallery = trained.manifest.queries(), trained.manifest.gallery()
    embedded, failed = searcher.embed(list(queries["path"]))
    assert not failed.any()
    assert torch.allclose(embedded, features["queries"], atol=1e-5)

    index = zsearch.index_gallery(searcher, "benchmark")
    assert index.paths == list(gallery["path"]) and index.file == trained.dir / "search" / "index-benchmark.pt"
    found = zsearch.search(searcher, index, [queries["path"].iloc[0]], top=len(gallery))
    expected = features["gallery"] @ features["queries"][0]
    ranked = torch.tensor([index.paths.index(p) for p in found["path"]])
    assert torch.allclose(torch.tensor(found["similarity"].to_numpy(), dtype=torch.float32), expected[ranked],
                          atol=2e-3)
    assert (expected[ranked].diff() <= 2e-3).all()  # non-increasing, up to the fp16 rounding of the gallery


def test_results_are_ranked_by_similarity_and_sketch_formats_agree(trained, photos, sketches):
    searcher = zsearch.load_searcher(trained.dir)
    index = zsearch.index_gallery(searcher, photos)
    on_disk = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    assert index.paths == [str(p) for p in on_disk] and len(index.paths) == 10  # .JPG found, notes.txt not
    assert index.embeddings.dtype == torch.float16 and index.embeddings.shape == (10, 16)

    found = zsearch.search(searcher, index, list(sketches.values()), top=10)
    similarity = own_embeddings(searcher, on_disk) @ own_embeddings(searcher, [sketches["gray"]])[0]
    mine = found[found["query"] == str(sketches["gray"])]
    ranked = torch.tensor([index.paths.index(p) for p in mine["path"]])
    assert sorted(ranked.tolist()) == list(range(10)) and mine["rank"].tolist() == list(range(1, 11))
    assert torch.allclose(torch.tensor(mine["similarity"].to_numpy(), dtype=torch.float32), similarity[ranked],
                          atol=2e-3)
    assert (similarity[ranked].diff() <= 2e-3).all()
    assert (mine["similarity"].diff().dropna() <= 0).all()

    gray, rgb, rgba = (zsearch.read_image(sketches[k]) for k in ("gray", "rgb", "rgba"))
    assert gray.mode == rgb.mode == rgba.mode == "RGB"
    assert gray.tobytes() == rgb.tobytes()
    assert max(abs(a - b) for a, b in zip(gray.tobytes(), rgba.tobytes())) <= 1  # transparent paper became white
    assert Image.open(sketches["rgba"]).convert("RGB").tobytes() != gray.tobytes()  # dropping alpha would be black
    orders = [found[found["query"] == str(sketches[k])]["path"].tolist() for k in ("gray", "rgb", "rgba")]
    assert orders[0] == orders[1] == orders[2]

    top3 = zsearch.search(searcher, index, [sketches["gray"]], top=3)
    assert top3["path"].tolist() == mine["path"].tolist()[:3]


def test_ties_rank_in_gallery_order_and_fp16_candidates_miss_nothing():
    generator = torch.Generator().manual_seed(0)
    gallery = F.normalize(torch.randn(3000, 32, generator=generator), dim=1)
    gallery[[5, 900, 2999]] = gallery[1200].clone()  # exact ties
    gallery = gallery.half()
    for query in [gallery[1200].float(), *F.normalize(torch.randn(20, 32, generator=generator), dim=1)]:
        exact = (gallery.float() * query).sum(dim=1)
        expected = torch.sort(exact, descending=True, stable=True)
        rows, similarity = zsearch.rank_gallery(gallery, query, 25)
        assert rows.tolist() == expected.indices[:25].tolist()
        assert torch.equal(similarity, expected.values[:25])
    rows, _ = zsearch.rank_gallery(gallery, gallery[1200].float(), 4)
    assert rows.tolist() == [5, 900, 1200, 2999]
    assert len(zsearch.rank_gallery(gallery[:3], query, 10)[0]) == 3


def test_a_second_search_embeds_only_the_query_and_a_changed_gallery_only_what_changed(trained, photos, sketches,
                                                                                     monkeypatch, tmp_path):
    searcher = zsearch.load_searcher(trained.dir)
    first = zsearch.index_gallery(searcher, photos)
    assert (first.embedded, first.reused, first.removed) == (10, 0, 0)
    embedded = count_embedded(searcher, monkeypatch)

    again = zsearch.index_gallery(searcher, photos)
    zsearch.search(searcher, again, [sketches["rgba"]], top=5)
    assert (again.embedded, again.reused, again.removed) == (0, 10, 0)
    assert embedded == [1, 1]  # the query, and its mirror image
    assert torch.equal(again.embeddings, first.embeddings)

    files = sorted(p for p in photos.rglob("*.*") if p.suffix != ".txt")
    files[0].unlink()
    stat = files[1].stat()
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    shutil.copy(files[2], photos / "added.jpg")
    embedded.clear()
    changed = zsearch.index_gallery(searcher, photos)
    assert (changed.embedded, changed.reused, changed.removed) == (2, 8, 1)
    assert embedded == [2, 2]
    fresh = zsearch.index_gallery(searcher, photos, index=tmp_path / "fresh.pt")
    assert changed.paths == fresh.paths and str(files[0]) not in changed.paths
    assert torch.equal(changed.embeddings, fresh.embeddings)


def test_an_index_made_by_another_model_is_rebuilt_in_place_and_refused_when_named(trained, photos, tmp_path,
                                                                                   capsys):
    other = zsearch.load_searcher(train_run(tmp_path / "other", seed=1).dir)
    mine = zsearch.index_gallery(zsearch.load_searcher(trained.dir), photos)
    assert other.identity != zsearch.load_searcher(trained.dir).identity

    theirs = zsearch.default_index_path(other, photos)
    theirs.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(mine.file, theirs)
    capsys.readouterr()
    rebuilt = zsearch.index_gallery(other, photos)
    assert "made by another model" in capsys.readouterr().out
    assert (rebuilt.embedded, rebuilt.reused) == (10, 0)
    assert not torch.equal(rebuilt.embeddings, mine.embeddings)

    named = tmp_path / "mine.pt"
    shutil.copy(mine.file, named)
    before = named.read_bytes()
    with pytest.raises(WeightsError, match="made by another model"):
        zsearch.index_gallery(other, photos, index=named)
    assert named.read_bytes() == before
    query = str(trained.manifest.queries()["path"].iloc[0])
    status = main(["search", query, "--model", str(other.run.dir), "--gallery", str(photos), "--index", str(named),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("zsb: error: the search index") and err.count("\n") == 1
    (tmp_path / "junk.pt").write_text("not an index")
    with pytest.raises(WeightsError, match="is not a zsb search index"):
        zsearch.index_gallery(other, photos, index=tmp_path / "junk.pt")


def test_unreadable_gallery_files_are_skipped_counted_and_named_in_one_warning(trained, photos, monkeypatch):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.open(next(photos.glob("*/*.jpg"))).save(photos / "cut.png")
    (photos / "cut.png").write_bytes((photos / "cut.png").read_bytes()[:300])  # a header, then the data stops
    searcher = zsearch.load_searcher(trained.dir)
    with pytest.warns(UserWarning) as caught:
        index = zsearch.index_gallery(searcher, photos)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("2 gallery file(s) could not be read")
    assert "broken.jpg" in message and "cut.png" in message
    assert index.unreadable == [str(photos / "broken.jpg"), str(photos / "cut.png")]
    assert len(index.paths) == len(index.embeddings) == 10 and not set(index.unreadable) & set(index.paths)

    embedded = count_embedded(searcher, monkeypatch)
    with pytest.warns(UserWarning, match="2 gallery file"):
        again = zsearch.index_gallery(searcher, photos)
    assert again.embedded == 0 and embedded == []  # unchanged unreadable files are not tried again


def test_an_interrupted_index_write_leaves_the_old_index_intact(trained, photos, monkeypatch):
    searcher = zsearch.load_searcher(trained.dir)
    index_file = zsearch.index_gallery(searcher, photos).file
    before = index_file.read_bytes()
    shutil.copy(next(photos.rglob("*.jpg")), photos / "new.jpg")
    real_replace, failures = os.replace, []

    def replace_failing_once(src, dst):
        if not failures:
            failures.append(dst)
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_failing_once)
    with pytest.raises(ZSBError, match="previous version of the file, if any, is intact"):
        zsearch.index_gallery(searcher, photos)
    assert failures == [index_file] and index_file.read_bytes() == before
    assert not list(index_file.parent.glob(f".{index_file.name}.*"))  # no temporary file behind
    after = zsearch.index_gallery(searcher, photos)
    assert (after.embedded, after.reused) == (1, 10)


def test_a_long_indexing_run_keeps_its_progress_when_interrupted(trained, photos, monkeypatch):
    searcher = zsearch.load_searcher(trained.dir)
    monkeypatch.setattr(zsearch.index, "CHUNK", 3)
    monkeypatch.setattr(zsearch.index, "SAVE_INTERVAL_S", 0.0)
    real_embed, chunks = searcher.embed, []

    def embed_then_interrupt(paths, desc=""):
        chunks.append(len(paths))
        if len(chunks) == 3:
            raise KeyboardInterrupt
        return real_embed(paths, desc)

    monkeypatch.setattr(searcher, "embed", embed_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        zsearch.index_gallery(searcher, photos)
    monkeypatch.setattr(searcher, "embed", real_embed)
    resumed = zsearch.index_gallery(searcher, photos)
    assert (resumed.embedded, resumed.reused) == (4, 6)


def test_zsb_search_writes_a_csv_and_a_figure_per_query(trained, photos, sketches, tmp_path, capsys):
    out = tmp_path / "out"
    again = sketches["gray"].parent / "more" / "gray.png"
    again.parent.mkdir()
    shutil.copy(sketches["rgba"], again)
    args = ["search", *map(str, sketches.values()), str(again), "--model", str(trained.dir), "--gallery",
            str(photos), "--top", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "10 embedded, 0 reused" in printed and f"{out / 'rgba_ranked.csv'}, {out / 'rgba_ranked.png'}" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "gray_ranked-2.csv", "gray_ranked-2.png", "gray_ranked.csv", "gray_ranked.png", "rgb_ranked.csv",
        "rgb_ranked.png", "rgba_ranked.csv", "rgba_ranked.png"]
    table = pd.read_csv(out / "rgba_ranked.csv")
    assert list(table.columns) == ["rank", "path", "similarity"] and table["rank"].tolist() == [1, 2, 3]
    assert all(not Path(p).is_absolute() and (out / p).resolve().is_relative_to(photos.resolve())
               and (out / p).is_file() for p in table["path"])  # relative to the CSV's folder
    assert pd.read_csv(out / "gray_ranked-2.csv")["path"].tolist() == table["path"].tolist()
    assert Image.open(out / "rgba_ranked.png").format == "PNG"
    assert main(args) == 0
    assert "0 embedded, 10 reused" in capsys.readouterr().out

    inside = out / "gray_ranked.png"  # a query file named like another query's results is never overwritten
    shutil.copy(sketches["rgb"], inside)
    before = inside.read_bytes()
    assert main(["search", str(sketches["gray"]), str(inside), *args[5:]]) == 0
    assert inside.read_bytes() == before and "gray_ranked-2.csv" in capsys.readouterr().out


def test_results_written_inside_the_gallery_folder_never_join_it(trained, photos, sketches, capsys):
    args = ["search", str(sketches["gray"]), "--model", str(trained.dir), "--gallery", str(photos), "--out",
            str(photos / "results"), "--no-progress"]
    assert main(args) == 0 and main(args) == 0
    assert "10 photos; 0 embedded, 10 reused" in capsys.readouterr().out
    assert (photos / "results" / "gray_ranked.png").is_file()


@pytest.mark.parametrize("case", ["query not an image", "query missing", "gallery missing", "gallery empty",
                                  "no model", "no run folder", "top 0"])
def test_bad_inputs_are_one_line_errors_with_status_2(trained, photos, sketches, tmp_path, capsys, case):
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no photos here")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(trained.folder.config_path, unfinished)
    query, model, gallery, top = str(sketches["gray"]), str(trained.dir), str(photos), "3"
    if case == "query not an image":
        query = str(tmp_path / "text.png")
    elif case == "query missing":
        query = str(tmp_path / "nothing.png")
    elif case == "gallery missing":
        gallery = str(tmp_path / "nowhere")
    elif case == "gallery empty":
        gallery = str(tmp_path / "empty")
    elif case == "no model":
        model = str(unfinished)
    elif case == "no run folder":
        model = str(photos)
    else:
        top = "0"
    status = main(["search", query, "--model", model, "--gallery", gallery, "--top", top, "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("zsb: error: ") and err.count("\n") == 1, err
    expected = {"query not an image": "is not an image", "query missing": "does not exist",
                "gallery missing": "gallery folder", "gallery empty": "holds no .jpg", "no model": "no trained model",
                "no run folder": "is not a run folder", "top 0": "top must be a positive integer"}[case]
    assert expected in err


def test_a_folder_named_benchmark_is_never_shadowed_by_the_test_gallery(trained, photos, sketches, tmp_path,
                                                                         monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(photos, tmp_path / "benchmark")
    args = ["search", str(sketches["gray"]), "--model", str(trained.dir), "--out", str(tmp_path / "out"),
            "--no-progress", "--gallery"]
    assert main([*args, "benchmark"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass ./benchmark to search that folder" in err
    assert main([*args, "./benchmark"]) == 0
    table = pd.read_csv(tmp_path / "out" / "gray_ranked.csv")
    assert all(path.startswith("../benchmark/") for path in table["path"])  # the folder's photos, not the run's


def test_search_notebook_runs_headless_with_a_sketch_file(trained, photos, sketches, tmp_path, synthetic_env):
    import nbformat

    executed = tmp_path / "07_search.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "07_search.ipynb"), str(executed),
         "-p", "run_dir", str(trained.dir), "-p", "gallery", str(photos), "-p", "sketch", str(sketches["rgba"]),
         "-p", "top", "4", "-p", "out", str(tmp_path / "out"), "-p", "progress", "False"],
        cwd=tmp_path, env={k: v for k, v in synthetic_env.items() if k != "MPLBACKEND"},  # the kernel's inline plots
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = [o for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the ranked photos are shown
    assert len(pd.read_csv(tmp_path / "out" / "rgba_ranked.csv")) == 4


def test_the_drawing_pad_renders_its_segments_as_black_ink_on_white():
    """The pad saves what the kernel drew (its segments), so a search pressed at once sees the whole drawing."""
    image = zsearch.render_strokes([(10, 10, 50, 10), (50, 10, 50, 40)], size=64, width=3)
    assert image.mode == "L" and image.size == (64, 64)
    assert image.getpixel((30, 10)) < 64 and image.getpixel((50, 25)) < 64  # on the strokes
    assert image.getpixel((30, 9)) < 192 and image.getpixel((30, 11)) < 192  # 3 pixels wide, anti-aliased
    assert image.getpixel((30, 13)) == 255 and image.getpixel((30, 7)) == 255
    assert image.getpixel((30, 30)) == 255 and image.getpixel((60, 60)) == 255  # paper
    blank = zsearch.render_strokes([], size=64)
    assert blank.getextrema() == (255, 255)


def test_without_a_model_the_published_model_else_the_default_sketchy_mini_run_is_used(tmp_path, monkeypatch):
    from zsb.driver.notebooks import notebook_only_parameters
    from zsb.driver.reproduce import default_run_id

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="neither a published model"):
        zsearch.default_model()
    run_params, _ = notebook_only_parameters({"benchmark": "sketchy_mini"})  # what `zsb reproduce` resolves
    run = Path("results/sketchy_mini/runs") / default_run_id(resolve(run_params))
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert zsearch.default_model() == run
    (tmp_path / "results/sketchy_mini/model").mkdir()
    (tmp_path / "results/sketchy_mini/model/export.json").write_text('{"format": "zsb-export/1"}')
    assert zsearch.default_model() == zsearch.PUBLISHED_MODEL
