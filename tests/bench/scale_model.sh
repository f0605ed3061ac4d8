#!/usr/bin/env bash
# tests/bench/scale_model.sh: measure on this machine, then predict the embed job on 64, 256 and
# 1,024 nodes of 32 cores for a billion tweets (tests/bench/scale_model.py; README "Scale
# model").  About 3 minutes on 2 idle cores: one elmo bench, a synthetic original model, two
# 1-rank original-shape embeds, the queue on the fixture model with 8, 16 and 32 ranks.  On
# demand only; check `uptime` first.
#   tests/bench/scale_model.sh [build/elmo] [scale_model.py measure flags...]
#   tests/bench/scale_model.sh build/elmo --inputs-out /tmp/inputs.json --fs-bw 50e9
# The model alone on saved inputs: /usr/bin/python3 tests/bench/scale_model.py model --inputs F
set -euo pipefail
ELMO=${1:-build/elmo}
shift || true
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
: "${ELMO_FIXTURES:=$HERE/../../../shared/fixtures}"
export ELMO_FIXTURES
exec /usr/bin/python3 "$HERE/scale_model.py" measure --elmo "$ELMO" "$@"
