#!/usr/bin/env bash
# The slurm/ scripts on a private single-node Slurm cluster (tests/slurm/cluster.sh), every job
# kind through the one launcher, each result compared with a plain `mpiexec -n 2` run:
#   embed      slurm/elmo.sbatch jobs/embed.yaml, 2 tasks, srun's MPI plugin from ELMO_SRUN_MPI;
#   requeue    an embed job gets USR1 mid-run (as before its time limit), stops at a batch
#              boundary, requeues itself and the requeued run resumes and completes;
#   array      slurm/submit-array.sh 3 JOB: 3 array tasks (--slice k/3) + the dependent merge;
#   train-ner  a tiny GloVe tagger (3 epochs, hidden 16); USR1 stops it and it is requeued;
#   annotate   the tagger over the raw tweets, with a USR1 requeue mid-run;
#   pretrain   a tiny biLM (jobs/pretrain-tiny.options.json), with a USR1 requeue mid-run.
# Jobs are polled with squeue every 0.2 s and judged by scontrol's JobState/ExitCode.  Prints the
# cluster start-up time and the wall time of each script's run.  Needs the Slurm packages
# (scripts/install-deps.sh --slurm) and fails without them; skips (77) without the fixtures.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
if [ ! -d "$ELMO_FIXTURES" ]; then
    echo "SKIP: the fixtures directory $ELMO_FIXTURES is missing"
    exit 77
fi
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster.sh
source "$HERE/cluster.sh"
PY=/usr/bin/python3
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"
SL="$ELMO_SOURCE_DIR/slurm"
LAUNCH="$SL/elmo.sbatch"
JOBS="$ELMO_SOURCE_DIR/jobs"
JOB="$JOBS/embed.yaml"
TRAIN="$ELMO_FIXTURES/twitter-ner/train.txt"      # 200 shards of 500 tokens
VALID="$ELMO_FIXTURES/twitter-ner/validation.txt"
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"
TWEETS="$ELMO_FIXTURES/raw-tweets/lm-corpus.txt"

T=$(mktemp -d /tmp/elmo-test-slurm.XXXXXX)
chmod 0755 "$T"   # munged (the munge user) reaches its socket below it
trap 'cluster_stop; [ -n "${KEEP_TEST_DIR:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
# the program under test is the one built when the test starts, whatever rebuilds happen meanwhile
cp "$ELMO_BIN" "$T/elmo"
ELMO_BIN=$T/elmo
export ELMO_BIN   # the jobs inherit the submitter's environment (sbatch --export=ALL)
trap 'exit 130' INT TERM
TIMES=()

fail() {
    echo "FAIL: $*"
    local f
    for f in "$T"/*/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }; done
    cluster_logs
    exit 1
}
# submit DIR ARGS...: sbatch from DIR (where the %x-%j.out logs land); prints the job id
submit() { (cd "$1" && sbatch --parsable "${@:2}") | cut -d';' -f1; }
# wait_ok JID WHAT: the job (all its array tasks) COMPLETED with exit code 0
wait_ok() {
    job_wait "$1" 300 || fail "$2: job $1 did not finish"
    job_ok "$1" || fail "$2: job $1 ended $(job_state "$1" | tr '\n' ' ')"
    echo "$2: job $1 $(job_state "$1" | sort -u | tr '\n' ' ')"
}
# wait_for JID WHAT TEST...: until the command TEST succeeds; the job must keep running
wait_for() {
    local jid=$1 what=$2 t0
    shift 2
    t0=$(now_ms)
    until "$@"; do
        squeue -h -j "$jid" -t RUNNING,PENDING,CONFIGURING | grep -q . ||
            fail "job $jid ended before $what: $(job_state "$jid")"
        (($(now_ms) - t0 < 120000)) || fail "no $what after 120 s"
        sleep 0.05
    done
}
# done_shards JOURNAL: how many shards the journal lists as done
done_shards() {
    local n
    n=$(grep -c '^done ' "$1" 2>/dev/null) || true
    echo "${n:-0}"
}
has_shards() { [ "$(done_shards "$1")" -ge "$2" ]; }
has_round() { grep -q '^round ' "$1" 2>/dev/null; }
# requeued JID LOG WHAT: USR1 went to the batch script, which requeued the job; the requeued
# run resumed and completed
requeued() {
    wait_ok "$1" "$3"
    grep -q "got SIGUSR1" "$2" || fail "$3: USR1 not seen by the batch script"
    grep -q "requeueing job $1" "$2" || fail "$3: no requeue"
    grep -q "restart 1" "$2" || fail "$3: the requeued run did not start"
    grep -q "resum" "$2" || fail "$3: the requeued run did not resume"
    grep -q "done: elmo finished (exit 0)" "$2" || fail "$3: no closing line"
}
timed() {  # timed NAME FUNCTION: runs it and records its wall time
    local t0
    t0=$(now_ms)
    echo "== $1"
    "$2"
    TIMES+=("$1: $(($(now_ms) - t0)) ms")
    echo "-- $1: $(($(now_ms) - t0)) ms"
}
ref() {  # ref LOG ARGS...: the plain MPI run, 2 ranks
    mpiexec -n 2 "$ELMO_BIN" "${@:2}" --no-progress >"$1" 2>&1 || { cat "$1"; fail "reference run: ${*:2}"; }
}

static_checks() {
    local s out h
    for s in "$SL"/*; do bash -n "$s" || fail "syntax of $s"; done
    # one launcher for every kind
    [ "$(ls "$SL"/*.sbatch)" = "$LAUNCH" ] || fail "slurm/ has launchers besides elmo.sbatch"
    for h in --nodes --ntasks-per-node --cpus-per-task --mem-per-cpu --time --output= \
             --open-mode=append --requeue --signal=B:USR1@; do
        grep -q "^#SBATCH $h" "$LAUNCH" || fail "no #SBATCH $h"
    done
    for h in '^##SBATCH --account' '^##SBATCH --partition' '^# module load'; do
        grep -q -- "$h" "$LAUNCH" || fail "no commented $h line"
    done
    grep -q 'srun --mpi=' "$LAUNCH" && fail "a hard-coded srun --mpi"
    # usage errors say so and exit 2 (run outside Slurm: they stop before srun)
    out=$(bash "$LAUNCH" "$T/no-such-job.yaml" 2>&1) && fail "elmo.sbatch without a job"
    grep -q "job file '$T/no-such-job.yaml' not found" <<<"$out" || fail "elmo.sbatch: $out"
    out=$(SLURM_ARRAY_TASK_ID=0 bash "$LAUNCH" --slices 0 x.h5 "$JOB" 2>&1) &&
        fail "elmo.sbatch --slices 0"
    grep -q "usage: sbatch --array" <<<"$out" || fail "elmo.sbatch --slices: $out"
    out=$(bash "$SL/submit-array.sh" "$JOB" 2>&1) && fail "submit-array.sh without N"
    grep -q "usage:" <<<"$out" || fail "submit-array.sh: $out"
    # the memory helper: the figures in the header are the ones it prints for the three
    # published shapes (all with 7 filter widths, 2048 filters)
    local shape d p hw mem
    for shape in small:1024:128:1 medium:2048:256:1 original:4096:512:2; do
        IFS=: read -r s d p hw <<<"$shape"
        cat >"$T/$s.json" <<JSON
{"lstm": {"use_skip_connections": true, "projection_dim": $p, "cell_clip": 3, "proj_clip": 3,
 "dim": $d, "n_layers": 2}, "char_cnn": {"activation": "relu", "filters": [[1, 32], [2, 32],
 [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]], "n_highway": $hw, "embedding": {"dim": 16},
 "n_characters": 262, "max_characters_per_token": 50}}
JSON
        printf 'kind: embed\noptions: %s.json   # the shape\n' "$s" >"$T/$s.yaml"
        mem=$("$LAUNCH" --mem-per-cpu "$T/$s.yaml") || fail "--mem-per-cpu $s"
        grep -q "^#   $s .*--mem-per-cpu=$mem\$" "$LAUNCH" ||
            fail "the header's figure for $s is not the helper's $mem"
        echo "  $s: --mem-per-cpu=$mem (2 CPUs per task: $("$LAUNCH" --mem-per-cpu "$T/$s.yaml" 2))"
    done
    [ "$(grep '^#SBATCH --mem-per-cpu' "$LAUNCH")" = "#SBATCH --mem-per-cpu=$mem" ] ||
        fail "the default --mem-per-cpu is not the original shape's $mem"
    echo "  pretrain-tweets: --mem-per-cpu=$("$LAUNCH" --mem-per-cpu "$JOBS/pretrain-tweets.yaml")"
}

test_embed() {  # elmo.sbatch with its own header (1 node x 2 tasks x 1 CPU) vs mpiexec -n 2
    mkdir -p "$T/embed"
    ref "$T/embed/ref.log" run "$JOB" --output "$T/embed/ref.h5"
    local jid log
    jid=$(ELMO_SRUN_MPI=pmix submit "$T/embed" "$LAUNCH" "$JOB" --output "$T/embed/slurm.h5")
    wait_ok "$jid" "embed"
    log="$T/embed/elmo-$jid.out"
    grep -q "2 ranks x 1 BLAS threads (1 nodes), kind embed" "$log" || fail "embed log: start line"
    grep -q "run: srun .*--mpi=pmix .* run $JOB --output .* --threads 1" "$log" ||
        fail "embed log: the srun line (ELMO_SRUN_MPI, --threads)"
    grep -q "memory: 1920 MiB per rank, the model needs about" "$log" || fail "embed log: memory"
    grep -q "^0: embed: wrote .*slurm.h5 (complete)" "$log" || fail "embed log: rank-0 summary"
    grep -q "done: elmo finished (exit 0)" "$log" || fail "embed log: closing line"
    $PY "$CHK" same "$T/embed/ref.h5" "$T/embed/slurm.h5" || fail "embed: stores differ"
}

test_requeue() {  # embed: USR1 mid-run -> exit 3 -> scontrol requeue -> resumed = uninterrupted
    mkdir -p "$T/requeue"
    local args=(--input "$TRAIN" --input-format conll --shard-tokens 500)
    ref "$T/requeue/ref.log" run "$JOB" --output "$T/requeue/ref.h5" "${args[@]}"
    local out="$T/requeue/slurm.h5" jid
    jid=$(submit "$T/requeue" "$LAUNCH" "$JOB" --output "$out" "${args[@]}")
    wait_for "$jid" "3 done shards" has_shards "$out.journal" 3
    scancel --signal=USR1 --batch "$jid"
    requeued "$jid" "$T/requeue/elmo-$jid.out" "embed, USR1, requeued"
    grep -q "resuming from .*: [1-9][0-9]* of [0-9]* shards already done" \
        "$T/requeue/elmo-$jid.out" || fail "requeue: the requeued run did not resume"
    [ ! -e "$out.journal" ] || fail "requeue: the journal was not removed after completion"
    $PY "$CHK" same "$T/requeue/ref.h5" "$out" || fail "requeue: stores differ"
}

test_array() {  # submit-array.sh: 3 slices, 1 rank each, then the merge job
    mkdir -p "$T/array"
    local args=(--input "$VALID" --input-format conll --shard-tokens 500)
    ref "$T/array/ref.log" run "$JOB" --output "$T/array/ref.h5" "${args[@]}"
    local ids aj mj
    ids=$(cd "$T/array" && bash "$SL/submit-array.sh" 3 "$JOB" "${args[@]}" --output arr.h5)
    echo "$ids"
    aj=$(sed -n 's/^array job: \([0-9]*\).*/\1/p' <<<"$ids")
    mj=$(sed -n 's/^merge job: \([0-9]*\).*/\1/p' <<<"$ids")
    [ -n "$aj" ] && [ -n "$mj" ] || fail "array: submit-array.sh printed no job ids"
    wait_ok "$aj" "array"
    [ "$(job_state "$aj" | wc -l)" -eq 3 ] || fail "array: expected 3 array tasks"
    wait_ok "$mj" "merge"
    grep -q "done: elmo finished" "$T/array/elmo-merge-$mj.out" || fail "array: merge log"
    for k in 0 1 2; do
        grep -q -- "--slice $k/3 --output $T/array/arr.slice-$k.h5" \
            "$T/array/elmo-array-${aj}_$k.out" || fail "array: task $k's log does not show its slice"
    done
    $PY "$CHK" same "$T/array/ref.h5" "$T/array/arr.h5" || fail "array: stores differ"
}

test_train_ner() {  # a tiny GloVe tagger; USR1 stops it (exit 3) and the requeued run resumes
    mkdir -p "$T/ner"
    local args=(--features glove --glove "$GLOVE" --epochs 3 --hidden 16)
    ref "$T/ner/ref.log" run "$JOBS/train-ner.yaml" "${args[@]}" --out "$T/ner/ref"
    local jid log
    jid=$(submit "$T/ner" "$LAUNCH" "$JOBS/train-ner.yaml" "${args[@]}" --out "$T/ner/run")
    log="$T/ner/elmo-$jid.out"
    # a signal that reaches a rank before its handlers exist (process start) ends it, as for
    # any program: signal once the training has begun, as a time limit would
    wait_for "$jid" "the training" grep -qs "train-ner: .* features" "$log"
    scancel --signal=USR1 --batch "$jid" 2>/dev/null || true
    wait_ok "$jid" "train-ner"
    grep -q "^0: train-ner: done" "$log" || fail "train-ner log: no summary"
    cmp "$T/ner/ref/dev.conll" "$T/ner/run/dev.conll" ||
        fail "train-ner: the dev predictions differ from the mpiexec run's"
    cmp "$T/ner/ref/test.conll" "$T/ner/run/test.conll" ||
        fail "train-ner: the test predictions differ from the mpiexec run's"
}

test_annotate() {  # the tagger over 4 copies of the raw tweets, USR1 requeue mid-run
    mkdir -p "$T/ann"
    [ -f "$T/ner/run/tagger.h5" ] || fail "annotate needs the train-ner test's tagger"
    for _ in 1 2 3 4; do cat "$TWEETS"; done >"$T/ann/tweets.txt"
    local args=(--tagger "$T/ner/run" --input "$T/ann/tweets.txt" --input-format text)
    ref "$T/ann/ref.log" run "$JOBS/annotate.yaml" "${args[@]}" --output "$T/ann/ref.jsonl"
    local out="$T/ann/out.jsonl" jid
    jid=$(submit "$T/ann" "$LAUNCH" "$JOBS/annotate.yaml" "${args[@]}" --output "$out")
    wait_for "$jid" "a journalled round" has_round "$out.journal"
    scancel --signal=USR1 --batch "$jid"
    requeued "$jid" "$T/ann/elmo-$jid.out" "annotate, USR1, requeued"
    cmp "$T/ann/ref.jsonl" "$out" || fail "annotate: the output differs from the mpiexec run's"
}

test_pretrain() {  # a tiny biLM, USR1 requeue after its first checkpoint
    mkdir -p "$T/pre"
    head -n 1500 "$TWEETS" >"$T/pre/corpus.txt"
    local args=(--corpus "$T/pre/corpus.txt" --vocab-size 300 --batch-size 6
                --unroll-steps 8 --epochs 1 --checkpoint-steps 5)
    ref "$T/pre/ref.log" run "$JOBS/pretrain.yaml" "${args[@]}" --out "$T/pre/ref"
    local out="$T/pre/slurm" jid
    jid=$(submit "$T/pre" "$LAUNCH" "$JOBS/pretrain.yaml" "${args[@]}" --out "$out")
    wait_for "$jid" "a checkpoint" test -e "$out/checkpoint.h5"
    scancel --signal=USR1 --batch "$jid"
    requeued "$jid" "$T/pre/elmo-$jid.out" "pretrain, USR1, requeued"
    grep -q "interrupted by signal" "$T/pre/elmo-$jid.out" || fail "pretrain: not stopped by USR1"
    h5diff "$T/pre/ref/weights.hdf5" "$out/weights.hdf5" ||
        fail "pretrain: the weights differ from the mpiexec run's"
}

timed "static checks of slurm/" static_checks
cluster_start "$T/cluster" || fail "the cluster did not start"
TIMES+=("cluster start-up: $CLUSTER_START_MS ms")
want() { [[ ,${ELMO_SLURM_TESTS:-embed,requeue,array,train-ner,annotate,pretrain}, == *,$1,* ]]; }
if want embed; then timed "elmo.sbatch embed" test_embed; fi
if want requeue; then timed "elmo.sbatch embed + USR1 requeue" test_requeue; fi
if want array; then timed "submit-array.sh 3 (array + merge)" test_array; fi
if want train-ner || want annotate; then timed "elmo.sbatch train-ner" test_train_ner; fi
if want annotate; then timed "elmo.sbatch annotate + USR1 requeue" test_annotate; fi
if want pretrain; then timed "elmo.sbatch pretrain + USR1 requeue" test_pretrain; fi
t0=$(now_ms)
cluster_stop
TIMES+=("cluster stop: $(($(now_ms) - t0)) ms")
echo "== wall times (each includes its mpiexec reference run)"
printf '  %s\n' "${TIMES[@]}"
echo "test_slurm: all checks passed"
