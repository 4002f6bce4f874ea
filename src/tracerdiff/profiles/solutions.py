"""Solutions of the 1D diffusion equation used to fit line scans (all SI).

* :func:`erfc_profile` - constant surface concentration (eqn 4 of the paper).
* :func:`surface_exchange_profile` - surface exchange limited, flux
  k*(Cs - C(0)) at the surface (Crank, *The Mathematics of Diffusion*, eqn 3.67).
* :class:`CosineSeries` - exact solution of the closed (no-flux) problem on a
  finite sample [a, b]: C(x, tau) = sum_k c_k cos(w_k (x - a)) exp(-w_k^2 tau),
  w_k = k pi / (b - a), tau = integral of D dt. The k = 0 term is the mean, so
  the total tracer is conserved exactly.
* :func:`propagate_grid` - the same propagator for values on a uniform
  cell-centred grid (DCT-II), for simulators that keep a grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import fft
from scipy.special import erfc, erfcx

from tracerdiff.errors import InputError

#: Modes whose damping exp(-w^2 tau) is below exp(-_TAIL) are dropped (exp(-40) ~ 4e-18).
_TAIL = 40.0
#: Upper limit on the number of modes kept (only reached for tau -> 0).
MAX_MODES = 4096
_GAUSS_ORDER = 12


def erfc_profile(x, *, c_s: float, c_0: float, x0: float, d: float, t: float):
    """C(x) = C0 + (Cs - C0) erfc((x - x0) / (2 sqrt(D t))); C = Cs for x < x0 (immersed part)."""
    u = np.maximum(np.asarray(x, dtype=float) - x0, 0.0) / (2.0 * math.sqrt(d * t))
    return c_0 + (c_s - c_0) * erfc(u)


def surface_exchange_profile(x, *, c_s: float, c_0: float, x0: float, d: float, k: float, t: float):
    """Surface-exchange-limited profile (Crank eqn 3.67), h = k/D.

    (C - C0)/(Cs - C0) = erfc(u) - exp(h x + h^2 D t) erfc(u + h sqrt(D t)), u = x / (2 sqrt(D t)).
    The product exp(.) erfc(.) is evaluated as erfcx(v) exp(-u^2) to avoid overflow.
    """
    s = math.sqrt(d * t)
    u = np.maximum(np.asarray(x, dtype=float) - x0, 0.0) / (2.0 * s)
    v = u + (k / d) * s
    return c_0 + (c_s - c_0) * (erfc(u) - erfcx(v) * np.exp(-u * u))


def finite_exchange_profile(x, *, c_s: float, c_0: float, x0: float, d: float, t: float, end: float):
    """Exchange through x0 (C = Cs there) into a sample whose far end ``end`` is closed (no flux).

    Crank eqn 4.17 for the slab x0 < x < end with a Dirichlet face at x0 and a no-flux face at end:
    (C - C0)/(Cs - C0) = 1 - sum_n 4/((2n+1) pi) sin(w_n (x - x0)) exp(-D w_n^2 t),
    w_n = (2n+1) pi / (2 (end - x0)). Tends to eqn 4 when end - x0 >> 2 sqrt(D t). C = Cs below x0.
    """
    ell = end - x0
    if not ell > 0:
        raise InputError(f"sample end {end * 1e6:g} um must lie beyond the meniscus x0 = {x0 * 1e6:g} um")
    s = np.clip(np.asarray(x, dtype=float) - x0, 0.0, ell)
    tau = d * t
    n_modes = modes_needed(2.0 * ell, tau) if tau > 0 else MAX_MODES
    w = (2 * np.arange(n_modes) + 1) * (math.pi / (2.0 * ell))
    amp = 4.0 / (2 * np.arange(n_modes) + 1) / math.pi * np.exp(-w * w * tau)
    return c_0 + (c_s - c_0) * (1.0 - np.sin(np.multiply.outer(s, w)) @ amp)


def modes_needed(length: float, tau: float) -> int:
    """Number of cosine modes that matter at tau = D t (damping above exp(-40))."""
    if tau <= 0:
        return MAX_MODES
    return int(min(MAX_MODES, math.ceil(length / math.pi * math.sqrt(_TAIL / tau)) + 2))


@dataclass(frozen=True)
class CosineSeries:
    """Closed-system (no-flux) diffusion on [a, b] from a given initial profile.

    Build with :meth:`from_samples` (piecewise-linear data, integrated exactly)
    or :meth:`from_function` (smooth pieces, Gauss-Legendre quadrature), then
    :meth:`evaluate` at any tau = D t. Coefficients are computed lazily up to
    the number of modes a given tau needs.
    """

    a: float
    b: float
    _coef_fn: object = field(repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def length(self) -> float:
        """Sample length b - a, m."""
        return self.b - self.a

    @property
    def mean(self) -> float:
        """Mean C over the sample: conserved by the closed evolution."""
        return float(self.coefficients(1)[0])

    def coefficients(self, n_modes: int) -> np.ndarray:
        """The first ``n_modes`` cosine coefficients c_k (c_0 = mean)."""
        have = self._cache.get("coef")
        if have is None or have.size < n_modes:
            want = max(n_modes, 64 if have is None else 2 * have.size)
            self._cache["coef"] = have = self._coef_fn(min(max(want, n_modes), MAX_MODES))
        return have[:n_modes]

    def basis(self, x: np.ndarray, n_modes: int) -> np.ndarray:
        """cos(w_k (x - a)) for k < n_modes, shape (len(x), n_modes)."""
        w = np.arange(n_modes) * (math.pi / self.length)
        return np.cos(np.outer(np.asarray(x, dtype=float) - self.a, w))

    def damping(self, n_modes: int, tau: float) -> np.ndarray:
        """exp(-w_k^2 tau) for k < n_modes: how much of each mode is left after tau = integral of D dt."""
        w = np.arange(n_modes) * (math.pi / self.length)
        return np.exp(-w * w * tau)

    def evaluate(self, x, tau: float) -> np.ndarray:
        """C at positions ``x`` (m, inside [a, b]) after tau = integral D dt (m^2)."""
        if tau < 0:
            raise InputError(f"tau = D t must be >= 0, got {tau}")
        n = modes_needed(self.length, tau)
        return self.basis(x, n) @ (self.coefficients(n) * self.damping(n, tau))

    @classmethod
    def from_samples(cls, x, c, a: float, b: float) -> "CosineSeries":
        """Series of the piecewise-linear interpolant of (x, c), constant beyond the data to a and b.

        For piecewise-linear f, integrating by parts gives the exact coefficient
        c_k = (2/L) sum_j m_j [cos(w s_{j+1}) - cos(w s_j)] / w^2 (slopes m_j).
        """
        x = np.asarray(x, dtype=float)
        c = np.asarray(c, dtype=float)
        _check_extent(x, a, b)
        s = np.concatenate(([0.0], x - a, [b - a]))
        f = np.concatenate(([c[0]], c, [c[-1]]))
        ds = np.diff(s)
        keep = ds > 0
        slope = np.zeros_like(ds)
        slope[keep] = np.diff(f)[keep] / ds[keep]
        length = b - a
        mean = float(np.sum(0.5 * (f[1:] + f[:-1]) * ds) / length)

        def coef(n_modes):
            # sum_j m_j [cos(w s_{j+1}) - cos(w s_j)] = sum_i cos(w s_i) (m_{i-1} - m_i)
            jump = np.concatenate(([0.0], slope)) - np.concatenate((slope, [0.0]))
            out = cos_moments(s * (math.pi / length), jump, n_modes)
            k = np.arange(1, n_modes) * (math.pi / length)
            out[1:] *= (2.0 / length) / (k * k)
            out[0] = mean
            return out

        return cls(float(a), float(b), coef)

    @classmethod
    def from_function(cls, func, a: float, b: float, *, breakpoints=()) -> "CosineSeries":
        """Series of ``func(x)`` (vectorised), smooth between ``breakpoints`` (jumps or kinks allowed there)."""
        length = b - a
        edges = np.unique(np.clip(np.concatenate(([a, b], np.asarray(breakpoints, dtype=float))), a, b))
        gx, gw = np.polynomial.legendre.leggauss(_GAUSS_ORDER)

        def coef(n_modes):
            # panels short enough that each holds < 1 wavelength of the highest mode
            n_panels = max(64, n_modes // 2 + 1)
            nodes, weights = [], []
            for lo, hi in zip(edges[:-1], edges[1:]):
                m = max(4, int(math.ceil(n_panels * (hi - lo) / length)))
                p = np.linspace(lo, hi, m + 1)
                half = 0.5 * np.diff(p)[:, None]
                nodes.append((0.5 * (p[1:] + p[:-1])[:, None] + half * gx[None, :]).ravel())
                weights.append((half * gw[None, :]).ravel())
            xq, wq = np.concatenate(nodes), np.concatenate(weights)
            fw = np.asarray(func(xq), dtype=float) * wq
            out = cos_moments((xq - a) * (math.pi / length), fw, n_modes) * (2.0 / length)
            out[0] *= 0.5
            return out

        return cls(float(a), float(b), coef)


def cos_moments(theta: np.ndarray, weights: np.ndarray, n_modes: int) -> np.ndarray:
    """sum_i weights_i cos(k theta_i) for k < n_modes, by the Chebyshev recurrence
    cos((k+1) t) = 2 cos(t) cos(k t) - cos((k-1) t): one multiply-add per term instead of a cosine
    (rounding grows ~ k eps, < 1e-12 for the <= 4096 modes used). Sums use numpy's pairwise
    reduction, not BLAS dot: thousands of tiny threaded dot calls are slow on a busy machine."""
    out = np.empty(n_modes)
    prev, cur = np.ones_like(theta), np.cos(theta)
    two_c = 2.0 * cur
    buf = np.empty_like(theta)
    out[0] = weights.sum()
    for k in range(1, n_modes):
        out[k] = np.multiply(cur, weights, out=buf).sum()
        np.multiply(two_c, cur, out=buf)
        np.subtract(buf, prev, out=prev)  # prev now holds cos((k+1) theta)
        prev, cur = cur, prev
    return out


def _check_extent(x, a, b):
    if not (b > a):
        raise InputError(f"sample extent must have end > start, got [{a}, {b}] m")
    if x.size and (x[0] < a - 1e-12 or x[-1] > b + 1e-12):
        raise InputError(f"profile positions [{x[0] * 1e6:g}, {x[-1] * 1e6:g}] um lie outside the sample "
                         f"[{a * 1e6:g}, {b * 1e6:g}] um")


def propagate_grid(values, length: float, tau: float) -> np.ndarray:
    """Closed (no-flux) diffusion of cell-centred grid values over tau = D t (DCT-II; sum is conserved)."""
    values = np.asarray(values, dtype=float)
    n = values.size
    w = np.arange(n) * (math.pi / length)
    return fft.idct(fft.dct(values, type=2, norm="ortho") * np.exp(-w * w * tau), type=2, norm="ortho")
