"""Checks of the store reader io/python/elmo_store.py against h5py's raw arrays.

usage: check_reader.py raw STORE              records = the decoded blobs and the raw vectors
       check_reader.py rebuilt LAYERS.h5 ELMO.h5
                                              elmo/default rebuilt from LAYERS.h5's layers
                                              = ELMO.h5's stored ones (same job and mix)
       check_reader.py jsonl STORE OUT.jsonl  the to-jsonl file = the reader's records
       check_reader.py no-layers STORE        elmo cannot be rebuilt: a clear StoreError
       check_reader.py same-export A.hdf5 B.hdf5
                                              two `elmo export` files bit-identical
Run with Debian's /usr/bin/python3 (python3-h5py), PYTHONPATH holding io/python.
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from h5check import fail, identical  # noqa: E402

import elmo_store  # noqa: E402


def raw(path):
    f = h5py.File(path, "r")
    off = f["sentences/offset"][:]
    toff = f["tokens/text_offset"][:]
    tblob = bytes(f["tokens/text_blob"][:])
    ioff, iblob = f["sentences/id_offset"][:], bytes(f["sentences/id_blob"][:])
    soff, sblob = f["sentences/text_offset"][:], bytes(f["sentences/text_blob"][:])
    line = f["sentences/line"][:]
    emb = {n: f["embeddings/" + n][:] for n in f["embeddings"]}
    st = elmo_store.Store(path)
    if len(st) != len(off) - 1:
        fail(f"len {len(st)} for {len(off) - 1} sentences")
    if sorted(st.outputs) != sorted(emb):
        fail(f"outputs {st.outputs} vs {sorted(emb)}")
    n = 0
    for i, r in enumerate(st):
        n += 1
        a, b = off[i], off[i + 1]
        toks = [tblob[toff[t]:toff[t + 1]].decode() for t in range(a, b)]
        if r.index != i or r.tokens != toks:
            fail(f"sentence {i}: tokens {r.tokens[:4]} vs {toks[:4]}")
        if r.id != iblob[ioff[i]:ioff[i + 1]].decode() or r.line != line[i]:
            fail(f"sentence {i}: id {r.id!r} line {r.line}")
        if r.text != sblob[soff[i]:soff[i + 1]].decode():
            fail(f"sentence {i}: text {r.text!r}")
        for name, d in emb.items():
            want = d[i] if name == "default" else d[a:b]
            if name == "all":
                want = want.transpose(1, 0, 2)
            got = r.vectors[name]
            if got.dtype != d.dtype or got.shape != want.shape or not np.array_equal(got, want):
                fail(f"sentence {i}: {name} differs ({got.shape} {got.dtype} vs {want.shape})")
        if st.can_rebuild and (r.layers.shape != (3, b - a, 2 * st.P) or
                               r.layers.dtype != np.float32):
            fail(f"sentence {i}: layers {r.layers.shape}")
    if n != len(st):
        fail("iteration")
    j = len(st) // 2
    if st[j].tokens != st[j - len(st)].tokens or [r.index for r in st[1:4]] != [1, 2, 3]:
        fail("indexing")
    try:
        st[len(st)]
        fail("no IndexError past the end")
    except IndexError:
        pass
    print(f"raw: {n} sentences, {off[-1]} tokens, outputs {', '.join(st.outputs)} "
          "decoded as the raw arrays")


def rebuilt(layers_path, elmo_path):
    a, b = elmo_store.Store(layers_path), elmo_store.Store(elmo_path)
    if "elmo" in a.outputs or "elmo" not in b.outputs or not a.can_rebuild:
        fail(f"outputs {a.outputs} / {b.outputs}")
    if len(a) != len(b):
        fail("sentence counts differ")
    worst, exact, rows = 0.0, 0, 0
    tol = 2e-6 if a.precision == "f32" else 2e-3  # float32 rounding; f16 layers in a f16 store
    for ra, rb in zip(a, b):
        if ra.tokens != rb.tokens:
            fail(f"sentence {ra.index}: different tokens")
        e, want = ra.elmo, rb.vectors["elmo"].astype(np.float32)
        if e.shape != want.shape or e.dtype != np.float32:
            fail(f"sentence {ra.index}: elmo {e.shape} {e.dtype} vs {want.shape}")
        err = np.abs(e - want)
        scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        worst = max(worst, float(err.max()) / scale if err.size else 0.0)
        exact += int(np.sum(np.all(err == 0, axis=1)))
        rows += e.shape[0]
        if err.size and float(err.max()) > tol * scale:
            fail(f"sentence {ra.index}: rebuilt elmo off by {err.max():.3g}")
        d, dw = ra.default, rb.vectors["default"].astype(np.float32)
        if np.abs(d - dw).max() > tol * max(1.0, float(np.abs(dw).max())):
            fail(f"sentence {ra.index}: rebuilt default off by {np.abs(d - dw).max():.3g}")
        if "default" in ra.vectors and not np.array_equal(ra.default, ra.vectors["default"]):
            fail("default is not the stored one")
    if b.can_rebuild:
        e2 = b.rebuild_elmo(3)
        if np.abs(e2 - b[3].vectors["elmo"]).max(initial=0) > tol * 10:
            fail("rebuild_elmo on a store with elmo")
    print(f"rebuilt: elmo of {rows} tokens ({exact} bit-identical) and default of {len(a)} "
          f"sentences match the stored ones (worst relative error {worst:.2g}; mix "
          f"{[float(x) for x in a.mix_weights]}, gamma {float(a.gamma):g}, "
          f"layer_norm {a.layer_norm})")


def jsonl(path, out):
    st = elmo_store.Store(path)
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    if len(rows) != len(st):
        fail(f"{len(rows)} rows for {len(st)} sentences")
    for r, j in zip(st, rows):
        if [j["id"], j["line"], j["text"], j["tokens"]] != [r.id, r.line, r.text, r.tokens]:
            fail(f"sentence {r.index}: {j['id']!r} {j['tokens'][:3]}")
        e = np.asarray(j["elmo"], dtype=np.float32).reshape(-1, 2 * st.P)
        if not np.array_equal(e, r.elmo):
            fail(f"sentence {r.index}: elmo in the JSON is not the float32 values")
        if np.asarray(j["default"], dtype=np.float32).shape != (2 * st.P,):
            fail("default column")
    print(f"jsonl: {len(rows)} rows with id, line, text, tokens, elmo, default")


def no_layers(path):
    st = elmo_store.Store(path)
    r = st[0]
    if st.can_rebuild:
        fail("can_rebuild on a store without the layers")
    try:
        st.rebuild_elmo(0)
        fail("rebuild_elmo without the layers")
    except elmo_store.StoreError as e:
        if "--outputs word_emb,lstm_outputs1,lstm_outputs2" not in str(e):
            fail(f"message: {e}")
    if "elmo" not in st.outputs and r.elmo is not None:
        fail("elmo from nothing")
    print("no-layers: refused with", "StoreError")


def same_export(pa, pb):
    a, b = h5py.File(pa, "r"), h5py.File(pb, "r")
    if sorted(a.keys()) != sorted(b.keys()):
        fail("different datasets")
    for k in a.keys():
        x, y = a[k][()], b[k][()]
        if k == "sentence_to_index":
            if list(x) != list(y):
                fail("sentence_to_index differs")
        elif not identical(x, y):
            fail(f"dataset {k} differs")
    print(f"same-export: {len(a.keys())} datasets bit-identical")


if __name__ == "__main__":
    {"raw": raw, "rebuilt": rebuilt, "jsonl": jsonl, "no-layers": no_layers,
     "same-export": same_export}[sys.argv[1]](*sys.argv[2:])
