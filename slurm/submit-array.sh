#!/usr/bin/env bash
# submit-array.sh: submits the array variant of an embed job and its merge.
#
#   slurm/submit-array.sh JOB.yaml N OUT.h5 [--flag value ...]
#
# Submits slurm/embed-array.sbatch as an N-task array (task k embeds slice k/N into
# OUT.slice-k.h5, one rank each) and slurm/embed-merge.sbatch with --dependency=afterok on the
# array, which joins the slices into OUT.h5.  Prints both job ids.  Extra sbatch options for both
# jobs go in ELMO_SBATCH_OPTS (e.g. ELMO_SBATCH_OPTS="--partition=cpu --time=02:00:00"); the
# logs land in the current directory (%x-%A_%a.out and %x-%j.out).
set -euo pipefail
if [ $# -lt 3 ] || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 JOB.yaml N OUT.h5 [--flag value ...]   (N slices = N array tasks)" >&2
    exit 2
fi
JOB=$1 N=$2 OUT=$3
shift 3
[ -f "$JOB" ] || { echo "submit-array: job file $JOB not found" >&2; exit 2; }
DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2206 # word splitting of the extra options is wanted
OPTS=(${ELMO_SBATCH_OPTS:-})
ARRAY=$(sbatch --parsable "${OPTS[@]}" --array="0-$((N - 1))" "$DIR/embed-array.sbatch" \
    "$JOB" "$N" "$OUT" "$@")
ARRAY=${ARRAY%%;*}  # "id;cluster" on a multi-cluster set-up
MERGE=$(sbatch --parsable "${OPTS[@]}" --dependency="afterok:$ARRAY" --kill-on-invalid-dep=yes \
    "$DIR/embed-merge.sbatch" "$N" "$OUT")
MERGE=${MERGE%%;*}
echo "array job: $ARRAY (tasks 0-$((N - 1)) -> ${OUT%.h5}.slice-K.h5)"
echo "merge job: $MERGE (after every task succeeds -> $OUT)"
