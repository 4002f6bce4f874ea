"""Throughput of tracerdiff.io reads of a depth stack against a plain ``numpy.load`` of the same data.

Writes a (frames, 1024, 1024) uint16 stack (default ~200 MB) as .npy and as tracerdiff HDF5
in a temporary folder, then times "read and sum over frames" (the first step of any depth-
integrated image) for:

* ``numpy_load``        baseline: ``numpy.load(path).sum(axis=0)``
* ``td_npy_eager``      ``tracerdiff.io.read(npy)`` then sum
* ``td_npy_lazy``       ``read(npy, lazy=True)`` (memory-mapped, one dask chunk per frame)
* ``td_h5_lazy``        ``read(h5, lazy=True)`` (h5netcdf, one HDF5 chunk per frame)

Each is the best of ``--repeat`` runs (warm page cache for all). A second pass measures the
peak Python-heap allocation (tracemalloc) to show the lazy paths never hold the whole stack.
Prints one JSON line per method with MB/s, the ratio to the baseline, and peak MB.

    .venv/bin/python benchmarks/bench_io.py [--mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _methods(npy: Path, h5: Path):
    from tracerdiff.io import read

    return {
        "numpy_load": lambda: np.load(npy).sum(axis=0),
        "td_npy_eager": lambda: read(npy, pixel_size_um=1.0)["counts"].sum("z").values,
        "td_npy_lazy": lambda: read(npy, pixel_size_um=1.0, lazy=True)["counts"].sum("z").values,
        "td_h5_lazy": lambda: read(h5, lazy=True)["counts"].sum("z").values,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="stack size in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from tracerdiff.io import make_image, write

    frames = max(1, int(round(args.mb * 1e6 / (1024 * 1024 * 2))))
    rng = np.random.default_rng(0)
    stack = rng.poisson(3.0, size=(frames, 1024, 1024)).astype(np.uint16)
    nbytes = stack.nbytes
    expected = stack.sum(axis=0, dtype=np.uint64)
    with tempfile.TemporaryDirectory() as tmp:
        npy, h5 = Path(tmp) / "stack.npy", Path(tmp) / "stack.h5"
        np.save(npy, stack)
        write(make_image({"counts": stack}, 1.0, fmt="bench"), h5)
        del stack
        methods = _methods(npy, h5)
        best = {}
        for name, fn in methods.items():
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t0)
            if not np.array_equal(np.asarray(result, dtype=np.uint64), expected):
                raise SystemExit(f"{name}: wrong sum")
            best[name] = min(times)
        peaks = {}
        for name, fn in methods.items():
            tracemalloc.start()
            fn()
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    for name, t in best.items():
        print(json.dumps({"benchmark": "io_stack_read_sum", "method": name, "frames": frames,
                          "mb": round(nbytes / 1e6, 1), "seconds": round(t, 4),
                          "mb_per_s": round(nbytes / 1e6 / t, 1),
                          "ratio_vs_numpy_load": round(best["numpy_load"] / t, 3),
                          "peak_alloc_mb": round(peaks[name] / 1e6, 1)}))


if __name__ == "__main__":
    main()
