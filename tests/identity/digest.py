#!/usr/bin/env python3
"""digest.py FILE...: one line per file, "NAME SHA256", over what a run computed.

HDF5 files (stores, tagger files, biLM weights) are digested over every dataset (path, dtype,
shape, bytes) and every attribute in name order, except the attributes that record where and
with which build a run happened (paths, the job text as run, the version string), so the same
computation digests the same wherever the files live.  Other files are digested byte for byte.
"""
import hashlib
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from h5check import object_names  # noqa: E402

# attributes that name paths or the build, not results
VOLATILE = {"job_yaml", "version", "bilm_options", "bilm_weights", "glove_path"}


def attr_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, h5py.Empty):
        return b"<empty %s>" % str(value.dtype).encode()
    arr = np.asarray(value)
    return str(arr.dtype).encode() + str(arr.shape).encode() + arr.tobytes()


def digest_h5(path):
    h = hashlib.sha256()

    def attrs(name, obj):
        for key in sorted(obj.attrs.keys()):
            if key in VOLATILE:
                continue
            h.update(("attr %s/%s\n" % (name, key)).encode())
            h.update(attr_bytes(obj.attrs[key]))

    with h5py.File(path, "r") as f:
        attrs("", f)
        for name in sorted(object_names(f)):
            obj = f[name]
            attrs(name, obj)
            if isinstance(obj, h5py.Dataset):
                data = obj[...]
                h.update(("data %s %s %s\n" % (name, data.dtype, data.shape)).encode())
                h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()


def digest(path):
    if h5py.is_hdf5(path):
        return digest_h5(path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: digest.py FILE...")
    for p in sys.argv[1:]:
        print(os.path.basename(p), digest(p))
