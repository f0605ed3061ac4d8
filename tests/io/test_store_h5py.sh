#!/usr/bin/env bash
# test_store_h5py.sh: stores written by 2 ranks (tests/io/test_store.c, run with --keep DIR), read back with h5py,
# then `elmo info` and `elmo export --format allennlp` checked with h5py too.
# Usage: test_store_h5py.sh TEST_STORE_BINARY MPIEXEC   (env: ELMO_BIN, the Open MPI env)
set -euo pipefail
test_store=$1
mpiexec=$2
elmo=${ELMO_BIN:?ELMO_BIN is not set}
. "${ELMO_SOURCE_DIR:?}/tests/lib.sh"
py=$PY
need_h5py
make_tmp /tmp/elmo-test-store-h5py-XXXXXX
tmp=$T

"$mpiexec" -n 2 "$test_store" --keep "$tmp" > "$tmp/test_store.log" 2>&1 ||
  { cat "$tmp/test_store.log"; fail "test_store --keep failed"; }

# ---- the stores, read with h5py ----------------------------------------------------------
"$py" - "$tmp" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
names = ["word_emb", "lstm_outputs1", "lstm_outputs2", "elmo", "default", "all", "top", "average"]
P = 64

def value(k, rows, cols):
    # test_store.c value(): the same float32 operations
    r = np.asarray(rows, dtype=np.int64)[:, None]
    c = np.asarray(cols, dtype=np.int64)[None, :]
    base = ((r * 131 + c * 17 + k * 7) % 1000).astype(np.float32) / np.float32(37) - np.float32(13)
    scale = np.array([1, 1e-5, 6000, 1e-8], dtype=np.float32)[c % 4]
    return (base * scale).astype(np.float32)

def tokens_of(f):
    off = f["tokens/text_offset"][...]
    blob = f["tokens/text_blob"][...].tobytes()
    return [blob[off[t]:off[t + 1]].decode("utf-8") for t in range(len(off) - 1)]

for prec in ("f32", "f16"):
    for comp in (0, 4):
        f = h5py.File(f"{d}/store_{prec}_{comp}.h5", "r")
        a = f.attrs
        assert a["complete"] == 1, a["complete"]
        for key in ("version", "options_json", "weights_sha256", "regime", "precision", "job_yaml",
                    "outputs"):
            assert isinstance(a[key], str), (key, type(a[key]))
        assert a["precision"] == prec and a["regime"] == "streams=3"
        assert a["outputs"] == ",".join(names), a["outputs"]
        assert a["job_yaml"].endswith("caf\u00e9\noutput: out.h5\n"), a["job_yaml"]
        assert a["options_json"].startswith('{"lstm"')
        assert list(a["elmo_weights"]) == [0.25, -1.5, 2.0] and a["elmo_gamma"] == np.float32(0.75)
        assert a["elmo_layer_norm"] == 1
        T, N = int(a["n_tokens"]), int(a["n_sentences"])
        want_dtype = np.dtype("<f2") if prec == "f16" else np.dtype("<f4")
        for k, name in enumerate(names):
            ds = f["embeddings/" + name]
            assert ds.dtype == want_dtype, (name, ds.dtype)
            assert ds.chunks is not None
            assert (ds.compression == "gzip") == (comp > 0) and ds.shuffle == (comp > 0)
            rows = N if name == "default" else T
            width = P if name == "word_emb" else 2 * P
            if name == "all":
                assert ds.shape == (T, 3, 2 * P), ds.shape
                width = 6 * P
            else:
                assert ds.shape == (rows, width), ds.shape
            want = value(k, range(rows), range(width))
            got = ds[...].reshape(rows, width)
            if prec == "f16":
                with np.errstate(over="ignore"):
                    want = want.astype(np.float16)  # numpy rounds to nearest even
                assert np.isinf(got).any() and (got.view(np.uint16) & 0x7c00 == 0).any()
            assert np.array_equal(got.view(np.uint16 if prec == "f16" else np.uint32),
                                  want.view(np.uint16 if prec == "f16" else np.uint32)), name
        toks = tokens_of(f)
        assert len(toks) == T
        assert all(t == (f"na\u00efve{i}" if i % 5 == 0 else f"t{i}") for i, t in enumerate(toks))
        ids = f["sentences/id_blob"][...].tobytes().decode()
        io = f["sentences/id_offset"][...]
        assert [ids[io[i]:io[i + 1]] for i in range(N)] == [f"id{i}" for i in range(N)]
        off = f["sentences/offset"][...]
        assert off[0] == 0 and off[-1] == T and f["sentences/line"][3] == 7
        so, sb = f["sentences/text_offset"][...], f["sentences/text_blob"][...].tobytes()
        for i in range(N):
            assert sb[so[i]:so[i + 1]].decode().split() == toks[off[i]:off[i + 1]]
        f.close()

# f16 and f32 stores hold the same rows
with h5py.File(f"{d}/store_f32_4.h5") as a, h5py.File(f"{d}/store_f16_0.h5") as b:
    with np.errstate(over="ignore"):
        assert np.array_equal(a["embeddings/elmo"][...].astype(np.float16).view(np.uint16),
                              b["embeddings/elmo"][...].view(np.uint16))

with h5py.File(f"{d}/incomplete.h5") as f:
    assert f.attrs["complete"] == 0
with h5py.File(f"{d}/empty.h5") as f:
    assert f["tokens/text_blob"].shape == (0,) and f["tokens/text_blob"][...].size == 0
    assert f["embeddings/all"].shape == (0, 3, 6) and f["embeddings/elmo"][...].shape == (0, 6)
    assert f["embeddings/default"].shape == (3, 6)
with h5py.File(f"{d}/nothing.h5") as f:
    assert f["sentences/line"].shape == (0,) and list(f["embeddings"]) == []
    assert isinstance(f.attrs["elmo_weights"], h5py.Empty)
print("h5py: stores OK")
EOF

# ---- elmo info ---------------------------------------------------------------------------
"$elmo" info "$tmp/store_f16_4.h5" > "$tmp/info.txt" || fail "elmo info on a complete store"
grep -q '^complete: *yes' "$tmp/info.txt" || fail "info: complete"
grep -q '^sentences: *181$' "$tmp/info.txt" || fail "info: sentences"
grep -q '^precision: *f16$' "$tmp/info.txt" || fail "info: precision"
grep -q '^regime: *streams=3$' "$tmp/info.txt" || fail "info: regime"
grep -q 'all *(1988, 3, 128)' "$tmp/info.txt" || fail "info: the shape of all"
grep -q 'sha256 0123456789abcdef' "$tmp/info.txt" || fail "info: sha256"
if grep -q INCOMPLETE "$tmp/info.txt"; then fail "info: a complete store called incomplete"; fi
"$elmo" info "$tmp/incomplete.h5" > "$tmp/info2.txt" ||
  fail "info on an incomplete store must exit 0"
grep -q '^\*\*\* INCOMPLETE' "$tmp/info2.txt" || fail "info: INCOMPLETE banner"
"$elmo" info --check "$tmp/store_f16_4.h5" > /dev/null || fail "info --check on a complete store"
rc=0; "$elmo" info --check "$tmp/incomplete.h5" > /dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "info --check on an incomplete store: exit $rc, want 1"
rc=0; "$elmo" info /etc/hostname > /dev/null 2> "$tmp/err.txt" || rc=$?
[ "$rc" = 1 ] || fail "info on a non-store: exit $rc, want 1"
grep -q 'not an elmo store' "$tmp/err.txt" || fail "info: message for a non-store"
"$mpiexec" -n 2 "$elmo" info "$tmp/store_f32_0.h5" > "$tmp/info3.txt" || fail "info under mpiexec"
[ "$(grep -c '^store:' "$tmp/info3.txt")" = 1 ] || fail "info under mpiexec printed more than once"

# ---- elmo export --format allennlp --------------------------------------------------------
for which in all top average; do
  "$elmo" export --format allennlp "$tmp/export_$which.h5" "$tmp/out_$which.hdf5" ||
    fail "export of export_$which.h5"
done
"$mpiexec" -n 2 "$elmo" export --format=allennlp "$tmp/export_all.h5" "$tmp/out_mpi.hdf5" ||
  fail "export under mpiexec"
"$py" - "$tmp" <<'EOF'
import sys, json, h5py, numpy as np
d = sys.argv[1]
for which, layer in (("all", "all"), ("top", "top"), ("average", "average"), ("mpi", "all")):
    src = "all" if which == "mpi" else which
    with h5py.File(f"{d}/export_{src}.h5") as s, h5py.File(f"{d}/out_{which}.hdf5") as o:
        off = s["sentences/offset"][...]
        so, sb = s["sentences/text_offset"][...], s["sentences/text_blob"][...].tobytes()
        N = len(off) - 1
        texts = [sb[so[i]:so[i + 1]].decode("utf-8") for i in range(N)]
        assert sorted(o.keys()) == sorted([str(i) for i in range(N)] + ["sentence_to_index"])
        emb = s["embeddings/" + layer][...]
        for i in range(N):
            ds = o[str(i)]
            n = off[i + 1] - off[i]
            assert ds.dtype == np.dtype("<f4"), ds.dtype
            if layer == "all":
                assert ds.shape == (3, n, 6), (i, ds.shape)
                want = emb[off[i]:off[i + 1]].transpose(1, 0, 2)
            else:
                assert ds.shape == (n, 6), (i, ds.shape)
                want = emb[off[i]:off[i + 1]]
            assert np.array_equal(ds[...], want), i
        s2i = o["sentence_to_index"]
        assert s2i.shape == (1,) and h5py.check_string_dtype(s2i.dtype).length is None
        text = s2i[0].decode("utf-8") if isinstance(s2i[0], bytes) else s2i[0]
        want = {}
        for i, t in enumerate(texts):
            want[t] = str(i)
        assert text == json.dumps(want), (text, json.dumps(want))  # byte for byte
        parsed = json.loads(text)
        assert parsed["hello world"] == "3" and parsed[""] == "5" and len(parsed) == N - 1
        assert text.isascii()
print("h5py: export OK")
EOF

rc=0
"$elmo" export --format allennlp "$tmp/export_incomplete.h5" "$tmp/x.hdf5" 2> "$tmp/err.txt" ||
  rc=$?
[ "$rc" = 1 ] || fail "export of an incomplete store: exit $rc, want 1"
grep -q incomplete "$tmp/err.txt" || fail "export: message for an incomplete store"
[ ! -e "$tmp/x.hdf5" ] || fail "export of an incomplete store wrote a file"
rc=0
"$elmo" export --format allennlp "$tmp/export_none.h5" "$tmp/x.hdf5" 2> "$tmp/err.txt" || rc=$?
[ "$rc" = 1 ] || fail "export without the layers, all, top or average: exit $rc, want 1"
grep -q 'has neither the three layers' "$tmp/err.txt" || fail "export: message without outputs"
rc=0
"$elmo" export --format allennlp "$tmp/export_all.h5" "$tmp/export_all.h5" 2> "$tmp/err.txt" ||
  rc=$?
[ "$rc" = 2 ] || fail "export onto its own store: exit $rc, want 2"
grep -q 'same file as the input' "$tmp/err.txt" || fail "export: message for output = input"
rc=0; "$elmo" export --format csv "$tmp/export_all.h5" "$tmp/x.hdf5" 2> /dev/null || rc=$?
[ "$rc" = 2 ] || fail "export --format csv: exit $rc, want 2"
echo "PASS"
