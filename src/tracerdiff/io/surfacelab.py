"""IONTOF SurfaceLab ASCII exports: images (x, y[, scan], counts) and line-scan/depth profiles.

No public specification or freely licensed sample of these exports was found, so the
reader accepts the layout below (and the sibling builders in :mod:`tracerdiff.io.synth`
write it). Header lines start with ``#``; keys are matched loosely (case-insensitive):

Image export::

    # ION-TOF SurfaceLab ASCII image export
    # Channel: 6Li+ (6.015 u)            <- or "Peak:", "Mass:", "Species:"; else the file
    # Field of view: 500 x 200 µm        <-    name's " - 6Li+.txt" suffix gives the channel
    # Image size: 512 x 206 pixels       <- optional; otherwise max index + 1
    # x  y  [scan]  counts
    0	0	[0]	12                        <- one line per pixel (and scan), integer indices

Profile export: ``#`` header lines, then one line of column names with units in brackets,
e.g. ``Distance (µm)  6Li+  7Li+`` or ``Depth [nm] ...``, then numeric rows.
Exports against sputter time only (no depth scale) are refused: they have no length axis.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError
from tracerdiff.io._base import MAX_EAGER_BYTES, canonical_channel, channel_for_mass
from tracerdiff.io.image import make_image
from tracerdiff.io.plain import (data_lines, guess_delimiter, length_factor_um, parse_numeric_rows, pixel_size,
                                 profile_from_table, read_text, split_header)

_NUM = r"([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
_FOV = re.compile(rf"field\s*of\s*view\s*(?:\((?P<axis>[xy])\))?\s*[:=]\s*{_NUM}(?:\s*[x×*]\s*{_NUM})?\s*"
                  r"(?P<unit>µm|um|μm|mm|nm|m)?", re.IGNORECASE)
_SIZE = re.compile(rf"(?:image\s*size|pixels|resolution)\s*[:=]\s*{_NUM}\s*[x×*]\s*{_NUM}", re.IGNORECASE)
_CHANNEL = re.compile(r"(?:channel|peak|species|mass\s*interval)\s*[:=]\s*(?P<name>[^(\t]+?)\s*"
                      rf"(?:\(\s*{_NUM}\s*u\s*\))?\s*$", re.IGNORECASE)
_MASS = re.compile(rf"\bmass\s*[:=]\s*{_NUM}", re.IGNORECASE)


def _header(text: str) -> list[str]:
    return [ln.lstrip()[1:].strip() for ln in text.splitlines() if ln.lstrip().startswith("#")]


def parse_header(lines: list[str]) -> dict:
    """Field of view (um), image size, channel name and mass from ``#`` header lines."""
    info: dict = {}
    for ln in lines:
        m = _FOV.search(ln)
        if m:
            factor = length_factor_um(m.group("unit") or "um")
            first, second = float(m.group(2)), m.group(3)
            if m.group("axis") == "y":
                info["fov_y_um"] = first * factor
            else:
                info["fov_x_um"] = first * factor
                info.setdefault("fov_y_um", (float(second) if second else first) * factor)
            continue
        m = _SIZE.search(ln)
        if m:
            info["nx"], info["ny"] = int(float(m.group(1))), int(float(m.group(2)))
            continue
        m = _CHANNEL.search(ln)
        if m and "channel" not in info:
            info["channel"] = m.group("name").strip()
            if m.group(2):
                info["mass"] = float(m.group(2))
            continue
        m = _MASS.search(ln)
        if m:
            info.setdefault("mass", float(m.group(1)))
    return info


def _channel_name(info: dict, path: Path, channels) -> str:
    if channels is not None:
        names = [channels] if isinstance(channels, str) else list(channels)
        if len(names) != 1:
            raise FileFormatError("a SurfaceLab image export holds one channel", source=path)
        return canonical_channel(names[0])
    name = canonical_channel(info.get("channel", ""))
    if name in ("6Li", "7Li"):
        return name
    if "mass" in info and channel_for_mass(info["mass"]):
        return channel_for_mass(info["mass"])
    if name:
        return name
    stem = path.stem.rsplit(" - ", 1)
    return canonical_channel(stem[1]) if len(stem) == 2 else "counts"


def read_surfacelab(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="",
                    stack=False) -> xr.Dataset:
    """Read a SurfaceLab ASCII image or profile export (layout in the module docstring)."""
    text = read_text(path)
    info = parse_header(_header(text))
    lines = data_lines(text)
    if not lines:
        raise FileFormatError("SurfaceLab export has a header but no data", source=path)
    delimiter = guess_delimiter(lines)
    first = [t for t in (lines[0].split(delimiter) if delimiter else lines[0].split()) if t.strip()]
    if not all(_is_number(t) for t in first):
        return _profile(path, lines, delimiter, info, channels=channels, sha256=sha256)
    arr = parse_numeric_rows(lines, path, delimiter=delimiter)
    if arr.shape[1] not in (3, 4):
        raise FileFormatError(f"SurfaceLab image export needs 3 (x y counts) or 4 (x y scan counts) columns, "
                              f"found {arr.shape[1]}", source=path)
    idx = arr[:, :-1]
    if np.any(idx < 0) or np.any(idx != np.round(idx)) or np.any(idx > 2**20):
        raise FileFormatError("pixel indices must be non-negative integers below 2^20", source=path)
    idx = idx.astype(np.int64)
    nx = info.get("nx") or int(idx[:, 0].max()) + 1
    ny = info.get("ny") or int(idx[:, 1].max()) + 1
    nz = int(idx[:, 2].max()) + 1 if arr.shape[1] == 4 else 1
    if nx * ny * nz != arr.shape[0]:
        raise FileFormatError(f"export lists {arr.shape[0]} values for {nx}x{ny} pixels x {nz} scans; "
                              "a complete export lists every pixel once", source=path)
    if nx * ny * nz * 8 > MAX_EAGER_BYTES:
        raise FileFormatError("image too large for an eager read", source=path)
    if np.any(idx[:, 0] >= nx) or np.any(idx[:, 1] >= ny):
        raise FileFormatError(f"pixel index outside the declared {nx}x{ny} image", source=path)
    cube = np.zeros((nz, ny, nx), dtype=np.float64)
    z = idx[:, 2] if nz > 1 or arr.shape[1] == 4 else np.zeros(len(idx), np.int64)
    np.add.at(cube, (z, idx[:, 1], idx[:, 0]), arr[:, -1])
    counts = cube if stack else cube.sum(axis=0)
    if np.all(counts == np.round(counts)) and counts.min() >= 0:
        counts = counts.astype(np.int64)
    fov = info.get("fov_x_um")
    name = _channel_name(info, path, channels)
    meta = {"header": {k: v for k, v in info.items()}, "scans": nz}
    if fov and info.get("fov_y_um") and abs(info["fov_y_um"] / ny - fov / nx) > 0.01 * fov / nx:
        meta["non_square_pixels"] = True
    px = pixel_size(path, fov / nx if fov else None, pixel_size_um)
    return make_image({name: counts}, px, source_path=str(path), sha256=sha256, fmt="surfacelab_image",
                      metadata=meta)


def _profile(path: Path, lines: list[str], delimiter, info: dict, *, channels, sha256: str) -> xr.Dataset:
    header = [t.strip() for t in (lines[0].split(delimiter) if delimiter else re.split(r"\s{2,}|\t", lines[0]))
              if t.strip()]
    units = [split_header(h)[1] for h in header]
    if not any(length_factor_um(u) for u in units) and any((u or "").strip() in ("s", "sec") for u in units):
        raise FileFormatError("depth profile is against sputter time only; export it with a depth (length) "
                              "scale", source=path)
    arr = parse_numeric_rows(lines[1:], path, delimiter=delimiter)
    if arr.shape[1] != len(header):
        raise FileFormatError(f"header names {len(header)} columns but rows have {arr.shape[1]}", source=path)
    return profile_from_table(header, arr, path, channels=channels, sha256=sha256, fmt="surfacelab_profile",
                              metadata={"header": info})


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
