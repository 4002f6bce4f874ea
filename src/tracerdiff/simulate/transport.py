"""Finite-volume operator: face conductances of grains and thin boundaries.

See the :mod:`tracerdiff.simulate` docstring for the derivation of the face
conductance. Everything here is SI (m, s); the grid spacing ``h`` is in metres.
The operator is returned as a symmetric sparse matrix ``A`` (per unit cell
volume, 1/s) and a source vector ``b`` so that ``dC/dt = -A C + b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from tracerdiff.errors import InputError
from tracerdiff.grains import GrainMap, _pair_key, face_lo_index, is_real_number

BOLTZMANN_J_K = 1.380649e-23


@dataclass(frozen=True)
class Arrhenius:
    """``D(T) = prefactor * exp(-activation_energy_J / (k_B T))`` (SI units)."""

    prefactor: float
    activation_energy_J: float

    def __post_init__(self):
        for name in ("prefactor", "activation_energy_J"):
            value = getattr(self, name)
            if not (is_real_number(value) and np.isfinite(value)):
                raise InputError(f"must be a finite number (SI units), got {value!r}", source=name)
        if self.prefactor <= 0:
            raise InputError(f"must be positive, got {self.prefactor!r}", source="prefactor")

    def at(self, temperature_K: float) -> float:
        """The coefficient at ``temperature_K`` (kelvin)."""
        if not (is_real_number(temperature_K) and np.isfinite(temperature_K) and temperature_K > 0):
            raise InputError(f"temperature must be positive kelvin, got {temperature_K!r}", source="temperature_K")
        try:
            return float(self.prefactor * math.exp(-self.activation_energy_J / (BOLTZMANN_J_K * temperature_K)))
        except OverflowError:  # a large negative activation energy
            raise InputError(f"{self} overflows at {temperature_K} K", source="activation_energy_J") from None

    def to_dict(self) -> dict:
        """JSON-safe parameters (SI)."""
        return {"prefactor_si": self.prefactor, "activation_energy_J": self.activation_energy_J}


def layered_tensors(grains: GrainMap, *, d_fast: float, d_slow: float, seed: int = 0) -> np.ndarray:
    """Per-grain diffusion tensors of a layered (2D-pathway) conductor, random in-plane orientation.

    In 2D each grain gets ``R(theta) diag(d_fast, d_slow) R(theta)^T`` with a
    uniform random angle; in 3D the slow axis (layer normal) is a random unit
    vector. Returns ``(max_label + 1, ndim, ndim)`` for ``simulate_history(d_bulk=...)``.
    """
    if not (np.isfinite(d_fast) and np.isfinite(d_slow) and d_fast > 0 and d_slow > 0):
        raise InputError(f"diffusivities must be positive, got {d_fast!r}, {d_slow!r}", source="d_bulk")
    rng = np.random.default_rng(seed)
    n = int(grains.labels.max()) + 1
    if grains.ndim == 2:
        theta = rng.uniform(0, math.pi, n)
        u = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # fast direction
        return d_slow * np.eye(2)[None] + (d_fast - d_slow) * u[:, :, None] * u[:, None, :]
    normal = rng.normal(size=(n, 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return d_fast * np.eye(3)[None] + (d_slow - d_fast) * normal[:, :, None] * normal[:, None, :]


def axis_diffusivities(grains: GrainMap, d_bulk) -> list[np.ndarray]:
    """Per-cell ``e_k . D . e_k`` for every axis ``k`` (flat arrays).

    These feed the two-point face fluxes; the off-diagonal terms of rotated
    tensors are added separately as diagonal links (:func:`cross_links`).
    """
    labels = grains.labels.ravel()
    if np.ndim(d_bulk) == 0:
        value = float(d_bulk)
        return [np.full(labels.size, value) for _ in range(grains.ndim)]
    tensors = np.asarray(d_bulk, float)
    need = int(grains.labels.max()) + 1
    if tensors.shape[1:] != (grains.ndim, grains.ndim) or tensors.shape[0] < need:
        raise InputError(f"per-grain tensors must have shape ({need}, {grains.ndim}, {grains.ndim}), "
                         f"got {tensors.shape}", source="d_bulk")
    diag = np.einsum("gkk->gk", tensors[:need])
    return [diag[labels, k] for k in range(grains.ndim)]


def cross_links(grains: GrainMap, d_bulk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonal links carrying the off-diagonal tensor terms inside grains.

    For axes p < q, the four cells a=(i,j), b=(i,j+1), c=(i+1,j), d=(i+1,j+1)
    around a grid vertex (a grid edge in 3D) have gradient estimates
    ``h g_p = (c + d - a - b)/2``, ``h g_q = (b + d - a - c)/2``; the cross part
    of the energy, ``h^ndim D_pq g_p g_q``, equals ``(D_pq/2) h^(ndim-2) [(d - a)^2 - (c - b)^2] / 2``,
    i.e. a link a-d of transmissibility ``D_pq / (2 h^2)`` (per cell volume) and a
    link b-c of ``-D_pq / (2 h^2)``. Symmetric with zero row sums (conserves
    tracer) and, with the two-point diagonal terms, positive semi-definite for
    any positive-definite D; not monotone for strong rotated anisotropy (small
    over/undershoots). Only vertices whose cells all lie in one grain get links:
    next to a boundary the cross term is dropped.

    Returns
    -------
    lo, hi, trans
        Flat cell indices of each link and its transmissibility (1/s).
    """
    tensors = np.asarray(d_bulk, float)
    h = grains.pixel_size_um * 1e-6
    shape, labels, ndim = grains.shape, grains.labels, grains.ndim
    index = np.arange(int(np.prod(shape))).reshape(shape)
    out_lo, out_hi, out_t = [], [], []
    for p in range(ndim):
        for q in range(p + 1, ndim):
            def corner(dp, dq, arr):
                sl = [slice(None)] * ndim
                sl[p] = slice(dp, arr.shape[p] - 1 + dp)
                sl[q] = slice(dq, arr.shape[q] - 1 + dq)
                return arr[tuple(sl)].ravel()
            la, lb, lc, ld = (corner(dp, dq, labels) for dp, dq in ((0, 0), (0, 1), (1, 0), (1, 1)))
            same = (la == lb) & (la == lc) & (la == ld)
            d_pq = tensors[la[same], p, q]
            keep = d_pq != 0
            ia, ib, ic, id_ = (corner(dp, dq, index)[same][keep] for dp, dq in ((0, 0), (0, 1), (1, 0), (1, 1)))
            t = d_pq[keep] / (2.0 * h * h)
            out_lo += [ia, ib]
            out_hi += [id_, ic]
            out_t += [t, -t]
    if not out_lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_lo), np.concatenate(out_hi), np.concatenate(out_t)


def boundary_conductances(grains: GrainMap, dgb_over_delta, pairs: np.ndarray, *, name: str = "dgb_over_delta",
                          what: str = "D*gb/delta") -> np.ndarray:
    """Resolve ``dgb_over_delta`` (float, {(a, b): G} mapping or callable(a, b)) per boundary pair.

    ``name``/``what`` label errors when the same resolution serves another per-boundary
    coefficient (the along-boundary ``p_gb``).
    """
    if isinstance(dgb_over_delta, Mapping):
        key = _pair_key(pairs[:, 0], pairs[:, 1])
        given = {}
        for pair, g in dgb_over_delta.items():
            try:
                a, b = (int(v) for v in pair)
            except (TypeError, ValueError):
                raise InputError(f"keys must be grain-label pairs (a, b), got {pair!r}",
                                 source=name) from None
            k = int(_pair_key(np.asarray([a]), np.asarray([b]))[0])
            if k in given:  # (a, b) and (b, a) name the same boundary
                raise InputError(f"boundary ({min(a, b)}, {max(a, b)}) is given twice", source=name)
            given[k] = g
        existing = set(key.tolist())
        extra = [k for k in given if k not in existing]
        if extra:
            a, b = divmod(extra[0], int(1 << 31))
            raise InputError(f"boundary ({a}, {b}) does not exist in the grain map "
                             f"({len(extra)} unknown pair(s))", source=name)
        missing = [k for k in key.tolist() if k not in given]
        if missing:
            a, b = divmod(missing[0], int(1 << 31))
            raise InputError(f"no value for boundary ({a}, {b}) ({len(missing)} of {len(key)} boundaries "
                             "missing)", source=name)
        values = _as_floats([given[k] for k in key.tolist()], name)
    elif callable(dgb_over_delta):
        values = []
        for a, b in pairs:
            try:
                values.append(dgb_over_delta(int(a), int(b)))
            except Exception as exc:  # the user's function: say which boundary it failed on
                raise InputError(f"the function failed for boundary ({a}, {b}): {type(exc).__name__}: {exc}",
                                 source=name) from exc
        values = _as_floats(values, name)
    elif np.ndim(dgb_over_delta) == 0:
        values = _as_floats(np.full(len(pairs), dgb_over_delta, dtype=object), name)
    else:  # a bare sequence would silently depend on the order of boundary_pairs()
        raise InputError("give one number, an Arrhenius law, a {(a, b): value} mapping or a callable(a, b), "
                         f"not a {type(dgb_over_delta).__name__}", source=name)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} must be finite and >= 0, got {values[i]!r} for boundary "
                         f"({pairs[i, 0]}, {pairs[i, 1]})", source=name)
    return values


def _as_floats(values, name: str = "dgb_over_delta") -> np.ndarray:
    try:
        return np.asarray(values, float).reshape(-1)
    except (TypeError, ValueError):
        unit = "m/s" if name == "dgb_over_delta" else "m^3/s"
        raise InputError(f"{'D*gb/delta' if name == 'dgb_over_delta' else name} values must be numbers ({unit})",
                         source=name) from None


def _harmonic_series(*resistances: np.ndarray) -> np.ndarray:
    total = np.zeros_like(resistances[0])
    for r in resistances:
        total = total + r
    out = np.zeros_like(total)
    np.divide(1.0, total, out=out, where=np.isfinite(total) & (total > 0))
    return out


def assemble(grains: GrainMap, d_axes: list[np.ndarray], pairs: np.ndarray, g_pairs: np.ndarray,
             *, source: np.ndarray | None, edge_cells: list[tuple[np.ndarray, int]], d_bulk=None) -> tuple:
    """Build ``A`` (csr, 1/s) and ``b`` (1/s per unit c_source) for the free cells.

    Parameters
    ----------
    d_axes : list of numpy.ndarray
        Per-cell axis diffusivities (m^2/s), from :func:`axis_diffusivities`.
    pairs, g_pairs : numpy.ndarray
        Boundary pairs and their conductances D*gb/delta (m/s).
    source : numpy.ndarray or None
        Boolean flat mask of cells held at ``c_source`` (Dirichlet region) or None.
    edge_cells : list of tuple
        ``(flat cell indices, axis)`` of cells whose outer face touches the solution.
    d_bulk : numpy.ndarray, optional
        Per-grain tensors: their off-diagonal terms are added by :func:`cross_links`.

    Returns
    -------
    A, b, free
        ``dC_free/dt = -A C_free + b * c_source``; ``free`` are the flat indices solved for.
    """
    h = grains.pixel_size_um * 1e-6
    shape = grains.shape
    n = int(np.prod(shape))
    labels = grains.labels
    pair_key = _pair_key(pairs[:, 0], pairs[:, 1])
    rows, cols, vals = [], [], []
    for axis in range(grains.ndim):
        stride = int(np.prod(shape[axis + 1:]))
        lo_all = face_lo_index(shape, axis).ravel()
        d = d_axes[axis]
        lo_lab = labels.ravel()[lo_all]
        hi_lab = labels.ravel()[lo_all + stride]
        r_half = (0.5 * h) / d[lo_all] + (0.5 * h) / d[lo_all + stride]
        r_gb = np.zeros_like(r_half)
        gb_lo, gb_hi, weight = grains.boundary_faces(axis)
        if gb_lo.size:
            is_gb = lo_lab != hi_lab
            idx = np.searchsorted(pair_key, _pair_key(labels.ravel()[gb_lo], labels.ravel()[gb_hi]))
            g_face = g_pairs[idx] * weight
            r_gb[is_gb] = np.divide(1.0, g_face, out=np.full(g_face.shape, np.inf), where=g_face > 0)
        trans = _harmonic_series(r_half, r_gb) / h  # face conductance / cell volume, 1/s
        rows += [lo_all, lo_all + stride]
        cols += [lo_all + stride, lo_all]
        vals += [-trans, -trans]
    if d_bulk is not None and np.ndim(d_bulk) == 3:
        lo, hi, trans = cross_links(grains, d_bulk)
        rows += [lo, hi]
        cols += [hi, lo]
        vals += [-trans, -trans]
    off = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    diag = -np.asarray(off.sum(axis=1)).ravel()
    edge = np.zeros(n)
    for cells, axis in edge_cells:
        np.add.at(edge, cells, 2.0 * d_axes[axis][cells] / h ** 2)  # half-cell to the outer face
    full = (off + sp.diags(diag + edge)).tocsr()
    if source is None:
        return full, edge, np.arange(n)
    free = np.flatnonzero(~source)
    coupling = np.asarray(-full[free][:, np.flatnonzero(source)].sum(axis=1)).ravel()
    return full[free][:, free].tocsr(), edge[free] + coupling, free


def edge_cells(shape: tuple[int, ...], edge: str) -> tuple[np.ndarray, int]:
    """Flat indices of the cells along a named edge and the axis normal to it."""
    ndim = len(shape)
    names = {"top": (ndim - 2, 0), "bottom": (ndim - 2, -1), "left": (ndim - 1, 0), "right": (ndim - 1, -1)}
    if ndim == 3:
        names.update(front=(0, 0), back=(0, -1))
    if edge not in names:
        raise InputError(f"exchange edge {edge!r} does not exist for a {ndim}D grid; use one of "
                         f"{sorted(names)} or a boolean mask", source="source_edge")
    axis, pos = names[edge]
    index = np.arange(int(np.prod(shape))).reshape(shape)
    return np.take(index, pos, axis=axis).ravel(), axis

