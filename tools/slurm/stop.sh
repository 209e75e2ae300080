#!/usr/bin/env bash
# Stop the test cluster started by tools/slurm/start.sh: cancel its jobs, stop
# exactly the daemons start.sh started (by their PID files), restore any
# /etc/slurm files start.sh moved aside and remove its state folder.
# Idempotent: does nothing when nothing is running.
#   --quiet      print nothing when there was nothing to do
#   --keep-logs  keep $STATE_DIR/log and the MariaDB error log (used by start.sh on failure)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/slurm/common.sh
source "$HERE/common.sh"
require_root

quiet=0 keep_logs=0
for arg in "$@"; do
    case $arg in
        --quiet) quiet=1 ;;
        --keep-logs) keep_logs=1 ;;
        *) echo "stop.sh: unknown option $arg (use --quiet, --keep-logs)" >&2; exit 2 ;;
    esac
done
say() { ((quiet)) || echo "$@"; }

stop_pidfile() {  # stop_pidfile NAME PIDFILE: TERM, wait up to 15 s, then KILL
    local name=$1 pidfile=$2 pid i
    pid_alive "$pidfile" || return 0
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || { say "Stopped $name (pid $pid)."; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    say "Killed $name (pid $pid) after it ignored SIGTERM for 15 s."
}

did=0
if [[ -s $STARTED ]]; then
    did=1
    # slurmstepd outlives slurmd, so jobs must end before the daemons go.
    if pid_alive "$STATE_DIR/run/slurmctld.pid"; then
        jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
        if [[ -n ${jobs// /} ]]; then
            # shellcheck disable=SC2086  # one argument per job id
            timeout 10 scancel $jobs >/dev/null 2>&1
            for ((i = 0; i < 100; i++)); do  # until they left COMPLETING too (at most 20 s)
                [[ -z $(timeout 5 squeue -h -o %A 2>/dev/null) ]] && break
                sleep 0.2
            done
            say "Cancelled jobs: $jobs"
        fi
    fi
    # Reverse start order: slurmd, slurmctld, slurmdbd, mariadbd, munged.
    tac "$STARTED" | while read -r name pidfile; do stop_pidfile "$name" "$pidfile"; done
fi

for f in "${CONF_FILES[@]}"; do
    if [[ -e $CONF_DIR/$f ]] && grep -qF "$MARKER" "$CONF_DIR/$f"; then
        rm -f "$CONF_DIR/$f"
        did=1
    fi
    if [[ -e $CONF_DIR/$f.hfc-backup ]]; then
        mv "$CONF_DIR/$f.hfc-backup" "$CONF_DIR/$f"
        say "Restored $CONF_DIR/$f."
    fi
done

if [[ -d $STATE_DIR ]]; then
    if ((keep_logs)); then
        find "$STATE_DIR" -mindepth 1 -maxdepth 1 ! -name log ! -name mysql -exec rm -rf {} +
        find "$STATE_DIR/mysql" -mindepth 1 -maxdepth 1 ! -name mariadb.err -exec rm -rf {} + 2>/dev/null
    else
        rm -rf "$STATE_DIR"
    fi
fi
if ((did)); then say "SLURM test cluster stopped."; else say "SLURM test cluster was not running."; fi
exit 0
