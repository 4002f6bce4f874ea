"""How a whole image is laid out in windows for the inversion, with nothing of size windows x image.

Which window owns each pixel (:func:`owner_windows`) and each boundary (:func:`ownership`), one
window's fitted field seen on the whole image (:class:`WindowImage`), and what a window's model
is built from (:class:`WindowData`). Arrays are turned so that the source edge is row 0 while
fitting (:func:`to_canonical`) and back for the result (:func:`from_canonical`). Units as in
:mod:`tracerdiff.inversion.network`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracerdiff.inversion.network import WindowModel
from tracerdiff.inversion.windows import window_grid


@dataclass(frozen=True)
class WindowImage:
    """One window's fitted field placed on the whole image, NaN outside the window, in input orientation.

    Nothing of image size is stored: slicing (``w[y0:y1, x0:x1]``) builds only the requested box,
    and ``numpy.asarray(w)`` the whole image. A full NaN image per window took n_windows x the
    image's memory (at 2048^2 px: ~1000 windows, 34 GB).
    """

    values: np.ndarray  # the window's field, canonical orientation
    origin: tuple[int, int]  # (y0, x0) of the window, canonical orientation
    shape: tuple[int, int]  # the whole image, input orientation
    edge: str  # source edge (see to_canonical)

    def __getitem__(self, key) -> np.ndarray:
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, slice) for k in key)):
            raise TypeError("a WindowImage is indexed by two slices, e.g. w[y0:y1, x0:x1]")
        (y0, y1, sy), (x0, x1, sx) = (k.indices(n) for k, n in zip(key, self.shape))
        if sy != 1 or sx != 1:
            raise ValueError("a WindowImage is sliced with step 1 only")
        y1, x1 = max(y1, y0), max(x1, x0)
        # The box in canonical coordinates (from_canonical of a canonical crop is the input crop).
        ny, nx = self.shape
        box = {"top": (y0, y1, x0, x1), "bottom": (ny - y1, ny - y0, x0, x1), "left": (x0, x1, y0, y1),
               "right": (nx - x1, nx - x0, y0, y1)}[self.edge]
        out = np.full((box[1] - box[0], box[3] - box[2]), np.nan)
        wy, wx = self.origin
        hy, hx = self.values.shape
        a0, a1 = max(box[0], wy), min(box[1], wy + hy)
        b0, b1 = max(box[2], wx), min(box[3], wx + hx)
        if a0 < a1 and b0 < b1:
            out[a0 - box[0]:a1 - box[0], b0 - box[2]:b1 - box[2]] = self.values[a0 - wy:a1 - wy, b0 - wx:b1 - wx]
        return from_canonical(out, self.edge)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        full = self[:, :]
        return full if dtype is None else full.astype(dtype)


def owner_windows(shape, size, stride) -> np.ndarray:
    """For every pixel, the index of the window whose centre is nearest (max-norm; the first on ties).

    Windows as in :class:`_Image`: starts ``window_grid`` along each axis, row-major. Computed
    per pixel from the two axes' centres, not from a (windows, ny, nx) stack of distances:
    the nearest distance is m = max(min_i |y - cy_i|, min_j |x - cx_j|), and the first window
    (i, j) in row-major order at distance m has the first i with |y - cy_i| <= m and then the
    first j with |x - cx_j| <= m; the centres increase, so that is the first i with cy_i >= y - m.
    """
    ny, nx = shape
    cy = np.array(window_grid(ny, size[0], stride)) + size[0] / 2
    cx = np.array(window_grid(nx, size[1], stride)) + size[1] / 2
    dy = np.min(np.abs(np.arange(ny)[:, None] - cy[None, :]), axis=1)
    dx = np.min(np.abs(np.arange(nx)[:, None] - cx[None, :]), axis=1)
    owner = np.empty(shape, dtype=np.int32 if cy.size * cx.size < 2 ** 31 else np.int64)
    ys, xs = np.arange(ny, dtype=float), np.arange(nx, dtype=float)
    block = max(1, 2 ** 22 // max(nx, 1))  # rows per step: bounded temporaries
    for r0 in range(0, ny, block):
        r1 = min(r0 + block, ny)
        m = np.maximum(dy[r0:r1, None], dx[None, :])
        i = np.searchsorted(cy, ys[r0:r1, None] - m, side="left")
        j = np.searchsorted(cx, xs[None, :] - m, side="left")
        owner[r0:r1] = i * cx.size + j
    return owner


def to_canonical(a: np.ndarray, edge: str) -> np.ndarray:
    """``a`` turned so the source edge is row 0 (a flip or a transpose: the physics is unchanged)."""
    return {"top": a, "bottom": a[::-1], "left": a.T, "right": a.T[::-1]}[edge]


def from_canonical(a: np.ndarray, edge: str) -> np.ndarray:
    """Inverse of :func:`to_canonical`."""
    return {"top": a, "bottom": a[::-1], "left": a.T, "right": a[::-1].T}[edge]


#: Window models (~6 MB each for 96 x 96 px windows: dense nuisance basis, sparse PSF) are kept
#: between EM passes while all of them together stay below this estimate; above it each task
#: builds its window's model from the window's data (a 96^2 px window: 25 ms against ~0.5 s of
#: fitting), so that memory grows with the image, not with the models (a 4096^2 px image has
#: 4096 windows: 23 GB of models, 38 GB with their PSF matrices).
KEEP_MODELS_BYTES = 1e9
#: Bytes per window cell of a model with its PSF matrices (measured: 9.4 MB per 96^2 px window).
MODEL_BYTES_PER_CELL = 1000


@dataclass(frozen=True)
class WindowData:
    """What :class:`~tracerdiff.inversion.network.WindowModel` is built from, for one window (views
    of whole-image arrays: small until pickled), and the window's grain pairs."""

    c: np.ndarray
    err: np.ndarray
    fit_px: np.ndarray
    labels: np.ndarray
    face_weights: tuple  # (rows, cols) |n.e| of the faces between rows and between columns
    h: float
    d_bulk: float
    psf_px: float
    at_source: bool

    @property
    def pairs(self) -> np.ndarray:
        """The window's grain pairs (a < b) in :class:`WindowModel`'s order (sorted)."""
        return window_pairs(self.labels)

    @property
    def n_params(self) -> int:
        return len(self.pairs)

    def model(self) -> WindowModel:
        return WindowModel(self.c, self.err, self.fit_px, self.labels, self.face_weights, h=self.h,
                           d_bulk=self.d_bulk, psf_px=self.psf_px, at_source=self.at_source)


@dataclass(frozen=True)
class OwnedRows:
    """The rows ``index`` (sorted) of a window fit's (K, K) step Jacobian: those of the boundaries the
    window reports, the only ones the result reads (``rows_of[i]`` is row ``i``). The whole
    matrix of every window took ~0.16 MB per window (4096 windows at 4096^2 px: 0.67 GB)."""

    index: np.ndarray
    rows: np.ndarray  # (len(index), K)

    def __getitem__(self, i) -> np.ndarray:
        j = int(np.searchsorted(self.index, i))
        if j >= self.index.size or self.index[j] != i:
            raise IndexError(f"row {i} of the step Jacobian was not kept (the window does not report that boundary)")
        return self.rows[j]


def owned_rows(matrix: np.ndarray, own: np.ndarray) -> OwnedRows:
    """The rows ``own`` of ``matrix`` (copied, so that the matrix itself can be let go)."""
    index = np.unique(np.asarray(own, dtype=np.int64))
    return OwnedRows(index, np.array(matrix[index], copy=True))


def window_pairs(labels: np.ndarray) -> np.ndarray:
    """(K, 2) sorted distinct grain pairs (a < b) that share a face in ``labels``, as WindowModel.pairs."""
    lab = np.asarray(labels)
    lo = np.concatenate([lab[:-1, :].ravel(), lab[:, :-1].ravel()])
    hi = np.concatenate([lab[1:, :].ravel(), lab[:, 1:].ravel()])
    on = lo != hi
    return np.unique(np.stack([np.minimum(lo, hi)[on], np.maximum(lo, hi)[on]], axis=1), axis=0).reshape(-1, 2)


def window_model(window) -> WindowModel:
    """The model of a window given as a model or as its WindowData."""
    return window.model() if isinstance(window, WindowData) else window


def ownership(window_pairs, windows, labels, size) -> list[np.ndarray]:
    """For each window, the indices of the boundaries it reports: those whose centroid is nearest its centre."""
    ny, nx = labels.shape
    pts, keys = [], []
    for axis in (0, 1):
        a, b = (labels[:-1], labels[1:]) if axis == 0 else (labels[:, :-1], labels[:, 1:])
        r, col = np.nonzero(a != b)
        pts.append(np.column_stack([r + 0.5 * (axis == 0), col + 0.5 * (axis == 1)]))
        keys.append(np.stack([np.minimum(a, b)[a != b], np.maximum(a, b)[a != b]], axis=1))
    pts, keys = np.concatenate(pts), np.concatenate(keys)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    cnt = np.bincount(inv).astype(float)
    centroid = np.column_stack([np.bincount(inv, pts[:, 0]) / cnt, np.bincount(inv, pts[:, 1]) / cnt])
    centres = np.array([(y0 + size[0] / 2, x0 + size[1] / 2) for y0, x0 in windows])
    lookup = {(int(a), int(b)): k for k, (a, b) in enumerate(uniq)}
    best = np.full(len(uniq), -1)
    best_d = np.full(len(uniq), np.inf)
    for w, pairs in enumerate(window_pairs):
        idx = np.array([lookup[(int(a), int(b))] for a, b in pairs], dtype=int)
        if idx.size == 0:
            continue
        d = np.max(np.abs(centroid[idx] - centres[w]), axis=1)
        better = d < best_d[idx]
        best[idx[better]], best_d[idx[better]] = w, d[better]
    owned = []
    for w, pairs in enumerate(window_pairs):
        idx = np.array([lookup[(int(a), int(b))] for a, b in pairs], dtype=int)
        owned.append(np.flatnonzero(best[idx] == w) if idx.size else np.zeros(0, int))
    return owned
