"""Benchmark: joint closed-evolution fit (initial + 2 later profiles, 700 points each).

Prints JSON lines. The baseline, measured in the same run on the same data, is
the textbook approach: a Crank-Nicolson finite-difference propagator (scipy
sparse LU, no-flux ends) inside the same lmfit least-squares fit of D.
Target (issue 5): the joint evolve fit in < 1 s.

    .venv/bin/python benchmarks/bench_profiles.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import lmfit
import numpy as np
from scipy.sparse import diags
from scipy.sparse.linalg import splu

from tracerdiff.profiles import fit_closed_evolution, fit_erfc, profile_data
from tracerdiff.profiles.synthetic import exchange_then_closed

HOUR, WEEK = 3600.0, 7 * 86400.0
D_TRUE = 3.0e-13  # Fig. 4a storage at 22 C, m^2/s


def scenario(seed: int | None = 0):
    """Fig. 4a-like scans with 3000 counts per point (``seed=None``: noise-free)."""
    return exchange_then_closed(d_exchange=8.0e-13, exchange_time=110 * HOUR, d_closed=D_TRUE,
                                times=(2 * WEEK, 6 * WEEK), x=np.linspace(0, 3.5e-3, 700),
                                rng=None if seed is None else np.random.default_rng(seed))


def crank_nicolson_fit(s, *, cells: int = 700, steps_per_profile: int = 200) -> float:
    """Baseline: fit D with a Crank-Nicolson FD propagator started from the same erfc initial state."""
    erfc_fit = fit_erfc(s.initial, s.exchange_time, conf_int=False)
    a, b = s.sample_extent
    h = (b - a) / cells
    xc = a + (np.arange(cells) + 0.5) * h
    c_start = erfc_fit.predict(xc)
    # Neumann Laplacian on cell centres (mirror ghost cells), 1/h^2 folded in later
    main = -2.0 * np.ones(cells)
    main[0] = main[-1] = -1.0
    lap = diags([np.ones(cells - 1), main, np.ones(cells - 1)], [-1, 0, 1], format="csc") / h ** 2
    eye = diags([np.ones(cells)], [0], format="csc")
    datas = [profile_data(p) for _, p in s.later]
    times = [t for t, _ in s.later]

    def residual(params):
        d = params["d"].value * 1e-12
        c, t_prev, out = c_start.copy(), 0.0, []
        for t, data in zip(times, datas):
            dt = (t - t_prev) / steps_per_profile
            lhs = splu((eye - 0.5 * dt * d * lap).tocsc())
            rhs_op = eye + 0.5 * dt * d * lap
            for _ in range(steps_per_profile):
                c = lhs.solve(rhs_op @ c)
            out.append((np.interp(data.x, xc, c) - data.c) * data.weights)
            t_prev = t
        return np.concatenate(out)

    p = lmfit.Parameters()
    p.add("d", value=erfc_fit.d_eff.value * 1e12, min=0.0)
    return lmfit.minimize(residual, p, method="leastsq").params["d"].value * 1e-12


def timed(func, repeat: int):
    values, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        values.append(time.perf_counter() - t0)
    return statistics.median(values), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    s = scenario()

    t_ours, fit = timed(lambda: fit_closed_evolution(s.initial, s.later, exchange_time=s.exchange_time,
                                                     conf_int=False), args.repeat)
    t_ci, fit_ci = timed(lambda: fit_closed_evolution(s.initial, s.later, exchange_time=s.exchange_time),
                         args.repeat)
    t_base, d_base = timed(lambda: crank_nicolson_fit(s), max(1, min(args.repeat, 3)))
    common = {"n_profiles": 3, "points_per_profile": 700, "baseline": "crank_nicolson_fd_lmfit (700 cells, "
              "200 steps per interval, scipy splu)", "baseline_seconds": round(t_base, 4),
              "target_seconds": 1.0, "repeat": args.repeat}
    print(json.dumps({"bench": "evolve_joint_fit", "seconds": round(t_ours, 4),
                      "ratio_vs_baseline": round(t_base / t_ours, 2), "meets_target": t_ours < 1.0,
                      "d_rel_error": fit.d_eff.value / D_TRUE - 1, "d_rel_stderr": fit.d_eff.relative_stderr,
                      "baseline_d_rel_error": d_base / D_TRUE - 1, **common}))
    print(json.dumps({"bench": "evolve_joint_fit_with_ci95", "seconds": round(t_ci, 4),
                      "ratio_vs_baseline": round(t_base / t_ci, 2), "meets_target": t_ci < 1.0, **common}))
    exact = scenario(None)
    ours = fit_closed_evolution(exact.initial, exact.later, exchange_time=exact.exchange_time, conf_int=False)
    print(json.dumps({"bench": "evolve_noise_free_accuracy", "d_rel_error": ours.d_eff.value / D_TRUE - 1,
                      "baseline": "crank_nicolson_fd_lmfit (700 cells, 200 steps per interval)",
                      "baseline_d_rel_error": crank_nicolson_fit(exact) / D_TRUE - 1}))
    t_erfc, r = timed(lambda: fit_erfc(s.initial, s.exchange_time), args.repeat)
    print(json.dumps({"bench": "erfc_fit_with_ci95", "seconds": round(t_erfc, 4), "points": 700,
                      "d_rel_error": r.d_eff.value / 8.0e-13 - 1}))


if __name__ == "__main__":
    main()
