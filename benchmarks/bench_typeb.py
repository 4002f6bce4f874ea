"""Benchmark: the bicrystal type-B simulator against Whipple's exact C̄(y), with mesh refinement.

Prints JSON lines: for beta = 10, 100, 1000 and mesh refinements 0.5, 1, 2 (cells and time
steps x refine, first widths / refine), the largest |C̄_sim - C̄_Whipple| over the tail
(eta = y / sqrt(D t) > 5) as a fraction of the surface value (issue 17 target: < 1e-2), its
ratio to the refine = 1 error of the same beta (the baseline, measured in the same run:
a second-order scheme gives ~4 and ~0.25), and the run time against the refine = 1 run.
Then the Le Claire analysis of each refine = 1 profile (P / truth, exact inversion and
textbook 1.322) and its time.

    .venv/bin/python benchmarks/bench_typeb.py [--refine 0.5 1 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from scipy import special

from tracerdiff.profiles.leclaire import TypeBOptions, fit_leclaire
from tracerdiff.profiles.load import ProfileData
from tracerdiff.profiles.whipple import whipple_excess
from tracerdiff.simulate.bicrystal import BicrystalMesh, simulate_bicrystal

D, T = 1e-16, 1e5
ROOT = math.sqrt(D * T)


def run(beta: float, refine: float):
    delta_ratio = 1e4 if beta < 1000 else 1e5
    delta = 2 * beta * ROOT / (delta_ratio - 1)
    p = delta_ratio * D * delta
    start = time.perf_counter()
    r = simulate_bicrystal(d_bulk=D, p=p, exchange_time=T, thickness=delta, mesh=BicrystalMesh(refine=refine))
    elapsed = time.perf_counter() - start
    eta = r.y / ROOT
    width = (r.params["half_width"] - delta / 2) / ROOT
    exact = special.erfc(eta / 2) + whipple_excess(eta, beta, delta_ratio=delta_ratio) / width
    tail = eta > 5
    err = float(np.abs(r.c_mean - exact)[tail].max())
    rel = float(np.median((np.abs(r.c_mean - exact) / exact)[tail]))
    return r, p, err, rel, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refine", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    args = parser.parse_args()
    for beta in (10, 100, 1000):
        runs = {f: run(beta, f) for f in sorted(set(args.refine) | {1.0})}
        base = runs[1.0]
        for f, (r, p, err, rel, elapsed) in runs.items():
            print(json.dumps({"bench": "bicrystal_vs_whipple", "beta": beta, "refine": f, "nx": r.params["nx"],
                              "ny": r.params["ny"], "steps": r.params["steps"],
                              "max_tail_error_of_surface": err, "median_tail_relative_error": rel,
                              "error_ratio_vs_refine1": err / base[2], "seconds": round(elapsed, 3),
                              "time_ratio_vs_refine1": round(elapsed / base[4], 3),
                              "target_met": err < 1e-2}))
        r, p = base[0], base[1]
        y = np.linspace(0.2 * ROOT, r.y[-1] * 0.98, 150)
        c = np.exp(np.interp(y, r.y, np.log(r.c_mean)))
        start = time.perf_counter()
        fit = fit_leclaire(ProfileData(y, c, None, "bench"), T, d_bulk=D,
                           options=TypeBOptions(thickness=r.params["thickness"]))
        t_fit = time.perf_counter() - start
        print(json.dumps({"bench": "leclaire_on_simulated", "beta": beta, "p_over_truth": fit.p.value / p,
                          "p_textbook_over_truth": fit.p_leclaire.value / p, "tail_um": [v * 1e6 for v in fit.tail],
                          "seconds": round(t_fit, 3)}))


if __name__ == "__main__":
    main()
