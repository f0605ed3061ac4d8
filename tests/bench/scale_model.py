#!/usr/bin/python3
"""tests/bench/scale_model.py: the embed job at cluster scale, predicted from figures measured
on this machine (standard library only; run it through tests/bench/scale_model.sh).

  scale_model.py measure [--elmo build/elmo] [--inputs-out FILE] [model flags]   measure, then model
  scale_model.py model --inputs FILE [model flags] [--json]                      model only

`measure` runs, on this machine: `elmo bench --shape original` on a sample of the raw tweets
(tokens/s on one core); `elmo embed` of the original shape on 1 rank for the two output sets
(bytes per token, part-write rate, merge rate, start-up); the embed queue on the fixture model
with many more ranks than cores and tiny shards (assignments per second, gaps between a worker's
shards, from STORE.logs/); and the latency of appending one journal line with fsync (what rank
0 does for every finished shard).  The measured inputs go to a JSON file; `model` reads one.

The model (predict) is an asymptotic-bound model: the job is start-up + work phase + merge, and
the work phase lasts as long as its slowest resource: the ranks' compute (with their own part
writes and the last, partly filled round of shards), rank 0 serving one assignment after
another, or the file system absorbing the bytes.  Everything it assumes about the cluster is a
flag with a stated default.
"""
import argparse
import datetime
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# ---- the model (pure: no measuring, importable by the smoke test) ---------------------------

# Cluster parameters that cannot be measured here: assumptions, overridable by flags.
ASSUMED = {
    "nodes": [64, 256, 1024],
    "cores": 32,            # ranks per node, 1 thread each
    "tweets": 1e9,
    "fs_bw": 100e9,         # parallel file system, aggregate bytes/s (Lustre class)
    "client_bw": 2e9,       # bytes/s one node can move to/from the file system
    "msg_s": 5e-6,          # one MPI message between nodes, one way (latency)
    "msg_cpu_s": None,      # rank 0's CPU per message; None: measured, else 30.5e-6
    "mem_factor": 1.0,      # per-core rate at 32 ranks per node / at 1 rank per node
    "shard_tokens": 20000,  # the embed job's default --shard-tokens
    "batch_tokens": 4096,   # the embed job's default --batch-tokens
    "journal_s": None,      # rank 0's fsync of one journal line; None: the measured one
    "startup_cpu_s": None,  # per-rank start-up without the read; None: the measured one
    "tok_s_core": None,     # forward tokens/s on one core; None: the measured one
}

OUTPUTS = {"elmo_f16": "`--outputs elmo --precision f16`",
           "default": "default outputs (f32)"}


def _fs_time(nbytes, per_node_bytes, p, nodes):
    """Seconds to move nbytes through the file system: the aggregate bandwidth or the nodes'
    links, whichever is slower (per_node_bytes go through one node's link)."""
    return max(nbytes / p["fs_bw"], per_node_bytes / p["client_bw"])


def startup(inp, p, nodes, weights):
    """Start-up: (seconds, label).  weights 'rank': every rank reads the weight file from the
    shared file system; 'node': one read per node, shared by its ranks."""
    cpu = p["startup_cpu_s"] if p["startup_cpu_s"] is not None else inp["startup_cpu_s"]
    readers_per_node = p["cores"] if weights == "rank" else 1
    wb = inp["weights_bytes"]
    read = _fs_time(wb * readers_per_node * nodes, wb * readers_per_node, p, nodes)
    return cpu + read, ("start-up (weights read)" if read > cpu else "start-up (CPU)")


def core_rate(inp, p):
    """Forward tokens/s of one rank (one core) on a full node."""
    r = p["tok_s_core"] if p["tok_s_core"] is not None else inp["tok_s_core"]
    return r * p["mem_factor"]


# rank 0's CPU per message when neither the flag nor the inputs give it: the queue being built
# (its rank-0 log's "us of CPU"), 32 ranks on the fixture model here, 2026-12-06
MSG_CPU_FALLBACK_S = 30.5e-6

DISPATCHES = {  # how rank 0 hands out shards
    "current": "rank 0 works, fsync per shard",
    "serve": "rank 0 serves, fsync per shard",
    "batched": "rank 0 serves, fsync per round",
}


def journal_time(inp, p):
    return p["journal_s"] if p["journal_s"] is not None else inp["journal_fsync_s"]


def dispatch_service(inp, p, dispatch="current"):
    """Rank 0's busy time per shard: two messages (the request, the report) and, unless the
    journal is synced once per round of messages ('batched'), one fsync of the report's line."""
    cpu = p["msg_cpu_s"] if p["msg_cpu_s"] is not None else inp.get("msg_cpu_s",
                                                                    MSG_CPU_FALLBACK_S)
    return 2 * cpu + (0.0 if dispatch == "batched" else journal_time(inp, p))


def answer_wait(inp, p, dispatch, s, rho, rate):
    """Seconds from a worker's request to rank 0's answer.  Rank 0 that works answers at its
    next batch boundary (half a batch on average); rank 0 that only serves answers after the
    M/D/1 queue; with one fsync per round, after the round's fsync too."""
    wire = 2 * p["msg_s"]
    if rho >= 1:
        return float("inf")
    queue = rho * s / (2 * (1 - rho))
    if dispatch == "current":
        return 0.5 * p["batch_tokens"] / rate + s + wire
    if dispatch == "serve":
        return s + queue + wire
    return journal_time(inp, p) / (1 - rho) + s + queue + wire


def work_phase(inp, p, nodes, output, dispatch):
    """The work phase: (seconds, label, details).  dispatch: a key of DISPATCHES ('current':
    rank 0 runs shards too and serves between its batches)."""
    ranks = nodes * p["cores"]
    workers = ranks if dispatch == "current" else ranks - 1
    rate = core_rate(inp, p)
    tokens = p["tweets"] * inp["tokens_per_tweet"]
    shards = math.ceil(tokens / p["shard_tokens"])
    bpt = inp["bytes_per_token"][output]
    t_comp = p["shard_tokens"] / rate
    t_write = inp["part_fixed_s"] + p["shard_tokens"] * bpt / inp["part_write_Bps"][output]
    s = dispatch_service(inp, p, dispatch)
    rho = workers / (t_comp + t_write) * s
    # a worker asks for its next shard when it starts one: the answer's wait is hidden unless
    # it exceeds the shard's time (at rho >= 1 the dispatch bound below holds instead)
    wait = answer_wait(inp, p, dispatch, s, rho, rate)
    exposed = max(0.0, wait - (t_comp + t_write)) if math.isfinite(wait) else 0.0
    cycle = t_comp + t_write + exposed
    # rank 0 that works runs its shards at 1 - rho of its time: its last one ends, on average,
    # half its slowdown after the workers' last ones
    late = 0.5 * cycle * rho / (1 - rho) if dispatch == "current" and rho < 1 else 0.0
    bounds = {
        "compute": math.ceil(shards / workers) * cycle + late,
        "dispatch (rank 0)": shards * s,
        "file system (writes)": _fs_time(tokens * bpt, tokens * bpt / nodes, p, nodes),
    }
    label = max(bounds, key=bounds.get)
    return bounds[label], label, {"rho": rho, "wait": wait, "shards": shards,
                                  "shard_s": t_comp + t_write}


def merge_phase(inp, p, nodes, output, writes):
    """The merge: (seconds, label).  Two-pass: every rank reads its range of the parts and
    writes it into the store (each byte read once, written again); direct writes: none."""
    if writes == "direct":
        return 0.0, "none"
    tokens = p["tweets"] * inp["tokens_per_tweet"]
    nbytes = tokens * inp["bytes_per_token"][output]
    ranks = nodes * p["cores"]
    cpu = nbytes / (ranks * inp["merge_Bps"][output])
    fs = _fs_time(2 * nbytes, 2 * nbytes / nodes, p, nodes)
    return max(cpu, fs), ("merge (file system)" if fs >= cpu else "merge (CPU)")


def predict(inp, p, nodes, output, writes="two-pass", dispatch="current", weights="rank"):
    """One configuration: a dict with the phases, wall time, efficiency and bottleneck.
    Efficiency is the ideal compute time (every core of every node at the measured rate, no
    start-up, no I/O, no tail) over the wall time."""
    ranks = nodes * p["cores"]
    tokens = p["tweets"] * inp["tokens_per_tweet"]
    ideal = tokens / (ranks * core_rate(inp, p))
    t_start, l_start = startup(inp, p, nodes, weights)
    t_work, l_work, det = work_phase(inp, p, nodes, output, dispatch)
    t_merge, l_merge = merge_phase(inp, p, nodes, output, writes)
    wall = t_start + t_work + t_merge
    # the bottleneck: the largest of the losses against the ideal (the work phase's loss is
    # named by the bound that sets it; a compute-bound work phase loses only its tail)
    work_loss = "tail (last round of shards)" if l_work == "compute" else l_work
    losses = {l_start: t_start, work_loss: t_work - ideal, l_merge: t_merge}
    losses.pop("none", None)
    return {"nodes": nodes, "ranks": ranks, "output": output, "writes": writes,
            "dispatch": dispatch, "weights": weights, "ideal_s": ideal, "startup_s": t_start,
            "work_s": t_work, "work_limit": l_work, "merge_s": t_merge, "wall_s": wall,
            "efficiency": ideal / wall, "bottleneck": max(losses, key=losses.get),
            "rank0_load": det["rho"], "shards": det["shards"], "shard_s": det["shard_s"]}


def params_from(args):
    """The model's parameters: ASSUMED overridden by the command line."""
    p = dict(ASSUMED)
    for k in p:
        v = getattr(args, k, None)
        if v is not None:
            p[k] = v
    return p


def fmt_s(s):
    if s < 100:
        return "%.1f s" % s
    if s < 7200:
        return "%.0f s (%.1f min)" % (s, s / 60)
    return "%.0f s (%.1f h)" % (s, s / 3600)


def table(rows):
    """The rows as a markdown table."""
    out = ["| nodes | ranks | writes | dispatch | weights read | start-up | work (limit) | merge "
           "| wall | efficiency | rank 0 load | bottleneck |",
           "|---:|---:|---|---|---|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append("| %d | %d | %s | %s | per %s | %s | %s (%s) | %s | %s | %.0f%% | %.2f | %s |" % (
            r["nodes"], r["ranks"], r["writes"],
            DISPATCHES[r["dispatch"]],
            r["weights"], fmt_s(r["startup_s"]), fmt_s(r["work_s"]), r["work_limit"],
            fmt_s(r["merge_s"]) if r["merge_s"] else "-", fmt_s(r["wall_s"]),
            100 * r["efficiency"], r["rank0_load"], r["bottleneck"]))
    return "\n".join(out)


DESIGNS = [  # (name, writes, dispatch, weights): the job before, then each change
    ("before: two-pass, rank 0 works, weights per rank", "two-pass", "current", "rank"),
    ("+ direct writes", "direct", "current", "rank"),
    ("+ one weights read per node", "direct", "current", "node"),
    ("+ rank 0 only serves", "direct", "serve", "node"),
    ("+ journal fsync once per round of messages", "direct", "batched", "node"),
]


def shards_that_keep_up(inp, p, nodes, output, rho_max=0.5):
    """The smallest --shard-tokens (a multiple of 10,000) at which rank 0's load stays at or
    below rho_max with the design's best dispatch; None when none up to 10M does."""
    for k in range(1, 1001):
        q = dict(p, shard_tokens=10000 * k)
        if work_phase(inp, q, nodes, output, "serve")[2]["rho"] <= rho_max:
            return 10000 * k
    return None


def journal_breakeven(inp, p, nodes, output):
    """The journal fsync time at which rank 0 is busy all the time (load 1)."""
    det = work_phase(inp, p, nodes, output, "serve")[2]
    return det["shard_s"] / (nodes * p["cores"] - 1) - dispatch_service(inp, p, "batched")


def inputs_line(inp, p):
    return ("Inputs: %.1f tok/s per core (original shape, 1 thread, x memory factor %g); %.2f "
            "tokens per tweet; start-up CPU %.1f s per rank; weights %.0f MB; rank 0 busy %.3f "
            "ms per shard with an fsync per shard, %.3f ms with one per round; %g tweets; %d "
            "cores per node; file system %g GB/s aggregate, %g GB/s per node (assumed); shards "
            "of %d tokens."
            % (core_rate(inp, p) / p["mem_factor"], p["mem_factor"], inp["tokens_per_tweet"],
               p["startup_cpu_s"] if p["startup_cpu_s"] is not None else inp["startup_cpu_s"],
               inp["weights_bytes"] / 1e6, 1e3 * dispatch_service(inp, p),
               1e3 * dispatch_service(inp, p, "batched"), p["tweets"], p["cores"],
               p["fs_bw"] / 1e9, p["client_bw"] / 1e9, p["shard_tokens"]))


def changes_table(inp, p, out):
    """Today's design, then the project's changes one after another, then (where rank 0 does
    not keep up with an fsync per shard) the shard size that lets it without the last change."""
    lines = ["| nodes | design | wall | efficiency | rank 0 load | bottleneck |",
             "|---:|---|---:|---:|---:|---|"]
    for n in p["nodes"]:
        designs = [(name, w, d, wt, p) for name, w, d, wt in DESIGNS]
        k = shards_that_keep_up(inp, p, n, out)
        if k and k > p["shard_tokens"]:
            designs.append(("(not the last, but) --shard-tokens %d" % k, "direct", "serve",
                            "node", dict(p, shard_tokens=k)))
        for name, w, d, wt, q in designs:
            r = predict(inp, q, n, out, w, d, wt)
            lines.append("| %d | %s | %s | %.0f%% | %.2f | %s |" % (
                n, name, fmt_s(r["wall_s"]), 100 * r["efficiency"], r["rank0_load"],
                r["bottleneck"]))
    return lines


def report(inp, p):
    """The markdown report: the inputs in one line, then per output set the 2x2 table (writes x
    dispatch, weights read per rank), the cumulative changes, and rank 0's break-even."""
    lines = [inputs_line(inp, p)]
    for out in OUTPUTS:
        lines += ["", "### %s: %.0f bytes per token" % (OUTPUTS[out], inp["bytes_per_token"][out]),
                  ""]
        rows = [predict(inp, p, n, out, w, d, "rank") for n in p["nodes"]
                for w in ("two-pass", "direct") for d in DISPATCHES]
        lines += [table(rows), "", "What each change buys (cumulative):", ""]
        lines += changes_table(inp, p, out)
        lines += ["", "Rank 0 keeps up (load < 1) while its journal fsync takes less than: "
                  + ", ".join("%.2f ms at %d nodes" % (1e3 * journal_breakeven(inp, p, n, out), n)
                              for n in p["nodes"]) + "."]
    return "\n".join(lines)


# ---- measuring (runs build/elmo) ------------------------------------------------------------

def sh(cmd, env=None, log=None):
    """Runs cmd (a list); returns (seconds, stdout+stderr); fails loudly on a non-zero exit."""
    t = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    dt = time.time() - t
    if log:
        with open(log, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(cmd), r.stdout))
    if r.returncode != 0:
        sys.exit("scale_model: failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
    return dt, r.stdout


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sample_tweets(corpus, n, path):
    """Every k-th tweet of the corpus, n in all (the corpus holds four sources one after the
    other, so a stride samples all of them).  Returns (tweets, whitespace tokens) of the whole
    corpus."""
    with open(corpus, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    k = max(1, len(lines) // n)
    with open(path, "w", encoding="utf-8") as f:
        for line in lines[::k][:n]:
            f.write(line + "\n")
    return len(lines), sum(len(line.split()) for line in lines)


def parse_summary(text):
    """The figures of the embed summary (stderr of elmo embed)."""
    num = r"([0-9.]+)"
    fig = {}
    m = re.search(r"embed: done in " + num + r" s \(merge " + num + " s\)", text)
    if m:
        fig["done_s"], fig["merge_s"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"embed: (\d+) sentences .*?, (\d+) tokens,", text)
    if m:
        fig["sentences"], fig["tokens"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"embed: work " + num + r" s per rank: reading input " + num
                  + r"%, writing parts " + num + "%", text)
    if m:
        fig["work_s"], fig["read_pct"], fig["write_pct"] = (float(m.group(i)) for i in (1, 2, 3))
    need = {"done_s", "merge_s", "sentences", "tokens", "work_s", "write_pct"}
    if not need <= fig.keys():
        sys.exit("scale_model: cannot read the embed summary (%s missing):\n%s"
                 % (", ".join(sorted(need - fig.keys())), text))
    return fig


SHARD_RE = re.compile(r"^(\S+?)Z? rank (\d+)/\d+: shard (\d+) done: \d+ non-empty sentences, "
                      r"(\d+) tokens, ([0-9.]+) s")


def parse_rank_logs(logdir):
    """The shards of a run from STORE.logs/rank-*.log: {rank: [(end, seconds), ...]}."""
    ev = {}
    for fn in glob.glob(os.path.join(logdir, "rank-*.log")):
        with open(fn) as f:
            for line in f:
                m = SHARD_RE.match(line)
                if m:
                    end = datetime.datetime.fromisoformat(m.group(1)).timestamp()
                    ev.setdefault(int(m.group(2)), []).append((end, float(m.group(5))))
    if not ev:
        sys.exit("scale_model: no 'shard N done: ...' lines in %s (has the log format changed?)"
                 % logdir)
    return {r: sorted(v) for r, v in ev.items()}


def queue_log_lines(logdir):
    """Rank 0's own account of the queue ('queue: ...' lines), where the job writes one."""
    try:
        with open(os.path.join(logdir, "rank-00000.log")) as f:
            return [line.split(": ", 1)[1].strip() for line in f if ": queue: " in line]
    except OSError:
        return []


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def queue_figures(ev):
    """Assignments per second over the work span, and the gaps between the end of a worker's
    shard and the start of its next (the part of the round trip the look-ahead did not hide,
    plus time-sharing of the oversubscribed cores)."""
    shards = [e for v in ev.values() for e in v]
    t0 = min(end - d for end, d in shards)
    t1 = max(end for end, _ in shards)
    gaps = [b[0] - b[1] - a[0] for r, v in ev.items() if r != 0 for a, b in zip(v, v[1:])]
    busy = [sum(d for _, d in v) / (t1 - t0) for r, v in ev.items() if r != 0]
    return {"shards": len(shards), "span_s": t1 - t0, "assign_per_s": len(shards) / (t1 - t0),
            "gap_median_s": quantile(gaps, 0.5), "gap_p90_s": quantile(gaps, 0.9),
            "mean_shard_s": sum(d for _, d in shards) / len(shards),
            "rank0_shards": len(ev.get(0, [])),
            "worker_busy": sum(busy) / len(busy) if busy else float("nan")}


def fsync_latency(directory, n=200):
    """Mean seconds to append one journal-sized line and fsync it (rank 0 does this per shard)."""
    fd, path = tempfile.mkstemp(dir=directory)
    ts = []
    with os.fdopen(fd, "w") as f:
        for i in range(n):
            t = time.perf_counter()
            f.write("done %d 1234567 0123456789abcdef\n" % i)
            f.flush()
            os.fsync(f.fileno())
            ts.append(time.perf_counter() - t)
    os.unlink(path)
    return sum(ts) / n, quantile(ts, 0.5)


def env1():
    """1 BLAS thread per rank; the embed runs measure the two-pass path (part files and a
    merge) even where the job would write the store directly."""
    e = dict(os.environ)
    e["OPENBLAS_NUM_THREADS"] = "1"
    e["ELMO_EMBED_TWO_PASS"] = "1"
    return e


def measure_bench(a, sample, log):
    """Forward tokens/s on one core: the better of two elmo bench runs (the machine is shared),
    with that run's share of the FMA peak."""
    best = (0.0, "?")
    for _ in range(2):
        _, out = sh([a.elmo, "bench", "--shape", "original", "--input", sample,
                     "--tokens", str(a.bench_tokens)], env1(), log)
        m = re.search(r"time [0-9.]+ s: ([0-9.]+) tokens/s", out)
        fma = re.search(r"FMA peak .*?: ([0-9.]+) GFLOP/s; share: (\d+)% counted", out)
        if not m:
            sys.exit("scale_model: cannot read elmo bench:\n" + out)
        if float(m.group(1)) > best[0]:
            best = (float(m.group(1)), "%s%% of the FMA peak counted" % fma.group(2) if fma else "?")
    return best


def store_bytes(path):
    """The bytes the store's datasets hold (h5ls's logical bytes: what a store of a billion
    tweets holds per token, without the part-filled last chunks of a small one); the file's
    size when h5ls is missing."""
    try:
        out = subprocess.run(["h5ls", "-r", "-v", path], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return os.path.getsize(path)
    return sum(int(x) for x in re.findall(r"Storage:\s+(\d+) logical bytes", out))


def measure_embed(a, model, sample, output, work, log):
    """One original-shape embed on 1 rank: its summary, wall time and store size."""
    store = os.path.join(work, "orig-%s.h5" % output)
    flags = ["--outputs", "elmo", "--precision", "f16"] if output == "elmo_f16" else []
    wall, out = sh(["mpiexec", "-n", "1", a.elmo, "embed", "--model", model, "--input", sample,
                    "--output", store, "--no-progress", "--overwrite",
                    "--shard-tokens", str(a.embed_shard_tokens)] + flags, env1(), log)
    fig = parse_summary(out)
    fig["wall_s"] = wall
    fig["shards"] = len([e for v in parse_rank_logs(store + ".logs").values() for e in v])
    fig["store_bytes"] = store_bytes(store)
    fig["file_bytes"] = os.path.getsize(store)
    return fig


def measure_queue(a, sample, work, log):
    fx = os.path.join(a.fixtures, "elmo-allennlp")
    res = {}
    for n in a.ranks:
        store = os.path.join(work, "queue-%d.h5" % n)
        _, out = sh(["mpiexec", "-n", str(n), a.elmo, "embed",
                     "--options", os.path.join(fx, "options.json"),
                     "--weights", os.path.join(fx, "lm_weights.hdf5"), "--input", sample,
                     "--output", store, "--no-progress", "--overwrite", "--outputs", "elmo",
                     "--precision", "f16", "--shard-tokens", str(a.queue_shard_tokens)],
                    env1(), log)
        fig = queue_figures(parse_rank_logs(store + ".logs"))
        fig["summary"] = parse_summary(out)
        fig["rank0_queue_log"] = queue_log_lines(store + ".logs")
        res[str(n)] = fig
    return res


def measure(a):
    """Every measured input of the model, with the date and the load."""
    work = tempfile.mkdtemp(prefix="scale-model-", dir=a.workdir)
    log = os.path.join(work, "runs.log")
    inp = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "load_before": load(), "workdir": work}
    sample = os.path.join(work, "tweets.txt")
    corpus = os.path.join(a.fixtures, "raw-tweets", "lm-corpus.txt")
    n_tw, n_ws = sample_tweets(corpus, a.sample_tweets, sample)
    inp["corpus_tweets"], inp["corpus_ws_tokens_per_tweet"] = n_tw, n_ws / n_tw
    inp["tok_s_core"], inp["bench_fma_share"] = measure_bench(a, sample, log)
    model = a.model
    if not model:
        model = os.path.join(work, "orig")
        sh([a.elmo, "model", "synth", "--shape", "original", "--out", model], None, log)
        # a model that goes with the work directory keeps its cache there too
        os.environ["ELMO_CACHE_DIR"] = os.path.join(work, "cache")
    inp["weights_bytes"] = os.path.getsize(os.path.join(model, "weights.hdf5"))
    small = os.path.join(work, "tweets-small.txt")
    sample_tweets(sample, a.embed_tweets, small)
    inp["embed_runs"] = {o: measure_embed(a, model, small, o, work, log) for o in OUTPUTS}
    derive_io(inp)
    inp["queue_runs"] = measure_queue(a, sample, work, log)
    cpu = re.search(r"\(([0-9.]+) us of CPU\)",
                    " ".join(inp["queue_runs"][str(max(a.ranks))]["rank0_queue_log"]))
    if cpu:
        inp["msg_cpu_s"] = float(cpu.group(1)) * 1e-6
    q = inp["queue_runs"][str(max(a.ranks))]["summary"]
    inp["tokens_per_tweet"] = q["tokens"] / q["sentences"]
    inp["journal_fsync_s"], inp["journal_fsync_median_s"] = fsync_latency(work)
    inp["load_after"] = load()
    return inp


def fit(b1, t1, b2, t2):
    """(fixed seconds, bytes/s) of t = fixed + b / rate through two runs; when the second run
    is not slower (noise), all of it counts as rate."""
    if b2 > b1 and t2 > t1:
        rate = (b2 - b1) / (t2 - t1)
        return max(0.0, t1 - b1 / rate), rate
    return 0.0, (b1 + b2) / max(1e-3, t1 + t2)


def derive_io(inp):
    """Bytes per token, part writes, merge rate and start-up from the two 1-rank embed runs
    (same tokens and shards; the default outputs write about 5x the bytes).  The parts hold the
    same rows as the store (they are removed at the end, so the store's bytes stand for theirs);
    writing parts: a fixed cost per part (create, fsync, rename) plus bytes at a rate, fitted
    through the two runs; the merge: its rate from the difference of the two (the store's
    creation drops out).  Both rates are then used for either output set."""
    r = inp["embed_runs"]
    f1, f2 = r["elmo_f16"], r["default"]
    inp["bytes_per_token"] = {o: f["store_bytes"] / f["tokens"] for o, f in r.items()}
    wt = {o: f["work_s"] * f["write_pct"] / 100 for o, f in r.items()}
    fixed, rate = fit(f1["store_bytes"], wt["elmo_f16"], f2["store_bytes"], wt["default"])
    inp["part_fixed_s"] = fixed / f1["shards"]
    inp["part_write_Bps"] = {o: rate for o in r}
    _, mrate = fit(f1["store_bytes"], f1["merge_s"], f2["store_bytes"], f2["merge_s"])
    inp["merge_Bps"] = {o: mrate for o in r}
    inp["startup_cpu_s"] = min(f["wall_s"] - f["work_s"] - f["merge_s"] for f in r.values())


# ---- command line ---------------------------------------------------------------------------

def add_model_flags(ap):
    g = ap.add_argument_group("cluster (assumptions; defaults in brackets)")
    g.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")],
                   help="node counts [64,256,1024]")
    g.add_argument("--cores", type=int, help="ranks (cores) per node [32]")
    g.add_argument("--tweets", type=float, help="tweets to embed [1e9]")
    g.add_argument("--fs-bw", type=float, help="file system aggregate bytes/s [100e9]")
    g.add_argument("--client-bw", type=float, help="bytes/s per node to the file system [2e9]")
    g.add_argument("--msg-s", type=float, help="one MPI message between nodes, s [5e-6]")
    g.add_argument("--msg-cpu-s", type=float,
                   help="rank 0's CPU per message, s [measured, where the job logs it; else "
                        "30.5e-6]")
    g.add_argument("--mem-factor", type=float, help="per-core rate at full node / alone [1]")
    g.add_argument("--shard-tokens", type=int, help="--shard-tokens of the job [20000]")
    g.add_argument("--batch-tokens", type=int, help="--batch-tokens of the job [4096]")
    g.add_argument("--journal-s", type=float,
                   help="rank 0's journal fsync on the cluster, s [measured here]")
    g.add_argument("--tok-s-core", type=float,
                   help="forward tokens/s on one core [measured here]")
    g.add_argument("--startup-cpu-s", type=float,
                   help="start-up per rank without the weights read, s [measured here]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="measure on this machine, then print the model")
    m.add_argument("--elmo", default="build/elmo")
    m.add_argument("--fixtures", default=os.environ.get("ELMO_FIXTURES", "../shared/fixtures"))
    m.add_argument("--model", help="an original-shape model dir (default: synthesized)")
    m.add_argument("--workdir", default=None, help="where the runs go (default: $TMPDIR)")
    m.add_argument("--inputs-out", help="write the measured inputs (JSON) here")
    m.add_argument("--keep", action="store_true", help="keep the work dir (runs.log, stores)")
    m.add_argument("--sample-tweets", type=int, default=2000)
    m.add_argument("--bench-tokens", type=int, default=5000)
    m.add_argument("--embed-tweets", type=int, default=300)
    m.add_argument("--embed-shard-tokens", type=int, default=1000)
    m.add_argument("--ranks", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 32])
    m.add_argument("--queue-shard-tokens", type=int, default=50)
    add_model_flags(m)
    o = sub.add_parser("model", help="the model on measured inputs (JSON)")
    o.add_argument("--inputs", required=True)
    o.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_model_flags(o)
    a = ap.parse_args()
    if a.cmd == "measure":
        inp = measure(a)
        if not a.keep:
            shutil.rmtree(inp["workdir"])
        if a.inputs_out:
            with open(a.inputs_out, "w") as f:
                json.dump(inp, f, indent=1, sort_keys=True)
        print(describe(inp))
        print()
    else:
        with open(a.inputs) as f:
            inp = json.load(f)
    p = params_from(a)
    if getattr(a, "json", False):
        print(json.dumps([predict(inp, p, n, o, w, d, wt) for n in p["nodes"] for o in OUTPUTS
                          for w in ("two-pass", "direct") for d in DISPATCHES
                          for wt in ("rank", "node")], indent=1))
    else:
        print(report(inp, p))


def describe(inp):
    """The measured inputs, for the README."""
    lines = ["Measured %s, load %s before, %s after (work dir %s):" % (
        inp["date"], inp["load_before"], inp["load_after"], inp["workdir"]),
        "- forward: %.1f tokens/s on 1 core (elmo bench, original shape, %s)"
        % (inp["tok_s_core"], inp["bench_fma_share"]),
        "- tokens per tweet: %.2f (embed's tokenizer on the queue runs' sample); whole corpus "
        "%d tweets, %.2f whitespace tokens per tweet" % (
            inp["tokens_per_tweet"], inp["corpus_tweets"], inp["corpus_ws_tokens_per_tweet"]),
        "- weights file %.0f MB; start-up CPU (wall - work - merge, 1 rank, file cached) %.1f s"
        % (inp["weights_bytes"] / 1e6, inp["startup_cpu_s"])]
    for o, f in inp["embed_runs"].items():
        lines.append("- original shape, 1 rank, %s: %d tokens in %d shards, store %d bytes in "
                     "its datasets (%d in the file) = %.0f bytes/token; wall %.1f s, work %.2f s "
                     "(writing parts %.1f%%), merge %.2f s" % (
                         OUTPUTS[o], f["tokens"], f["shards"], f["store_bytes"],
                         f["file_bytes"], inp["bytes_per_token"][o], f["wall_s"], f["work_s"],
                         f["write_pct"], f["merge_s"]))
    lines.append("- so: part writes %.0f ms per part + %.1f MB/s; merge %.1f MB/s per rank" % (
        1e3 * inp["part_fixed_s"], inp["part_write_Bps"]["default"] / 1e6,
        inp["merge_Bps"]["default"] / 1e6))
    for n, q in sorted(inp["queue_runs"].items(), key=lambda kv: int(kv[0])):
        lines.append("- queue, %s ranks on %d cores: %d shards in %.2f s = %.0f assignments/s; "
                     "mean shard %.0f ms; gap between a worker's shards median %.0f ms, p90 "
                     "%.0f ms; workers busy %.0f%%; rank 0 ran %d shards" % (
                         n, os.cpu_count(), q["shards"], q["span_s"], q["assign_per_s"],
                         1e3 * q["mean_shard_s"], 1e3 * q["gap_median_s"],
                         1e3 * q["gap_p90_s"], 100 * q["worker_busy"], q["rank0_shards"]))
        lines += ["  - rank 0's log: " + x for x in q.get("rank0_queue_log", [])]
    lines.append("- journal line + fsync: mean %.2f ms, median %.2f ms" % (
        1e3 * inp["journal_fsync_s"], 1e3 * inp["journal_fsync_median_s"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
