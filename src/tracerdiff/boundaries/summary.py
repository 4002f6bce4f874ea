"""Summary statistics of D*gb/delta over boundaries, and the figures (matplotlib imported lazily)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracerdiff.quantity import Measured
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class BoundarySummary(Result):
    """Spread of D*gb/delta over the boundaries included in the summary.

    Attributes
    ----------
    median, mean, geometric_mean
        Measured (m/s). Standard errors: sd/sqrt(n) for the mean, 1.2533 * robust sd / sqrt(n)
        for the median (normal-theory efficiency), and geometric_mean * sd(ln)/sqrt(n).
        NaN when nothing is included.
    n
        Boundaries included (accepted ones; all with a finite positive value if flagged were asked for).
    sd, gsd, q25, q75, minimum, maximum
        Spread: standard deviation (m/s), geometric standard deviation factor, quartiles, range.
    """

    median: Measured
    mean: Measured
    geometric_mean: Measured
    n: int
    sd: float = math.nan
    gsd: float = math.nan
    q25: float = math.nan
    q75: float = math.nan
    minimum: float = math.nan
    maximum: float = math.nan

    def to_dict(self) -> dict:
        """{"dgb_over_delta": {median, mean, geometric_mean (Measured dicts), n, spread in cm/s}}."""
        conv = lambda v: Measured(v, 0.0, "conductance").to()[0] if math.isfinite(v) else None  # noqa: E731
        return {"dgb_over_delta": {"median": self.median.to_dict(), "mean": self.mean.to_dict(),
                                   "geometric_mean": self.geometric_mean.to_dict(), "n": self.n,
                                   "sd": conv(self.sd), "q25": conv(self.q25), "q75": conv(self.q75),
                                   "min": conv(self.minimum), "max": conv(self.maximum),
                                   "geometric_sd_factor": self.gsd if math.isfinite(self.gsd) else None,
                                   "unit": self.median.unit}}


def summarise(values: np.ndarray) -> BoundarySummary:
    """Median, mean, geometric mean and spread of positive finite D*gb/delta values (m/s)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    nan = Measured(math.nan, math.nan, "conductance")
    if v.size == 0:
        return BoundarySummary(nan, nan, nan, 0)
    n = v.size
    sd = float(v.std(ddof=1)) if n > 1 else math.nan
    logs = np.log(v)
    sd_log = float(logs.std(ddof=1)) if n > 1 else math.nan
    robust_sd = float(1.4826 * np.median(np.abs(v - np.median(v)))) if n > 1 else math.nan
    gm = float(np.exp(logs.mean()))
    q25, med, q75 = (float(q) for q in np.percentile(v, [25, 50, 75]))
    return BoundarySummary(
        median=Measured(med, 1.2533 * robust_sd / math.sqrt(n), "conductance"),
        mean=Measured(float(v.mean()), sd / math.sqrt(n), "conductance"),
        geometric_mean=Measured(gm, gm * sd_log / math.sqrt(n), "conductance"),
        n=n, sd=sd, gsd=float(np.exp(sd_log)), q25=q25, q75=q75,
        minimum=float(v.min()), maximum=float(v.max()))


def plot_map(analysis, ax) -> None:
    """C map with the measured boundary segments coloured by D*gb/delta (flagged ones grey)."""
    from matplotlib import colors
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection

    px = analysis.pixel_size_um
    h, w = analysis.c.shape
    # Boundary positions carry the input's coordinates (origin_um): so does the image.
    y0, x0 = getattr(analysis, "origin_um", (0.0, 0.0))
    left, right, bottom, top = x0 - 0.5 * px, x0 + (w - 0.5) * px, y0 + (h - 0.5) * px, y0 - 0.5 * px
    ax.imshow(np.ma.masked_invalid(analysis.c), cmap="gray", origin="upper", extent=(left, right, bottom, top))
    # One factor for all values, and one LineCollection per style: an image has ~1000
    # boundaries, and a unit conversion and a Line2D each made the figure take seconds.
    factor = Measured(1.0, 0.0, "conductance").to()[0]
    value = np.array([b.dgb_over_delta.value * factor for b in analysis.boundaries], dtype=float)
    ok = np.array([b.accepted for b in analysis.boundaries], dtype=bool) & np.isfinite(value) & (value > 0)
    vals = value[ok]
    norm = None
    if vals.size:
        # One value (or all equal) still gets a colour bar: a factor-2 range around it.
        lo, hi = (vals.min(), vals.max()) if vals.min() < vals.max() else (vals[0] / 2, vals[0] * 2)
        norm = colors.LogNorm(lo, hi)
    mappable = ScalarMappable(norm=norm, cmap="viridis")
    ends = np.array([b.endpoints_um for b in analysis.boundaries], dtype=float).reshape(-1, 2, 2)
    ax.add_collection(LineCollection(ends[~ok], colors="0.6", linewidths=1.0))
    if norm is not None:
        ax.add_collection(LineCollection(ends[ok], colors=mappable.to_rgba(vals), linewidths=2.5))
        ax.figure.colorbar(mappable, ax=ax, label=f"D*gb/δ ({analysis.summary.median.unit})", shrink=0.8)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(f"{int(ok.sum())} accepted of {len(analysis.boundaries)} boundaries")


def binned_profile(s, c, sigma):
    """Profile for plotting: mean C per whole-pixel bin of s, with its counting error.

    The step analysis keeps this instead of every sample (``BoundaryStep.profile_binned``); the
    plot then draws it as it is.
    """
    s, c, sigma = (np.asarray(a, dtype=float) for a in (s, c, sigma))
    if s.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    k = np.round(s).astype(int)
    k = np.where(k == 0, np.sign(s).astype(int), k)
    keys, inv = np.unique(k, return_inverse=True)
    w = 1.0 / sigma ** 2
    sw = np.bincount(inv, w)
    return (np.bincount(inv, s * w) / sw, np.bincount(inv, c * w) / sw, 1.0 / np.sqrt(sw))


def plot_fit(step, ax) -> None:
    """One boundary: binned C along the normal with the two polynomial fits."""
    px = step.pixel_size_um
    if step.profile_binned:
        bs, bc_, be = step.profile_s, step.profile_c, step.profile_se
    else:
        bs, bc_, be = binned_profile(step.profile_s, step.profile_c, step.profile_se)
    if bs.size:
        ax.errorbar(bs * px, bc_, yerr=be, fmt="o", ms=3, color="k")
    if step.profile_model.size == step.profile_s.size and step.profile_model.size:
        for sign, colour in ((-1, "C3"), (1, "C0")):
            side = np.sign(step.profile_s) == sign
            ms, mc, _ = binned_profile(step.profile_s[side], step.profile_model[side], np.ones(side.sum()))
            ax.plot(ms * px, mc, color=colour, label="model" if sign > 0 else None)
    for coef, sign in ((step.coef_down, -1), (step.coef_up, 1)):
        if not coef:
            continue
        extent = step.profile_s[np.sign(step.profile_s) == sign]
        far = float(np.abs(extent).max()) if extent.size else 5.0
        s = np.linspace(0, sign * far, 50)
        ax.plot(s * px, np.polyval(coef[::-1], s), color="C3" if sign < 0 else "C0")
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("s along normal (µm), source →")
    ax.set_ylabel("C")
    ax.set_title(f"{step.label}\n{step.dgb_over_delta}", fontsize=8)
