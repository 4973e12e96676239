"""zsb at the benchmarks' full size, side by side, on the linked trees of benchmarks/make_fullsize_tree.py.

1. Manifest: the 01_data stage's own code path (:func:`zsb.run.stages.prepare_data`: scan, decode-check and
   resolve every image, write manifest.csv and the class counts) on each tree, in its own subprocess so that each
   peak RSS is its own (the largest of the stage's process and its image-checking workers). Target on the
   QuickDraw-sized tree (534,000 files), 2 cores: <= 120 s and <= 2 GiB. On a shared machine the wall time says
   more about the other load than about zsb, so the CPU time of the stage's process and of its workers is measured
   too, and the wall time on free cores is estimated from them (main + workers / cores).
2. Training slice: ``zsb reproduce --stages 01_data,02_knowledge,03_train`` on each tree with small caps (image
   size, images per class and domain, batches, one epoch; EfficientNet-Lite0 on the CPU): the driver's preflight,
   the notebooks and the stages' plumbing at full class and folder counts, not the accuracy. The caps make the
   manifest keep a few images per class, but every class folder is still listed in full (twice: preflight and
   01_data). Peak RSS is the largest process's (driver or notebook kernel).
3. Metrics: benchmarks/bench_metrics.py (zsb.metrics.evaluate_retrieval with 04_evaluate's metrics, random 512-d
   embeddings) at Sketchy Extended's test size (15,229 queries x 17,101 photos, 25 classes) and at QuickDraw
   Extended's (92,291 x 54,151, 30 classes), each in its own process. Target at QuickDraw's: <= 3 min and <= 3 GiB.

Ratios are to the Sketchy (SEM-PCYC layout) figure. Every linked file is one of sketchy-mini's 6,250 images, which
sit in the page cache once read: file and decoding speeds measured here are upper bounds of the speeds on the real
releases (distinct files, mostly on disk). Trees of hard links (``make_fullsize_tree.py --link hard``, from a
private copy of sketchy-mini) read like a release's regular files; symbolic links add the link's resolution to
every file.

    cp -r ../shared/data/sketchy-mini /work/fullsize/sketchy-mini-copy
    python benchmarks/make_fullsize_tree.py /work/fullsize/hard --source /work/fullsize/sketchy-mini-copy --link hard
    python benchmarks/bench_scale.py /work/fullsize/hard
    python benchmarks/bench_scale.py /work/fullsize --parts manifest --trees quickdraw_ext    # symbolic links
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zsb.io import usable_cpus

REPO = Path(__file__).resolve().parents[1]
TREES = ("sketchy_sempcyc", "sketchy_sake", "tuberlin_ext", "quickdraw_ext")
REFERENCE_TREE = "sketchy_sempcyc"
MANIFEST_TARGET = ("quickdraw_ext", 120.0, 2048.0)  # tree, seconds, MiB
METRIC_SCALES = {  # name -> (queries, gallery, classes)
    "Sketchy Extended (SAKE zeroshot1)": (15_229, 17_101, 25),
    "QuickDraw Extended (d2s30)": (92_291, 54_151, 30),
}
METRICS_TARGET = (180.0, 3072.0)  # at the last scale: seconds, MiB


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux: ru_maxrss in KiB); RUSAGE_CHILDREN: the largest waited-for
    descendant."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds(who: int | None = None) -> float:
    """User + system CPU time of this process (RUSAGE_SELF), of its waited-for descendants (RUSAGE_CHILDREN), or,
    for None, of both."""
    if who is None:
        return cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def cpu_kind() -> str:
    """The CPU model (lscpu), whether it has AVX512-BF16, the core count and the load when the benchmark starts."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    bf16 = "avx512_bf16 present" if "avx512_bf16" in flags.split() else "no avx512_bf16"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{model}; {bf16}; {os.cpu_count()} cores; load average {load} at start"


def run_checked(command: list[str], what: str, **options) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; SystemExit with the end of its output when it fails."""
    done = subprocess.run(command, check=False, capture_output=True, text=True, **options)
    if done.returncode:
        raise SystemExit(f"error: {what} failed ({' '.join(command)}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def read_plan(root: Path) -> dict:
    """The plan make_fullsize_tree.py wrote into a tree (benchmark, layout, counts)."""
    path = root / "fullsize_tree.json"
    if not path.is_file():
        raise SystemExit(f"error: {root} is no tree of benchmarks/make_fullsize_tree.py (no {path.name}); make it first")
    return json.loads(path.read_text())


# --- children: one measurement each, printed as one JSON line ---
def measure_manifest(root: Path) -> dict:
    """Time 01_data's prepare_data on one tree, in a fresh run folder."""
    from zsb.run.context import Run
    from zsb.run.stages import prepare_data

    plan = read_plan(root)
    with tempfile.TemporaryDirectory() as run_dir:
        run = Run.open(run_dir, benchmark=plan["benchmark"], data_root=str(root), progress=False)
        rss_before = peak_rss_mib()
        started = time.perf_counter()
        main_cpu, workers_cpu = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        manifest = prepare_data(run)
        seconds = time.perf_counter() - started
        main_cpu = cpu_seconds(resource.RUSAGE_SELF) - main_cpu
        workers_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - workers_cpu
        csv_mib = run.folder.manifest_path.stat().st_size / 2**20
    return {
        "files": sum(plan["totals"].values()), "scale": plan["scale"], "link": plan["link"],
        "rows": len(manifest.frame), "seconds": seconds, "main_cpu": main_cpu, "workers_cpu": workers_cpu,
        "free_estimate": main_cpu + workers_cpu / usable_cpus(), "rss_before_mib": rss_before, "csv_mib": csv_mib,
        "peak_rss_mib": max(peak_rss_mib(), peak_rss_mib(resource.RUSAGE_CHILDREN)),
    }


def measure_slice(root: Path, args: argparse.Namespace) -> dict:
    """Run ``zsb reproduce`` 01_data to 03_train with small caps on one tree; wall time, stage times, peak RSS."""
    plan = read_plan(root)
    settings = {
        "backbone": "efficientnet_lite0", "device": "cpu", "precision": "fp32", "num_workers": 0,
        "image_size": args.image_size, "max_per_class": args.max_per_class, "epochs": 1,
        "batches_per_epoch": args.batches, "binary_bits": 0,
    }
    with tempfile.TemporaryDirectory() as results:
        command = [sys.executable, "-m", "zsb", "reproduce", "--benchmark", plan["benchmark"], "--data-root",
                   str(root), "--stages", "01_data,02_knowledge,03_train", "--results", results, "--run-id", "slice",
                   "--no-progress"]
        for name, value in settings.items():
            command += ["--set", f"{name}={value}"]
        started = time.perf_counter()
        run_checked(command, f"the training slice on {root}", cwd=results)
        seconds = time.perf_counter() - started
        folder = Path(results) / plan["benchmark"] / "runs" / "slice"
        stages = json.loads((folder / "timing.json").read_text())["stages"]
        rows = sum(1 for _ in (folder / "manifest.csv").open()) - 1
    return {"seconds": seconds, "cpu_seconds": cpu_seconds(), "stages": stages, "rows": rows,
            "settings": settings, "peak_rss_mib": peak_rss_mib(resource.RUSAGE_CHILDREN)}


def child(kind: str, root: Path, args: argparse.Namespace) -> dict:
    """Run one measurement in a subprocess of this script; its JSON result."""
    command = [sys.executable, __file__, str(root.parent), "--child", kind, "--trees", root.name,
               "--image-size", str(args.image_size), "--max-per-class", str(args.max_per_class),
               "--batches", str(args.batches)]
    done = run_checked(command, f"the {kind} measurement of {root}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the parts, printed as tables ---
def part_manifest(out: Path, trees: list[str], args) -> None:
    print("\n1. Manifest (01_data: zsb.run.stages.prepare_data; every image decode-checked), one process per tree")
    print(f"{'tree':<17}{'links':>6}{'files':>9}{'rows':>9}{'wall s':>8}{'main CPU':>9}{'workers':>9}{'free est':>9}"
          f"{'us/file':>8}{'peak MiB':>9}{'import':>7}{'CSV MiB':>8}{'x files':>8}{'x est':>6}")
    results = {}
    for tree in trees:
        results[tree] = r = child("manifest", out / tree, args)
        ref = results.get(REFERENCE_TREE, r)
        print(f"{tree:<17}{r['link'][:4]:>6}{r['files']:>9,}{r['rows']:>9,}{r['seconds']:>8.1f}{r['main_cpu']:>9.1f}"
              f"{r['workers_cpu']:>9.1f}{r['free_estimate']:>9.1f}"
              f"{1e6 * (r['main_cpu'] + r['workers_cpu']) / r['files']:>8.0f}{r['peak_rss_mib']:>9.0f}"
              f"{r['rss_before_mib']:>7.0f}{r['csv_mib']:>8.1f}{r['files'] / ref['files']:>8.2f}"
              f"{r['free_estimate'] / ref['free_estimate']:>6.2f}", flush=True)
    print(f"('main CPU': the stage's process; 'workers': its image-checking processes; 'free est': main CPU + workers / "
          f"{usable_cpus()} cores, the wall time on free cores; 'us/file': CPU per file, all processes; 'import': "
          "RSS before the scan, torch and pandas loaded as in the stage's notebook)")
    tree, seconds, mib = MANIFEST_TARGET
    if tree in results:
        r = results[tree]
        met = r["free_estimate"] <= seconds and r["peak_rss_mib"] <= mib
        verdict = "met" if met else "MISSED"
        if r["scale"] != 1:
            verdict += f" (but this tree is at scale {r['scale']:g}, not full size)"
        print(f"target on {tree}: <= {seconds:.0f} s and <= {mib:.0f} MiB: {r['free_estimate']:.1f} s on free cores "
              f"(estimate; {r['seconds']:.1f} s wall here), {r['peak_rss_mib']:.0f} MiB: {verdict}")


def part_slice(out: Path, trees: list[str], args) -> None:
    print(f"\n2. Training slice: zsb reproduce --stages 01_data,02_knowledge,03_train, efficientnet_lite0 on the CPU, "
          f"image_size={args.image_size}, max_per_class={args.max_per_class}, epochs=1, "
          f"batches_per_epoch={args.batches}")
    print(f"{'tree':<17}{'rows':>7}{'wall s':>9}{'CPU s':>8}{'01_data':>9}{'02_know':>9}{'03_train':>10}"
          f"{'driver':>8}{'peak MiB':>10}{'x time':>8}")
    results = {}
    for tree in trees:
        results[tree] = r = child("slice", out / tree, args)
        ref = results.get(REFERENCE_TREE, r)
        stages = r["stages"]
        driver = r["seconds"] - sum(stages.values())
        print(f"{tree:<17}{r['rows']:>7,}{r['seconds']:>9.1f}{r['cpu_seconds']:>8.1f}{stages['01_data']:>9.1f}"
              f"{stages['02_knowledge']:>9.1f}{stages['03_train']:>10.1f}{driver:>8.1f}{r['peak_rss_mib']:>10.0f}"
              f"{r['seconds'] / ref['seconds']:>8.2f}", flush=True)
    print("(stage times include each notebook kernel's start; 'driver' is the rest: the driver's start, config and "
          "preflight, which lists every class folder)")


def part_metrics(args) -> None:
    print("\n3. Metrics: benchmarks/bench_metrics.py --runs pipeline (04_evaluate's metrics: exact, voc and sem-pcyc "
          "AP, P@10/25/100/200), 512-d, one process per scale")
    print(f"{'scale':<36}{'queries':>9}{'gallery':>9}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}{'before':>8}"
          f"{'x Q*N':>8}{'x time':>8}")
    results = {}
    for name, (queries, gallery, classes) in METRIC_SCALES.items():
        with tempfile.TemporaryDirectory() as tmp:
            figures = Path(tmp) / "metrics.json"
            command = [sys.executable, str(REPO / "benchmarks" / "bench_metrics.py"), "--queries", str(queries),
                       "--gallery", str(gallery), "--classes", str(classes), "--runs", "pipeline",
                       "--sklearn-queries", "0", "--json", str(figures)]
            run_checked(command, f"bench_metrics.py at {name}")
            data = json.loads(figures.read_text())
        results[name] = r = {**data["runs"]["pipeline"], "pairs": queries * gallery,
                             "rss_before_mib": data["rss_before_mib"]}
        ref = next(iter(results.values()))
        print(f"{name:<36}{queries:>9,}{gallery:>9,}{r['seconds']:>9.1f}{r['cpu_seconds']:>8.1f}"
              f"{r['peak_rss_mib']:>10.0f}{r['rss_before_mib']:>8.0f}{r['pairs'] / ref['pairs']:>8.1f}"
              f"{r['seconds'] / ref['seconds']:>8.1f}", flush=True)
    seconds, mib = METRICS_TARGET
    r = results[list(METRIC_SCALES)[-1]]
    verdict = "met" if r["seconds"] <= seconds and r["peak_rss_mib"] <= mib else "MISSED"
    print(f"target at QuickDraw's test size: <= {seconds:.0f} s and <= {mib:.0f} MiB: {r['seconds']:.1f} s, "
          f"{r['peak_rss_mib']:.0f} MiB: {verdict} ('before': the process's RSS before evaluating, torch included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the folder make_fullsize_tree.py made its trees in")
    parser.add_argument("--trees", default=",".join(TREES), help="comma-separated trees (default: all four)")
    parser.add_argument("--parts", default="manifest,slice,metrics", help="comma-separated parts to run")
    parser.add_argument("--image-size", type=int, default=64, help="training slice: image size (default 64)")
    parser.add_argument("--max-per-class", type=int, default=10,
                        help="training slice: images kept per class and domain (default 10)")
    parser.add_argument("--batches", type=int, default=5, help="training slice: batches of its one epoch (default 5)")
    parser.add_argument("--child", choices=("manifest", "slice"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out.expanduser().resolve()
    trees = [name.strip() for name in args.trees.split(",") if name.strip()]
    if args.child:
        root = out / trees[0]
        result = measure_manifest(root) if args.child == "manifest" else measure_slice(root, args)
        print(json.dumps(result))
        return
    parts = [name.strip() for name in args.parts.split(",") if name.strip()]
    unknown = [p for p in parts if p not in ("manifest", "slice", "metrics")] + [t for t in trees if t not in TREES]
    if unknown:
        parser.error(f"unknown part(s) or tree(s): {', '.join(unknown)}")
    for tree in trees if {"manifest", "slice"} & set(parts) else ():
        read_plan(out / tree)
    print(f"CPU: {cpu_kind()}")
    print("Linked files: each is one of sketchy-mini's 6,250 images, in the page cache once read, so input speeds "
          "here are upper bounds; wall times on a shared machine are upper bounds too (CPU time beside them).")
    if "manifest" in parts:
        part_manifest(out, trees, args)
    if "slice" in parts:
        part_slice(out, trees, args)
    if "metrics" in parts:
        part_metrics(args)


if __name__ == "__main__":
    main()
