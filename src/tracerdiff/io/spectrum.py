"""Impedance spectra: a table of frequency (Hz), Z' (ohm) and Z'' (ohm), read with the one table reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracerdiff.errors import FileFormatError


def read_impedance_spectrum(path: str | Path, *, min_points: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and complex impedances of a spectrum file.

    The first three columns are frequency (Hz), Z' (ohm) and Z'' (ohm); one header row and
    ``#`` comments are allowed, separators as in :func:`tracerdiff.io.tabular.read_numeric_table`.
    Z'' may be stored as measured (negative for capacitive arcs) or as -Z'' (positive): it is
    returned in the Z' + jZ'' convention with capacitive arcs negative (the sign is taken from
    the median of the column).

    Parameters
    ----------
    path : str or Path
        The spectrum file (opened read-only).
    min_points : int
        The fewest rows accepted (the two-arc fit of :mod:`tracerdiff.models.impedance_fit`
        needs 12).

    Returns
    -------
    frequency : numpy.ndarray
        Hz, as in the file.
    impedance : numpy.ndarray
        Complex, ohm.

    Raises
    ------
    FileFormatError
        Unreadable file, fewer than three numeric columns, too few rows, non-positive frequencies.
    """
    from tracerdiff.io.tabular import read_numeric_table

    table = read_numeric_table(path, header=None, finite=True, what="impedance spectrum")
    data = table.values
    if data.shape[1] < 3:
        raise FileFormatError(f"expected three numeric columns: frequency_Hz, Z_real_ohm, Z_imag_ohm (has "
                              f"{data.shape[1]})", source=path)
    f, zr, zi = data[:, 0], data[:, 1], data[:, 2]
    if f.size < min_points or not np.all(f > 0):
        raise FileFormatError(f"need >= {min_points} rows with positive frequencies, got {f.size} rows"
                              + ("" if np.all(f > 0) else " (a frequency is zero or negative)"), source=path)
    if np.median(zi) > 0:  # the file stores -Z''
        zi = -zi
    return f, zr + 1j * zi
