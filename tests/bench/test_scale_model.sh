#!/usr/bin/env bash
# test_scale_model: the scale model's arithmetic on fixed inputs (tests/bench/scale_model_inputs.json),
# without measuring: every row's phases add up to its wall time, efficiency is in (0, 1], the
# hand-computed phases of a few rows match, the bottleneck is the one the inputs imply (and moves
# when an input is changed), and each design change never makes a row slower.
set -euo pipefail
: "${ELMO_SOURCE_DIR:?}"
B="$ELMO_SOURCE_DIR/tests/bench"
PY=/usr/bin/python3
"$PY" "$B/scale_model.py" model --inputs "$B/scale_model_inputs.json" >/dev/null \
  || { echo "FAIL: scale_model.py model"; exit 1; }
PYTHONPATH="$B" "$PY" - "$B/scale_model_inputs.json" <<'PYEOF'
import json, math, sys
import scale_model as sm

inp = json.load(open(sys.argv[1]))
P = dict(sm.ASSUMED, msg_cpu_s=5e-6)
fails = []


def check(ok, what):
    if not ok:
        fails.append(what)


def row(n, out, writes, disp, weights, **over):
    return sm.predict(inp, dict(P, **over), n, out, writes, disp, weights)


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


# every row: phases add up, efficiency in (0, 1], ideal time = tokens / (ranks x rate)
for n in P["nodes"]:
    for out in sm.OUTPUTS:
        for w in ("two-pass", "direct"):
            for d in sm.DISPATCHES:
                for wt in ("rank", "node"):
                    r = row(n, out, w, d, wt)
                    tag = "%d %s %s %s %s" % (n, out, w, d, wt)
                    check(close(r["wall_s"], r["startup_s"] + r["work_s"] + r["merge_s"]),
                          tag + ": phases do not add up")
                    check(0 < r["efficiency"] <= 1, tag + ": efficiency %g" % r["efficiency"])
                    check(close(r["ideal_s"], 1e9 * 10 / (n * 32 * 1000.0)), tag + ": ideal")
                    check(r["work_s"] >= r["ideal_s"], tag + ": work faster than ideal")
                    # each change never makes it slower
                    if w == "two-pass":
                        check(row(n, out, "direct", d, wt)["wall_s"] <= r["wall_s"], tag + ": direct")
                    if wt == "rank":
                        check(row(n, out, w, d, "node")["wall_s"] <= r["wall_s"], tag + ": per node")
                    if d == "current":
                        check(row(n, out, w, "serve", wt)["work_s"]
                              <= r["work_s"] + r["shard_s"], tag + ": serving rank 0")
                    if d == "serve":
                        check(row(n, out, w, "batched", wt)["work_s"] <= r["work_s"],
                              tag + ": one fsync per round")

# start-up at 1024 nodes: 10 s + 0.4 GB read by every rank (32768 x 0.4 GB / 100 GB/s) or per node
r = row(1024, "elmo_f16", "direct", "serve", "rank")
check(close(r["startup_s"], 10 + 32768 * 4e8 / 100e9), "start-up per rank %g" % r["startup_s"])
check(r["bottleneck"] == "dispatch (rank 0)", "1024 nodes: " + r["bottleneck"])
r = row(1024, "elmo_f16", "direct", "serve", "node")
check(close(r["startup_s"], 10 + 1024 * 4e8 / 100e9), "start-up per node %g" % r["startup_s"])

# dispatch at 1024 nodes: shards of 20000 tokens take 20 + 0.01 + 20000 x 2000 / 2e8 = 20.21 s;
# 32767 workers ask 1621 times a second, rank 0 needs 1.01 ms each (the fsync, 2 messages of
# 5 us): load 1.64, so the work phase is 5e5 shards x 1.01 ms
check(close(r["shard_s"], 20.21), "shard time %g" % r["shard_s"])
check(close(r["rank0_load"], 32767 / 20.21 * 0.00101), "rank 0 load %g" % r["rank0_load"])
check(r["work_limit"] == "dispatch (rank 0)" and close(r["work_s"], 5e5 * 0.00101),
      "dispatch bound: %s %g" % (r["work_limit"], r["work_s"]))
# a faster journal: compute-bound, 16 rounds of shards (5e5 / 32767 = 15.3)
r = row(1024, "elmo_f16", "direct", "serve", "node", journal_s=1e-5)
check(r["work_limit"] == "compute" and close(r["work_s"], 16 * 20.21), "compute bound %g" % r["work_s"])
check(r["bottleneck"] == "tail (last round of shards)", "fast journal: " + r["bottleneck"])
check(sm.shards_that_keep_up(inp, P, 1024, "elmo_f16") == 70000, "shards that keep up")
check(close(sm.journal_breakeven(inp, P, 1024, "elmo_f16"), 20.21 / 32767 - 1e-5), "break-even")
# one fsync per round of messages: rank 0 busy 10 us per shard (load 0.016), compute-bound
r = row(1024, "elmo_f16", "direct", "batched", "node")
check(close(r["rank0_load"], 32767 / 20.21 * 1e-5) and r["work_limit"] == "compute",
      "batched journal: %g %s" % (r["rank0_load"], r["work_limit"]))

# the merge of the default outputs at 1024 nodes: 1e14 bytes read and written at 100 GB/s
r = row(1024, "default", "two-pass", "serve", "node", journal_s=1e-5)
check(r["bottleneck"] == "merge (file system)" and close(r["merge_s"], 2e14 / 100e9),
      "merge: %s %g" % (r["bottleneck"], r["merge_s"]))
# a slow file system: the part writes bound the work phase (1e14 bytes at 1 GB/s)
r = row(64, "default", "direct", "serve", "node", fs_bw=1e9)
check(r["work_limit"] == "file system (writes)" and close(r["work_s"], 1e14 / 1e9),
      "slow FS: %s %g" % (r["work_limit"], r["work_s"]))
# 64 nodes, direct writes: compute-bound, only the tail and start-up lost
r = row(64, "elmo_f16", "direct", "serve", "node")
check(r["work_limit"] == "compute" and r["efficiency"] > 0.95, "64 nodes: %g" % r["efficiency"])

if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("test_scale_model: the model's arithmetic checks out")
PYEOF
