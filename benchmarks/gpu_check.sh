#!/usr/bin/env bash
# GPU check: on a machine with one CUDA GPU, in at most about 8 minutes,
#   1. the GPU tests (CPU/GPU agreement of the frequency split, the attacks, a training step),
#   2. the train / attack / frequency benchmarks on cuda,
#   3. configs/paper.yaml shrunk (2,000 train images, 1 epoch, one seed) with bf16 and
#      channels_last, through the whole workflow,
#   4. the GPU-hours of the whole paper config, extrapolated two ways.
# Everything is written under OUTDIR; each step's output in its own log, a summary at the end.
#   bash benchmarks/gpu_check.sh OUTDIR
# Exit status: 2 no CUDA GPU (nothing is run) or bad arguments; 1 a step failed; 0 all passed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"

if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/gpu_check.sh OUTDIR   (everything is written under OUTDIR)" >&2
    exit 2
fi
out="$1"
mkdir -p "$out" || { echo "gpu_check: cannot create $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
for tool in "$python" "$snakemake"; do
    if [ ! -x "$tool" ]; then
        echo "gpu_check: $tool not found: run bash quickstart.sh test first (or set PYTHON / SNAKEMAKE)" >&2
        exit 2
    fi
done

if ! "$python" - <<'PY' >"$out/device.txt" 2>&1; then
import sys
import torch
if not torch.cuda.is_available():
    print(f"no CUDA GPU: torch {torch.__version__} (built for CUDA {torch.version.cuda}) sees none "
          "(torch.cuda.is_available() is False). Run this on a machine with one CUDA GPU and its driver.")
    sys.exit(1)
p = torch.cuda.get_device_properties(0)
print(f"{torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
    echo "gpu_check: $(cat "$out/device.txt")" >&2
    exit 2
fi
echo "device: $(cat "$out/device.txt")"

export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
status=0
summary="$out/summary.txt"
: >"$summary"
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUTDIR/NAME.log
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    local line="$name: $([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc$([ $rc = 124 ] && echo ", over its ${limit} s"))") in $((SECONDS - start)) s"
    echo "$line" | tee -a "$summary"
    [ $rc = 0 ] || status=1
}

# 1. GPU tests (and the CPU tests they sit beside, quickly)
step gpu_tests 120 "$python" -m pytest "$root/tests/test_gpu.py" -m gpu -ra -q
# 2. benchmarks on the GPU
step bench_frequency 60 "$python" "$root/benchmarks/frequency.py" --device cuda --size 32 --channels 3 --radius 8 --images 10000
step bench_attacks 60 "$python" "$root/benchmarks/attacks.py" --device cuda --size 32 --channels 3 --images 1024 --batch-size 1024
step bench_train 150 "$python" "$root/benchmarks/train.py" --device cuda --model resnet18 --width 1 --channels 3 \
    --size 32 --images 10000 --batch-size 100 --eval-batch-size 1000 --epochs 2 --rounds 2 --eval-repeats 3 \
    --precision bf16 --channels-last
# 3. the paper config, shrunk, through the workflow (bf16, channels_last, one seed, 1 epoch)
# Data: CIFAR10_ROOT (a folder holding cifar-10-batches-py/), else the JPEG subset of CIFAR-10
# (CIFAR10_TAR, default ../shared/data/cifar10-jpeg-subset.tar) as an ImageFolder, else
# torchvision's download (needs the internet).
run="$out/paper-shrunk"
mkdir -p "$run"
tar_file="${CIFAR10_TAR:-$root/../shared/data/cifar10-jpeg-subset.tar}"
if [ -n "${CIFAR10_ROOT:-}" ]; then
    data="dataset: {root: '$CIFAR10_ROOT', train_size: 2000, test_size: 1000}"
elif [ -f "$tar_file" ]; then
    tar -xf "$tar_file" -C "$run"
    data="dataset: {name: imagefolder, root: cifar10-jpeg, download: false, train_size: 2000, test_size: 1000}"
else
    data="dataset: {train_size: 2000, test_size: 1000}"
fi
echo "shrunk paper run data: $data" | tee -a "$summary"
cat >"$run/shrink.yaml" <<YAML
# configs/paper.yaml shrunk by benchmarks/gpu_check.sh (laid over it)
$data
training: {epochs: 1, shuffled_epochs: 1, precision: bf16, channels_last: true}
evaluation: {train_size: 1000, test_size: 1000, batch_size: 1000}
seeds: [0]
device: cuda
threads: 1
robustness: {test_size: 500, batch_size: 500}
detection: {enabled: false}
response: {enabled: false}
YAML
step paper_shrunk 300 "$snakemake" --cores 8 -s "$root/Snakefile" --directory "$run" \
    --configfiles "$root/configs/paper.yaml" "$run/shrink.yaml"
# the shrunk run's whole config, for the extrapolation
"$python" - "$root" "$run" <<'PY'
import sys, yaml
from snakemake.utils import update_config
root, run = sys.argv[1:]
config = yaml.safe_load(open(f"{root}/config.yaml"))
for path in (f"{root}/configs/paper.yaml", f"{run}/shrink.yaml"):
    update_config(config, yaml.safe_load(open(path)))
yaml.safe_dump(config, open(f"{run}/config.yaml", "w"), sort_keys=False)
PY
# 4. GPU-hours of the whole paper config
step extrapolate 60 "$python" "$root/benchmarks/gpu_extrapolate.py" --run-dir "$run" --shrunk "$run/config.yaml" \
    --full "$root/configs/paper.yaml"

echo
echo "== summary ($out)"
cat "$summary"
echo "== GPU-hours of configs/paper.yaml"
grep -h "hours" "$out/bench_train.log" "$out/extrapolate.log" 2>/dev/null || echo "(not computed: see the logs)"
exit "$status"
