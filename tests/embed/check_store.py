"""Checks for embed stores, run with Debian's /usr/bin/python3 (python3-h5py).

usage: check_store.py derived STORE_EXPORT.hdf5 FIXTURE.hdf5   export vs the allennlp layout
       check_store.py same A.h5 B.h5                           datasets bit-identical
       check_store.py layout STORE.h5 INPUT.txt                 order, ids, tokens, text
       check_store.py f16 F16.h5 F32.h5                         float16 store = rounded f32
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from h5check import dataset_names, fail, identical  # noqa: E402


def derived(exp_path, ref_path):
    a, e = h5py.File(exp_path, "r"), h5py.File(ref_path, "r")
    keys = sorted(k for k in e.keys() if k != "sentence_to_index")
    if sorted(k for k in a.keys() if k != "sentence_to_index") != keys:
        fail("dataset names differ")
    worst = 0.0
    for k in keys:
        x, y = a[k][:], e[k][:]
        if x.shape != y.shape or x.dtype != np.float32:
            fail(f"{k}: shape {x.shape} {x.dtype} vs {y.shape}")
        err = np.abs(x - y)
        worst = max(worst, float(err.max()) if err.size else 0.0)
        if not np.all(err <= 1e-6 + 1e-5 * np.abs(y)):
            fail(f"{k}: max abs err {err.max():.3g}")
    ja = json.loads(a["sentence_to_index"][0])
    je = json.loads(e["sentence_to_index"][0])
    if ja != je:
        fail("sentence_to_index differs")
    print(f"derived: {len(keys)} sentences match, max abs err {worst:.3g}")


def same_data(pa, pb):
    """Datasets bit-identical; attributes may differ (e.g. the regime)."""
    same(pa, pb, attrs=False)


def same(pa, pb, attrs=True):
    a, b = h5py.File(pa, "r"), h5py.File(pb, "r")
    names = dataset_names(a)
    if not names:
        fail("no datasets")
    for n in names:
        if not identical(a[n][:], b[n][:]):
            fail(f"{n} differs")
    for k in ("complete", "regime", "weights_sha256", "precision") if attrs else ("complete",):
        if a.attrs.get(k) != b.attrs.get(k) and not (np.all(a.attrs.get(k) == b.attrs.get(k))):
            fail(f"attribute {k} differs")
    if int(a.attrs["complete"]) != 1:
        fail("store not complete")
    print(f"same: {len(names)} datasets bit-identical")


def layout(path, text_path):
    f = h5py.File(path, "r")
    lines = open(text_path, encoding="utf-8").read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    off = f["sentences/offset"][:]
    toff = f["tokens/text_offset"][:]
    blob = bytes(f["tokens/text_blob"][:])
    ids = bytes(f["sentences/id_blob"][:])
    idoff = f["sentences/id_offset"][:]
    line = f["sentences/line"][:]
    if len(off) != len(lines) + 1:
        fail(f"{len(off) - 1} sentences for {len(lines)} lines")
    for i, l in enumerate(lines):
        toks = l.split()
        got = [blob[toff[t]:toff[t + 1]].decode() for t in range(off[i], off[i + 1])]
        if got != toks:
            fail(f"sentence {i}: tokens {got[:5]} vs {toks[:5]}")
        if line[i] != i + 1 or ids[idoff[i]:idoff[i + 1]].decode() != str(i + 1):
            fail(f"sentence {i}: line/id")
    # elmo is stored only when asked for (the default outputs hold the layers to rebuild it)
    e = f["embeddings/elmo"] if "embeddings/elmo" in f else None
    if e is not None and e.shape[0] != off[-1]:
        fail("elmo rows != tokens")
    d = f["embeddings/default"][:]
    if d.shape[0] != len(lines):
        fail("default rows != sentences")
    for i in range(len(lines)):
        if e is None:
            if off[i + 1] == off[i] and np.any(d[i] != 0):
                fail(f"default[{i}] of an empty sentence is not zero")
        elif off[i + 1] > off[i]:
            m = e[off[i]:off[i + 1]].mean(axis=0)
            if not np.allclose(m, d[i], atol=1e-5):
                fail(f"default[{i}] is not the mean of elmo")
        elif np.any(d[i] != 0):
            fail(f"default[{i}] of an empty sentence is not zero")
    print(f"layout: {len(lines)} sentences, {off[-1]} tokens in input order")


def f16(p16, p32):
    a, b = h5py.File(p16, "r"), h5py.File(p32, "r")
    for n in a["embeddings"]:
        x, y = a["embeddings"][n], b["embeddings"][n][:]
        if x.dtype != np.float16:
            fail(f"{n}: dtype {x.dtype}")
        if not np.array_equal(x[:], y.astype(np.float16)):
            fail(f"{n}: float16 values are not the rounded float32 ones")
    print("f16: float16 datasets equal the rounded float32 store")


if __name__ == "__main__":
    {"derived": derived, "same": same, "same-data": same_data, "layout": layout, "f16": f16}[sys.argv[1]](*sys.argv[2:])
