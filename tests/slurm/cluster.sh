# cluster.sh: a private single-node Slurm cluster for tests, sourced by tests/slurm/*.sh.
#
#   source cluster.sh; cluster_start DIR    munged + slurmctld + slurmd, all in DIR
#   JID=$(sbatch --parsable ...); job_wait "$JID" 300; job_state "$JID"
#   cluster_stop                            (also run by the EXIT trap that cluster_start sets)
#
# DIR and its parents must be reachable by the munge user.  Everything is private to DIR: munged runs as the munge user (setpriv, foreground) with its own
# key and socket, slurmctld -D and slurmd -D run in the background with their state, spool, logs
# and config in DIR, on two free TCP ports, and the first job id is random, so that clusters of
# other users of the machine are left alone.  cred_expire is 10 s (default 120 s): a requeued
# job waits that long before it may start again; the scheduler looks every second for it.  Clients find the config through SLURM_CONF (no
# /etc/slurm/slurm.conf).  Each daemon is stopped by the PID this shell recorded.  Runs as root.

CLUSTER_DIR=""
CLUSTER_PIDS=()   # "name:pid", in start order

cluster_log() { printf '[cluster %(%T)T] %s\n' -1 "$*"; }

# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A TCP port nobody listens on (ss lists the listening ones).
free_port() {
    local p used
    used=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 20000))
        if ! grep -qx "$p" <<<"$used" && [ "$p" != "${CLUSTER_PORT1:-}" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Cancels what is left in the queue, stops the daemons by PID, newest first, and removes DIR
# unless KEEP_CLUSTER_DIR is set.
cluster_stop() {
    local i entry name pid
    if [ ${#CLUSTER_PIDS[@]} -gt 0 ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        cluster_log "cancelling the jobs still queued: $(squeue -h -o %i | tr '\n' ' ')"
        scancel $(squeue -h -o %i) 2>/dev/null
        for _ in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    for ((i = ${#CLUSTER_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${CLUSTER_PIDS[$i]}
        name=${entry%%:*} pid=${entry#*:}
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                cluster_log "$name ($pid) ignores SIGTERM: SIGKILL"
                kill -KILL "$pid" 2>/dev/null
            fi
            wait "$pid" 2>/dev/null
            cluster_log "stopped $name ($pid)"
        fi
    done
    CLUSTER_PIDS=()
    if [ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ]; then
        if [ -n "${KEEP_CLUSTER_DIR:-}" ]; then
            cluster_log "kept $CLUSTER_DIR"
        else
            rm -rf "$CLUSTER_DIR"
        fi
    fi
    CLUSTER_DIR=""
}

# Prints the tails of the daemon logs (after a failure).
cluster_logs() {
    local f
    for f in "$CLUSTER_DIR"/log/*; do
        [ -s "$f" ] || continue
        echo "---- $f (last 25 lines)"
        tail -n 25 "$f"
    done
}

cluster_start() {
    CLUSTER_DIR=$1
    local t0 host cpus mem_mb m
    t0=$(now_ms)
    for d in munged slurmctld slurmd sinfo sbatch squeue scontrol setpriv; do
        if ! command -v "$d" >/dev/null && [ ! -x "/usr/sbin/$d" ]; then
            echo "FAIL: $d is missing: install the Slurm packages with" \
                 "'bash scripts/install-deps.sh --slurm' (.ci/run does)" >&2
            return 1
        fi
    done
    # the caller's EXIT trap, if it has one, must call cluster_stop
    [ -n "$(trap -p EXIT)" ] || trap 'cluster_stop' EXIT
    host=$(hostname -s)
    cpus=${SLURM_TEST_CPUS:-$(nproc)}
    mem_mb=$(($(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024))
    mkdir -p "$CLUSTER_DIR"/{state,spool,log,etc,tmp}
    chmod 0755 "$CLUSTER_DIR"
    if ! setpriv --reuid=munge --regid=munge --init-groups test -x "$CLUSTER_DIR"; then
        echo "FAIL: the munge user cannot reach $CLUSTER_DIR (make its parents 0755)" >&2
        return 1
    fi
    # munge/ holds the socket (munged wants it reachable by all), munge/private the key
    m=$CLUSTER_DIR/munge
    install -d -o munge -g munge -m 0755 "$m"
    install -d -o munge -g munge -m 0700 "$m/private"
    dd if=/dev/urandom of="$m/private/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$m/private/munge.key"
    chmod 0400 "$m/private/munge.key"
    # setpriv execs munged (no parent left over) and -F keeps it in the foreground: $! is munged
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
        --socket="$m/munge.socket" --key-file="$m/private/munge.key" \
        --pid-file="$m/munged.pid" --seed-file="$m/private/munged.seed" \
        --log-file="$m/private/munged.log" >"$CLUSTER_DIR/log/munged.out" 2>&1 &
    CLUSTER_PIDS+=("munged:$!")
    for _ in $(seq 100); do
        munge -S "$m/munge.socket" -n </dev/null 2>/dev/null |
            unmunge -S "$m/munge.socket" >/dev/null 2>&1 && break
        sleep 0.05
    done
    if ! munge -S "$m/munge.socket" -n </dev/null | unmunge -S "$m/munge.socket" >/dev/null; then
        echo "FAIL: munged does not answer on $m/munge.socket" >&2
        cat "$CLUSTER_DIR/log/munged.out" >&2
        return 1
    fi

    CLUSTER_PORT1=$(free_port)
    CLUSTER_PORT2=$(free_port)
    cat >"$CLUSTER_DIR/etc/slurm.conf" <<CONF
ClusterName=elmotest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$m/munge.socket,cred_expire=${SLURM_TEST_CRED_EXPIRE:-10}
MpiDefault=pmix
MailProg=/bin/true
EnforcePartLimits=ALL
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
ReturnToService=2
FirstJobId=$((100000 + RANDOM * 16))
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool
TmpFS=$CLUSTER_DIR/tmp
SlurmctldPidFile=$CLUSTER_DIR/state/slurmctld.pid
SlurmdPidFile=$CLUSTER_DIR/spool/slurmd.pid
SlurmctldLogFile=$CLUSTER_DIR/log/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort=$CLUSTER_PORT1
SlurmdPort=$CLUSTER_PORT2
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
Waittime=0
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$CLUSTER_DIR/etc/slurm.conf
    /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$CLUSTER_DIR/log/slurmctld.out" 2>&1 &
    CLUSTER_PIDS+=("slurmctld:$!")
    /usr/sbin/slurmd -D -f "$SLURM_CONF" >"$CLUSTER_DIR/log/slurmd.out" 2>&1 &
    CLUSTER_PIDS+=("slurmd:$!")
    for _ in $(seq 300); do
        sinfo -h -o '%T' 2>/dev/null | grep -q '^idle' && break
        sleep 0.1
    done
    if ! sinfo -h -o '%T' 2>/dev/null | grep -q '^idle'; then
        echo "FAIL: the node did not come up idle within 30 s" >&2
        sinfo >&2
        cluster_logs >&2
        return 1
    fi
    CLUSTER_START_MS=$(($(now_ms) - t0))
    cluster_log "up in $CLUSTER_START_MS ms: $(sinfo -h -o '%P %a %D %T %N %c CPUs') (ports" \
        "$CLUSTER_PORT1/$CLUSTER_PORT2, $SLURM_CONF)"
}

# Waits (polling squeue every 0.2 s, at most $2 s) until job $1 has left the queue, as an array
# job with all its tasks.  On time-out it cancels the job and fails.
job_wait() {
    local jid=$1 limit=${2:-300} t0
    t0=$(now_ms)
    while squeue -h -j "$jid" 2>/dev/null | grep -q .; do
        if (($(now_ms) - t0 > limit * 1000)); then
            echo "FAIL: job $jid still queued after $limit s:" >&2
            squeue -j "$jid" >&2
            scancel "$jid"
            return 1
        fi
        sleep 0.2
    done
}

# Prints "JobState=X ExitCode=A:B" for each record of job $1 (one per array task).
job_state() {
    scontrol show job "$1" | grep -oE 'JobState=[A-Z_]+|ExitCode=[0-9:]+' | paste -d' ' - -
}

# Succeeds when every record of job $1 is COMPLETED with ExitCode=0:0.
job_ok() {
    local s
    s=$(job_state "$1")
    [ -n "$s" ] && ! grep -qv 'JobState=COMPLETED ExitCode=0:0' <<<"$s"
}
