"""The symbolic part of :class:`tracerdiff.inversion._gridsolve.GridCholesky`: a geometric nested
dissection of an (ny, nx) grid, its elimination tree grouped into levels of independent nodes,
and the index arrays that let one level be assembled, factorised and solved with batched dense
products. It depends only on the grid's shape and is cached (~12 MB for a 96 x 96 window, most
of it the fronts' assembly matrices).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp


@functools.lru_cache(maxsize=16)
def symbolic_levels(ny: int, nx: int, leaf: int):
    """Elimination tree of the (ny, nx) grid, grouped into levels of independent nodes.

    Returns the permutation (elimination order), the faces (lo, hi) in the window model's
    order, and per level (children before parents) the padded index arrays that let one
    level be factorised and solved with batched dense products.
    """
    own_list, ring_list, kids_list = [], [], []

    def ring(y0, y1, x0, x1):
        parts = []
        if y0 > 0:
            parts.append((y0 - 1) * nx + np.arange(x0, x1))
        if y1 < ny:
            parts.append(y1 * nx + np.arange(x0, x1))
        if x0 > 0:
            parts.append(np.arange(y0, y1) * nx + x0 - 1)
        if x1 < nx:
            parts.append(np.arange(y0, y1) * nx + x1)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def rec(y0, y1, x0, x1):
        h, w = y1 - y0, x1 - x0
        kids = []
        if h * w <= leaf or max(h, w) < 3:
            own = (np.arange(y0, y1)[:, None] * nx + np.arange(x0, x1)[None, :]).ravel()
        elif h >= w:
            k = y0 + h // 2
            kids = [rec(y0, k, x0, x1), rec(k + 1, y1, x0, x1)]
            own = k * nx + np.arange(x0, x1)
        else:
            k = x0 + w // 2
            kids = [rec(y0, y1, x0, k), rec(y0, y1, k + 1, x1)]
            own = np.arange(y0, y1) * nx + k
        # After its box's cells are eliminated, the box couples exactly to the cells around it,
        # which all lie on ancestors' separators: that ring is the node's front beyond its own cells.
        own_list.append(own)
        ring_list.append(ring(y0, y1, x0, x1))
        kids_list.append(kids)
        return len(own_list) - 1

    rec(0, ny, 0, nx)
    n = ny * nx
    n_nodes = len(own_list)
    index = np.arange(n).reshape(ny, nx)
    lo = np.concatenate([index[:-1, :].ravel(), index[:, :-1].ravel()])
    hi = np.concatenate([index[1:, :].ravel(), index[:, 1:].ravel()])
    height = np.zeros(n_nodes, np.int64)
    for i in range(n_nodes):  # children come before parents
        if kids_list[i]:
            height[i] = 1 + max(height[c] for c in kids_list[i])
    # Rows of the work array: level by level, node by node, each node padded to its level's
    # largest own size, so that one level's own rows are one (nodes, own, k) view.
    node_of = np.empty(n, np.int64)
    local = np.empty(n, np.int64)
    row_of = np.empty(n, np.int64)
    place, offset, shapes = {}, 0, []
    for lev in range(int(height.max()) + 1):
        members = np.flatnonzero(height == lev)
        n_own = max(own_list[i].size for i in members)
        for slot, i in enumerate(members):
            place[int(i)] = (lev, slot)
            own = own_list[i]
            node_of[own], local[own] = i, np.arange(own.size)
            row_of[own] = offset + slot * n_own + np.arange(own.size)
        shapes.append((members, n_own, offset))
        offset += members.size * n_own
    n_rows = offset  # row n_rows stays zero: the target of padded struct entries
    # Each face enters the front of the node that eliminates its first endpoint.
    first = np.where(height[node_of[lo]] <= height[node_of[hi]], lo, hi)
    second = np.where(first == lo, hi, lo)
    face_node = node_of[first]
    face_order = np.argsort(face_node, kind="stable")
    face_bounds = np.searchsorted(face_node[face_order], np.arange(n_nodes + 1))
    levels = []
    for lev, (members, n_own, offset) in enumerate(shapes):
        n_struct = max(ring_list[i].size for i in members)
        f = n_own + n_struct
        struct_idx = np.full((members.size, n_struct), n_rows, np.int64)
        face_flat, face_ids, diag_flat, diag_cells, pad_flat, kid_src, kid_dst = [], [], [], [], [], [], []
        pos = np.full(n, -1, np.int64)  # position of a cell in the current node's front
        for slot, i in enumerate(members):
            own = own_list[i]
            st = ring_list[i][np.argsort(row_of[ring_list[i]])]
            struct_idx[slot, :st.size] = row_of[st]
            pos[own] = np.arange(own.size)
            pos[st] = n_own + np.arange(st.size)
            base = slot * f * f
            faces = face_order[face_bounds[i]:face_bounds[i + 1]]
            rp, rq = pos[first[faces]], pos[second[faces]]
            face_flat += [base + rp * f + rq, base + rq * f + rp]
            face_ids += [faces, faces]
            diag_flat.append(base + np.arange(own.size) * (f + 1))
            diag_cells.append(own)
            pad_flat.append(base + np.arange(own.size, n_own) * (f + 1))  # padded own rows: identity
            for sibling, c in enumerate(kids_list[i]):
                clev, cslot = place[int(c)]
                cst = ring_list[c][np.argsort(row_of[ring_list[c]])]
                cns = levels[clev]["struct_idx"].shape[1]
                src = cslot * cns * cns + np.arange(cst.size)[:, None] * cns + np.arange(cst.size)[None, :]
                tgt = base + pos[cst][:, None] * f + pos[cst][None, :]
                kid_src.append(((clev, sibling), src.ravel()))
                kid_dst.append(tgt.ravel())
            pos[own] = -1
            pos[st] = -1
        by_level = {}
        for (key, src), dst in zip(kid_src, kid_dst):
            by_level.setdefault(key, ([], []))
            by_level[key][0].append(src)
            by_level[key][1].append(dst)
        # One group per (child level, first or second child): its targets are distinct, so a
        # plain indexed add is exact (two siblings share the separator's cells).
        kids = [(key[0], np.concatenate(a), np.concatenate(b)) for key, (a, b) in sorted(by_level.items())]
        leaf = None
        if lev == 0:
            # A leaf is a box whose every face leads to its own cells or to its ring (leaves never
            # touch: separators lie between them), and each ring cell borders exactly one box cell
            # (the ring has no corners). So its coupling block has one entry per ring row, that
            # face's -t: per ring slot, the flat row (slot * n_own + own cell) of the (nb * n_own)
            # stack it couples to (rows) and the face (face; padding: face n_faces, whose t is taken as 0).
            leaf_own = np.zeros((members.size, n_struct), np.int64)
            leaf_face = np.full((members.size, n_struct), lo.size, np.int64)
            flat = np.concatenate(face_flat[0::2])
            ids = np.concatenate(face_ids[0::2])
            slot, rem = np.divmod(flat, f * f)
            rp, rq = np.divmod(rem, f)  # face_flat's first of each pair: (own, other) positions
            ring = rq >= n_own
            leaf_own[slot[ring], rq[ring] - n_own] = rp[ring]
            leaf_face[slot[ring], rq[ring] - n_own] = ids[ring]
            # The own blocks alone (the rest of a leaf's front is its coupling): flat positions in
            # (nb, n_own, n_own) of the diagonal, the padding's identity and both entries of every
            # face inside a leaf.
            inner = ~ring
            def own_flat(v):
                sl, rm = np.divmod(v, f * f)
                r, q = np.divmod(rm, f)
                return sl * n_own * n_own + r * n_own + q
            leaf = dict(own=leaf_own, face=leaf_face, rows=(np.arange(members.size)[:, None] * n_own + leaf_own).ravel(),
                        diag_flat=own_flat(np.concatenate(diag_flat)), pad_flat=own_flat(np.concatenate(pad_flat)),
                        face_flat=np.concatenate([slot[inner] * n_own * n_own + rp[inner] * n_own + rq[inner],
                                                  slot[inner] * n_own * n_own + rq[inner] * n_own + rp[inner]]),
                        inner_ids=np.concatenate([ids[inner], ids[inner]]))
        flat_struct = struct_idx.ravel()
        rows, inverse = np.unique(flat_struct, return_inverse=True)
        # Struct rows shared by nodes of one level are summed by a sparse scatter (no lost updates).
        scatter = sp.csr_matrix((np.ones(flat_struct.size), (inverse.ravel(), np.arange(flat_struct.size))),
                                shape=(rows.size, flat_struct.size))
        levels.append(dict(rows_own=(offset, offset + members.size * n_own), nb=members.size, n_own=n_own, f=f,
                           struct_idx=struct_idx, face_flat=np.concatenate(face_flat),
                           face_ids=np.concatenate(face_ids), diag_flat=np.concatenate(diag_flat),
                           diag_cells=np.concatenate(diag_cells), pad_flat=np.concatenate(pad_flat), kids=kids,
                           rows=rows, scatter=scatter, scatter32=scatter.astype(np.float32),
                           leaf=leaf))
    _assembly(levels, n, lo.size)
    return row_of, n_rows, levels, lo, hi


def _assembly(levels, n: int, n_faces: int) -> None:
    """Each inner level's fronts as one sparse product ``assemble @ source`` (added to ``levels``).

    ``source`` holds the cell diagonal (n), the faces' -t, a 1 (the padding's identity), a 0 (the
    coupling of a leaf's padded ring rows) and every level's Schur update, at the offsets
    ``levels[i]["update_at"]`` (the last level's end is the source's size); the assembly matrix
    has a 1 per contribution. One pass instead of zeroing each front and five indexed writes (a 96 x 96
    factorisation: ~1 ms of ~8 less; the sums are the same, in column order).
    """
    sizes = [lev["nb"] * lev["struct_idx"].shape[1] ** 2 for lev in levels]
    one = n + n_faces  # then a 0 (the coupling of a leaf's padded ring rows)
    starts = np.cumsum([one + 2] + sizes)
    for lev, start in zip(levels, starts[:-1]):
        lev["update_at"] = (int(start), int(start) + lev["nb"] * lev["struct_idx"].shape[1] ** 2)
    for lev in levels:
        leaf = lev["leaf"]
        if leaf is not None:  # written directly (a sparse product was slower for these sparse blocks)
            lev["assemble"] = None
            leaf["face_at"] = n + leaf["inner_ids"]
            leaf["coupling_at"] = np.where(leaf["face"] < n_faces, n + leaf["face"], one + 1)
            continue
        rows = [lev["diag_flat"], lev["pad_flat"], lev["face_flat"]] + [dst for _, _, dst in lev["kids"]]
        cols = [lev["diag_cells"], np.full(lev["pad_flat"].size, one), n + lev["face_ids"]]
        cols += [levels[clev]["update_at"][0] + src for clev, src, _ in lev["kids"]]
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        lev["assemble"] = sp.csr_matrix((np.ones(rows.size), (rows, cols)),
                                        shape=(lev["nb"] * lev["f"] ** 2, int(starts[-1])))
