"""elmo_store: read the embedding store that `elmo embed` writes (README "The store").

    from elmo_store import Store
    with Store("store.h5") as st:
        print(len(st), st.outputs)            # sentences; the outputs stored
        r = st[0]                             # one sentence
        r.id, r.line, r.text, r.tokens        # str, int, str, list of str
        r.vectors["lstm_outputs1"]            # numpy (n_tokens, 2P), one entry per stored output
        r.elmo                                # (n_tokens, 2P): stored, or rebuilt from the layers
        for r in st: ...                      # every sentence in input order

The store keeps ids, texts and tokens as UTF-8 byte blobs indexed by int64 offsets; this module
decodes them.  `elmo` (and `default`, its mean over a sentence) need not be stored: when the
three layers are (word_emb, lstm_outputs1, lstm_outputs2, or the AllenNLP view `all`), they are
rebuilt with the mix the store records in its root attributes (elmo_weights, elmo_gamma,
elmo_layer_norm), in the order and float32 arithmetic of the program's own mix (model/mix.c), so
a rebuilt `elmo` equals a stored one to float32 rounding.

Command line (python3 -m elmo_store ...):
    info STORE                            counts, outputs, precision, regime, the mix
    show STORE I                          sentence I: id, line, text, tokens, vector shapes
    to-jsonl STORE OUT.jsonl [--outputs LIST]
                                          one JSON object per sentence: id, line, text, tokens
                                          and one list-of-lists per output (default: elmo);
                                          Hugging Face `datasets.load_dataset("json", ...)`
                                          reads it into Arrow list columns

Needs h5py and numpy only (Debian: python3-h5py python3-numpy).
"""
import json
import math
import os
import sys

import h5py
import numpy as np

__all__ = ["Store", "Record", "StoreError", "OUTPUTS"]

# The outputs a store may hold, in the program's order.
OUTPUTS = ("word_emb", "lstm_outputs1", "lstm_outputs2", "elmo", "default", "all", "top",
           "average")
LAYERS = ("word_emb", "lstm_outputs1", "lstm_outputs2")


class StoreError(Exception):
    """A file that is not a complete, consistent store, or a request it cannot serve."""


class Record:
    """One sentence of a store: index, id, line, text, tokens and its vectors.

    vectors maps each stored output to a numpy array: (n_tokens, D) for the token outputs,
    (3, n_tokens, 2P) for `all` (as `allennlp elmo` lays it out), (2P,) for `default`.
    elmo and default are the stored ones, or rebuilt from the layers (None when neither).
    """

    __slots__ = ("index", "id", "line", "text", "tokens", "vectors", "_store")

    def __init__(self, store, index, id_, line, text, tokens, vectors):
        self._store = store
        self.index, self.id, self.line, self.text = index, id_, line, text
        self.tokens, self.vectors = tokens, vectors

    @property
    def layers(self):
        """(3, n_tokens, 2P) float32: [word_emb; word_emb], lstm_outputs1, lstm_outputs2."""
        return self._store._layers_of(self)

    @property
    def elmo(self):
        if "elmo" in self.vectors:
            return self.vectors["elmo"]
        return self._store._mix(self.layers) if self._store.can_rebuild else None

    @property
    def default(self):
        if "default" in self.vectors:
            return self.vectors["default"]
        e = self.elmo
        return None if e is None else _sentence_mean(e)

    def as_dict(self, outputs=("elmo",)):
        """Plain Python values (str, int, lists of floats) for JSON or a `datasets` row."""
        d = {"id": self.id, "line": self.line, "text": self.text, "tokens": list(self.tokens)}
        for name in outputs:
            v = getattr(self, name) if name in ("elmo", "default") else self.vectors.get(name)
            if v is None:
                raise StoreError(f"{self._store.path}: no output {name} (stored: "
                                 f"{', '.join(self._store.outputs)})")
            d[name] = np.asarray(v, dtype=np.float32).tolist()
        return d

    def __repr__(self):
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.vectors.items())
        return f"Record({self.index}, id={self.id!r}, {len(self.tokens)} tokens, {shapes})"


def _sentence_mean(e):
    """The program's `default`: the float32 mean over the tokens, zeros for an empty sentence."""
    if e.shape[0] == 0:
        return np.zeros(e.shape[1], dtype=np.float32)
    acc = np.zeros(e.shape[1], dtype=np.float32)
    for row in e:                                   # the program's order: token by token
        acc += row
    return acc / np.float32(e.shape[0])


def _attr_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return "" if v is None else str(v)


class Store:
    """A store opened read-only.  Refuses an incomplete store unless allow_incomplete."""

    def __init__(self, path, allow_incomplete=False):
        self.path = os.fspath(path)
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as e:
            raise StoreError(f"{self.path}: not an HDF5 file ({e})") from None
        try:
            self._open(allow_incomplete)
        except Exception:
            self._f.close()
            raise

    def _open(self, allow_incomplete):
        f, a = self._f, self._f.attrs
        for need in ("n_sentences", "n_tokens", "complete"):
            if need not in a:
                raise StoreError(f"{self.path}: attribute {need} is missing: not an elmo store")
        self.complete = int(a["complete"]) == 1
        if not self.complete and not allow_incomplete:
            raise StoreError(f"{self.path} is incomplete (complete = 0): the job that wrote it "
                             "did not finish; rerun it")
        self.n_sentences, self.n_tokens = int(a["n_sentences"]), int(a["n_tokens"])
        self.precision = _attr_str(a.get("precision"))
        self.regime = _attr_str(a.get("regime"))
        self.options = json.loads(_attr_str(a.get("options_json")) or "{}")
        self.outputs = [n for n in OUTPUTS if "embeddings/" + n in f]
        self._off = f["sentences/offset"][:]
        if len(self._off) != self.n_sentences + 1 or self._off[0] != 0 or \
                self._off[-1] != self.n_tokens or np.any(np.diff(self._off) < 0):
            raise StoreError(f"{self.path}: sentences/offset does not index the "
                             f"{self.n_tokens} tokens: the store is damaged")
        self._line = f["sentences/line"][:]
        self._id_off = f["sentences/id_offset"][:]
        self._text_off = f["sentences/text_offset"][:]
        self._ids, self._texts = f["sentences/id_blob"], f["sentences/text_blob"]
        self._tok_off, self._toks = f["tokens/text_offset"], f["tokens/text_blob"]
        self._emb = {n: f["embeddings/" + n] for n in self.outputs}
        self.P = int(self._emb["word_emb"].shape[1]) if "word_emb" in self._emb else None
        if self.P is None and self.outputs:
            d = self._emb[self.outputs[0]]
            self.P = int(d.shape[-1]) // (1 if self.outputs[0] == "word_emb" else 2)
        # the mix as the job ran it: pre-softmax weights (none: equal), gamma, layer norm
        w = a.get("elmo_weights")
        w = np.zeros(0, np.float32) if w is None or isinstance(w, h5py.Empty) else \
            np.asarray(w, dtype=np.float32).reshape(-1)
        self.mix_weights = w if w.size == 3 else np.zeros(3, np.float32)
        self.gamma = np.float32(a.get("elmo_gamma", 1.0))
        self.layer_norm = bool(int(a.get("elmo_layer_norm", 0)))
        n_layers = self.options.get("lstm", {}).get("n_layers", 2)
        self._layer_source = "all" if "all" in self._emb else \
            "layers" if "word_emb" in self._emb and "lstm_outputs1" in self._emb and \
            ("lstm_outputs2" in self._emb or "top" in self._emb) else None
        # lstm_outputs2 is the top layer; elmo mixes every layer, so only a 2-layer biLM's
        # mix can be rebuilt from the three stored ones
        self.can_rebuild = self._layer_source is not None and n_layers == 2

    # ---- container protocol ---------------------------------------------------------------

    def __len__(self):
        return self.n_sentences

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.n_sentences))]
        i = int(i)
        if i < 0:
            i += self.n_sentences
        if not 0 <= i < self.n_sentences:
            raise IndexError(f"sentence {i} of {self.n_sentences}")
        return self._records(i, i + 1)[0]

    def __iter__(self):
        step = 1024
        for lo in range(0, self.n_sentences, step):
            yield from self._records(lo, min(lo + step, self.n_sentences))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._f.close()

    def __repr__(self):
        return (f"Store({self.path!r}: {self.n_sentences} sentences, {self.n_tokens} tokens, "
                f"outputs {','.join(self.outputs)}, {self.precision})")

    # ---- reading ----------------------------------------------------------------------------

    def _records(self, lo, hi):
        """Records lo..hi-1, read with one slice per dataset."""
        t0, t1 = int(self._off[lo]), int(self._off[hi])
        tok_off = self._tok_off[t0:t1 + 1]
        tok_blob = self._toks[tok_off[0]:tok_off[-1]].tobytes() if t1 > t0 else b""
        tbase = int(tok_off[0]) if t1 >= t0 and len(tok_off) else 0
        ib0, ib1 = int(self._id_off[lo]), int(self._id_off[hi])
        sb0, sb1 = int(self._text_off[lo]), int(self._text_off[hi])
        id_blob = self._ids[ib0:ib1].tobytes()
        text_blob = self._texts[sb0:sb1].tobytes()
        rows = {n: d[t0:t1] for n, d in self._emb.items() if n != "default"}
        if "default" in self._emb:
            rows["default"] = self._emb["default"][lo:hi]
        out = []
        for i in range(lo, hi):
            a, b = int(self._off[i]) - t0, int(self._off[i + 1]) - t0
            toks = [tok_blob[int(tok_off[k]) - tbase:int(tok_off[k + 1]) - tbase].decode("utf-8")
                    for k in range(a, b)]
            id_ = id_blob[int(self._id_off[i]) - ib0:int(self._id_off[i + 1]) - ib0]
            text = text_blob[int(self._text_off[i]) - sb0:int(self._text_off[i + 1]) - sb0]
            vec = {}
            for n, r in rows.items():
                if n == "default":
                    vec[n] = r[i - lo]
                elif n == "all":
                    vec[n] = np.ascontiguousarray(r[a:b].transpose(1, 0, 2))
                else:
                    vec[n] = r[a:b]
            out.append(Record(self, i, id_.decode("utf-8"), int(self._line[i]),
                              text.decode("utf-8"), toks, vec))
        return out

    def _layers_of(self, rec):
        """[word_emb; word_emb], lstm_outputs1, lstm_outputs2 of a record, float32 (3, n, 2P)."""
        v = rec.vectors
        if self._layer_source == "all":
            return v["all"].astype(np.float32)
        if self._layer_source is None:
            raise StoreError(f"{self.path}: the three layers are not stored (outputs: "
                             f"{', '.join(self.outputs)}); embed with --outputs "
                             "word_emb,lstm_outputs1,lstm_outputs2 or all")
        w = v["word_emb"].astype(np.float32)
        top = v["lstm_outputs2"] if "lstm_outputs2" in v else v["top"]
        return np.stack([np.concatenate([w, w], axis=1), v["lstm_outputs1"].astype(np.float32),
                         top.astype(np.float32)])

    def _mix(self, layers):
        """gamma * sum_k softmax(s)_k * norm(layer_k), as model/mix.c computes it."""
        s = self.mix_weights.astype(np.float64)
        e = np.exp(s - s.max())
        w = (e / e.sum()).astype(np.float32) * self.gamma        # float32 product, as in C
        out = np.zeros(layers.shape[1:], dtype=np.float32)
        n = layers[0].size
        for k in range(layers.shape[0]):
            x = layers[k]
            if self.layer_norm and n:
                mean = math.fsum(x.astype(np.float64).ravel()) / n
                var = float(np.sum((x.astype(np.float64) - mean) ** 2)) / n
                mu, inv = np.float32(mean), np.float32(1.0 / math.sqrt(var + 1e-12))
                x = (x - mu) * inv
            out += w[k] * x
        return out

    def rebuild_elmo(self, i):
        """sentence i's `elmo` rebuilt from its layers, even when `elmo` is stored."""
        if not self.can_rebuild:
            raise StoreError(f"{self.path}: elmo cannot be rebuilt: it needs the three layers "
                             "of a 2-layer biLM (--outputs word_emb,lstm_outputs1,lstm_outputs2 "
                             "or all)")
        return self._mix(self[i].layers)


# ---- command line ------------------------------------------------------------------------

def _info(st):
    print(f"store:       {st.path}")
    print(f"sentences:   {len(st)}")
    print(f"tokens:      {st.n_tokens}")
    print(f"precision:   {st.precision}")
    print(f"regime:      {st.regime}")
    print(f"outputs:     {', '.join(st.outputs) or '(none)'}")
    mix = "rebuildable from the layers" if st.can_rebuild else "not rebuildable"
    weights = ", ".join(f"{float(x):g}" for x in st.mix_weights)
    print(f"elmo:        {'stored' if 'elmo' in st.outputs else mix}; mix weights "
          f"[{weights}] (pre-softmax), gamma {float(st.gamma):g}, "
          f"layer_norm {str(st.layer_norm).lower()}")


def _show(st, i):
    r = st[int(i)]
    print(f"sentence {r.index}: id {r.id!r}, line {r.line}")
    print(f"text:    {r.text}")
    print(f"tokens:  {r.tokens}")
    for name, v in r.vectors.items():
        print(f"{name + ':':<15}{tuple(v.shape)} {v.dtype}")
    if "elmo" not in r.vectors and st.can_rebuild:
        print(f"{'elmo:':<15}{tuple(r.elmo.shape)} float32 (rebuilt)")


def _to_jsonl(st, out, outputs):
    for name in outputs:
        if name not in OUTPUTS:
            raise StoreError(f"unknown output {name!r} (one of {', '.join(OUTPUTS)})")
        if name not in st.outputs and not (name in ("elmo", "default") and st.can_rebuild):
            raise StoreError(f"{st.path} has no output {name} and cannot rebuild it (stored: "
                             f"{', '.join(st.outputs)})")
    if os.path.exists(out) and os.path.samefile(out, st.path):
        raise StoreError(f"{out} is the store itself")
    partial = out + ".partial"
    n = 0
    try:
        with open(partial, "w", encoding="utf-8") as o:
            for r in st:
                o.write(json.dumps(r.as_dict(outputs), ensure_ascii=False) + "\n")
                n += 1
        os.replace(partial, out)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    print(f"wrote {out}: {n} sentences, columns id, line, text, tokens, {', '.join(outputs)}")


USAGE = """usage: python3 -m elmo_store info STORE
       python3 -m elmo_store show STORE I
       python3 -m elmo_store to-jsonl STORE OUT.jsonl [--outputs elmo,default,...]"""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    outputs = ["elmo"]
    if "--outputs" in args:
        k = args.index("--outputs")
        if k + 1 >= len(args):
            print("elmo_store: --outputs needs a comma list", file=sys.stderr)
            return 2
        outputs = [x.strip() for x in args[k + 1].split(",") if x.strip()]
        del args[k:k + 2]
    want = {"info": 1, "show": 2, "to-jsonl": 2}
    if cmd not in want or len(args) != want[cmd]:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        with Store(args[0]) as st:
            if cmd == "info":
                _info(st)
            elif cmd == "show":
                _show(st, args[1])
            else:
                _to_jsonl(st, args[1], outputs)
    except (StoreError, IndexError, ValueError, OSError) as e:
        print(f"elmo_store: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
