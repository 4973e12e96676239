"""Time zsb.metrics.evaluate_retrieval at Sketchy Extended test scale and compare with a scikit-learn loop.

Default sizes are the zero-shot Sketchy Extended test set: 15,229 query sketches x 17,101 gallery photos of 25
unseen classes, with 512-d embeddings (random here; labels drawn uniformly). Timed runs (``--runs``, default the
first two):

1. ``four``: the four headline metrics: mAP@all, mAP@200 (exact AP), P@100, P@200;
2. ``defaults``: everything evaluate_retrieval computes by default: both AP variants ("exact" and "voc"),
   P@10/25/100/200;
3. ``pipeline``: what the 04_evaluate stage asks for: all three AP variants (exact, voc, sem-pcyc), P@10/25/100/200.

Then ``sklearn.metrics.average_precision_score`` is called once per query on a subset (similarities computed
beforehand, so only the AP itself is timed) and its per-query time is compared with ours (``--sklearn-queries 0``
skips it). ``--json FILE`` writes the figures for another script (benchmarks/bench_scale.py).

Wall time is what the targets are about; CPU time (summed over threads) is printed beside it because the
machine may be shared: wall time much above CPU time / threads means other processes took the cores.

Peak memory is the process's peak resident set size, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (it covers
torch's allocations too, which tracemalloc does not see); it includes Python, torch and the embeddings.

    python benchmarks/bench_metrics.py                       # full scale
    python benchmarks/bench_metrics.py --queries 500 --gallery 2000 --sklearn-queries 100   # quick
    python benchmarks/bench_metrics.py --queries 92291 --gallery 54151 --classes 30 --runs pipeline --sklearn-queries 0
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from zsb.metrics import AP_VARIANTS, DEFAULT_CHUNK_SIZE, evaluate_retrieval

RUNS = {
    "four": ("four metrics (mAP@all, mAP@200, P@100, P@200; exact AP)",
             {"precision_ks": (100, 200), "map_ks": (200,), "ap_variants": ("exact",)}),
    "defaults": ("defaults (exact + voc AP; P@10/25/100/200)", {}),
    "pipeline": ("04_evaluate's (exact + voc + sem-pcyc AP; P@10/25/100/200)", {"ap_variants": AP_VARIANTS}),
}
"""Run name -> (title, evaluate_retrieval options)."""


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=15_229, help="number of query sketches (default 15229)")
    parser.add_argument("--gallery", type=int, default=17_101, help="number of gallery photos (default 17101)")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension (default 512)")
    parser.add_argument("--classes", type=int, default=25, help="number of classes (default 25)")
    parser.add_argument("--sklearn-queries", type=int, default=500,
                        help="queries in the scikit-learn comparison (default 500)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                        help=f"evaluate_retrieval chunk_size (default {DEFAULT_CHUNK_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--runs", default="four,defaults", help=f"comma-separated runs of {', '.join(RUNS)} "
                        "(default four,defaults)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    if not runs or any(name not in RUNS for name in runs):
        parser.error(f"--runs {args.runs!r}: choose from {', '.join(RUNS)}")

    generator = torch.Generator().manual_seed(args.seed)
    queries = torch.randn(args.queries, args.dim, generator=generator)
    gallery = torch.randn(args.gallery, args.dim, generator=generator)
    query_labels = torch.randint(0, args.classes, (args.queries,), generator=generator)
    gallery_labels = torch.randint(0, args.classes, (args.gallery,), generator=generator)
    print(f"{args.queries} queries x {args.gallery} gallery, {args.dim}-d float32, {args.classes} classes; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, chunk_size {args.chunk_size}")
    print(f"peak RSS before evaluation: {peak_rss_mib():.0f} MiB (resource.getrusage ru_maxrss)")

    figures = {"queries": args.queries, "gallery": args.gallery, "dim": args.dim, "classes": args.classes,
               "threads": torch.get_num_threads(), "rss_before_mib": peak_rss_mib(), "runs": {}}
    for name in runs:
        title, options = RUNS[name]
        start, start_cpu = time.perf_counter(), time.process_time()
        result = evaluate_retrieval(queries, query_labels, gallery, gallery_labels, chunk_size=args.chunk_size,
                                    **options)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"\n{title}: {seconds:.1f} s wall ({1e3 * seconds / args.queries:.3f} ms/query), "
              f"{cpu_seconds:.1f} s CPU (all threads), peak RSS so far {peak_rss_mib():.0f} MiB")
        print("  " + ", ".join(f"{name} {value:.4f}" for name, value in result.summary().items()))
        figures["runs"][name] = {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mib": peak_rss_mib()}
    ours_per_query, ours_cpu_per_query = seconds / args.queries, cpu_seconds / args.queries
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")

    subset = min(args.sklearn_queries, args.queries)
    if subset < 1:
        print(f"\nno scikit-learn comparison (--sklearn-queries {args.sklearn_queries}); "
              f"final peak RSS: {peak_rss_mib():.0f} MiB")
        return
    similarity = (F.normalize(queries[:subset], dim=1) @ F.normalize(gallery, dim=1).T).numpy()
    relevance = query_labels[:subset, None].numpy() == gallery_labels[None, :].numpy()
    start, start_cpu = time.perf_counter(), time.process_time()
    sklearn_ap = np.array([average_precision_score(relevance[i], similarity[i]) for i in range(subset)])
    sklearn_per_query = (time.perf_counter() - start) / subset
    sklearn_cpu_per_query = (time.process_time() - start_cpu) / subset
    difference = np.abs(sklearn_ap - result.per_query["mAP@all"].to_numpy()[:subset]).max()
    print(f"\nscikit-learn average_precision_score loop on {subset} queries: {1e3 * sklearn_per_query:.3f} ms/query "
          f"wall, {1e3 * sklearn_cpu_per_query:.3f} ms/query CPU (AP only) -> "
          f"{sklearn_per_query * args.queries:.1f} s wall extrapolated to {args.queries} queries")
    print(f"ours ({runs[-1]} run): {1e3 * ours_per_query:.3f} ms/query wall, "
          f"{1e3 * ours_cpu_per_query:.3f} ms/query CPU; speed ratio {sklearn_per_query / ours_per_query:.1f}x wall, "
          f"{sklearn_cpu_per_query / ours_cpu_per_query:.1f}x CPU time")
    print(f"max |AP ours - AP scikit-learn| on the subset: {difference:.2e} "
          "(float32 similarities; where they tie exactly, scikit-learn takes a tied block as one threshold, zsb the "
          "mean over its orders)")
    print(f"final peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
