r"""Along-boundary transport: a thin fast channel ``P = s delta D_gb`` on each boundary.

The boundary's core carries a flux along it, ``P grad_t C`` per unit length of boundary
line (2D: per unit depth; 3D: per unit width of the sheet), and is coupled to the cells
on both sides. The channel's own capacity (``s delta`` per unit area) is neglected next to
a cell's (delta << h), so the channel follows its neighbours and is represented by links
between the cells that touch the boundary, half of P on each side:

* the cells of grain A that share a face with grain B form a chain (2D) or sheet (3D)
  along boundary (A, B); neighbours in it are linked through a face or, where a
  staircase steps, through a diagonal (two axes) when no face path inside the chain
  exists (no parallel shortcut);
* where boundaries meet, same-grain cells of the two boundaries are linked too (over their
  centre distance, with the smaller P), so the channels form one network;
* a link between centres ``r`` apart conducts ``(P/2) w / s`` with ``s = |r - (r.n) n|``
  the distance along the boundary (n its normal) and ``w = h^(ndim-2)`` the width of
  the channel strip it stands for; per cell volume the transmissibility is
  ``P / (2 s h^2)``.

Projected distances make a straight staircase at any angle as long as the true boundary
(sum of s over a chain = its length), so the along-boundary conductance is not
overestimated by 4/pi the way unweighted faces would be. The across-boundary conductance
G = D*gb/delta (:mod:`tracerdiff.simulate.transport`) acts independently, in parallel:
a boundary may be fast along, slow across, or both. Validated on an axis-aligned
boundary against the graded bicrystal model (tests); oblique 3D sheets are approximate.
"""

from __future__ import annotations

import numpy as np

from tracerdiff.simulate.grains import GrainMap, _face_labels, _pair_key, face_lo_index


def pair_normals(grains: GrainMap, pairs: np.ndarray) -> np.ndarray:
    """Unit normal (array-axis order) of each boundary pair ``(a, b)``, pointing from a to b."""
    if grains.seeds_um is not None:
        normal = grains.seeds_um[pairs[:, 1]] - grains.seeds_um[pairs[:, 0]]
    else:
        key = _pair_key(pairs[:, 0], pairs[:, 1])
        normal = np.zeros((len(pairs), grains.ndim))
        for axis in range(grains.ndim):
            lo_lab, hi_lab = _face_labels(grains.labels, axis)
            mask = lo_lab != hi_lab
            if not mask.any():
                continue
            vec = grains._smoothed_normals(axis)[mask]  # oriented low -> high index side
            flip = lo_lab[mask] > hi_lab[mask]  # orient from the smaller label a to b
            vec[flip] *= -1
            idx = np.searchsorted(key, _pair_key(lo_lab[mask], hi_lab[mask]))
            np.add.at(normal, idx, vec)
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    return np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)


def _tagged_cells(grains: GrainMap) -> tuple[np.ndarray, np.ndarray]:
    """(cell, pair key) of every cell that shares a face with another grain, unique."""
    cells, keys = [], []
    for axis in range(grains.ndim):
        lo_lab, hi_lab = _face_labels(grains.labels, axis)
        mask = lo_lab != hi_lab
        lo = face_lo_index(grains.shape, axis)[mask]
        hi = lo + int(np.prod(grains.shape[axis + 1:]))
        k = _pair_key(lo_lab[mask], hi_lab[mask])
        cells += [lo, hi]
        keys += [k, k]
    if not cells:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    code = np.unique(np.concatenate(keys) * np.int64(grains.labels.size) + np.concatenate(cells))
    return code % grains.labels.size, code // grains.labels.size


def channel_links(grains: GrainMap, pairs: np.ndarray, p_pairs: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Links carrying each boundary's along-boundary transport.

    Parameters
    ----------
    pairs, p_pairs
        Boundary pairs (sorted, as :meth:`GrainMap.boundary_pairs`) and their P (m^3/s).

    Returns
    -------
    lo, hi, trans, pair_index
        Flat cell indices, transmissibility per cell volume (1/s), and the pair of each link
        (-1 for links joining two boundaries at a junction).
    """
    h = grains.pixel_size_um * 1e-6
    shape, n = grains.shape, grains.labels.size
    cells, keys = _tagged_cells(grains)
    active = p_pairs > 0
    if cells.size == 0 or not active.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    pair_key = _pair_key(pairs[:, 0], pairs[:, 1])
    pidx = np.searchsorted(pair_key, keys)
    keep = active[pidx]
    cells, keys, pidx = cells[keep], keys[keep], pidx[keep]
    code = keys * np.int64(n) + cells
    lookup = np.sort(code)
    flat_labels = grains.labels.ravel()
    coords = np.stack(np.unravel_index(cells, shape), axis=1)
    normals = pair_normals(grains, pairs)

    def member(offset):
        """Is cell + offset inside the grid, in the same grain and on the same boundary?"""
        target = coords + offset
        inside = np.all((target >= 0) & (target < np.asarray(shape)), axis=1)
        t_flat = np.zeros(cells.size, np.int64)
        t_flat[inside] = np.ravel_multi_index(target[inside].T, shape)
        ok = inside & (flat_labels[t_flat] == flat_labels[cells])
        pos = np.searchsorted(lookup, keys * np.int64(n) + t_flat)
        ok &= (pos < lookup.size) & (lookup[np.minimum(pos, lookup.size - 1)] == keys * np.int64(n) + t_flat)
        return ok, t_flat

    out_lo, out_hi, out_t, out_p = [], [], [], []
    eye = np.eye(grains.ndim, dtype=np.int64)

    def add(ok, target, offset):
        r = offset * h
        nrm = normals[pidx[ok]]
        along = r[None, :] - (nrm @ r)[:, None] * nrm
        s = np.linalg.norm(along, axis=1)
        good = s > 1e-3 * h  # a link straight across the boundary carries nothing along it
        out_lo.append(cells[ok][good])
        out_hi.append(target[ok][good])
        out_t.append(p_pairs[pidx[ok]][good] / (2.0 * s[good] * h * h))
        out_p.append(pidx[ok][good])

    tagged = np.zeros(n, bool)
    tagged[cells] = True

    def junction(offset, exclude):
        """Same-grain neighbours on another boundary: where boundaries meet, channels join."""
        target = coords + offset
        inside = np.all((target >= 0) & (target < np.asarray(shape)), axis=1)
        t_flat = np.zeros(cells.size, np.int64)
        t_flat[inside] = np.ravel_multi_index(target[inside].T, shape)
        return inside & tagged[t_flat] & (flat_labels[t_flat] == flat_labels[cells]) & ~exclude, t_flat

    junctions = []
    for k in range(grains.ndim):
        ok, target = member(eye[k])
        add(ok, target, eye[k])
        jn, jt = junction(eye[k], ok)
        junctions.append((jn, jt, eye[k]))
    for p in range(grains.ndim):
        for q in range(p + 1, grains.ndim):
            for sign in (1, -1):
                offset = eye[p] + sign * eye[q]
                ok, target = member(offset)
                via_p, _ = member(eye[p])
                via_q, _ = member(sign * eye[q])
                # a step of the staircase: no face path through the chain, so the diagonal carries it
                add(ok & ~via_p & ~via_q, target, offset)
                jp, _ = junction(eye[p], np.zeros(cells.size, bool))
                jq, _ = junction(sign * eye[q], np.zeros(cells.size, bool))
                jn, jt = junction(offset, ok)
                junctions.append((jn & ~jp & ~jq, jt, offset))
    _add_junctions(junctions, cells, pidx, p_pairs, h, n, (out_lo, out_hi, out_t, out_p))
    return (np.concatenate(out_lo), np.concatenate(out_hi), np.concatenate(out_t), np.concatenate(out_p))


def _add_junctions(junctions, cells, pidx, p_pairs, h, n, out) -> None:
    """Links between same-grain cells of two different boundaries (a triple junction), once per pair.

    Without them every boundary's channel would end at the junction and tracer could pass on
    only through the bulk. A pair of cells found through several boundaries keeps the smallest P
    (the narrower channel limits the passage); the length is the centre distance.
    """
    lo, hi, p_link, dist = [], [], [], []
    for ok, target, offset in junctions:
        if not ok.any():
            continue
        a, b = cells[ok], target[ok]
        lo.append(np.minimum(a, b))
        hi.append(np.maximum(a, b))
        p_link.append(p_pairs[pidx[ok]])
        dist.append(np.full(a.size, np.linalg.norm(offset) * h))
    if not lo:
        return
    lo, hi, p_link, dist = (np.concatenate(v) for v in (lo, hi, p_link, dist))
    code = lo * np.int64(n) + hi
    order = np.lexsort((p_link, code))  # per cell pair, the smallest P first
    code, lo, hi, p_link, dist = code[order], lo[order], hi[order], p_link[order], dist[order]
    first = np.r_[True, code[1:] != code[:-1]]
    out[0].append(lo[first])
    out[1].append(hi[first])
    out[2].append(p_link[first] / (2.0 * dist[first] * h * h))
    out[3].append(np.full(int(first.sum()), -1, np.int64))


def channel_edge_terms(grains: GrainMap, pairs: np.ndarray, p_pairs: np.ndarray, edges) -> tuple:
    """Where a boundary meets the wetted edge its channel draws from the solution directly.

    The channel half in an edge cell reaches the outer face over the along-boundary distance
    ``s = |r - (r.n) n|``, ``r = (h/2) e_axis``: transmissibility ``P / (2 s h^2)`` per cell
    volume (``P / h^3`` for a boundary normal to the surface). Without it a fast channel would
    be fed only through its cells' bulk half-cell conductance and starve.

    Returns
    -------
    cells, trans
        Flat cell indices (repeated if several boundaries touch a cell) and their terms (1/s).
    """
    h = grains.pixel_size_um * 1e-6
    cells, keys = _tagged_cells(grains)
    if cells.size == 0 or not np.any(p_pairs > 0):
        return np.zeros(0, np.int64), np.zeros(0)
    pidx = np.searchsorted(_pair_key(pairs[:, 0], pairs[:, 1]), keys)
    normals = pair_normals(grains, pairs)
    out_c, out_t = [], []
    for edge, axis in edges:
        on_edge = np.isin(cells, edge) & (p_pairs[pidx] > 0)
        r = np.zeros(grains.ndim)
        r[axis] = 0.5 * h
        nrm = normals[pidx[on_edge]]
        s = np.linalg.norm(r[None, :] - (nrm @ r)[:, None] * nrm, axis=1)
        good = s > 1e-3 * h
        out_c.append(cells[on_edge][good])
        out_t.append(p_pairs[pidx[on_edge]][good] / (2.0 * s[good] * h * h))
    if not out_c:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_c), np.concatenate(out_t)
