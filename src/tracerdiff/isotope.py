"""Isotope fractions C = I6/(I6+I7) (eqn 1) with counting errors.

Counts are Poisson; given the total N = I6 + I7, I6 is binomial, so
``stderr(C) = sqrt(C (1 - C) / N)``. Where one channel is zero the binomial
error would be exactly zero, which would give that pixel infinite weight in a
fit; there we use the Agresti-Coull-style estimate p = (I6 + 1/2)/(N + 1).
Pixels with N = 0 have no C: they are masked (``numpy.ma``), never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracerdiff.errors import InputError


@dataclass(frozen=True)
class IsotopeFraction:
    """Isotope fraction map or profile with counting standard errors.

    Attributes
    ----------
    value, stderr
        Masked arrays (mask = no counts). Scalars come back as 0-d masked arrays.
    total
        I6 + I7 counts per pixel.
    """

    value: np.ma.MaskedArray
    stderr: np.ma.MaskedArray
    total: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """Boolean array, True where C is defined."""
        return ~np.ma.getmaskarray(self.value)

    def normalised(self, c0: float, cs: float) -> "IsotopeFraction":
        """(C - C0)/(Cs - C0): 0 at natural abundance, 1 at the solution's enrichment."""
        if not (np.isfinite(c0) and np.isfinite(cs)) or cs == c0:
            raise InputError(f"normalisation needs finite C0 != Cs, got C0={c0}, Cs={cs}")
        span = cs - c0
        return IsotopeFraction((self.value - c0) / span, self.stderr / abs(span), self.total)

    def to_dict(self) -> dict:
        v = self.value
        return {"n_valid": int(self.valid.sum()), "n_masked": int((~self.valid).sum()),
                "mean": float(v.mean()) if self.valid.any() else None,
                "median_stderr": float(np.ma.median(self.stderr)) if self.valid.any() else None}


def isotope_fraction(counts_6: np.ndarray | float, counts_7: np.ndarray | float, *,
                     name: str = "counts") -> IsotopeFraction:
    """C = I6/(I6 + I7) with its binomial counting error.

    Parameters
    ----------
    counts_6, counts_7
        Counts of the tracer and the other isotope (scalars or arrays of one shape).
    name
        Used in error messages (e.g. the file the counts came from).

    Raises
    ------
    InputError
        Negative or non-finite counts, or mismatched shapes.
    """
    i6 = np.asarray(counts_6, dtype=float)
    i7 = np.asarray(counts_7, dtype=float)
    if i6.shape != i7.shape:
        raise InputError(f"6Li and 7Li counts have different shapes {i6.shape} and {i7.shape}", source=name)
    if not (np.all(np.isfinite(i6)) and np.all(np.isfinite(i7))):
        raise InputError("counts contain NaN or infinity", source=name)
    if np.any(i6 < 0) or np.any(i7 < 0):
        raise InputError("counts must be non-negative", source=name)
    total = i6 + i7
    empty = total <= 0
    safe_total = np.where(empty, 1.0, total)
    c = np.where(empty, 0.0, i6 / safe_total)
    edge = (i6 == 0) | (i7 == 0)
    p = np.where(edge, (i6 + 0.5) / (safe_total + 1.0), c)
    err = np.sqrt(p * (1.0 - p) / safe_total)
    return IsotopeFraction(np.ma.masked_array(c, mask=empty), np.ma.masked_array(err, mask=empty), total)
