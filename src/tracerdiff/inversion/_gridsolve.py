"""Fast exact linear algebra of the window model: a dense-block factorisation of the grid operator
(each elimination-tree node by the inverse of its own block) and the sparse right-hand sides it
solves (the PSF is in :mod:`tracerdiff.inversion._psf`, the Cholesky QR of the nuisance basis in
:mod:`tracerdiff.inversion._basis`).

Why a Cholesky of our own: the window operator is a symmetric positive definite 5-point
matrix on a rectangle, factorised ~300 times per 512 x 206 image and solved with 70-150
right-hand sides each time. SuperLU (general LU, COLAMD ordering) runs those solves at
~3 GFLOP/s. A geometric nested dissection of the rectangle (halve it across its longer side,
recurse, eliminate each box before the line that cut it) turns the elimination into small
dense blocks; the blocks of one tree level are factorised and applied as batched matrix
products. Measured on a 96 x 96 window (one core): 150 right-hand sides 48 -> 21 ms,
70 -> 10 ms (from 23), factorisation 14 -> 10 ms; results equal to ~1e-13 relative. SciPy
offers no Cholesky, and scikit-sparse (CHOLMOD) has no wheels (it needs SuiteSparse headers).
The symbolic part depends only on the window shape and is cached.

Measured and not done: the factorisation itself in float32 (8.9 -> 7.6 ms, but a float32 solve
with it erred by 8.4e-5 relative against 1.4e-7 with the float64 factor rounded to float32: the
Schur complements of the nearly singular Laplacian lose their small eigenvalues, and the
checks of the float32 fields would fail); reusing the blocks of leaves whose faces are all bulk
(a quarter of them; the copying ate the saving).
"""

from __future__ import annotations

import numpy as np

from tracerdiff.inversion._nested_dissection import symbolic_levels

#: Boxes of at most this many cells are eliminated as one dense block (16 and 32 measured alike, 64 slower).
LEAF_CELLS = 32


class GridCholesky:
    """Block factorisation of ``A = sum_faces t (e_lo - e_hi)(e_lo - e_hi)^T + diag(dirichlet)`` on an
    (ny, nx) grid (faces between rows, then between columns, as in the window model).

    Each node of the elimination tree keeps the inverse P^-1 of its own block and W = C P^-1
    (C: its coupling to the cells around it), instead of a Cholesky factor L^-1 and C L^-T: the
    same elimination (C L^-T L^-1 = C P^-1), with no triangular inverse to form (numpy has no
    batched one; building it took a third of the factorisation) and one product fewer per node
    in every solve (P^-1 on the way down replaces L^-1 up and L^-T down).

    Raises ``numpy.linalg.LinAlgError`` when the matrix is not (numerically) positive definite.
    """

    def __init__(self, shape: tuple[int, int], trans: np.ndarray, dirichlet: np.ndarray, *, leaf: int = LEAF_CELLS):
        self._grid = (int(shape[0]), int(shape[1]), int(leaf))
        row_of, n_rows, levels, lo, hi = symbolic_levels(*self._grid)
        self._row_of, self._n_rows, self._levels = row_of, n_rows, levels
        self._f32 = None
        n = row_of.size
        trans, dirichlet = np.asarray(trans, float), np.asarray(dirichlet, float)
        # Positive conductances make A a symmetric M-matrix: positive definite (every window has a
        # fixed-value edge), and so is every block and Schur complement of the elimination. The
        # checks below catch what rounding could still break (a block with a non-positive pivot).
        if not (np.all(trans > 0) and np.all(np.isfinite(trans)) and np.all(dirichlet >= 0)):
            raise np.linalg.LinAlgError("grid operator needs positive conductances")
        # The source of every front (see _assembly): diagonal, -t, 1, 0, then each level's update.
        source = np.empty(levels[-1]["update_at"][1])
        diag, neg = source[:n], source[n:n + lo.size]
        diag[:] = dirichlet + np.bincount(lo, trans, minlength=n) + np.bincount(hi, trans, minlength=n)
        np.negative(trans, out=neg)
        source[n + lo.size:n + lo.size + 2] = (1.0, 0.0)
        self._pinv, self._w, self._w_t = [], [], []
        for lev in levels:
            u0, u1 = lev["update_at"]
            if lev["leaf"] is not None:
                pinv, w, w_t, update = self._leaves(lev, source)
                source[u0:u1] = update.ravel()
                self._pinv.append(pinv)
                self._w.append(w)
                self._w_t.append(w_t)
                continue
            nb, n_own, f = lev["nb"], lev["n_own"], lev["f"]
            front = (lev["assemble"] @ source).reshape(nb, f, f)
            own = front[:, :n_own, :n_own]
            if not np.all(np.diagonal(own, axis1=1, axis2=2) > 0):
                raise np.linalg.LinAlgError("grid operator not positive definite")
            couple = front[:, n_own:, :n_own]
            pinv = np.linalg.inv(own)
            w = couple @ pinv
            # Contiguous transpose: numpy's batched matmul takes a slow path on strided stacks.
            w_t = np.ascontiguousarray(w.transpose(0, 2, 1))
            np.subtract(front[:, n_own:, n_own:], couple @ w_t, out=source[u0:u1].reshape(nb, f - n_own, f - n_own))
            self._pinv.append(pinv)
            self._w.append(w)
            self._w_t.append(w_t)
        # A non-finite entry makes the sum non-finite (one reduction, no boolean copy of each block).
        if not all(np.isfinite(x.sum()) and np.all(np.diagonal(x, axis1=1, axis2=2) > 0) for x in self._pinv):
            raise np.linalg.LinAlgError("grid operator not positive definite")

    @staticmethod
    def _leaves(lev, source):
        """The leaves' (P^-1, W, W^T, update): the same numbers as the inner nodes' dense products.

        A leaf's coupling has one entry per ring row (see :func:`~tracerdiff.inversion._nested_dissection.symbolic_levels`), its face's -t, so W = C P^-1
        is rows of P^-1 scaled and the update -C W^T (a leaf's ring-ring block is empty) entries of
        W^T scaled: the dense products' own numbers (their other terms are exact zeros), without
        two batched products or the coupling's share of the front (a 96 x 96 factorisation:
        8.5 -> 7.6 ms). Reusing the blocks of leaves whose faces are all bulk (a quarter of them)
        saved only 0.2 ms more, the copying of the kept blocks eating the rest: not done.
        """
        leaf = lev["leaf"]
        nb, n_own = lev["nb"], lev["n_own"]
        ns = leaf["own"].shape[1]
        own = np.zeros(nb * n_own * n_own)
        own[leaf["diag_flat"]] = source[lev["diag_cells"]]
        own[leaf["pad_flat"]] = 1.0
        own[leaf["face_flat"]] = source[leaf["face_at"]]
        own = own.reshape(nb, n_own, n_own)
        if not np.all(np.diagonal(own, axis1=1, axis2=2) > 0):
            raise np.linalg.LinAlgError("grid operator not positive definite")
        c = source[leaf["coupling_at"]]  # (nb, ns): each ring row's coupling (padding: 0)
        rows = leaf["rows"]
        pinv = np.linalg.inv(own)
        if ns == 0:  # the whole grid is one leaf
            return pinv, np.zeros((nb, 0, n_own)), np.zeros((nb, n_own, 0)), np.zeros((nb, 0, 0))
        w = pinv.reshape(-1, n_own)[rows].reshape(nb, ns, n_own)
        w *= c[:, :, None]
        w_t = np.ascontiguousarray(w.transpose(0, 2, 1))
        update = w_t.reshape(-1, ns)[rows].reshape(nb, ns, ns)
        update *= -c[:, :, None]
        return pinv, w, w_t, update

    def _blocks(self, single: bool):
        """(P^-1, W, W^T, level scatters) per level, in float64 or rounded to float32 (made once)."""
        if not single:
            return self._pinv, self._w, self._w_t, [lev["scatter"] for lev in self._levels]
        if self._f32 is None:
            f4 = np.float32
            self._f32 = ([x.astype(f4) for x in self._pinv], [x.astype(f4) for x in self._w],
                         [x.astype(f4) for x in self._w_t], [lev["scatter32"] for lev in self._levels])
        return self._f32

    def solve_pattern(self, pattern: "RhsPattern", values: np.ndarray, *, single: bool = False) -> np.ndarray:
        """``A^-1 b`` for the sparse (n, k) b with ``values`` on ``pattern``'s entries (duplicates summed).

        The same elimination as :meth:`solve`. The leaves (most of the flops) see only the
        columns that are non-zero on them: a boundary's faces touch a few leaves, and an edge
        value's stretch only the leaves along that edge. So the leaves' upward update C P^-1 b
        and their P^-1 b on the way down are products with a handful of columns per leaf, and
        only W^T x_struct is dense. Equal to :meth:`solve` to rounding.
        """
        if pattern.grid != self._grid:
            raise ValueError("pattern made for another grid")
        dtype = np.float32 if single else np.float64
        pinvs, ws, w_ts, scatters = self._blocks(single)
        values = np.asarray(values, dtype)
        lev0, k = self._levels[0], pattern.k
        nb, n_own = lev0["nb"], lev0["n_own"]
        n_leaf = nb * n_own
        compact = np.zeros(nb * n_own * pattern.m, dtype)
        np.add.at(compact, pattern.leaf_slot, values[pattern.leaf_entries])
        compact = compact.reshape(nb, n_own, pattern.m)
        y = np.zeros((self._n_rows + 1) * k, dtype)
        np.add.at(y, pattern.upper_slot, values[pattern.upper_entries])
        if ws[0].shape[1]:
            np.subtract.at(y, pattern.up_slot, (ws[0] @ compact).ravel())
        y = y.reshape(self._n_rows + 1, k)
        y[-1] = 0.0
        self._forward(y, 1, ws, scatters)
        self._backward(y, 1, pinvs, w_ts)
        own = y[:n_leaf].reshape(nb, n_own, k)
        if w_ts[0].shape[2]:
            np.negative(w_ts[0] @ y[lev0["struct_idx"]], out=own)
        else:
            own[...] = 0.0
        np.add.at(y.reshape(-1), pattern.down_slot, (pinvs[0] @ compact).ravel())
        return y[self._row_of]

    def _forward(self, y, first: int, ws, scatters) -> None:
        """Upward sweep from level ``first``: each node's struct rows lose C P^-1 b_own (in place)."""
        k = y.shape[1]
        for lev, w, scatter in zip(self._levels[first:], ws[first:], scatters[first:]):
            if w.shape[1]:
                r0, r1 = lev["rows_own"]
                own = y[r0:r1].reshape(lev["nb"], lev["n_own"], k)
                y[lev["rows"]] -= scatter @ (w @ own).reshape(-1, k)
                y[-1] = 0.0

    def _backward(self, y, last: int, pinvs, w_ts) -> None:
        """Downward sweep to level ``last``: x_own = P^-1 b_own - W^T x_struct (in place)."""
        k = y.shape[1]
        for i in range(len(self._levels) - 1, last - 1, -1):
            lev, pinv, w_t = self._levels[i], pinvs[i], w_ts[i]
            r0, r1 = lev["rows_own"]
            own = y[r0:r1].reshape(lev["nb"], lev["n_own"], k)
            if w_t.shape[2]:
                x = pinv @ own
                x -= w_t @ y[lev["struct_idx"]]  # in place: one temporary fewer
                own[...] = x
            else:
                own[...] = pinv @ own

    def solve(self, b: np.ndarray, *, single: bool = False) -> np.ndarray:
        """``A^-1 b`` for b of shape (n,) or (n, k).

        ``single``: apply the (float64) factor rounded to float32, in float32 arithmetic: half
        the memory traffic and twice the BLAS rate. The error is that of a float32 solve,
        ~cond(A) * 6e-8 relative (measured on the benchmark's windows: 1e-7 to 6e-7); used where
        1e-4 would do (the sensitivities of the Gauss-Newton information).
        """
        dtype = np.float32 if single else np.float64
        pinvs, ws, w_ts, scatters = self._blocks(single)
        b = np.asarray(b, dtype)
        flat = b.ndim == 1
        b2 = b[:, None] if flat else b
        y = np.zeros((self._n_rows + 1, b2.shape[1]), dtype)
        y[self._row_of] = b2
        self._forward(y, 0, ws, scatters)
        self._backward(y, 0, pinvs, w_ts)
        out = y[self._row_of]
        return out[:, 0] if flat else out


class RhsPattern:
    """Where a family of sparse right-hand sides (n, k) is non-zero, laid out for
    :meth:`GridCholesky.solve_pattern` on an (ny, nx) grid: each leaf's distinct columns.

    Depends only on the grid and the entries' (cell, column) positions, so it is made once
    per window model (the sensitivities' faces and the nuisance basis do not change).
    """

    def __init__(self, shape: tuple[int, int], cells: np.ndarray, cols: np.ndarray, k: int, *, leaf: int = LEAF_CELLS):
        # The grid, not the symbolic structure itself: a pattern pickled with its window model to a
        # dask worker is checked against the worker's own (cached) structure for the same grid.
        self.grid = (int(shape[0]), int(shape[1]), int(leaf))
        row_of, n_rows, levels, _, _ = symbolic_levels(*self.grid)
        self.k = int(k)
        cells, cols = np.asarray(cells, np.int64), np.asarray(cols, np.int64)
        lev0 = levels[0]
        nb, n_own = lev0["nb"], lev0["n_own"]
        rows = row_of[cells]
        on_leaf = rows < nb * n_own
        self.leaf_entries, self.upper_entries = np.flatnonzero(on_leaf), np.flatnonzero(~on_leaf)
        self.upper_slot = rows[~on_leaf] * self.k + cols[~on_leaf]
        node, local, col = rows[on_leaf] // n_own, rows[on_leaf] % n_own, cols[on_leaf]
        # Each leaf's distinct columns, numbered 0, 1, ... (padded to the most any leaf has; the
        # padding repeats column 0 with zero values, which np.add.at adds harmlessly).
        pairs, slot_of = np.unique(node * self.k + col, return_inverse=True)
        p_node, p_col = pairs // self.k, pairs % self.k
        first = np.searchsorted(p_node, p_node)
        p_slot = np.arange(pairs.size) - first
        self.m = int(p_slot.max()) + 1 if pairs.size else 1
        slot_col = np.zeros((nb, self.m), np.int64)
        slot_col[p_node, p_slot] = p_col
        self.leaf_slot = (node * n_own + local) * self.m + p_slot[np.asarray(slot_of).ravel()]
        struct = lev0["struct_idx"]  # (nb, n_struct) rows; padding points at the zero row n_rows
        self.up_slot = (struct[:, :, None] * self.k + slot_col[:, None, :]).ravel()
        down_rows = np.arange(nb * n_own).reshape(nb, n_own)
        self.down_slot = (down_rows[:, :, None] * self.k + slot_col[:, None, :]).ravel()
