"""Diagnosis (issue 12, item 4): which true boundaries a grain map misses, before and after the repair.

No inversion is run: the map is made (C-map segmentation, or the true labels with 10 % of the
boundary pairs deleted), the model-free repair that precedes the first pass is applied
(``repair_map`` + ``steep_grains``, as in ``fitting._fit_image``), and every true boundary pair is
checked against the map: its recall is the share of its pixel faces that lie within ``--tol`` px
of a boundary of the map. A pair counts as missed below 50 % recall. For missed and found pairs the
script prints the mean true D*gb/delta (log-normal images), the true step |dC| across the pair in
the noise-free C (the simulator's field) in units of the per-pixel counting error, the length, the
share of the boundary's faces that are "horizontal" (normal along the diffusion direction, full
contrast), and the depth.

Per map it also prints the chi^2 gain of the EXACT cut (the true boundary) of every missed pair
inside the map grain that holds it (``repair.step_gain``: an offset on one side of a plane), against
the repair's acceptance rule (``repair.accept_split``: BIC, at least 25): what any cut proposal
could at best achieve.

``--invert``: population median / truth of the whole inversion (``fitting.fit_image`` with the
default options) with the true grains, with the true grains minus exactly the pairs the map
(after repair) misses, and the latter with every boundary of a merged grain left out of the
population median (an oracle: which grains are merged is known only here).

Images as in ``bench_inversion_grainmap.py``. Run:
``.venv/bin/python benchmarks/diag_map_recall.py --seeds 200-204 --maps cmap,deleted [--invert]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inversion_grainmap import D_BULK, G_TRUE, _image, delete_boundaries  # noqa: E402


def faces(labels):
    """(axis, i, j, a, b) of every 4-neighbour face between different labels (a < b)."""
    out = []
    for axis in (0, 1):
        lab = np.moveaxis(labels, axis, 0)
        i, j = np.nonzero(lab[:-1] != lab[1:])
        a, b = lab[i, j], lab[i + 1, j]
        out.append((axis, i, j, np.minimum(a, b), np.maximum(a, b)))
    return out


def boundary_mask(labels):
    m = np.zeros(labels.shape, bool)
    m[:-1] |= labels[:-1] != labels[1:]
    m[1:] |= labels[:-1] != labels[1:]
    m[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    m[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    return m


def pair_table(true, est, c_true, err, tol):
    """Per true pair: recall, faces, horizontal share, mean depth (row), mean |dC| / err across."""
    near = ndi.binary_dilation(boundary_mask(est), iterations=tol) if tol > 0 else boundary_mask(est)
    stats = {}
    for axis, i, j, a, b in faces(true):
        if axis == 0:
            p, q = (i, j), (i + 1, j)
        else:
            p, q = (j, i), (j, i + 1)
        hit = near[p] & near[q]
        dc = np.abs(c_true[p] - c_true[q]) / np.sqrt(0.5 * (err[p] ** 2 + err[q] ** 2))
        rows = 0.5 * (p[0] + q[0])
        for k in range(a.size):
            key = (int(a[k]), int(b[k]))
            s = stats.setdefault(key, [0, 0, 0, 0.0, 0.0])
            s[0] += 1
            s[1] += int(hit[k])
            s[2] += int(axis == 0)
            s[3] += rows[k]
            s[4] += dc[k]
    return {k: dict(n=v[0], recall=v[1] / v[0], horizontal=v[2] / v[0], row=v[3] / v[0], dc_z=v[4] / v[0])
            for k, v in stats.items()}


def summarise(table, g, rows_total, name):
    keys = [k for k, v in table.items() if v["n"] >= 3 and 0 not in k]
    length = np.array([table[k]["n"] for k in keys], float)
    rec = np.array([table[k]["recall"] for k in keys])
    miss = rec < 0.5
    out = {"map": name, "pairs": len(keys), "missed_pairs": int(miss.sum()),
           "length_recall": round(float(np.sum(rec * length) / length.sum()), 4)}
    for label, sel in (("missed", miss), ("found", ~miss)):
        if not sel.any():
            continue
        d = {"n": int(sel.sum()), "faces_mean": round(float(length[sel].mean()), 1),
             "horizontal_share": round(float(np.mean([table[k]["horizontal"] for k, s in zip(keys, sel) if s])), 3),
             "depth_from_source_mean": round(float(np.mean([rows_total - table[k]["row"] for k, s in zip(keys, sel) if s])), 1),
             "dc_over_err_median": round(float(np.median([table[k]["dc_z"] for k, s in zip(keys, sel) if s])), 3)}
        if g is not None:
            v = [g[k] for k, s in zip(keys, sel) if s and k in g]
            d["g_over_median_geomean"] = round(float(np.exp(np.mean(np.log(np.array(v) / 1.5e-8)))), 3) if v else None
        out[label] = d
    return out


def row_missed(true, m, c_true, err, tol):
    t = pair_table(true, m, c_true, err, tol)
    return [k for k, v in t.items() if v["n"] >= 3 and 0 not in k and v["recall"] < 0.5]


def exact_cut_gains(prep, true, m, missed):
    """chi^2 gain of cutting each missed pair exactly along the true boundary, and how many pass the rule."""
    from tracerdiff.inversion.labels import near_boundary
    from tracerdiff.inversion.repair import accept_split, near_boundary_of, step_gain

    fit_px = prep.valid & ~near_boundary(m, 2)
    gains, passing = [], 0
    for a, b in missed:
        ga, gb = np.bincount(m[true == a]).argmax(), np.bincount(m[true == b]).argmax()
        if ga != gb or ga == 0:  # the two true grains lie mostly in different map grains
            continue
        parent = m == ga
        child = parent & (true == b)
        if child.sum() < 10 or (parent & ~child).sum() < 10:
            continue
        gain, n = step_gain(prep.cf, prep.ef, parent, child, fit_px & ~near_boundary_of(child, 2))
        gains.append(gain)
        passing += accept_split(gain, n, 1)
    g = np.array(gains)
    return {"exact_cut_tested": int(g.size), "exact_cut_passing": int(passing),
            "exact_cut_gain_q10_50_90": np.round(np.percentile(g, [10, 50, 90]), 1).tolist() if g.size else None}


def merge_pairs(labels, pairs):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(labels.max()) + 1
    p = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    _, comp = connected_components(coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n)), directed=False)
    return (comp[labels] + 1).astype(np.int64)


def oracle_inversions(prep, true, oracle):
    """Median / truth with the true grains, with ``oracle`` (true minus the missed pairs), and the
    latter with the boundaries of its merged grains left out of the population median."""
    from tracerdiff.inversion import InversionOptions
    from tracerdiff.inversion.fitting import fit_image
    from tracerdiff.inversion.windows import estimate_population, misfit_boundaries

    o = InversionOptions(psf_sigma_um=0.6)
    out = {}
    for name, lab in (("true", true), ("true_minus_missed", oracle)):
        lab = np.where(prep.valid, lab, 0).astype(np.int64)
        f = fit_image(prep.cf, prep.ef, prep.valid, lab, source_edge=prep.source_edge, px=prep.px,
                      d_bulk=prep.d_bulk.value, psf_px=o.psf_sigma_um / prep.px, window_px=o.window_px,
                      stride_px=o.stride_px, population_sigma=o.population_sigma, min_sigma=o.min_population_log_sd,
                      n_passes=o.n_passes, workers=1, misfit_sigmas=o.misfit_sigmas,
                      margin_px=o.boundary_margin_px, repair_rounds=o.repair_rounds)
        out[name] = round(float(np.exp(f.mu) / G_TRUE), 4)
        if name == "true":
            continue
        fl = np.asarray(f.labels)
        t = int(true.max()) + 1
        u, cnt = np.unique(fl * t + true, return_counts=True)
        merged = set(np.flatnonzero(np.bincount((u // t)[cnt >= 20], minlength=int(fl.max()) + 1) > 1).tolist())
        clean = []
        for fit, own in zip(f.fits, f.owned):
            ok = ~misfit_boundaries(fit, n_sigma=o.misfit_sigmas)[own]
            keep = np.array([int(fit.pairs[i, 0]) not in merged and int(fit.pairs[i, 1]) not in merged for i in own],
                            bool)
            clean.append(own[ok & keep] if own.size else own)
        mu, _ = estimate_population(f.fits, clean, mu=f.mu, sigma=f.sigma, fixed_sigma=o.population_sigma,
                                    min_sigma=o.min_population_log_sd, robust=True)
        out.update(merged_grains=len(merged), true_minus_missed_without_merged=round(float(np.exp(mu) / G_TRUE), 4))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="200-204")
    ap.add_argument("--maps", default="cmap,deleted")
    ap.add_argument("--kinds", default="uniform,lognormal")
    ap.add_argument("--tol", type=int, default=1)
    ap.add_argument("--invert", action="store_true")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    from tracerdiff.boundaries import segmentation
    from tracerdiff.boundaries.options import SegmentationOptions
    from tracerdiff.boundaries.prepare import prepare_image
    from tracerdiff.inversion.labels import near_boundary
    from tracerdiff.inversion.repair import repair_map, steep_grains

    for seed in range(lo, hi + 1):
        for kind in args.kinds.split(","):
            ds, sim, g = _image(seed, 0.5 if kind == "lognormal" else 0.0, keep_simulation=True)
            prep = prepare_image(ds, d_bulk=D_BULK, thickness=None, pixel_size_um=None, source_edge="auto",
                                 include_flagged=False)
            true = np.asarray(sim.grains.labels)
            c_true = np.asarray(sim.c)
            for name in args.maps.split(","):
                if name == "cmap":
                    o = SegmentationOptions()
                    lab = segmentation.segment_grains(prep.cf, prep.ef, prep.valid, smoothing_px=o.smoothing_px,
                                                      merge_z=o.merge_z, h_minimum=o.h_minimum).astype(np.int64)
                else:
                    lab = delete_boundaries(true, 0.10, seed).astype(np.int64)
                # The repair works in the canonical orientation (source at row 0): the image's source is
                # at the bottom (simulator), so flip.
                flip = (lambda a: a[::-1]) if prep.source_edge == "bottom" else (lambda a: a)
                cc, ee, vv, ll = (np.ascontiguousarray(flip(a)) for a in (prep.cf, prep.ef, prep.valid, lab))
                edge = segmentation.edge_strength(cc, ee, smoothing_px=1.0)
                fixed = repair_map(cc, ee, vv, ll, edge=edge, margin=2, rounds=3)
                steep = steep_grains(cc, ee, fixed.labels, vv & ~near_boundary(fixed.labels, 2))
                rep = np.ascontiguousarray(flip(fixed.labels))
                for tag, m in ((name, lab), (name + "+repair", rep)):
                    row = summarise(pair_table(true, m, c_true, prep.ef, args.tol), g, true.shape[0], tag)
                    row.update(seed=seed, kind=kind, grains=int(np.unique(m).size))
                    # Precision: pairs of the map whose faces lie mostly away from every true boundary.
                    prec = pair_table(m, true, c_true, prep.ef, args.tol)
                    est = [v for k, v in prec.items() if v["n"] >= 3 and 0 not in k]
                    row.update(map_pairs=len(est), spurious_pairs=int(sum(v["recall"] < 0.5 for v in est)),
                               spurious_horizontal=round(float(np.mean([v["horizontal"] for v in est
                                                                        if v["recall"] < 0.5] or [np.nan])), 3))
                    if tag.endswith("repair"):
                        row.update(cuts=fixed.accepted, proposed=fixed.proposed, steep=int(steep.size))
                    if tag.endswith("repair"):
                        row.update(exact_cut_gains(prep, true, m, row_missed(true, m, c_true, prep.ef, args.tol)))
                    print(json.dumps(row), flush=True)
                if args.invert:
                    oracle = merge_pairs(true, row_missed(true, rep, c_true, prep.ef, args.tol))
                    print(json.dumps(dict(seed=seed, kind=kind, map=name, **oracle_inversions(prep, true, oracle))),
                          flush=True)


if __name__ == "__main__":
    main()
