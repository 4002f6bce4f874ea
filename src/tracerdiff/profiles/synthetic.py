"""Synthetic line scans with counting noise, for tests, benchmarks and demos."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from tracerdiff.io.image import LI6, LI7, make_profile
from tracerdiff.profiles.solutions import CosineSeries, erfc_profile
from tracerdiff.quantity import positive_si

NATURAL_6LI = 0.0759


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
    """Write a labelled profile as the plain CSV :func:`tracerdiff.io.read_line_scan` reads (atomically)."""
    from tracerdiff.report.atomic import write_csv_atomic

    names = ["I6Li", "I7Li"] if LI6 in ds else ["C"] + (["C_stderr"] if "C_stderr" in ds else [])
    cols = [ds["x"].values] + [ds[{"I6Li": LI6, "I7Li": LI7}.get(n, n)].values for n in names]
    write_csv_atomic(path, ["x_um", *names], [[float(v) for v in row] for row in zip(*cols)])


@dataclass(frozen=True)
class Scenario:
    """An exchange profile and later closed-sample profiles with known truth (SI)."""

    initial: xr.Dataset
    later: tuple
    exchange_time: float
    sample_extent: tuple
    truth: dict


@dataclass(frozen=True)
class ExchangeFront:
    """The erfc exchange front of :func:`exchange_then_closed` (SI).

    Attributes
    ----------
    c_s, c_0 : float
        Surface and natural tracer fractions.
    x0 : float
        Meniscus position (m): C = c_s below it.
    """

    c_s: float = 0.9
    c_0: float = NATURAL_6LI
    x0: float = 150e-6


def exchange_then_closed(*, d_exchange: float, exchange_time, d_closed: float, times, x,
                         sample_extent=None, front: ExchangeFront | None = None, total_counts: float = 3000.0,
                         rng: np.random.Generator | None = None) -> Scenario:
    """Erfc profile after ``exchange_time`` in contact with the solution, then closed storage.

    The later profiles are the exact no-flux evolution (cosine series of the
    erfc initial state, C = Cs below the meniscus x0) after ``times`` (s) at
    ``d_closed``. Counting noise as in :func:`counts_profile` (``rng=None``: none).

    Parameters
    ----------
    d_exchange, d_closed : float
        Tracer diffusivity during the exchange and the closed storage, m^2/s.
    exchange_time : Measured, str or float
        Time in contact with the solution (SI float: s).
    times : sequence of float
        Storage times of the later profiles, s.
    x : numpy.ndarray
        Positions of the profile points, m.
    sample_extent : tuple of float, optional
        (start, end) of the sample, m; default the first and last ``x``.
    front : ExchangeFront, optional
        Surface and natural fractions and meniscus of the initial profile.
    total_counts : float
        Mean counts per point.
    rng : numpy.random.Generator, optional
        Source of the counting noise (None: noise-free).
    """
    front = front if front is not None else ExchangeFront()
    c_s, c_0, x0 = front.c_s, front.c_0, front.x0
    exchange_time = positive_si(exchange_time, "time", name="exchange_time")
    x = np.asarray(x, dtype=float)
    a, b = sample_extent if sample_extent is not None else (x[0], x[-1])

    def start(xx):
        return erfc_profile(xx, c_s=c_s, c_0=c_0, x0=x0, d=d_exchange, t=exchange_time)

    series = CosineSeries.from_function(start, a, b, breakpoints=[x0])
    truth = {"d_exchange": d_exchange, "d_closed": d_closed, "x0": x0, "c_s": c_s, "c_0": c_0,
             "exchange_time": exchange_time, "times": list(map(float, times)), "sample_extent": [a, b]}
    initial = counts_profile(x, start(x), total_counts=total_counts, rng=rng, truth=truth)
    later = tuple((float(t), counts_profile(x, series.evaluate(x, d_closed * t), total_counts=total_counts,
                                            rng=rng, truth=truth)) for t in times)
    return Scenario(initial, later, float(exchange_time), (float(a), float(b)), truth)
