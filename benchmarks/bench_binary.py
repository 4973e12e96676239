"""Search with 64-bit binary codes against real-valued embeddings, side by side: bytes per gallery item and the
time to score and rank a gallery for a batch of queries.

Real-valued: cosine similarity of L2-normalised float32 embeddings (one matrix product), then a full sort per query
(as zsb.metrics ranks). Binary: Hamming distance of bit-packed codes (XOR and bit count on uint64 words,
zsb.binary.hamming_distances), then a stable sort of the integer distances (ties by gallery index). Random data:
the time does not depend on the values. Prints the ratio binary / real-valued for each gallery size.

    python benchmarks/bench_binary.py                       # Sketchy (17,101) and QuickDraw (54,151) galleries
    python benchmarks/bench_binary.py --gallery 100000 --queries 256
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import torch

    from zsb.binary import hamming_distances, pack
    from zsb.io import machine_info

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, nargs="+", default=[17_101, 54_151])
    parser.add_argument("--queries", type=int, default=128, help="queries scored at once")
    parser.add_argument("--dim", type=int, default=512, help="real-valued embedding size")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    machine = machine_info()
    print(f"{machine['cpu']}, {machine['logical_cores']} logical cores, torch threads {torch.get_num_threads()}, "
          f"flags {','.join(machine['cpu_flags'])}")
    print(f"bytes per gallery item: real-valued {args.dim * 4} (float32 x {args.dim}), binary {args.bits // 8} "
          f"({args.bits} bits): ratio {args.bits / 8 / (args.dim * 4):.4f}")
    print(f"{'gallery':>9}{'real (ms/query)':>17}{'binary (ms/query)':>19}{'binary / real':>15}")
    for size in args.gallery:
        gallery = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((size, args.dim),
                                                                                    dtype=np.float32)), dim=1)
        queries = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((args.queries, args.dim),
                                                                                    dtype=np.float32)), dim=1)
        query_codes = pack(rng.random((args.queries, args.bits)) < 0.5)
        gallery_codes = pack(rng.random((size, args.bits)) < 0.5)

        def real() -> None:
            torch.sort(queries @ gallery.T, dim=1, descending=True, stable=True)

        def binary() -> None:
            for start in range(0, args.queries, 16):  # 16 queries at a time bounds the XOR buffer
                distances = hamming_distances(query_codes[start:start + 16], gallery_codes)
                np.argsort(distances, axis=1, kind="stable")

        real_s, binary_s = best_of(args.repeats, real), best_of(args.repeats, binary)
        print(f"{size:>9}{real_s / args.queries * 1e3:>17.3f}{binary_s / args.queries * 1e3:>19.3f}"
              f"{binary_s / real_s:>15.3f}")


if __name__ == "__main__":
    main()
