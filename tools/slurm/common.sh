# Shared by start.sh and stop.sh (sourced, not executed).
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file

# Everything the test cluster writes (state, spool, PID files, logs, MariaDB
# data) lives in one folder, so stop.sh can remove it all.
STATE_DIR=${HFC_SLURM_STATE_DIR:-/tmp/hfc-slurm}
CONF_DIR=/etc/slurm
MARKER="written by hfc-repro tools/slurm/start.sh"
# Records "<name> <pidfile>" for each daemon start.sh started (and only those).
STARTED="$STATE_DIR/started"
CONF_FILES=(slurm.conf slurmdbd.conf gres.conf)

pid_alive() {  # pid_alive PIDFILE -> 0 when the process named in PIDFILE runs
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "$(basename "$0"): must run as root (it starts system daemons and writes $CONF_DIR)." >&2
        exit 1
    fi
}
