#!/usr/bin/env bash
# hfc-repro set-up and entry point. Idempotent: installs only what is missing.
#
#   bash quickstart.sh            install, then run the workflow on config.yaml (all cores)
#   bash quickstart.sh test       install (with test tools), then run the test suite
#   bash quickstart.sh help       the commands and the main options (usage below)
#
# Extra arguments go to snakemake (run) or pytest (test), e.g.
#   bash quickstart.sh run --configfile configs/paper.yaml -n
#   bash quickstart.sh test -m "not slow"
# Environment: HFC_VENV (default .venv), HFC_CORES (default all), HFC_TEST_WORKERS (pytest
# workers; default one per core, at most 4).
set -euo pipefail
cd "$(dirname "$0")"

usage() {
    cat <<'USAGE'
usage: bash quickstart.sh [run|test|help] [ARGS...]   (installs what is missing first)
  run (default)  run the workflow on config.yaml; results in results/   ARGS go to snakemake
  test           run the test suite (installs the test tools too)       ARGS go to pytest
  help           this text
main options:
  run -n                                   dry run: the jobs that would run, and why
  run --configfile mine.yaml --directory runs/mine   your config over config.yaml, own folder
  run --config seeds='[0, 1, 2]'           change single config keys
  run --unlock                             after a kill: unlock results/, then rerun
  test -m "not slow"                       the tests without the end-to-end Snakemake runs
environment: HFC_VENV (.venv), HFC_CORES (all), HFC_TEST_WORKERS (cores, at most 4)   docs: docs/
USAGE
}

mode=run
if [ $# -gt 0 ]; then
    case "$1" in
    run | test)
        mode=$1
        shift
        ;;
    help | -h | --help)
        usage
        exit 0
        ;;
    -*) ;; # no command word: options for snakemake (run)
    *)
        printf "error: unknown command '%s'\n" "$1" >&2
        usage >&2
        exit 2
        ;;
    esac
fi
venv=${HFC_VENV:-.venv}
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
    say "installing Debian packages: $*"
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. System packages: Python's venv module and the default config's real data.
command -v python3 >/dev/null || die "python3 (>= 3.11) is missing: install it (Debian: apt-get install python3 python3-venv)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is needed, found $(python3 --version)"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    can_apt || die "Python's venv module is missing: install python3-venv (as root: apt-get install python3-venv)"
    apt_install python3-venv
fi
if [ ! -f "$fmnist" ]; then
    if can_apt; then
        apt_install dataset-fashion-mnist
    else
        say "warning: Debian's dataset-fashion-mnist is not installed (the default config reads it)."
        say "         Install it as root (apt-get install dataset-fashion-mnist), or set dataset.root in"
        say "         config.yaml to a folder with the Fashion-MNIST .gz files, or stay online for the download."
    fi
fi

# 2. The virtual environment with the project (editable) and its dependencies.
if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtual environment $venv"
    python3 -m venv "$venv"
fi
extras=""
[ "$mode" = test ] && extras="[test,detection]"
stamp="$venv/.hfc-installed$(printf '%s' "$extras" | tr -d '[]')-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    say "installing hfc-repro$extras and its dependencies into $venv (torch alone is several GB; minutes)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".$extras"
    if [ "$mode" = test ]; then
        # Test-only reference implementation of FGSM/PGD; it pins an old requests, so no deps.
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt torchattacks
    fi
    touch "$stamp"
fi

# 3. Run.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.snakemake/torchinductor}
if [ "$mode" = test ]; then
    # One pytest-xdist worker per core (at most 4): Snakemake runs and torch start-up keep a
    # single process far from busy. Each worker computes with one torch thread (tests/conftest.py);
    # tests that share a module's run stay on one worker (--dist loadgroup). -n on the command
    # line (e.g. -n 0, serial) overrides; so does HFC_TEST_WORKERS.
    workers=${HFC_TEST_WORKERS:-$(n=$(nproc 2>/dev/null || echo 1); [ "$n" -gt 4 ] && n=4; echo "$n")}
    parallel=(-n "$workers" --dist loadgroup)
    for arg in "$@"; do
        case $arg in -n | -n[0-9]* | --numprocesses* | -nauto | --dist*) parallel=() ;; esac
    done
    [ "$workers" = 1 ] && parallel=()
    say "running the tests${parallel:+ on $workers workers}"
    exec "$venv/bin/python" -m pytest "${parallel[@]}" "$@"
fi
# Snakemake reads --configfile files itself and names neither the file nor the line of a YAML
# error; check them first (hfc.config: file, line and fix; the schema on the merged config).
configfiles=()
collect=0
for arg in "$@"; do
    case $arg in
        --configfile=* | --configfiles=*) configfiles+=("${arg#*=}") && collect=0 ;;
        --configfile | --configfiles) collect=1 ;;
        -*) collect=0 ;;
        *) if [ "$collect" = 1 ]; then configfiles+=("$arg"); fi ;;
    esac
done
"$venv/bin/python" -m hfc.config ${configfiles[@]+"${configfiles[@]}"} >/dev/null || exit 1
say "running the workflow (results in results/)"
exec "$venv/bin/snakemake" --cores "${HFC_CORES:-all}" "$@"
