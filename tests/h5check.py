"""h5check.py: what the test checkers share to read and compare HDF5 files, run with Debian's
/usr/bin/python3 (python3-h5py).  The checkers in tests/*/ put tests/ on sys.path to import it;
tests/lib.sh puts it on PYTHONPATH for the Python inside the shell tests.

usage: h5check.py maxdiff A.hdf5 B.hdf5   the largest |a - b| over every dataset of A
"""
import sys

import h5py
import numpy as np


def fail(msg, prefix="FAIL:"):
    print(prefix, msg)
    sys.exit(1)


def object_names(group):
    """The path of every group and dataset under group, in h5py's visiting order."""
    names = []
    group.visititems(lambda n, o: names.append(n))
    return names


def dataset_names(group):
    """The path of every dataset under group, in h5py's visiting order."""
    names = []
    group.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def read_datasets(group):
    """{path: value} of every dataset under group."""
    return {n: group[n][()] for n in dataset_names(group)}


def identical(x, y):
    """Two arrays with the same dtype, shape and bytes."""
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def max_abs_diff(a, b, names=None):
    """The largest |a[n] - b[n]| (in float64) over names, by default every dataset of a; a and
    b are groups or {name: array}."""
    if names is None:
        names = dataset_names(a) if isinstance(a, h5py.Group) else list(a)
    m = 0.0
    for n in names:
        m = max(m, float(np.abs(np.asarray(a[n][...], dtype=np.float64) - b[n][...]).max()))
    return m


def maxdiff(pa, pb):
    with h5py.File(pa, "r") as a, h5py.File(pb, "r") as b:
        names = dataset_names(a)
        assert names
        print("%.3g" % max_abs_diff(a, b, names))


if __name__ == "__main__":
    {"maxdiff": maxdiff}[sys.argv[1]](*sys.argv[2:])
