#!/usr/bin/env bash
# submit-array.sh: an embed job as an N-task Slurm array plus the merge of its slices.
#
#   slurm/submit-array.sh N JOB.yaml [--flag value ...]
#
# Submits slurm/elmo.sbatch as the array --array=0-(N-1), one rank per task: task k runs the
# job on slice k/N (--slice k/N) and writes the complete store of its slice, OUT.slice-k.h5,
# where OUT is the job's output (--output among the flags, else the file's output key).  Then
# submits slurm/elmo.sbatch `merge --output OUT OUT.slice-0.h5 ...` with
# --dependency=afterok on the array, which writes the store a single run would.  Prints both
# job ids.  Extra sbatch options for both jobs go in ELMO_SBATCH_OPTS (e.g.
# ELMO_SBATCH_OPTS="--partition=cpu --time=02:00:00"); logs land in the current directory.
# A failed task alone is rerun with the command printed as "rerun a task".
set -euo pipefail
usage() { echo "usage: $0 N JOB.yaml [--flag value ...]   (N slices = N array tasks)" >&2; exit 2; }
[ $# -ge 2 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
N=$1 JOB=$2
shift 2
[ -f "$JOB" ] || { echo "submit-array: job file $JOB not found" >&2; exit 2; }
DIR=$(cd "$(dirname "$0")" && pwd)

# OUT: the last --output flag (relative to here), else the file's key (relative to the file);
# the flag is taken out, since each task gets its own --output.
OUT="" FLAGS=()
while [ $# -gt 0 ]; do
    case $1 in
    --output) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    --output=*) OUT=${1#--output=}; shift ;;
    *) FLAGS+=("$1"); shift ;;
    esac
done
if [ -z "$OUT" ]; then
    OUT=$(sed -n 's/^output:[[:space:]]*//p' "$JOB" | head -n 1 |
        sed 's/[[:space:]]#.*$//; s/[[:space:]]*$//' | sed "s/^[\"']\\(.*\\)[\"']\$/\\1/")
    [ -n "$OUT" ] || { echo "submit-array: $JOB has no output key: pass --output OUT.h5" >&2; exit 2; }
    [ "${OUT#/}" != "$OUT" ] || OUT=$(cd "$(dirname "$JOB")" && pwd)/$OUT
fi
[ "${OUT#/}" != "$OUT" ] || OUT=$PWD/$OUT

# shellcheck disable=SC2206 # word splitting of the extra options is wanted
OPTS=(${ELMO_SBATCH_OPTS:-})
ARRAY=$(sbatch --parsable "${OPTS[@]}" --job-name=elmo-array --array="0-$((N - 1))" \
    --nodes=1 --ntasks-per-node=1 --output=%x-%A_%a.out \
    "$DIR/elmo.sbatch" --slices "$N" "$OUT" "$JOB" "${FLAGS[@]}")
ARRAY=${ARRAY%%;*}  # "id;cluster" on a multi-cluster set-up
SLICES=()
for ((k = 0; k < N; k++)); do SLICES+=("${OUT%.h5}.slice-$k.h5"); done
MERGE=$(sbatch --parsable "${OPTS[@]}" --job-name=elmo-merge --dependency="afterok:$ARRAY" \
    --kill-on-invalid-dep=yes --nodes=1 --ntasks-per-node=1 \
    "$DIR/elmo.sbatch" merge --output "$OUT" "${SLICES[@]}")
MERGE=${MERGE%%;*}
echo "array job: $ARRAY (tasks 0-$((N - 1)) -> ${OUT%.h5}.slice-K.h5)"
echo "merge job: $MERGE (after every task succeeds -> $OUT)"
echo "rerun a task: sbatch --array=K --job-name=elmo-array --ntasks-per-node=1" \
    "--output=%x-%A_%a.out $DIR/elmo.sbatch --slices $N $OUT $JOB ${FLAGS[*]}"
