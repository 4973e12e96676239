"""Time zsb search: query latency against galleries of 10^3 to 10^6 photos, and the indexing rate on real photos.

1. Ranking: ``zsb.search.rank_gallery`` (the fp16 similarity of one query to every photo, then the top candidates
   re-scored in fp32) over gallery matrices of random unit embeddings of the model's size, held as fp16 as an index
   holds them: the median ms per query at each gallery size, and its ratio to the smallest gallery's.
2. Embedding: ``zsb.search.index_gallery`` over real sketchy-mini photos (the first ``--photos`` in sorted path
   order) with EfficientNet-Lite0 and its ImageNet weights at 224 px (the sketchy_mini preset; the embedding head is
   untrained, which changes no timing): photos embedded per second, the time of a second pass that reuses the whole
   index, and the time to embed one query image (a sketch costs the same: every input is resized to 224 px). A
   query's latency after indexing is that embedding plus the ranking of part 1.

The embeddings are random in part 1: the time does not depend on their values. Timings are wall time on whatever
else runs on the machine, so on a shared CPU they are upper bounds.

    python benchmarks/bench_search.py                                  # 10^3 .. 10^6, 128 photos
    python benchmarks/bench_search.py --sizes 1000 100000 --photos 32  # quicker
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]


def median_ms(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def random_gallery(size: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """(size, dim) fp16 unit vectors, made in blocks so that no fp32 copy of the whole gallery is ever held."""
    gallery = torch.empty(size, dim, dtype=torch.float16)
    for start in range(0, size, 100_000):
        block = torch.randn(min(100_000, size - start), dim, generator=generator)
        gallery[start:start + len(block)] = F.normalize(block, dim=1).half()
    return gallery


def ranking_ms(gallery: torch.Tensor, queries: torch.Tensor, top: int) -> float:
    """Median ms of ranking ``gallery`` for one query, over the rows of ``queries`` (after one warm-up)."""
    from zsb.search import rank_gallery

    rank_gallery(gallery, queries[0], top)
    remaining = iter(queries)
    return median_ms(len(queries), lambda: rank_gallery(gallery, next(remaining), top))


def main() -> None:
    from zsb.backbones import BACKBONES, build_backbone
    from zsb.data.transforms import build_transform
    from zsb.io import machine_info
    from zsb.model import ZSBModel
    from zsb.search import Searcher, index_gallery

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512, help="embedding size (default 512, the model's)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20, help="queries timed per gallery size")
    parser.add_argument("--photos", type=int, default=128, help="real photos embedded (default 128)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "sketchy-mini" / "photo")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    machine = machine_info()
    print(f"{machine['cpu']}, {machine['logical_cores']} logical cores, torch threads {torch.get_num_threads()}, "
          f"flags {','.join(machine['cpu_flags'])}")
    generator = torch.Generator().manual_seed(0)
    print(f"\n1. ranking one query (top {args.top}) against fp16 galleries of {args.dim}-d embeddings")
    print(f"{'gallery':>10}{'memory (MiB)':>14}{'ms/query':>10}{'ratio':>8}")
    first = None
    for size in args.sizes:
        queries = F.normalize(torch.randn(args.repeats, args.dim, generator=generator), dim=1)
        ms = ranking_ms(random_gallery(size, args.dim, generator), queries, args.top)
        first = first or ms
        print(f"{size:>10,}{size * args.dim * 2 / 2**20:>14,.1f}{ms:>10.2f}{ms / first:>8.1f}")

    photos = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:args.photos]
    if not photos:
        print(f"\n2. skipped: no photos under {args.data}")
        return
    preprocessing = BACKBONES["efficientnet_lite0"].preprocessing
    model = ZSBModel(build_backbone("efficientnet_lite0", weights="imagenet"), num_seen_classes=100,
                     embed_dim=args.dim).eval()
    searcher = Searcher(model, build_transform(preprocessing, 224, train=False), identity="bench",
                        device=torch.device("cpu"), batch_size=32, progress=False)
    print(f"\n2. embedding {len(photos)} sketchy-mini photos, EfficientNet-Lite0 at 224 px, no test-time flip")
    with tempfile.TemporaryDirectory() as folder:
        gallery_dir = Path(folder) / "photos"
        gallery_dir.mkdir()
        for photo in photos:
            (gallery_dir / f"{photo.parent.name}_{photo.name}").symlink_to(photo.resolve())
        index = Path(folder) / "index.pt"
        started = time.perf_counter()
        built = index_gallery(searcher, gallery_dir, index)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        index_gallery(searcher, gallery_dir, index)
        reused = time.perf_counter() - started
    print(f"indexing: {built.embedded} photos in {seconds:.1f} s = {built.embedded / seconds:.1f} photos/s "
          f"({1000 * seconds / built.embedded:.1f} ms per photo); second pass, all reused: {1000 * reused:.0f} ms")
    searcher.embed([photos[0]])  # warm-up
    print(f"embedding one query image: {median_ms(5, lambda: searcher.embed([photos[0]])):.1f} ms")


if __name__ == "__main__":
    main()
