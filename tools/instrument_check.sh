#!/usr/bin/env bash
# Known-answer check of the instrument: the workflow on planted data (configs/instrument/),
# one mode per folder, then the instrument.* claims each mode must support.
#   bash tools/instrument_check.sh [OUTDIR] [CORES]      (defaults: instrument-run, 2)
# Exit status: non-zero when a run fails or a mode's expected claim is not supported.
#
# The modes CI runs: the grey 16x16 ones, each about a minute on 2 cores. The 32x32 RGB modes
# take about twice that (docs/claims.md has the measured times), more than CI's budget for this
# check; run them with INSTRUMENT_MODES="rgb-high rgb-low rgb-conflict rgb-none" (any of
# KNOWN_MODES, in the order given).
DEFAULT_MODES="high low conflict none"
# Every mode: the overlays laid over configs/instrument/common.yaml, in order. The last one is
# the band overlay, whose claims.expected_supported the mode must support; rgb.yaml before it
# makes the images 32x32 RGB (r0 = 12), so the same known answers are checked there.
declare -A KNOWN_MODES=(
    [high]="high" [low]="low" [conflict]="conflict" [none]="none"
    [rgb-high]="rgb high" [rgb-low]="rgb low" [rgb-conflict]="rgb conflict" [rgb-none]="rgb none"
)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-instrument-run}"
cores="${2:-2}"
python="${PYTHON:-$root/.venv/bin/python}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
modes="${INSTRUMENT_MODES:-$DEFAULT_MODES}"
for mode in $modes; do  # all names checked before the first run starts
    if [[ -z "${KNOWN_MODES[$mode]+set}" ]]; then
        echo "unknown mode '$mode' in INSTRUMENT_MODES; known: ${!KNOWN_MODES[*]}" >&2
        exit 2
    fi
done
status=0
for mode in $modes; do
    overlays=("$root/configs/instrument/common.yaml")
    for name in ${KNOWN_MODES[$mode]}; do
        overlays+=("$root/configs/instrument/$name.yaml")
    done
    echo "== planted mode: $mode (${KNOWN_MODES[$mode]})"
    start=$SECONDS
    "$snakemake" --cores "$cores" -s "$root/Snakefile" --directory "$out/$mode" --configfiles "${overlays[@]}"
    echo "== $mode: $((SECONDS - start)) s"
    "$python" "$root/tools/check_claims.py" --claims "$out/$mode/results/report/claims.csv" \
        --config "${overlays[-1]}" || status=1
    cat "$out/$mode/results/tables/instrument.md"
done
exit "$status"
