#!/usr/bin/env bash
# Known-answer check of the instrument: the workflow on planted data (configs/instrument/),
# one mode per folder, then the instrument.* claims each mode must support.
#   bash tools/instrument_check.sh [OUTDIR] [CORES]      (defaults: instrument-run, 2)
# Exit status: non-zero when a run fails or a mode's expected claim is not supported.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-instrument-run}"
cores="${2:-2}"
python="${PYTHON:-$root/.venv/bin/python}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
status=0
for band in high low conflict none; do
    echo "== planted band: $band"
    "$snakemake" --cores "$cores" -s "$root/Snakefile" --directory "$out/$band" \
        --configfiles "$root/configs/instrument/common.yaml" "$root/configs/instrument/$band.yaml"
    "$python" "$root/tools/check_claims.py" --claims "$out/$band/results/report/claims.csv" \
        --config "$root/configs/instrument/$band.yaml" || status=1
    cat "$out/$band/results/tables/instrument.md"
done
exit "$status"
