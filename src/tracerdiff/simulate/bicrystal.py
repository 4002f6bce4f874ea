"""One fast boundary normal to the surface: a graded-mesh finite-volume model (type-B validation).

Whipple's geometry: a slab of width delta and diffusivity D_gb = P / (s delta) (s = 1 here)
in a bulk of diffusivity D, normal to the surface y = 0; by symmetry only x >= 0 is meshed.
Column 0 is the half-slab (width delta/2), then bulk columns grow geometrically from
``h_x`` next to the boundary to the far face at ``half_width`` (closed: the mirror plane
half-way to the next boundary). Rows grow geometrically from ``h_y`` at the surface to
``depth`` (closed). The surface is held at C = 1 (constant source) or closed with a film of
unit content in the first row (instantaneous source).

Face fluxes are two-point harmonic conductances (as in :mod:`tracerdiff.simulate.transport`);
time stepping is TR-BDF2 with the cell volumes as mass matrix, on blocks of equal steps whose
length doubles from block to block (the solution varies fastest just after the start).
Lengths in metres, D in m^2/s, P in m^3/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import optimize

from tracerdiff.errors import InputError
from tracerdiff.quantity import positive_si
from tracerdiff.results import Result

_GAMMA = 2.0 - math.sqrt(2.0)


@dataclass(frozen=True, repr=False)
class BicrystalResult(Result):
    """Outcome of :func:`simulate_bicrystal`.

    Attributes
    ----------
    y
        Row centres (m).
    c_mean
        C averaged over the bulk (``delta/2 <= x <= half_width``) at each depth.
    c_boundary
        C in the boundary slab at each depth.
    c
        The full field, rows (y) by columns (x); column 0 is the slab.
    x
        Column centres (m).
    params
        Inputs (SI): d_bulk, p, thickness, time, half_width, source, mesh sizes.
    """

    y: np.ndarray
    c_mean: np.ndarray
    c_boundary: np.ndarray
    c: np.ndarray
    x: np.ndarray
    params: dict

    def to_dict(self) -> dict:
        return dict(self.params)

    def _headline(self) -> tuple[str, str]:
        return "mean C̄", f"{float(np.mean(self.c_mean)):.4g}"

    def _summary(self) -> list[tuple[str, str]]:
        rows = [self._headline(), ("mesh", f"{self.c.shape[0]} rows × {self.c.shape[1]} columns"),
                ("depth", f"{float(self.y[-1]) * 1e6:.4g} µm")]
        return rows + [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in list(self.params.items())[:8]]

    def _rows(self):
        """One row per depth: y (µm), the bulk-averaged C̄ and C in the boundary."""
        rows = [{"y": y * 1e6, "c_mean": m, "c_boundary": b} for y, m, b in zip(self.y, self.c_mean, self.c_boundary)]
        return rows, {"y": "µm", "c_mean": "", "c_boundary": ""}

    def _plot(self, ax):
        """Averaged C̄(y) (log scale) against depth in um."""
        ax.semilogy(self.y * 1e6, np.maximum(self.c_mean, 1e-12), label="C̄ (bulk average)")
        ax.set_xlabel("depth y (um)")
        ax.set_ylabel("C̄")
        ax.legend()


def graded_widths(length: float, first: float, n: int) -> np.ndarray:
    """``n`` cell widths growing geometrically from ``first`` and summing to ``length``."""
    if not (length > 0 and first > 0 and n >= 1):
        raise InputError(f"need length > 0, first width > 0, n >= 1 (got {length}, {first}, {n})", source="mesh")
    if first * n >= length:  # a uniform mesh is already finer than asked
        return np.full(n, length / n)
    f = lambda r: first * (r ** n - 1.0) / (r - 1.0) - length  # noqa: E731
    ratio = optimize.brentq(f, 1.0 + 1e-12, 2.0 ** (60.0 / n) + 1.0)
    widths = first * ratio ** np.arange(n)
    return widths * (length / widths.sum())


@dataclass(frozen=True)
class BicrystalMesh:
    """Mesh and time stepping of :func:`simulate_bicrystal` (defaults scale with sqrt(D t)).

    Attributes
    ----------
    half_width : float or None
        Half the boundary spacing (m); default 10 sqrt(D t) (an isolated boundary).
    depth : float or None
        Meshed depth (m); default ``(10 sqrt(beta) + 12) sqrt(D t)``, past the tail.
    nx, ny : int
        Bulk columns and rows.
    h_x, h_y : float or None
        First column and row widths (m); default ``sqrt(D t) / 50`` and ``/ 40``.
    blocks, steps_per_block : int
        Time blocks (each twice as long as the one before) and TR-BDF2 steps per block.
    refine : float
        Multiplies nx, ny and steps per block and divides h_x, h_y (mesh-refinement studies).
    """

    half_width: float | None = None
    depth: float | None = None
    nx: int = 60
    ny: int = 240
    h_x: float | None = None
    h_y: float | None = None
    blocks: int = 10
    steps_per_block: int = 12
    refine: float = 1.0

    def __post_init__(self):
        for name in ("half_width", "depth", "h_x", "h_y"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"must be a positive length in m (or None), got {v!r}", source=name)
        for name in ("nx", "ny", "blocks", "steps_per_block"):
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, (int, np.integer)) and v >= 1):
                raise InputError(f"must be an integer >= 1, got {v!r}", source=name)
        if not (isinstance(self.refine, (int, float)) and math.isfinite(self.refine) and self.refine > 0):
            raise InputError(f"must be a positive number, got {self.refine!r}", source="refine")


def simulate_bicrystal(*, d_bulk, p, exchange_time, thickness=0.5e-9, source: str = "constant",
                       mesh: BicrystalMesh | None = None) -> BicrystalResult:
    """Diffuse from the surface into a bicrystal with one fast boundary (Whipple / Suzuoka problem).

    Parameters
    ----------
    d_bulk : Measured, str or float
        Bulk D (SI float: m^2/s).
    p : Measured, str or float
        ``P = delta D_gb`` (SI float: m^3/s).
    exchange_time : Measured, str or float
        Time in contact with the source (SI float: s).
    thickness : Measured, str or float
        Slab width delta (SI float: m).
    source : str
        ``"constant"`` (C = 1 on the surface) or ``"instantaneous"`` (unit film, closed surface).
    mesh : BicrystalMesh, optional
        Mesh and time stepping.
    """
    mesh = mesh if mesh is not None else BicrystalMesh()
    d_bulk = positive_si(d_bulk, "diffusivity", name="d_bulk")
    p = positive_si(p, "gb_transport", name="p")
    time = positive_si(exchange_time, "time", name="exchange_time")
    thickness = positive_si(thickness, "length", name="thickness")
    half_width, depth, nx, ny = mesh.half_width, mesh.depth, mesh.nx, mesh.ny
    h_x, h_y, blocks, steps_per_block, refine = mesh.h_x, mesh.h_y, mesh.blocks, mesh.steps_per_block, mesh.refine
    if source not in ("constant", "instantaneous"):
        raise InputError(f"source must be 'constant' or 'instantaneous', got {source!r}", source="source")
    root = math.sqrt(d_bulk * time)
    d_gb = p / thickness
    beta = (d_gb / d_bulk - 1.0) * thickness / (2.0 * root)
    half_width = 10.0 * root if half_width is None else half_width
    depth = (10.0 * math.sqrt(max(beta, 0.0)) + 12.0) * root if depth is None else depth
    nx, ny = int(round(nx * refine)), int(round(ny * refine))
    hx = graded_widths(half_width - thickness / 2, (root / 50 if h_x is None else h_x) / refine, nx)
    hy = graded_widths(depth, (root / 40 if h_y is None else h_y) / refine, ny)
    wx = np.concatenate([[thickness / 2], hx])
    dx = np.concatenate([[d_gb], np.full(nx, d_bulk)])
    matrix, vol, rhs = _operator(wx, hy, dx, dirichlet=source == "constant")
    c = np.zeros(vol.size)
    if source == "instantaneous":
        c.reshape(ny, nx + 1)[0] = 1.0 / hy[0]  # unit content per unit area in the first row
    edges = time * 2.0 ** np.arange(-blocks + 1, 1, dtype=float)
    start = 0.0
    n_steps = int(round(steps_per_block * refine))
    for end in edges:
        c = _tr_bdf2(matrix, vol, rhs, c, (end - start) / n_steps, n_steps)
        start = end
    field = c.reshape(ny, nx + 1)
    mean = field[:, 1:] @ hx / hx.sum()
    x = np.cumsum(wx) - wx / 2
    y = np.cumsum(hy) - hy / 2
    params = {"d_bulk": d_bulk, "p": p, "thickness": thickness, "exchange_time": time, "half_width": half_width,
              "depth": depth, "source": source, "nx": nx, "ny": ny, "beta": beta,
              "delta_ratio": d_gb / d_bulk, "steps": n_steps * blocks}
    return BicrystalResult(y, mean, field[:, 0].copy(), field, x, params)


def _operator(wx, hy, dcol, *, dirichlet: bool):
    """Stiffness K (sparse), cell volumes and source vector for ``V dC/dt = -K C + b``."""
    nxc, nyc = wx.size, hy.size
    idx = np.arange(nxc * nyc).reshape(nyc, nxc)
    rows, cols, vals = [], [], []
    # x faces: series of the two half cells, per unit length of face (height hy)
    kx = 1.0 / (0.5 * wx[:-1] / dcol[:-1] + 0.5 * wx[1:] / dcol[1:])
    tx = (hy[:, None] * kx[None, :]).ravel()
    a, b = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    rows += [a, b]
    cols += [b, a]
    vals += [-tx, -tx]
    # y faces: within a column, harmonic over the two half rows
    ky = dcol[None, :] / (0.5 * hy[:-1, None] + 0.5 * hy[1:, None])
    ty = (ky * wx[None, :]).ravel()
    a, b = idx[:-1, :].ravel(), idx[1:, :].ravel()
    rows += [a, b]
    cols += [b, a]
    vals += [-ty, -ty]
    n = nxc * nyc
    off = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    diag = -np.asarray(off.sum(axis=1)).ravel()
    rhs = np.zeros(n)
    if dirichlet:  # surface face held at C = 1, half a row away
        surf = 2.0 * dcol * wx / hy[0]
        diag[idx[0]] += surf
        rhs[idx[0]] = surf
    vol = (hy[:, None] * wx[None, :]).ravel()
    return (off + sp.diags(diag)).tocsc(), vol, rhs


def _tr_bdf2(k, vol, rhs, c, dt, n):
    """TR-BDF2 for ``V dC/dt = -K C + b``; both stages share ``V + a K`` (a = gamma dt / 2)."""
    a = 0.5 * _GAMMA * dt
    lu = spla.splu((sp.diags(vol) + a * k).tocsc())
    w_mid, w_old = 1.0 / (_GAMMA * (2.0 - _GAMMA)), (1.0 - _GAMMA) ** 2 / (_GAMMA * (2.0 - _GAMMA))
    for _ in range(n):
        mid = lu.solve(vol * c - a * (k @ c) + 2.0 * a * rhs)
        c = lu.solve(vol * (w_mid * mid - w_old * c) + a * rhs)
    return c
