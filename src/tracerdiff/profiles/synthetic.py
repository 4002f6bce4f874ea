"""Synthetic line scans with counting noise, for tests, benchmarks and demos."""

from __future__ import annotations

import numpy as np
import xarray as xr

from tracerdiff.io.image import LI6, LI7, make_profile


def counts_profile(x, c_true, *, total_counts: float = 3000.0, rng: np.random.Generator | None = None,
                   truth: dict | None = None) -> xr.Dataset:
    """A count profile whose isotope fraction is ``c_true`` at positions ``x`` (m).

    Each point's total count is Poisson(``total_counts``); the 6Li count is
    binomial given the total, so C carries exactly the counting error the
    fits assume. ``rng=None`` gives noise-free "counts" (C exactly c_true).
    """
    x = np.asarray(x, dtype=float)
    c_true = np.asarray(c_true, dtype=float)
    if rng is None:
        n = np.full(x.shape, float(total_counts))
        i6 = c_true * n
    else:
        n = rng.poisson(total_counts, size=x.shape).astype(float)
        i6 = rng.binomial(n.astype(np.int64), np.clip(c_true, 0.0, 1.0)).astype(float)
    meta = {"truth": truth} if truth else None
    return make_profile(x * 1e6, {LI6: i6, LI7: n - i6}, fmt="synthetic", metadata=meta)


def write_profile_csv(ds: xr.Dataset, path) -> None:
    """Write a labelled profile as the plain CSV :func:`read_profile_csv` reads (atomically)."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    names = ["I6Li", "I7Li"] if LI6 in ds else ["C"] + (["C_stderr"] if "C_stderr" in ds else [])
    cols = [ds["x"].values] + [ds[{"I6Li": LI6, "I7Li": LI7}.get(n, n)].values for n in names]
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write("x_um," + ",".join(names) + "\n")
        for row in zip(*cols):
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    os.replace(tmp, path)
