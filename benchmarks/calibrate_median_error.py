"""Calibration of the population median's model / grain-map error term (issue 12) from benchmark rows.

Reads the JSON lines printed by ``bench_inversion_grainmap.py`` (one per inversion) for a
CALIBRATION set of seeds, fits the extra ln-error ``tau`` that the image's own statistics do not
show, and checks the coverage |ln(median / truth)| <= 2 x total error on a disjoint VALIDATION set:

    total^2 = stat^2 + model^2 + map^2,   map^2 = x_origin^2 + (b * deficiency)^2

``stat`` is the largest of the independent-boundary, window-cluster and marginal errors (as reported),
``model`` the inversion's own error (what the TRUE grains leave), ``deficiency`` the grain-map
quality figure, ``x_origin`` an extra error per origin of the map (0 for given labels; the
micrograph's and the C map's segmentation). Fitted by maximum likelihood (ln-errors taken as
normal with variance total^2), every condition of the calibration set pooled: the ``true`` rows
fix ``model``, the ``deleted`` rows (given labels, deficiency ~0.3) ``b``, the others ``x``.

Run: ``python benchmarks/calibrate_median_error.py --calibration cal.jsonl --validation val.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy.optimize import minimize

ORIGIN = {"deleted": "labels", "true": "labels", "micrograph": "optical", "cmap": "cmap"}


def read(path: str) -> list[dict]:
    rows = {}
    with open(path) as fh:
        for line in fh:
            row = json.loads(line)
            if "condition" in row:  # a seed run twice counts once
                rows[(row["condition"], row["kind"], row["seed"])] = row
    return list(rows.values())


def features(rows):
    e = np.array([math.log(r["median_over_truth"]) for r in rows])
    parts = [r["log_stderr_parts"] for r in rows]
    stat = np.array([max(v for v in (p["independent"], p["windows"], p.get("marginal")) if v is not None)
                     for p in parts])
    q = np.array([r["grain_map"]["deficiency"] for r in rows])
    origin = [ORIGIN[r["condition"]] for r in rows]
    return e, stat, q, origin


NAMES = ("model", "x_optical", "x_cmap", "b_per_deficiency")


def total(params, stat, q, origin):
    model, x_opt, x_cmap, b = params
    x = np.array([{"labels": 0.0, "optical": x_opt, "cmap": x_cmap}[o] for o in origin])
    return np.sqrt(stat ** 2 + model ** 2 + x ** 2 + (b * q) ** 2)


def fit(rows):
    e, stat, q, origin = features(rows)

    def nll(p):
        s = total(np.abs(p), stat, q, origin)
        return float(np.sum(np.log(s ** 2) + (e / s) ** 2))

    best = None
    for x0 in ([0.05, 0.05, 0.05, 0.5], [0.03, 0.1, 0.1, 0.2], [0.08, 0.0, 0.15, 0.8]):
        res = minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 40000})
        if best is None or res.fun < best.fun:
            best = res
    return np.abs(best.x)


def coverage(rows, params, k=2.0):
    e, stat, q, origin = features(rows)
    s = total(params, stat, q, origin)
    out = {}
    for r, ei, si in zip(rows, e, s):
        key = f"{r['condition']}/{r['kind']}"
        hit = abs(ei) <= k * si
        c = out.setdefault(key, {"n": 0, "covered": 0, "misses": []})
        c["n"] += 1
        c["covered"] += int(hit)
        if not hit:
            c["misses"].append({"seed": r["seed"], "median_over_truth": r["median_over_truth"],
                                "total": round(float(si), 4)})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", nargs="+", required=True)
    parser.add_argument("--validation", nargs="*", default=[])
    parser.add_argument("--loso", action="store_true",
                        help="also leave-one-seed-out over calibration + validation rows: each seed's coverage "
                             "with the constants fitted to all the other seeds")
    parser.add_argument("--fixed", default="", help="model,x_optical,x_cmap,b to check instead of fitting")
    args = parser.parse_args()
    cal = [r for p in args.calibration for r in read(p)]
    params = fit(cal)
    if args.fixed:
        params = np.array([float(v) for v in args.fixed.split(",")])
    print(json.dumps({"fit" if not args.fixed else "fixed": dict(zip(NAMES, np.round(params, 4).tolist())),
                      "n_calibration": len(cal), "seeds": sorted({r["seed"] for r in cal})}))
    print(json.dumps({"calibration_coverage": coverage(cal, params)}))
    if args.validation:
        val = [r for p in args.validation for r in read(p)]
        print(json.dumps({"validation_coverage": coverage(val, params),
                          "seeds": sorted({r["seed"] for r in val})}))
    if args.loso:
        every = cal + [r for p in args.validation for r in read(p)]
        merged = {}
        for seed in sorted({r["seed"] for r in every}):
            held = [r for r in every if r["seed"] == seed]
            p_out = fit([r for r in every if r["seed"] != seed])
            for key, c in coverage(held, p_out).items():
                m = merged.setdefault(key, {"n": 0, "covered": 0, "misses": []})
                m["n"] += c["n"]
                m["covered"] += c["covered"]
                m["misses"] += c["misses"]
        print(json.dumps({"leave_one_seed_out_coverage": merged}))
        print(json.dumps({"fit_all": dict(zip(NAMES, np.round(fit(every), 4).tolist())),
                          "seeds": sorted({r["seed"] for r in every})}))


if __name__ == "__main__":
    main()
