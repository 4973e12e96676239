"""Search photos with your own sketch: ``zsb search`` and the functions notebooks/07_search.ipynb calls.

A :class:`Searcher` (:func:`load_searcher`) is the fine-tuned model of a finished run folder, or of a folder made by
``zsb export`` (:mod:`zsb.export`: its hashes are checked first). It embeds an image
exactly as the run's evaluation does: transparent pixels painted white, the backbone's preprocessing at the run's
``image_size`` (:func:`zsb.data.transforms.build_transform` with ``train=False``; the images uncached, as with
``cache_images=False``), and the run's test-time flip (``eval_hflip``).

The gallery (:func:`index_gallery`) is a folder of photos searched recursively (``.jpg``, ``.jpeg``, ``.png``, any
case), or ``"benchmark"``: the model's own evaluation gallery (the run's manifest's gallery rows; for an exported
model, the same benchmark, split and classes read from the data root it recorded, else from the copy ``zsb data
fetch`` made). ``"benchmark"`` is refused while a folder of that name lies in the working directory (pass
``./benchmark`` for the folder). Its embeddings are kept in an index file, by default
``<run_dir>/search/index-<key>.pt`` (key: ``benchmark``, or the first 16 hex digits of the SHA-256 of the gallery
folder's absolute path); an exported model's, which is never written into the export folder, in
``$ZSB_CACHE/search/<weights>/index-<key>.pt`` (default ``~/.cache/zsb``; ``<weights>``: the first 16 hex digits of
its identity). The photos' folder is never written to, and each model keeps its own indexes. The index records the
model's identity (:func:`weights_identity`, the SHA-256 of its weights' values, the same for a run and its export,
which can therefore reuse each other's ``--index`` file; and ``eval_hflip``)
and, per photo, its path relative to the gallery (the manifest's path for the benchmark), size and modification
time: a later search embeds only the photos added or changed since, and drops the removed ones. Every write is
atomic and a long indexing run saves its progress every :data:`SAVE_INTERVAL_S` seconds, so an interruption loses
at most that much work and never damages the index.

An index made by another model: at the default place it can only come from retraining that run folder, and its
embeddings are useless to the new model, so it is rebuilt with a log line that says why (the project's rule for
every cached artifact, :mod:`zsb.artifacts`). A file named explicitly (``index=``, ``--index FILE``) is the user's:
one made by another model, or that is no search index, is refused with a WeightsError (exit status 2) rather than
overwritten.

Ranking: cosine similarity of the L2-normalised embeddings, highest first, ties in gallery order (sorted relative
paths for a folder, manifest order for the benchmark). The gallery is held as fp16 (2 x dim bytes per photo);
the fp16 product picks the candidates and their similarity is then computed in fp32, exact for the stored
embeddings. Gallery files that cannot be read are left out, counted and named in one warning (and, while
unchanged, not tried again).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Dataset

from zsb.embeddings import extract_embeddings
from zsb.artifacts import RunFolder
from zsb.backbones import BACKBONES
from zsb.config import CONFIG_NAME, canonical_json, resolve_workers
from zsb.data.datasets import _to_rgb
from zsb.data.transforms import build_transform
from zsb.errors import ConfigError, DataError, WeightsError, ZSBError
from zsb.io import atomic_open, atomic_torch_save, atomic_write_text, safe_torch_load
from zsb.log import get_logger
from zsb.model import ZSBModel
from zsb.report import viz
from zsb.run.context import Run
from zsb.run.stages import trained_model

logger = get_logger(__name__)

BENCHMARK = "benchmark"
"""The ``gallery`` that names the run's own evaluation gallery (a folder called so: ``./benchmark``)."""
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
INDEX_FORMAT = "zsb-search-index/1"
CHUNK = 64
"""Photos embedded between two chances to save the index's progress (a few seconds of work on a CPU)."""
SAVE_INTERVAL_S = 20.0
"""An indexing run saves its progress at most this often (seconds): an interruption loses about this much work."""
FP16_MARGIN = 4e-3
"""Candidates: every photo whose fp16 similarity is within this of the top-th best (fp16 rounds a cosine in
[-1, 1] by at most 2.5e-4, so none of the exact top is missed)."""
PUBLISHED_MODEL = Path("results") / "sketchy_mini" / "model"
"""The model published with zsb (a ``zsb export`` folder), relative to the checkout: the default ``--model``."""
PAD_LINE_WIDTH = 3
"""The drawing pad's pen, in canvas pixels (the pad is 256 x 256, as Sketchy's sketches)."""


@dataclass
class Searcher:
    """A model that embeds sketches and photos, and what an index records of it.

    ``transform`` turns an RGB PIL image into the model's input; ``identity`` is what decides the embeddings (an
    index made with another identity is another model's); ``hflip`` averages each embedding with its mirror
    image's; ``run`` is the run folder the model comes from (the home of its indexes and of the benchmark gallery),
    or None; ``index_home`` is where its indexes live when it has no run folder (an exported model), and
    ``parameters`` its run's recorded parameters (which benchmark gallery is its own); ``description`` says what the
    model is."""

    model: ZSBModel
    transform: Callable[[Image.Image], torch.Tensor]
    identity: str
    device: torch.device
    hflip: bool = False
    batch_size: int = 64
    num_workers: int = 0
    progress: bool = True
    run: Run | None = None
    index_home: Path | None = None
    parameters: dict | None = None
    description: str = ""

    @cached_property
    def manifest(self):
        """The manifest of the model's own benchmark: the run's, or for an export one built from its recorded
        parameters (the data root it recorded where that exists here, else the benchmark's default: the fetched
        copy)."""
        if self.run is not None:
            return self.run.manifest
        from zsb.data.manifest import build_manifest

        p = self.parameters or {}
        root = p.get("data_root") or None
        if root is not None and not Path(root).is_dir():
            root = None
        return build_manifest(p.get("benchmark", "synthetic"), root, p.get("split") or None,
                              max_seen_classes=p.get("max_seen_classes") or None,
                              max_unseen_classes=p.get("max_unseen_classes") or None,
                              max_per_class=p.get("max_per_class") or None, evaluate_on=p.get("evaluate_on", "test"))

    def embed(self, paths: Sequence[str], desc: str = "embedding") -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) float32 unit embeddings of the images at ``paths``, and the (N,) mask of the images that could
        not be decoded (their rows mean nothing)."""
        images = _Images(list(paths), self.transform)
        if not len(images):
            return torch.zeros(0, self.model.embed_dim), torch.zeros(0, dtype=torch.bool)
        loader = DataLoader(images, batch_size=self.batch_size, num_workers=self.num_workers)
        embedded = extract_embeddings(self.model.embed, loader, self.device, self.progress, desc=desc,
                                             hflip=self.hflip)
        return embedded, images.failed.clone()


class _Images(Dataset):
    """Images by path as model inputs; one that cannot be decoded is a white image, marked in ``failed`` (shared
    with DataLoader worker processes)."""

    def __init__(self, paths: list[str], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths, self.transform = paths, transform
        self.failed = torch.zeros(len(paths), dtype=torch.bool).share_memory_()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        try:
            image = read_image(self.paths[index])
        except DataError:
            self.failed[index] = True
            image = Image.new("RGB", (8, 8), "white")
        return self.transform(image), index


def weights_identity(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights: every state-dict entry's name, dtype, shape and values, in name order. The same
    for a run's checkpoint and its export (whatever the file holds beside the weights)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{values.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """The image at ``path`` as RGB, transparent pixels white; a DataError when it is missing or not an image."""
    if not Path(path).is_file():
        raise DataError(f"{what} {path} does not exist (or is not a file); pass a PNG or JPEG image.")
    try:
        with Image.open(path) as file:
            return _to_rgb(file)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ... depending on the damage
        raise DataError(f"{what} {path} is not an image that can be read ({type(e).__name__}: {e}); pass a PNG or "
                        "JPEG image.") from e


def default_model() -> Path:
    """The model ``zsb search`` uses when none is named, looked up from the working directory (the zsb checkout):
    the published model (:data:`PUBLISHED_MODEL`), else the finished run of ``zsb reproduce --benchmark
    sketchy_mini`` with its defaults; a ConfigError saying what to do when neither is there."""
    from zsb.config import resolve
    from zsb.driver.reproduce import default_run_id
    from zsb.export import is_export

    if is_export(PUBLISHED_MODEL):
        return PUBLISHED_MODEL
    run = PUBLISHED_MODEL.parent / "runs" / default_run_id(resolve({"benchmark": "sketchy_mini"}))
    if RunFolder(run).checkpoint_path.is_file():
        return run
    raise ConfigError(f"no --model given, and there is neither a published model ({PUBLISHED_MODEL}) nor a trained "
                      f"run of `zsb reproduce --benchmark sketchy_mini` ({run}) here: run zsb search from the zsb "
                      "folder, train that run first, or pass --model RUN_DIR (or a zsb export folder).")


def load_searcher(run_dir: str | os.PathLike, progress: bool | None = None) -> Searcher:
    """The fine-tuned model of the finished run in ``run_dir`` (its config.json and checkpoints/last.pt), or of the
    export folder ``run_dir`` (``zsb export``), embedding as the run's evaluation does. ``progress``: tqdm bars
    (None: the run's setting)."""
    from zsb import export

    if (Path(run_dir) / export.MANIFEST_NAME).is_file():  # an export (a damaged export.json: a clear ExportError)
        return _exported_searcher(Path(run_dir), progress)
    folder = RunFolder(Path(run_dir))
    if not folder.config_path.is_file():
        raise ZSBError(f"{folder.dir} is not a run folder: it has no {CONFIG_NAME}. Pass the folder of a finished "
                       "run, e.g. results/<benchmark>/runs/<run_id>.")
    if not folder.checkpoint_path.is_file():
        raise ZSBError(f"no trained model in {folder.dir}: {folder.checkpoint_path} is missing. Run the training "
                       "stage first (notebooks/03_train.ipynb, or zsb reproduce --stages 03_train).")
    run = Run(folder, folder.read_config())
    cfg = run.cfg
    model = trained_model(run)
    identity = canonical_json({"weights_sha256": weights_identity(model), "eval_hflip": cfg.eval_hflip})
    transform = build_transform(BACKBONES[cfg.backbone].preprocessing, cfg.image_size, train=False)
    return Searcher(model, transform, identity, run.device, hflip=cfg.eval_hflip, batch_size=cfg.eval_batch_size,
                    num_workers=resolve_workers(cfg.num_workers),
                    progress=cfg.progress if progress is None else progress, run=run, parameters=cfg.to_dict(),
                    description=_describe_model(folder.dir, cfg.backbone, cfg.image_size, model.embed_dim))


def _describe_model(folder: Path, backbone: str, image_size: int, embed_dim: int) -> str:
    return f"{folder} ({backbone} at {image_size} px, {embed_dim}-d embedding)"


def _exported_searcher(folder: Path, progress: bool | None) -> Searcher:
    """A searcher of the exported model in ``folder``: its device, batch size and workers from its config.json."""
    from zsb.backbones import resolve_device, to_device
    from zsb.data.synthetic.cache import default_cache_dir
    from zsb.export import load_model

    exported = load_model(folder)
    parameters = exported.config
    device = resolve_device("cpu" if parameters.get("device") == "cpu" else "auto")  # the run's GPU may be absent
    to_device(exported.model, device)
    pre = exported.preprocessing
    weights = weights_identity(exported.model)
    identity = canonical_json({"weights_sha256": weights, "eval_hflip": pre.hflip})
    return Searcher(exported.model, pre.transform(), identity, device, hflip=pre.hflip,
                    batch_size=int(parameters.get("eval_batch_size", 64)), num_workers=0,
                    progress=bool(parameters.get("progress", True)) if progress is None else progress,
                    index_home=default_cache_dir() / "search" / weights[:16], parameters=parameters,
                    description=_describe_model(folder, exported.model.architecture()["backbone"], pre.image_size,
                                                exported.model.embed_dim))


# --- the gallery and its index ---


@dataclass
class GalleryIndex:
    """A gallery ready to search: its readable photos in gallery order and their (N, dim) fp16 unit embeddings;
    the files left out; the index file; and how many photos this call embedded, reused and dropped."""

    paths: list[str]
    embeddings: torch.Tensor
    unreadable: list[str]
    file: Path
    embedded: int
    reused: int
    removed: int


@dataclass(frozen=True)
class _Photo:
    key: str  # what the index knows it by: its path relative to the gallery folder (benchmark: the manifest's)
    path: str  # where it is read, as shown in results
    size: int
    mtime_ns: int


def is_benchmark(gallery: str | os.PathLike) -> bool:
    """Whether ``gallery`` names the model's own evaluation gallery; a ConfigError while a folder of that name lies
    in the working directory (which one was meant cannot be told)."""
    if not (isinstance(gallery, str) and gallery == BENCHMARK):
        return False
    if Path(BENCHMARK).is_dir():
        raise ConfigError(f"'{BENCHMARK}' names both the model's own test gallery and the folder ./{BENCHMARK} here: "
                          f"pass ./{BENCHMARK} to search that folder, or run the search from another folder to "
                          "search the test gallery.")
    return True


def default_index_path(searcher: Searcher, gallery: str | os.PathLike) -> Path:
    """Where the index of ``gallery`` lives when none is named: ``<run_dir>/search/index-<key>.pt``."""
    home = searcher.run.dir / "search" if searcher.run is not None else searcher.index_home
    if home is None:
        raise ConfigError("this searcher has no run folder to keep its index in; name an index file.")
    key = BENCHMARK if is_benchmark(gallery) else hashlib.sha256(str(Path(gallery).resolve()).encode()).hexdigest()[:16]
    return home / f"index-{key}.pt"


def index_gallery(searcher: Searcher, gallery: str | os.PathLike, index: str | os.PathLike | None = None,
                  exclude: Sequence[str | os.PathLike] = ()) -> GalleryIndex:
    """Embed the photos of ``gallery`` (a folder, or ``"benchmark"``) that its index (``index``, default
    :func:`default_index_path`) lacks or holds in an older version, update the index, and return the gallery.
    Folders in ``exclude`` (where results are written) are no part of a gallery folder."""
    photos, missing = _gallery_photos(searcher, gallery, exclude)
    path = Path(index) if index is not None else default_index_path(searcher, gallery)
    stored = _read_index(path, searcher, strict=index is not None)
    position = {key: i for i, key in enumerate(stored["keys"])} if stored else {}
    versions = list(zip(stored["sizes"].tolist(), stored["mtimes"].tolist())) if stored else []
    reused, todo = [], []
    for photo in photos:
        i = position.get(photo.key)
        (reused if i is not None and versions[i] == (photo.size, photo.mtime_ns) else todo).append(photo)
    removed = len(set(position) - {photo.key for photo in photos})
    table = _Table(stored, [position[photo.key] for photo in reused])
    if stored is None or todo or removed:
        last_save = time.monotonic()
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            embedded, failed = searcher.embed([photo.path for photo in chunk],
                                              desc=f"photos {start + 1}-{start + len(chunk)} of {len(todo)}")
            table.add(chunk, embedded, ~failed)
            if start + CHUNK < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                table.save(path, searcher.identity)
                last_save = time.monotonic()
        table.save(path, searcher.identity)
    logger.info("gallery %s: %d photos; %d embedded, %d reused, %d dropped (index %s)",
                _describe(searcher, gallery), len(photos), len(todo), len(reused), removed, path)

    rows = {key: i for i, key in enumerate(table.keys)}
    order = torch.tensor([rows[photo.key] for photo in photos], dtype=torch.long)
    ok = torch.cat(table.ok)[order]
    unreadable = missing + [photo.path for photo, good in zip(photos, ok.tolist()) if not good]
    if unreadable:
        named = ", ".join(unreadable[:20]) + (f" and {len(unreadable) - 20} more" if len(unreadable) > 20 else "")
        warnings.warn(f"{len(unreadable)} gallery file(s) could not be read and are left out of the search: {named}",
                      stacklevel=2)
    if not ok.any():
        raise DataError(f"the gallery {_describe(searcher, gallery)} has no readable photo; add .jpg, .jpeg or .png "
                        "photos.")
    return GalleryIndex(
        paths=[photo.path for photo, good in zip(photos, ok.tolist()) if good],
        embeddings=torch.cat(table.embeddings)[order[ok]],
        unreadable=unreadable, file=path, embedded=len(todo), reused=len(reused), removed=removed,
    )


def _describe(searcher: Searcher, gallery: str | os.PathLike) -> str:
    if not is_benchmark(gallery):
        return str(gallery)
    return f"of run {searcher.run.dir}" if searcher.run is not None else f"of {searcher.manifest.benchmark}"


def _gallery_photos(searcher: Searcher, gallery: str | os.PathLike,
                    exclude: Sequence[str | os.PathLike]) -> tuple[list[_Photo], list[str]]:
    """The gallery's photos in gallery order, and its files that are gone (a benchmark photo deleted since)."""
    if is_benchmark(gallery):
        named = [(path, path) for path in searcher.manifest.gallery()["path"]]
    else:
        root = Path(gallery)
        if not root.is_dir():
            raise DataError(f"gallery folder {root} does not exist (or is not a folder); pass a folder of photos, "
                            f"or {BENCHMARK} for the run's own test gallery.")
        real = root.resolve()
        skipped = tuple(f"{folder.relative_to(real).as_posix()}/" for folder in map(Path.resolve, map(Path, exclude))
                        if folder.is_relative_to(real))
        found = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                       if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        named = [(key, str(path)) for key, path in found if not key.startswith(skipped)]
    photos, missing = [], []
    for key, path in named:
        try:
            stat = os.stat(path)
        except OSError:
            missing.append(path)
            continue
        photos.append(_Photo(key, path, stat.st_size, stat.st_mtime_ns))
    if not photos:
        raise DataError(f"the gallery {_describe(searcher, gallery)} holds no .jpg, .jpeg or .png photo.")
    return photos, missing


def _read_index(path: Path, searcher: Searcher, strict: bool) -> dict | None:
    """The index stored at ``path`` when it was made by this model; None when there is none to reuse (rebuilt,
    with a log line) or, with ``strict``, a WeightsError for a file that is another model's or no index."""
    if not path.exists():
        return None
    try:
        stored = safe_torch_load(path, what="search index")
    except WeightsError:
        stored = None
    if not (isinstance(stored, dict) and stored.get("format") == INDEX_FORMAT):
        if strict:
            raise WeightsError(f"{path} is not a zsb search index; name a new file, or delete this one.")
        logger.warning("rebuilding the search index %s: it is not a readable zsb search index", path)
        return None
    if stored["model"] != searcher.identity:
        where = f" than {searcher.run.dir}'s" if searcher.run is not None else ""
        if strict:
            raise WeightsError(f"the search index {path} was made by another model{where}; name another index file, "
                               "or delete this one to rebuild it.")
        logger.warning("rebuilding the search index %s: it was made by another model (retrained since?)", path)
        return None
    return stored


class _Table:
    """The index's rows as they are built: the stored rows kept, then each newly embedded chunk."""

    def __init__(self, stored: dict | None, kept: list[int]):
        self.keys: list[str] = [stored["keys"][i] for i in kept] if stored else []
        rows = torch.tensor(kept, dtype=torch.long)
        self.sizes = [stored["sizes"][rows]] if stored else []
        self.mtimes = [stored["mtimes"][rows]] if stored else []
        self.ok = [stored["ok"][rows]] if stored else []
        self.embeddings = [stored["embeddings"][rows]] if stored else []

    def add(self, photos: list[_Photo], embedded: torch.Tensor, ok: torch.Tensor) -> None:
        self.keys += [photo.key for photo in photos]
        self.sizes.append(torch.tensor([photo.size for photo in photos], dtype=torch.long))
        self.mtimes.append(torch.tensor([photo.mtime_ns for photo in photos], dtype=torch.long))
        self.ok.append(ok)
        self.embeddings.append(embedded.half())

    def save(self, path: Path, identity: str) -> None:
        atomic_torch_save({"format": INDEX_FORMAT, "model": identity, "keys": self.keys,
                           "sizes": torch.cat(self.sizes), "mtimes": torch.cat(self.mtimes),
                           "ok": torch.cat(self.ok), "embeddings": torch.cat(self.embeddings)}, path)


# --- search ---


def check_request(queries: Sequence[str | os.PathLike], top: int) -> None:
    """A DataError for a query that is missing or not an image, a ConfigError for ``top`` below 1: before any
    gallery is indexed."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a positive integer (photos listed per query), got {top!r}.")
    if not queries:
        raise ConfigError("give at least one query sketch.")
    for query in queries:
        read_image(query, "query")


def search(searcher: Searcher, gallery: GalleryIndex, queries: Sequence[str | os.PathLike],
           top: int = 10) -> pd.DataFrame:
    """The ``top`` photos most similar to each query sketch (fewer in a smaller gallery): columns query, rank
    (1: most similar), path, similarity (cosine)."""
    queries = list(dict.fromkeys(str(query) for query in queries))
    check_request(queries, top)
    embedded, _ = searcher.embed(queries, desc="queries")
    rows = []
    for query, vector in zip(queries, embedded):
        ranked, similarity = rank_gallery(gallery.embeddings, vector, top)
        rows += [{"query": query, "rank": rank, "path": gallery.paths[i], "similarity": s}
                 for rank, (i, s) in enumerate(zip(ranked.tolist(), similarity.tolist()), start=1)]
    return pd.DataFrame(rows, columns=["query", "rank", "path", "similarity"])


def rank_gallery(gallery: torch.Tensor, query: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of ``gallery`` (N, dim, fp16) with the ``top`` highest cosine similarities to the unit vector
    ``query``, highest first, ties in row order, and those similarities (fp32)."""
    query = query.float()
    top = min(top, len(gallery))
    coarse = (gallery @ query.to(gallery.dtype)).float()
    threshold = coarse.topk(top).values[-1] - FP16_MARGIN
    candidates = (coarse >= threshold).nonzero().flatten()
    exact = (gallery[candidates].float() * query).sum(dim=1)  # row by row: equal rows, equal similarities
    order = torch.sort(exact, descending=True, stable=True).indices[:top]
    return candidates[order], exact[order]


def write_results(results: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """For each query of :func:`search`'s ``results``, ``<stem>_ranked.csv`` (rank, path, similarity) and
    ``<stem>_ranked.png`` (the sketch and its ranked photos) in ``out_dir``; a name taken already (by an earlier
    query, or by a query file itself) gets ``-2``, ``-3``, ... The files written."""
    out, written = Path(out_dir), []
    taken = {Path(query).resolve() for query in results["query"].unique()}
    for query, rows in results.groupby("query", sort=False):
        stem = name = f"{Path(query).stem}_ranked"
        copy = 1
        while {(out / f"{name}.csv").resolve(), (out / f"{name}.png").resolve()} & taken:
            copy += 1
            name = f"{stem}-{copy}"
        files = [out / f"{name}.csv", out / f"{name}.png"]
        taken.update(file.resolve() for file in files)
        atomic_write_text(files[0], rows[["rank", "path", "similarity"]].to_csv(index=False, float_format="%.6f"))
        plt.close(viz.plot_search(query, rows["path"].tolist(), rows["similarity"].tolist(), path=files[1]))
        written += files
    return written


def render_strokes(segments: Sequence[tuple[float, float, float, float]], size: int = 256,
                   width: float = 3) -> Image.Image:
    """A drawing as the drawing pad saves it: black ink on white paper, ``size`` x ``size`` pixels, each segment
    ``(x0, y0, x1, y1)`` (canvas pixels) a line ``width`` wide with round ends, anti-aliased as a browser's canvas
    draws it (drawn at 4 times the size, then reduced)."""
    scale = 4
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    r = width * scale / 2
    for segment in segments:
        x0, y0, x1, y1 = (v * scale for v in segment)
        draw.line((x0, y0, x1, y1), fill=0, width=round(width * scale))
        for x, y in ((x0, y0), (x1, y1)):
            draw.ellipse((x - r, y - r, x + r - 1, y + r - 1), fill=0)  # inclusive box, centred as the line
    return image.resize((size, size), Image.Resampling.BOX)


def drawing_pad(searcher: Searcher, gallery: GalleryIndex, top: int = 10, out_dir: str | os.PathLike = "search_out",
                size: int = 256):
    """A canvas to draw a sketch on and a button that searches ``gallery`` with it and shows the ranked photos and
    their table under it (the drawing is saved as ``out_dir/drawn_sketch.png``, the results beside it as
    :func:`write_results` writes them). Needs ipycanvas (in the ``dev`` extra); without it, None and a note.

    The kernel keeps every segment it draws and the sketch is rendered from them (:func:`render_strokes`), not read
    back from the browser's canvas: the mouse events reach the kernel before the button's click, so the search
    sees the whole drawing however fast the button is pressed, whereas the canvas's image reaches the kernel later."""
    try:
        import ipywidgets as widgets
        from ipycanvas import Canvas
    except ImportError:
        print('drawing needs ipycanvas (pip install -e ".[dev]" in the zsb folder, then reload the page); search '
              "with a sketch file instead.")
        return None
    from IPython.display import display

    canvas = Canvas(width=size, height=size,  # shown at its size, not stretched to the page
                    layout={"border": "1px solid gray", "width": f"{size}px", "height": f"{size}px"})
    canvas.line_width, canvas.stroke_style, canvas.line_cap = PAD_LINE_WIDTH, "black", "round"
    last: list[tuple[float, float]] = []
    segments: list[tuple[float, float, float, float]] = []

    def move(x: float, y: float) -> None:
        if last:
            canvas.stroke_line(*last[0], x, y)
            segments.append((*last[0], x, y))
            last[0] = (x, y)

    def clear(_) -> None:
        canvas.clear()
        segments.clear()

    canvas.on_mouse_down(lambda x, y: last.append((x, y)))
    canvas.on_mouse_move(move)
    canvas.on_mouse_up(lambda x, y: last.clear())
    results = widgets.Output()

    def run_search(_) -> None:
        with results:
            results.clear_output()
            if not segments:
                print("draw a sketch on the canvas first (press the mouse button and move).")
                return
            sketch = Path(out_dir) / "drawn_sketch.png"
            with atomic_open(sketch, "wb") as f:
                render_strokes(segments, size, PAD_LINE_WIDTH).save(f, format="PNG")
            found = search(searcher, gallery, [sketch], top)
            write_results(found, out_dir)
            figure = viz.plot_search(sketch, found["path"].tolist(), found["similarity"].tolist())
            display(figure)
            plt.close(figure)
            display(found[["rank", "path", "similarity"]])

    search_button, clear_button = widgets.Button(description="search"), widgets.Button(description="clear")
    search_button.on_click(run_search)
    clear_button.on_click(clear)
    return widgets.VBox([canvas, widgets.HBox([search_button, clear_button]), results])
