#!/usr/bin/env bash
# The GPU check: can zsb feed and use one modern GPU at the paper's setting (ResNet50, 224 px, bf16, the paper
# preset's batch of 16 classes x (2 sketches + 2 photos)) on a Sketchy Extended-sized data root? One prepared run of
# at most 8 minutes. It prints, through benchmarks/bench_input_pipeline.py: the loader's images per second for
# 0/4/8/15 workers beside decoding alone, training images per second fed by the loader and from memory (their ratio:
# target >= 0.9), evaluation images per second (target >= 8,000) and peak GPU memory; once eager, once compiled.
# The network has no ImageNet file there (--weights none): the speed does not depend on the weights.
#
# Two steps, because the data must travel with the repository (../shared stays behind, and sketchy-mini's 85 MB
# exceed what may be carried):
#   bash benchmarks/gpu_check.sh prepare   # here: 12 sketches + 12 photos of each class into .gpu/ (git-ignored)
#   bash benchmarks/gpu_check.sh run       # there, with .gpu carried: links a full-size Sketchy tree, then measures
# and a third, so that the script cannot rot unseen before a GPU is lent (the test suite runs it):
#   bash benchmarks/gpu_check.sh dry-run   # here, on the CPU: the same steps at toy sizes, in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
subset=${ZSB_GPU_SUBSET:-.gpu/sketchy-mini}
per_class=12
device=cuda image_size=224 workers=0,4,8,15 batches=40 steps=60 eval_images=20000 scale=1 limit=200
compile_modes=("" "--compile")

prepare() {
    local source=${ZSB_SKETCHY_MINI:-../shared/data/sketchy-mini}
    rm -rf "$subset"
    for domain in sketch photo; do
        for class_dir in "$source/$domain"/*/; do
            class=$(basename "$class_dir")
            mkdir -p "$subset/$domain/$class"
            find "$class_dir" -maxdepth 1 -type f | sort | head -n "$per_class" | xargs -I{} cp {} "$subset/$domain/$class/"
        done
    done
}

case $mode in
    prepare)
        prepare
        grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
        du -sh "$subset"
        exit 0 ;;
    dry-run)
        scratch=$(mktemp -d)
        trap 'rm -rf "$scratch"' EXIT
        subset=$scratch/sketchy-mini per_class=2
        prepare
        export ZSB_GPU_TREE=$scratch/tree
        device=cpu image_size=64 workers=0 batches=1 steps=1 eval_images=32 scale=0.002 limit=300
        compile_modes=("") ;;
    run) ;;
    *) echo "usage: bash benchmarks/gpu_check.sh [prepare | run | dry-run]" >&2; exit 2 ;;
esac

export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=agg
python=${PYTHON:-python3}
tree=${ZSB_GPU_TREE:-/tmp/zsb-fullsize}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
"$python" benchmarks/make_fullsize_tree.py "$tree" --trees sketchy_sempcyc --source "$subset" --scale "$scale" \
    --force | tail -n 3
for compile in "${compile_modes[@]}"; do
    echo "=== ResNet50, $image_size px, bf16 ${compile:-(eager)} on $device ==="
    timeout "$limit" "$python" benchmarks/bench_input_pipeline.py --benchmark sketchy_ext \
        --data-root "$tree/sketchy_sempcyc" --backbone resnet50 --weights none --image-size "$image_size" \
        --precision bf16 --device "$device" --workers "$workers" --batches "$batches" --steps "$steps" \
        --eval-images "$eval_images" $compile
done
