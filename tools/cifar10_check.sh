#!/usr/bin/env bash
# Real-image claim check: configs/cifar10-check.yaml on the 6,000-image JPEG subset of CIFAR-10,
# then the claims that config expects. The subset is not part of the repository: give its path
# in CIFAR10_TAR (default ../shared/data/cifar10-jpeg-subset.tar beside the clone).
# Where it is absent the check is skipped with a message and exit status 0.
#   bash tools/cifar10_check.sh [OUTDIR] [CORES]      (defaults: cifar10-check, 2)
# Exit status: non-zero when the run fails or an expected claim is not supported.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-cifar10-check}"
cores="${2:-2}"
tarball="${CIFAR10_TAR:-$root/../shared/data/cifar10-jpeg-subset.tar}"
python="${PYTHON:-$root/.venv/bin/python}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
if [ ! -f "$tarball" ]; then
    echo "== CIFAR-10 real-image check SKIPPED: $tarball does not exist."
    echo "   Set CIFAR10_TAR to the cifar10-jpeg-subset.tar (an ImageFolder cifar10-jpeg/{train,test}/<class>/*.jpg) to run it."
    exit 0
fi
mkdir -p "$out"
if [ ! -d "$out/cifar10-jpeg" ]; then
    # Unpacked beside, then moved into place: a run killed while unpacking leaves no half folder.
    scratch="$(mktemp -d "$out/.unpack.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    if ! tar -xf "$tarball" -C "$scratch"; then
        echo "error: $tarball could not be unpacked (truncated, or not a tar file): replace it with a good copy of the CIFAR-10 JPEG subset" >&2
        exit 2
    fi
    if [ ! -d "$scratch/cifar10-jpeg/train" ] || [ ! -d "$scratch/cifar10-jpeg/test" ]; then
        echo "error: $tarball did not unpack into cifar10-jpeg/train and cifar10-jpeg/test; is it the CIFAR-10 JPEG subset?" >&2
        exit 2
    fi
    # A tar cut between two members unpacks without an error: count what arrived.
    n_train=$(find "$scratch/cifar10-jpeg/train" -type f -name '*.jpg' | wc -l)
    n_test=$(find "$scratch/cifar10-jpeg/test" -type f -name '*.jpg' | wc -l)
    if [ "$n_train" != 5000 ] || [ "$n_test" != 1000 ]; then
        echo "error: $tarball holds $n_train train / $n_test test images; the CIFAR-10 JPEG subset has 5000 / 1000: replace it with a good copy" >&2
        exit 2
    fi
    mv "$scratch/cifar10-jpeg" "$out/cifar10-jpeg"
fi
"$snakemake" --cores "$cores" -s "$root/Snakefile" --directory "$out" --configfile "$root/configs/cifar10-check.yaml"
"$python" "$root/tools/check_claims.py" --claims "$out/results/report/claims.csv" \
    --config "$root/configs/cifar10-check.yaml"
