r"""Fast boundaries as channel nodes: one unknown per boundary face, carrying ``P = s delta D_gb``.

Each grid face between two grains gets a node: the boundary core at that face. It is linked

* to the cells on both sides through their half cells and half the boundary's
  across-resistance, ``1/K = (h/2)/D + 1/(2 G |n.e|)`` per unit face area (in series the two
  halves give exactly the slow-boundary face conductance of :mod:`.transport`, so a zero P
  changes nothing but a negligible capacity);
* to the nodes of the boundary faces that share a grid vertex (2D) or edge (3D) with it: the
  channel itself, conductance ``P w / s`` with ``w = h^(ndim-2)`` and ``s = |r - (r.n) n|`` the
  distance between the face centres along the boundary (its true length on a staircase);
  at junctions the faces of different boundaries join with the smaller P over ``|r|``;
* to the solution where a boundary meets the wetted edge (``s = h/2`` along it).

A node holds ``s delta |n.e| h^(ndim-1)`` of tracer per unit C (at least 1 % of a cell:
:data:`MIN_NODE_VOLUME`). With volumes ``V`` the system
``V dC/dt = -K C + b`` is stepped in ``w = V^(1/2) C``, whose operator ``V^(-1/2) K V^(-1/2)``
stays symmetric (for LU and AMG-CG alike) and conserves ``sum V C`` in closed steps.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tracerdiff.grains import GrainMap, _face_labels, _pair_key
from tracerdiff.simulate.transport import assemble

#: Boundary core width used for the nodes' capacity (m); P carries the transport.
CORE_WIDTH_M = 0.5e-9
#: Smallest node capacity, per cell volume. A core of 0.5 nm in a 1 um cell holds 5e-4 of it;
#: such tiny capacities cost AMG-CG 4x the iterations (3D, 20x40x40), while 1 % (a 10 nm core
#: at 1 um pixels, still Delta = D_gb/D >> 1) changed the bicrystal tail by < 0.3 % and 0.1 by 2 %.
MIN_NODE_VOLUME = 0.01


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


class ChannelNodes:
    """The boundary faces of a grain map as nodes (geometry only; coefficients per step)."""

    def __init__(self, grains: GrainMap, pairs: np.ndarray):
        self.grains, self.pairs = grains, pairs
        h = grains.pixel_size_um * 1e-6
        shape, ndim = grains.shape, grains.ndim
        key = _pair_key(pairs[:, 0], pairs[:, 1])
        lo, hi, axis, weight, pidx = [], [], [], [], []
        for k in range(ndim):
            a, b, w = grains.boundary_faces(k)
            la, lb = grains.labels.ravel()[a], grains.labels.ravel()[b]
            lo.append(a)
            hi.append(b)
            axis.append(np.full(a.size, k))
            weight.append(w)
            pidx.append(np.searchsorted(key, _pair_key(la, lb)))
        self.lo, self.hi, self.axis, self.weight, self.pidx = (np.concatenate(v) for v in (lo, hi, axis, weight, pidx))
        self.n_cells = int(np.prod(shape))
        self.m = self.lo.size
        coords = np.stack(np.unravel_index(self.lo, shape), axis=1).astype(float)
        self.centre = (coords + 0.5 * np.eye(ndim)[self.axis]) * h  # face centres (m)
        self.h = h
        self._links = self._node_links()

    def _node_links(self):
        """Pairs of nodes whose faces share a vertex (2D) or an edge (3D)."""
        shape, ndim = self.grains.shape, self.grains.ndim
        vshape = tuple(s + 1 for s in shape)
        coords = np.stack(np.unravel_index(self.lo, shape), axis=1)
        node = np.arange(self.m)
        elems, owners = [], []
        eye = np.eye(ndim, dtype=np.int64)
        for k in range(ndim):
            sel = self.axis == k
            base = coords[sel] + eye[k]
            others = [p for p in range(ndim) if p != k]
            if ndim == 2:
                p = others[0]
                for off in (0, 1):
                    v = base + off * eye[p]
                    elems.append(np.ravel_multi_index(v.T, vshape))
                    owners.append(node[sel])
            else:
                for q in others:  # edges along q, at both positions of the remaining axis p
                    p = [a for a in others if a != q][0]
                    for off in (0, 1):
                        v = base + off * eye[p]
                        elems.append(q * int(np.prod(vshape)) + np.ravel_multi_index(v.T, vshape))
                        owners.append(node[sel])
        elems, owners = np.concatenate(elems), np.concatenate(owners)
        order = np.argsort(elems, kind="stable")
        elems, owners = elems[order], owners[order]
        a, b = [], []
        for off in (1, 2, 3):  # at most four faces meet at a vertex or an edge
            same = elems[off:] == elems[:-off]
            a.append(owners[:-off][same])
            b.append(owners[off:][same])
        a, b = np.concatenate(a), np.concatenate(b)
        keep = a != b
        lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
        code = np.unique(lo.astype(np.int64) * self.m + hi)
        return code // self.m, code % self.m

    def volumes(self) -> np.ndarray:
        """Cell volumes (1) then node capacities, per cell volume."""
        cap = CORE_WIDTH_M * self.weight / self.h
        return np.concatenate([np.ones(self.n_cells), np.maximum(cap, MIN_NODE_VOLUME)])

    def initial(self, c_cells: np.ndarray) -> np.ndarray:
        """Node values from the cells on both sides (their mean)."""
        return 0.5 * (c_cells[self.lo] + c_cells[self.hi])

    def operator(self, d_axes, g_pairs, p_pairs, *, source, edge_cells, d_bulk):
        """``(A, b, free)`` for ``dw/dt = -A w + b c_source``, ``w = V^(1/2) C`` over cells then nodes."""
        grains, h, n, m = self.grains, self.h, self.n_cells, self.m
        full, edge, _ = assemble(grains, d_axes, self.pairs, np.zeros(len(self.pairs)), source=None,
                                 edge_cells=edge_cells, d_bulk=d_bulk)  # no direct link across boundaries
        rows, cols, vals = [], [], []
        g_face = g_pairs[self.pidx] * self.weight
        for side in (self.lo, self.hi):
            d = np.choose(self.axis, [ax[side] for ax in d_axes]) if grains.ndim > 1 else d_axes[0][side]
            resist = 0.5 * h / d + np.divide(0.5, g_face, out=np.full(m, np.inf), where=g_face > 0)
            k = np.divide(1.0, resist, out=np.zeros(m), where=np.isfinite(resist)) / h  # per cell volume
            rows += [side, n + np.arange(m)]
            cols += [n + np.arange(m), side]
            vals += [-k, -k]
        a, b = self._links
        r = self.centre[b] - self.centre[a]
        same = self.pidx[a] == self.pidx[b]
        normals = pair_normals(grains, self.pairs)[self.pidx[a]]
        along = r - np.sum(r * normals, axis=1, keepdims=True) * normals
        s = np.where(same, np.linalg.norm(along, axis=1), np.linalg.norm(r, axis=1))
        p_link = np.where(same, p_pairs[self.pidx[a]], np.minimum(p_pairs[self.pidx[a]], p_pairs[self.pidx[b]]))
        ok = (s > 1e-3 * h) & (p_link > 0)
        t = p_link[ok] / (s[ok] * h * h)
        rows += [n + a[ok], n + b[ok]]
        cols += [n + b[ok], n + a[ok]]
        vals += [-t, -t]
        node_edge = np.zeros(m)
        for cells, ax in edge_cells:  # a channel meeting the wetted edge draws from the solution
            touch = np.isin(self.lo, cells) & np.isin(self.hi, cells) & (self.axis != ax)
            if touch.any():
                rr = np.zeros(grains.ndim)
                rr[ax] = 0.5 * h
                nn = pair_normals(grains, self.pairs)[self.pidx[touch]]
                ss = np.linalg.norm(rr[None, :] - (nn @ rr)[:, None] * nn, axis=1)
                good = ss > 1e-3 * h
                idx = np.flatnonzero(touch)[good]
                node_edge[idx] += p_pairs[self.pidx[idx]] / (ss[good] * h * h)
        ext = n + m
        off = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(ext, ext))
        cell_off = full - sp.diags(full.diagonal())
        off = (sp.block_diag([cell_off, sp.csr_matrix((m, m))]) + off).tocsr()
        edge_all = np.concatenate([edge, node_edge])
        k_mat = (off + sp.diags(-np.asarray(off.sum(axis=1)).ravel() + edge_all)).tocsr()
        scale = 1.0 / np.sqrt(self.volumes())
        a_sym = (sp.diags(scale) @ k_mat @ sp.diags(scale)).tocsr()
        b_sym = edge_all * scale
        if source is None:
            return a_sym, b_sym, np.arange(ext)
        mask = np.concatenate([source, np.zeros(m, bool)])
        free = np.flatnonzero(~mask)
        fixed = np.flatnonzero(mask)
        coupling = np.asarray(-a_sym[free][:, fixed] @ (1.0 / scale[fixed])).ravel()  # fixed C = 1 -> w = V^(1/2)
        return a_sym[free][:, free].tocsr(), b_sym[free] + coupling, free
