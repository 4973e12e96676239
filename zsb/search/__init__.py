"""Search photos with your own sketch: ``zsb search`` and the functions notebooks/07_search.ipynb calls, in four
rooms: :mod:`~zsb.search.searcher` (the model), :mod:`~zsb.search.index` (the gallery and its index),
:mod:`~zsb.search.ranking` (the ranked photos and their files) and :mod:`~zsb.search.pad` (the drawing pad).

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

from zsb.data.datasets import read_image
from zsb.search.index import (BENCHMARK, CHUNK, INDEX_FORMAT, PHOTO_SUFFIXES, SAVE_INTERVAL_S, GalleryIndex,
                              default_index_path, index_gallery, is_benchmark)
from zsb.search.pad import PAD_LINE_WIDTH, drawing_pad, render_strokes
from zsb.search.ranking import FP16_MARGIN, check_request, rank_gallery, search, write_results
from zsb.search.searcher import PUBLISHED_MODEL, Searcher, default_model, load_searcher, weights_identity

__all__ = ["BENCHMARK", "CHUNK", "FP16_MARGIN", "INDEX_FORMAT", "PAD_LINE_WIDTH", "PHOTO_SUFFIXES", "PUBLISHED_MODEL",
           "SAVE_INTERVAL_S", "GalleryIndex", "Searcher", "check_request", "default_index_path", "default_model",
           "drawing_pad", "index_gallery", "is_benchmark", "load_searcher", "rank_gallery", "read_image",
           "render_strokes", "search", "weights_identity", "write_results"]
