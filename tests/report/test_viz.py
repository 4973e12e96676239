"""Figures: each plot function renders a readable PNG from small synthetic inputs; saving is atomic."""

import json

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from zsb.domains import PHOTO, SKETCH  # noqa: E402
from zsb.errors import ConfigError, DataError  # noqa: E402
from zsb.report import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(path, min_side=100):
    """The file exists, is a PNG PIL can decode, has a plausible size and is not a blank canvas."""
    assert path.is_file()
    assert path.stat().st_size > 2000
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        assert min(image.size) >= min_side
        extrema = image.convert("L").getextrema()
    assert extrema[0] < extrema[1]


@pytest.fixture
def image_frame(tmp_path):
    """A manifest-like frame over tiny images: 3 seen + 2 unseen classes, 3 sketch PNGs + 3 photo JPEGs each."""
    rows = []
    classes = [("apple", True), ("bear", True), ("cup", True), ("dog", False), ("eel", False)]
    for c, (name, seen) in enumerate(classes):
        for i in range(3):
            sketch = Image.new("RGB", (40, 30), "white")
            ImageDraw.Draw(sketch).ellipse((5 + i, 5, 30, 25 - i), outline="black", width=2)
            sketch_path = tmp_path / f"{name}_s{i}.png"
            sketch.save(sketch_path)
            photo = Image.new("RGB", (30, 40), (40 * c, 120, 200 - 30 * i))
            photo_path = tmp_path / f"{name}_p{i}.jpg"
            photo.save(photo_path, quality=90)
            label = c if seen else c - 3
            rows += [
                {"path": str(sketch_path), "domain": "sketch", "class_name": name, "seen": seen, "label": label},
                {"path": str(photo_path), "domain": "photo", "class_name": name, "seen": seen, "label": label},
            ]
    return pd.DataFrame(rows)


def test_save_figure_writes_png(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = viz.save_figure(fig, tmp_path / "sub" / "line.png")
    assert out == tmp_path / "sub" / "line.png"
    assert_png(out)


def test_save_figure_rejects_other_suffix(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ConfigError, match=r"\.png"):
        viz.save_figure(fig, tmp_path / "figure.pdf")


def test_save_figure_is_atomic_when_rendering_fails(tmp_path, monkeypatch):
    target = tmp_path / "figure.png"
    target.write_bytes(b"previous version")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])

    def crash_midway(file, **kwargs):
        file.write(b"\x89PNG half-written")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(fig, "savefig", crash_midway)
    with pytest.raises(RuntimeError, match="renderer died"):
        viz.save_figure(fig, target)
    assert target.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_plot_functions_save_only_when_asked(tmp_path):
    fig = viz.plot_loss_curves([{"epoch": 0, "loss/total": 1.0}])
    assert fig.axes and list(tmp_path.iterdir()) == []


def test_sample_grid_rows_columns_and_unseen_marks(image_frame, tmp_path):
    out = tmp_path / "grid.png"
    fig = viz.plot_sample_grid(image_frame, per_class=2, path=out, thumb_size=32)
    assert_png(out)
    assert len(fig.axes) == 5 * 4
    row_labels = [fig.axes[4 * r].get_ylabel() for r in range(5)]
    assert row_labels == ["apple", "bear", "cup", "dog\n(unseen)", "eel\n(unseen)"]
    assert [ax.get_title() for ax in fig.axes[:4]] == ["sketch", "sketch", "photo", "photo"]


def test_sample_grid_default_classes_are_balanced_and_seeded(image_frame):
    frame = pd.concat([image_frame] + [
        image_frame.assign(class_name=image_frame["class_name"] + str(k)) for k in range(3)
    ])  # 12 seen + 8 unseen classes
    labels = lambda fig: [ax.get_ylabel() for ax in fig.axes[::2]]  # noqa: E731
    first = labels(viz.plot_sample_grid(frame, per_class=1, thumb_size=16, seed=3))
    assert len(first) == 8 and sum("(unseen)" in name for name in first) == 4
    assert first == labels(viz.plot_sample_grid(frame, per_class=1, thumb_size=16, seed=3))


def test_sample_grid_rejects_unknown_class_and_survives_a_bad_image(image_frame, tmp_path):
    with pytest.raises(DataError, match="zebra"):
        viz.plot_sample_grid(image_frame, classes=["zebra"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    frame = image_frame.copy()
    frame.loc[0, "path"] = str(broken)
    with pytest.warns(UserWarning, match="could not read image"):
        viz.plot_sample_grid(frame, classes=["apple"], per_class=3, path=tmp_path / "g.png", thumb_size=32)
    assert_png(tmp_path / "g.png", min_side=50)


def test_loss_curves_from_jsonl_with_lr(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [
        {"epoch": e, "loss/total": 3 - 0.2 * e, "loss/quadruplet": 1 - 0.05 * e, "loss/classification": 1.5 - 0.1 * e,
         "loss/knowledge": 0.5 - 0.01 * e, "lr": 1e-3 * 0.5 ** e}
        for e in range(8)
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    out = tmp_path / "loss.png"
    fig = viz.plot_loss_curves(log, path=out)
    assert_png(out)
    loss_ax, lr_ax = fig.axes[:2]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["total", "classification", "knowledge", "quadruplet"]
    assert loss_ax.get_lines()[0].get_linewidth() > loss_ax.get_lines()[1].get_linewidth()
    assert lr_ax.get_yscale() == "log"
    np.testing.assert_allclose(lr_ax.get_lines()[0].get_ydata(), [r["lr"] for r in records])


def test_loss_curves_draw_the_learning_rate_of_a_real_training_log(tmp_path):
    """The log written by zsb.engine.train (its learning rate is ``lr_backbone``) gets the learning-rate panel."""
    from torch.utils.data import DataLoader, TensorDataset

    from zsb import engine
    from zsb.backbones import build_backbone
    from zsb.config import RunConfig
    from zsb.data.sampler import DomainBalancedBatchSampler
    from zsb.model import ZSBModel
    from zsb.trainlog import LOG_NAME, read_log

    torch.manual_seed(0)
    num_classes = 3
    labels = torch.arange(num_classes).repeat_interleave(4).repeat(2)
    domains = torch.cat([torch.full((12,), SKETCH), torch.full((12,), PHOTO)])
    dataset = TensorDataset(torch.randn(len(labels), 3, 32, 32), labels, domains, torch.arange(len(labels)))
    sampler = DomainBalancedBatchSampler(labels.tolist(), domains.tolist(), classes_per_batch=3,
                                         samples_per_domain=2, seed=0, batches_per_epoch=2)

    def loader_for_epoch(epoch):
        sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_sampler=sampler)

    model = ZSBModel(build_backbone("efficientnet_lite0", None), num_seen_classes=num_classes, embed_dim=16)
    cfg = RunConfig().replace(epochs=2, device="cpu", progress=False, mining="random", seed=0)
    run = tmp_path / "run"
    engine.train(model, loader_for_epoch, cfg, run,
                 class_knowledge=torch.softmax(torch.randn(num_classes, 1000), dim=1))

    log = run / LOG_NAME
    logged_lr = [record["lr_backbone"] for record in read_log(log)]
    assert len(logged_lr) == 2 and logged_lr[0] > logged_lr[1] > 0  # the cosine schedule decays
    out = tmp_path / "loss.png"
    fig = viz.plot_loss_curves(log, path=out)
    assert_png(out)
    lr_axes = [ax for ax in fig.axes if "learning" in ax.get_ylabel()]
    assert len(lr_axes) == 1
    (line,) = lr_axes[0].get_lines()
    assert line.get_label() == "lr_backbone"
    assert [t.get_text() for t in lr_axes[0].get_legend().get_texts()] == ["lr_backbone"]
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    np.testing.assert_allclose(line.get_ydata(), logged_lr)
    loss_ax = fig.axes[0]
    assert loss_ax.get_lines()[0].get_label() == "total"


def test_loss_curves_draw_every_lr_key_labelled():
    fig = viz.plot_loss_curves([
        {"epoch": e, "loss/total": 2.0 - e, "lr_backbone": 1e-4 * (3 - e), "lr_heads": 1e-3 * (3 - e),
         "lr_notes": "text is not a rate"}
        for e in range(3)
    ])
    lr_ax = fig.axes[1]
    assert [line.get_label() for line in lr_ax.get_lines()] == ["lr_backbone", "lr_heads"]
    np.testing.assert_allclose(lr_ax.get_lines()[1].get_ydata(), [3e-3, 2e-3, 1e-3])
    assert lr_ax.get_yscale() == "log"  # 1e-4 .. 3e-3 spans more than a decade


def test_loss_curves_single_epoch_list_uses_markers(tmp_path):
    out = tmp_path / "one.png"
    fig = viz.plot_loss_curves([{"epoch": 1, "loss/total": 2.0, "loss/quadruplet": 0.7}], path=out)
    assert_png(out)
    assert len(fig.axes) == 1
    assert all(line.get_marker() == "o" for line in fig.axes[0].get_lines())


def test_loss_curves_keeps_last_record_of_a_repeated_epoch():
    fig = viz.plot_loss_curves([
        {"epoch": 0, "loss/total": 5.0}, {"epoch": 1, "loss/total": 4.0}, {"epoch": 1, "loss/total": 3.0},
    ])
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0, 1] and list(line.get_ydata()) == [5.0, 3.0]


def test_loss_curves_reports_bad_logs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"epoch": 0, "loss/total": 1.0}\n{"epoch": 1, "loss/to\n')
    with pytest.raises(DataError, match="line 2"):
        viz.plot_loss_curves(bad)
    with pytest.raises(DataError, match="loss/"):
        viz.plot_loss_curves([{"epoch": 0, "accuracy": 0.5}])
    with pytest.raises(DataError, match="does not exist"):
        viz.plot_loss_curves(tmp_path / "missing.jsonl")


def test_retrieval_borders_follow_correctness(image_frame, tmp_path):
    sketches = image_frame[image_frame["domain"] == "sketch"]["path"].tolist()
    photos = image_frame[image_frame["domain"] == "photo"]["path"].tolist()
    correct = [[True, False, True, True, False, False], [False, False, True, False, True, True]]
    out = tmp_path / "retrieval.png"
    fig = viz.plot_retrieval(sketches[:2], [photos[:6], photos[6:12]], correct, path=out,
                             query_titles=["apple", "bear"], top=5)
    assert_png(out)
    axes = np.array(fig.axes[:12]).reshape(2, 6)
    for row in range(2):
        assert axes[row, 0].get_ylabel() == f"{['apple', 'bear'][row]}\n{sum(correct[row][:5])}/5 correct"
        for rank in range(5):
            ax = axes[row, 1 + rank]
            expected = viz.CORRECT_COLOR if correct[row][rank] else viz.WRONG_COLOR
            assert ax.spines["top"].get_edgecolor() == to_rgba(expected)
            assert ax.get_title() == str(rank + 1)


def test_retrieval_rejects_mismatched_inputs():
    with pytest.raises(ConfigError, match="2 queries"):
        viz.plot_retrieval(["a.png", "b.png"], [["c.png"]], [[True]])


def clustered_embeddings(n_per_class=20, dim=16, seed=0):
    """Three well-separated Gaussian clusters (N = 3 * n_per_class)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 10
    labels = np.repeat(np.arange(3), n_per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


def test_tsne_embed_is_deterministic_and_keeps_clusters():
    points, labels = clustered_embeddings()
    first = viz.tsne_embed(torch.tensor(points, dtype=torch.float32), seed=1, perplexity=30)
    second = viz.tsne_embed(points.astype(np.float32), seed=1, perplexity=30)
    assert first.shape == (60, 2) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).all()  # each point's nearest 2-D neighbour shares its class


def test_tsne_embed_handles_few_points_and_rejects_bad_input():
    assert viz.tsne_embed(np.random.default_rng(0).normal(size=(6, 3)), perplexity=30).shape == (6, 2)
    with pytest.raises(ConfigError, match="N >= 4"):
        viz.tsne_embed(np.zeros((3, 5)))
    with pytest.raises(ConfigError, match="NaN"):
        viz.tsne_embed(np.full((10, 5), np.nan))


def test_plot_tsne_shared_colours_and_legends(tmp_path):
    points, labels = clustered_embeddings()
    domains = np.tile([SKETCH, PHOTO], 30)
    out = tmp_path / "tsne.png"
    fig = viz.plot_tsne(
        {"before": (points + np.random.default_rng(1).normal(size=points.shape) * 20, labels, domains),
         "after": (torch.tensor(points), torch.tensor(labels), torch.tensor(domains))},
        class_names=["apple", "bear", "cup"], path=out,
    )
    assert_png(out)
    legend_texts = [[t.get_text() for t in legend.get_texts()] for legend in fig.legends]
    assert legend_texts == [["sketch", "photo"], ["apple", "bear", "cup"]]

    def colour_of_label(ax, label):
        for collection, domain in zip(ax.collections, viz.DOMAIN_MARKERS):
            faces = collection.get_facecolors()
            return tuple(faces[np.flatnonzero(labels[domains == domain] == label)[0]][:3])

    for label in range(3):
        assert colour_of_label(fig.axes[0], label) == colour_of_label(fig.axes[1], label)
    assert len({colour_of_label(fig.axes[0], label) for label in range(3)}) == 3


def test_plot_tsne_rejects_bad_domains():
    points, labels = clustered_embeddings()
    with pytest.raises(ConfigError, match="domains"):
        viz.plot_tsne({"x": (points, labels, np.full(60, 2))})


def test_ablation_one_bar_per_variant_and_metric_chance_as_line(tmp_path):
    table = pd.DataFrame({
        "variant": ["full", "no knowledge", "triplet", "chance"],
        "mAP@all": [0.42, 0.35, 0.30, 0.04],
        "P@10": [0.55, 0.47, 0.41, 0.04],
        "P@100": [0.40, 0.33, 0.29, 0.04],
    })
    out = tmp_path / "ablation.png"
    fig = viz.plot_ablation(table, metrics=("mAP@all", "P@10", "P@100"), path=out)
    assert_png(out)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 3
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(round(v, 6) for v in table.iloc[:3][["mAP@all", "P@10", "P@100"]].to_numpy().ravel())
    full_heights = sorted(round(p.get_height(), 6) for p in ax.patches if p.get_edgecolor() == to_rgba("black"))
    assert full_heights == [0.4, 0.42, 0.55]  # only the full variant's bars
    chance_lines = [c for c in ax.collections if c.get_label() == "chance"]
    assert len(chance_lines) == 1
    assert "0.420" in [t.get_text() for t in ax.texts]


def test_ablation_rejects_missing_metric():
    with pytest.raises(DataError, match="P@10"):
        viz.plot_ablation(pd.DataFrame({"variant": ["full"], "mAP@all": [0.4]}))


def test_ablation_gains_are_coloured_by_their_reading_spread_before_claims(tmp_path):
    """Green only where the interval lies above 0 and the gain exceeds the spread over seeds (zsb.stats.reading);
    an interval above 0 inside the spread is a grey tie; hollow where the spread is not known (one seed each)."""
    nan = float("nan")
    table = pd.DataFrame({
        "variant": ["full", "helps", "inside the spread", "hurts"],
        "mAP@all sd": [0.004, 0.005, 0.010, 0.005],
        "mAP@all gain": [nan, 0.020, 0.008, -0.020],
        "mAP@all gain low": [nan, 0.010, 0.002, -0.030],
        "mAP@all gain high": [nan, 0.030, 0.014, -0.010],
    })
    fig = viz.plot_ablation_gains(table, "mAP@all", path=tmp_path / "gains.png")
    assert_png(tmp_path / "gains.png")
    markers = [container.lines[0] for container in fig.axes[0].containers]
    assert [to_rgba(m.get_color()) for m in markers] == [to_rgba(c) for c in ("#2a7f3f", "0.35", "#c44e52")]
    assert all(to_rgba(m.get_markerfacecolor()) == to_rgba(m.get_color()) for m in markers)
    plt.close("all")
    one_seed = viz.plot_ablation_gains(table.drop(columns="mAP@all sd"), "mAP@all")
    markers = [container.lines[0] for container in one_seed.axes[0].containers]
    assert [to_rgba(m.get_color()) for m in markers] == [to_rgba(c) for c in ("#2a7f3f", "#2a7f3f", "#c44e52")]
    assert all(to_rgba(m.get_markerfacecolor()) == to_rgba("white") for m in markers)


def test_ablation_gains_put_the_untrained_baseline_on_a_panel_of_its_own(tmp_path):
    """The frozen features' gain (about 0.3) would squeeze the components' intervals (about 0.01 wide) into a sliver:
    it gets its own panel and scale below them."""
    nan = float("nan")
    table = pd.DataFrame({
        "variant": ["full", "no_knowledge", "frozen", "triplet"],
        "mAP@all gain": [nan, 0.014, 0.336, 0.001],
        "mAP@all gain low": [nan, 0.007, 0.312, -0.006],
        "mAP@all gain high": [nan, 0.020, 0.360, 0.008],
    })
    fig = viz.plot_ablation_gains(table, "mAP@all", path=tmp_path / "gains.png")
    assert_png(tmp_path / "gains.png")
    components, baseline = fig.axes
    assert [t.get_text() for t in components.get_yticklabels()] == ["no_knowledge", "triplet"]
    assert [t.get_text() for t in baseline.get_yticklabels()] == ["frozen"]
    assert components.get_xlim()[1] < 0.1 and baseline.get_xlim()[1] >= 0.36
    assert components.get_xlim()[0] <= -0.006 and baseline.get_xlim()[0] <= 0.0  # 0 in sight on both
    plt.close("all")
    without = viz.plot_ablation_gains(table[table["variant"] != "frozen"], "mAP@all")
    assert len(without.axes) == 1


def test_gains_by_split_read_each_component_across_the_splits_on_one_row(tmp_path):
    nan = float("nan")

    def table(variants, gains, sds=None):
        return pd.DataFrame({"variant": ["full", *variants], "mAP@200 sd": sds or [0.001] * (len(variants) + 1),
                             "mAP@200 gain": [nan, *gains], "mAP@200 gain low": [nan, *(g - 0.01 for g in gains)],
                             "mAP@200 gain high": [nan, *(g + 0.01 for g in gains)]})

    first = table(["no_knowledge", "frozen", "triplet"], [0.02, 0.3, 0.0])
    second = table(["triplet", "no_knowledge"], [-0.03, 0.05]).rename(columns=lambda c: c.replace("@200", "@all"))
    fig = viz.plot_gains_by_split({"a": (first, "mAP@200"), "b": (second, "mAP@all")}, path=tmp_path / "gains.png")
    assert_png(tmp_path / "gains.png")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["no_knowledge", "triplet"]  # frozen left out
    assert left.get_ylim() == right.get_ylim()

    def dots(ax):
        """variant row (0 at the top) -> (gain, colour) of each dot drawn on ``ax``."""
        return {round(1 - c.lines[0].get_ydata()[0]): (c.lines[0].get_xdata()[0], to_rgba(c.lines[0].get_color()))
                for c in ax.containers}

    green, grey, red = (to_rgba(c) for c in ("#2a7f3f", "0.35", "#c44e52"))
    assert dots(left) == {0: (pytest.approx(0.02), green), 1: (pytest.approx(0.0), grey)}
    assert dots(right) == {0: (pytest.approx(0.05), green), 1: (pytest.approx(-0.03), red)}  # same rows, other order
    assert (left.get_title(), right.get_title()) == ("a", "b")
    assert "mAP@200" in left.get_xlabel() and "mAP@all" in right.get_xlabel()
    with pytest.raises(DataError, match="no ablation tables"):
        viz.plot_gains_by_split({})


def test_class_knowledge_shows_top_imagenet_classes(tmp_path):
    rng = np.random.default_rng(0)
    knowledge = torch.softmax(torch.tensor(rng.normal(size=(6, 1000)) * 3), dim=1)
    class_names = [f"class{c}" for c in range(6)]
    imagenet_names = [f"imagenet {i}, synonym" for i in range(1000)]
    out = tmp_path / "knowledge.png"
    fig = viz.plot_class_knowledge(knowledge, class_names, imagenet_names, classes=["class2", 4], top=3, path=out)
    assert_png(out)
    for ax, c in zip(fig.axes, (2, 4)):
        expected = sorted(range(1000), key=lambda i: -float(knowledge[c, i]))[:3]
        assert [t.get_text() for t in ax.get_yticklabels()] == [f"imagenet {i}" for i in expected]
        assert ax.get_title().startswith(f"class{c}")
    default = viz.plot_class_knowledge(knowledge, class_names, imagenet_names)
    assert [ax.get_title().split()[0] for ax in default.axes] == ["class0", "class1", "class2", "class3"]
    with pytest.raises(ConfigError, match="shape"):
        viz.plot_class_knowledge(knowledge[:, :10], class_names, imagenet_names)


def test_per_class_ap_sorted_best_first(tmp_path):
    per_class = pd.DataFrame({
        "class_name": ["apple", "bear", "cup", "dog"],
        "mAP@all": [0.2, 0.9, 0.5, 0.1],
        "mAP@all (voc)": [0.25, 0.88, 0.52, 0.12],
    })
    out = tmp_path / "per_class.png"
    fig = viz.plot_per_class_ap(per_class, path=out)
    assert_png(out)
    ax = fig.axes[0]
    top_to_bottom = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())),
                           key=lambda pair: pair[0], reverse=ax.yaxis_inverted() is False)
    assert [name for _, name in top_to_bottom] == ["bear", "cup", "apple", "dog"]
    with pytest.raises(DataError, match="class_name"):
        viz.plot_per_class_ap(per_class.drop(columns="class_name"))


def test_a_sketch_on_transparent_paper_is_shown_on_white_as_the_model_reads_it(tmp_path):
    """A drawing saved as black ink on transparent pixels (the drawing pad's PNG) is shown on white, not black."""
    ink = Image.new("L", (60, 40), 0)
    ImageDraw.Draw(ink).line((5, 20, 55, 20), fill=255, width=3)
    sketch = Image.merge("RGBA", (*[Image.new("L", ink.size, 0)] * 3, ink))
    sketch.save(tmp_path / "drawn.png")
    thumb = viz.base.load_thumbnail(tmp_path / "drawn.png", 60)
    assert thumb.shape == (60, 60, 3)
    assert (thumb[10, 30] == 255).all() and (thumb[30, 30] < 64).all()  # white paper, black ink (centred: y 10 + 20)
