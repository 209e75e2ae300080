#!/usr/bin/env bash
# Bring up a single-node SLURM cluster (munged, MariaDB, slurmdbd, slurmctld,
# slurmd) on this machine, for tests/test_slurm.py and CI. Needs root and the
# packages from tools/slurm/install.sh. Idempotent: exits 0 at once when the
# cluster already answers. Stop it with tools/slurm/stop.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/slurm/common.sh
source "$HERE/common.sh"
require_root

DEADLINE=$((SECONDS + ${HFC_SLURM_START_TIMEOUT:-60}))
NODE=$(hostname -s)
DB_SOCKET=/run/mysqld/mysqld.sock

for bin in munged munge unmunge mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sinfo sacct sacctmgr; do
    if ! command -v "$bin" >/dev/null; then
        echo "start.sh: '$bin' not found; install the packages first: sudo tools/slurm/install.sh" >&2
        exit 1
    fi
done

all_ours_running() {
    local name pidfile
    [[ -s $STARTED ]] || return 1
    for name in slurmdbd slurmctld slurmd; do
        pid_alive "$STATE_DIR/run/$name.pid" || return 1
    done
    while read -r name pidfile; do pid_alive "$pidfile" || return 1; done <"$STARTED"
}
if all_ours_running && timeout 10 sinfo -h >/dev/null 2>&1; then
    echo "SLURM test cluster already running (state in $STATE_DIR)."
    exit 0
fi
if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf" &&
    timeout 10 sinfo -h >/dev/null 2>&1; then
    echo "A SLURM cluster configured in $CONF_DIR/slurm.conf already answers here; using it, starting nothing."
    exit 0
fi
# Half-up leftovers from an earlier run (crash, killed CI job): clear them first.
bash "$HERE/stop.sh" --quiet

fail() {
    echo "start.sh: $*" >&2
    local f
    for f in "$STATE_DIR"/log/*.log "$STATE_DIR"/mysql/mariadb.err /var/log/munge/munged.log; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 25 "$f" >&2
    done
    echo "start.sh: stopping what was started; fix the cause and rerun." >&2
    bash "$HERE/stop.sh" --quiet --keep-logs || true
    exit 1
}
wait_for() {  # wait_for DESCRIPTION COMMAND... : retry until it succeeds or the deadline passes
    local what=$1
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < DEADLINE)) || fail "timed out waiting for $what"
        sleep 0.5
    done
}
record() { echo "$1 $2" >>"$STARTED"; }

# --- state folder -----------------------------------------------------------
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"/{ctld,spool,run,log,mysql}
chmod 755 "$STATE_DIR"
chown slurm:slurm "$STATE_DIR"/{ctld,run,log}
chown mysql:mysql "$STATE_DIR/mysql"
: >"$STARTED"

# --- configuration ----------------------------------------------------------
cpus=$(nproc)
mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
# slurmd drains a node that reports less memory than configured; leave 15 %
# for the OS, the controller daemons and MariaDB.
mem_mb=$((mem_total_mb * 85 / 100))
db_pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

mkdir -p "$CONF_DIR"
for f in "${CONF_FILES[@]}"; do
    if [[ -e $CONF_DIR/$f ]] && ! grep -qF "$MARKER" "$CONF_DIR/$f"; then
        [[ -e $CONF_DIR/$f.hfc-backup ]] || mv "$CONF_DIR/$f" "$CONF_DIR/$f.hfc-backup"
        echo "Moved the existing $CONF_DIR/$f to $f.hfc-backup (stop.sh puts it back)."
    fi
    sed -e "s|@NODE@|$NODE|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@DB_PASS@|$db_pass|g" \
        "$HERE/$f.in" >"$CONF_DIR/$f.tmp"
    sed -i "1i # $MARKER" "$CONF_DIR/$f.tmp"
    mv "$CONF_DIR/$f.tmp" "$CONF_DIR/$f"
done
chmod 644 "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"
# slurmdbd refuses a config that others can read (it holds the DB password).
chown slurm:slurm "$CONF_DIR/slurmdbd.conf"
chmod 600 "$CONF_DIR/slurmdbd.conf"

# --- munge ------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "Using the munged that is already running."
else
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged </dev/null >/dev/null 2>&1 || fail "munged did not start"
    record munged /run/munge/munged.pid
    wait_for "munged" bash -c 'munge -n | unmunge'
fi

# --- MariaDB (slurmdbd's storage) ---------------------------------------------
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld
if timeout 5 mariadb-admin --socket="$DB_SOCKET" ping >/dev/null 2>&1; then
    echo "Using the MariaDB server that already listens on $DB_SOCKET."
else
    mariadb-install-db --user=mysql --datadir="$STATE_DIR/mysql" --skip-test-db \
        --auth-root-authentication-method=socket >"$STATE_DIR/log/mariadb-install.log" 2>&1 ||
        fail "mariadb-install-db failed (see $STATE_DIR/log/mariadb-install.log)"
    # setsid + closed stdio: the server must not hold the caller's pipes open.
    setsid runuser -u mysql -- mariadbd --datadir="$STATE_DIR/mysql" --socket="$DB_SOCKET" \
        --pid-file="$STATE_DIR/mysql/mariadbd.pid" --log-error="$STATE_DIR/mysql/mariadb.err" \
        --skip-networking --skip-log-bin --innodb-buffer-pool-size=64M \
        </dev/null >/dev/null 2>&1 &
    record mariadbd "$STATE_DIR/mysql/mariadbd.pid"
    wait_for "MariaDB" mariadb-admin --socket="$DB_SOCKET" ping
fi
mariadb --socket="$DB_SOCKET" -u root <<SQL || fail "could not create the slurm database user"
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --- SLURM daemons --------------------------------------------------------------
slurmdbd </dev/null >/dev/null 2>&1 || fail "slurmdbd did not start"
record slurmdbd "$STATE_DIR/run/slurmdbd.pid"
wait_for "slurmdbd" timeout 5 sacctmgr -n list cluster

slurmctld </dev/null >/dev/null 2>&1 || fail "slurmctld did not start"
record slurmctld "$STATE_DIR/run/slurmctld.pid"
slurmd </dev/null >/dev/null 2>&1 || fail "slurmd did not start"
record slurmd "$STATE_DIR/run/slurmd.pid"

node_idle() { [[ $(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null) == idle ]]; }
wait_for "node $NODE to become idle in sinfo" node_idle
# slurmctld registers the cluster in slurmdbd itself; the submitting user
# needs an association so that jobs (and the plugin's account guess) have one.
cluster_known() { timeout 5 sacctmgr -n -P list cluster format=cluster | grep -qx hfc-test; }
wait_for "slurmctld to register the cluster in slurmdbd" cluster_known
users=(root)
[[ -n ${SUDO_USER:-} && $SUDO_USER != root ]] && users+=("$SUDO_USER")
timeout 10 sacctmgr -i add account hfc Description="hfc-repro tests" Organization=hfc >/dev/null ||
    fail "sacctmgr could not add the account"
for u in "${users[@]}"; do
    timeout 10 sacctmgr -i add user "$u" DefaultAccount=hfc >/dev/null ||
        fail "sacctmgr could not add user $u"
done
wait_for "sacct to answer" timeout 5 sacct -n -X -a

echo "SLURM test cluster up: node $NODE ($cpus CPUs, $mem_mb MB, 1 counted GPU), partition 'debug'," \
    "account 'hfc'; config in $CONF_DIR, state and logs in $STATE_DIR. Stop it with tools/slurm/stop.sh."
