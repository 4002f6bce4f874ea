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

Depth profile export as SurfaceLab writes it (a real TOF.SIMS 5 file is in the test data)::

    # Profile Smoothing is Disabled
    #<TAB><TAB><TAB><TAB>total<TAB>Li+<TAB>^6Li+<TAB>...     <- species, SurfaceLab notation
    #<TAB><TAB><TAB><TAB>N/A<TAB>7.0160<TAB>6.0151<TAB>...   <- masses (u), N/A for totals/ratios
    #Data Point #<TAB>Sputter Time (s)<TAB>Dose (ions)<TAB>Fluence (ions/cm^2)<TAB>Intensity<TAB>...
    1<TAB>0<TAB>2.47e+06<TAB>9.9e+10<TAB>1.2e+06<TAB>...<TAB>     <- CRLF, trailing tab, inf in ratios

A profile against sputter time has dimension ``t`` (seconds); one against depth, ``x`` (um).
Species names map to isotopes with a mass check (``Li+`` at 7.016 u -> ``7Li``); molecules,
totals and ratios keep their label. Images exported as a count matrix take the field of view
from the header. Mass spectra (m/z, intensity) are recognised and refused with one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError
from tracerdiff.io._base import MAX_EAGER_BYTES, canonical_channel, channel_for_mass, read_text, select_channels
from tracerdiff.io.image import make_image
from tracerdiff.io.image import make_profile
from tracerdiff.io.plain import length_factor_um, pixel_size, split_header
from tracerdiff.species import parse_species

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
    sp = parse_species(info.get("channel", ""), info.get("mass"))
    if sp.isotope:
        return sp.isotope
    name = sp.name
    if "mass" in info and channel_for_mass(info["mass"]):
        return channel_for_mass(info["mass"])
    if name:
        return name
    stem = path.stem.rsplit(" - ", 1)
    return canonical_channel(stem[1]) if len(stem) == 2 else "counts"


def read_surfacelab(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="",
                    stack=False) -> xr.Dataset:
    """Read a SurfaceLab ASCII image or profile export (layouts in the module docstring)."""
    from tracerdiff.io.texttable import text_layout

    text = read_text(path)
    layout = text_layout(text)
    info = parse_header(_header(text))
    if not layout.data:
        raise FileFormatError("SurfaceLab export has a header but no data", source=path)
    names = layout.names
    if names is not None and not (len(names) in (3, 4) and [split_header(n)[0].lower() for n in names[:2]] == ["x", "y"]):
        return _profile(path, layout, info, channels=channels, sha256=sha256)
    lines = layout.data[1:] if layout.names_line == -1 else layout.data
    arr = _numbers(lines, layout, path, finite=True)
    ncols = arr.shape[1]
    if ncols not in (3, 4) or (names is None and info.get("nx") == ncols and info.get("ny") == arr.shape[0]):
        return _matrix_image(path, arr, info, pixel_size_um=pixel_size_um, channels=channels, sha256=sha256)
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
    if len(np.unique(idx[:, 0] + nx * (idx[:, 1] + ny * (idx[:, 2] if nz > 1 or ncols == 4 else 0)))) != len(idx):
        raise FileFormatError("a pixel is listed twice; a complete export lists every pixel once", source=path)
    cube = np.zeros((nz, ny, nx), dtype=np.float64)
    z = idx[:, 2] if nz > 1 or arr.shape[1] == 4 else np.zeros(len(idx), np.int64)
    np.add.at(cube, (z, idx[:, 1], idx[:, 0]), arr[:, -1])
    counts = cube if stack else cube.sum(axis=0)
    fov = info.get("fov_x_um")
    meta = {"header": {k: v for k, v in info.items()}, "scans": nz}
    if fov and info.get("fov_y_um") and abs(info["fov_y_um"] / ny - fov / nx) > 0.01 * fov / nx:
        meta["non_square_pixels"] = True
    return _image(path, counts, fov / nx if fov else None, info, meta, pixel_size_um=pixel_size_um,
                  channels=channels, sha256=sha256)


def _image(path, counts, px_from_file, info, meta, *, pixel_size_um, channels, sha256) -> xr.Dataset:
    if np.all(counts == np.round(counts)) and counts.min() >= 0:
        counts = counts.astype(np.int64)
    name = _channel_name(info, path, channels)
    label = info.get("channel", name)
    meta["channel_labels"] = {name: {"label": label, "isotope": parse_species(label, info.get("mass")).isotope
                                     or parse_species(name).isotope, "mass_u": info.get("mass")}}
    px = pixel_size(path, px_from_file, pixel_size_um)
    return make_image({name: counts}, px, source_path=str(path), sha256=sha256, fmt="surfacelab_image",
                      metadata=meta)


def _matrix_image(path, arr, info, *, pixel_size_um, channels, sha256) -> xr.Dataset:
    """A count matrix exported as text (row 0 = top); field of view from the header when given."""
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise FileFormatError(f"text matrix of shape {arr.shape} is not an image", source=path)
    fov = info.get("fov_x_um")
    meta = {"header": dict(info), "layout": "matrix"}
    return _image(path, arr, fov / arr.shape[1] if fov else None, info, meta, pixel_size_um=pixel_size_um,
                  channels=channels, sha256=sha256)


def _numbers(lines: list[str], layout, path: Path, *, finite: bool) -> np.ndarray:
    """Rows of numbers (decimal commas, trailing delimiters and CRLF handled); ``inf`` allowed unless ``finite``."""
    if not lines:
        raise FileFormatError("no numeric data found", source=path)
    rows = [[layout.number(t) for t in layout.split(ln)] for ln in lines]
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise FileFormatError(f"data line {i + 1} has {len(r)} values but the first has {width}; the table "
                                  "is not rectangular", source=path)
    try:
        arr = np.array(rows, dtype=float).reshape(len(rows), width)
    except ValueError as exc:
        raise FileFormatError(f"table holds a cell that is not a number ({exc})", source=path) from None
    if finite and not np.all(np.isfinite(arr)):
        raise FileFormatError("image export contains NaN or infinity", source=path)
    return arr


def _label_rows(layout, ncols: int) -> tuple[list[str] | None, list[str] | None]:
    """The species row and the masses row above the column names (SurfaceLab depth profiles)."""
    from tracerdiff.io.texttable import is_number

    species = masses = None
    above = layout.comments[: layout.names_line] if layout.names_line not in (None, -1) else layout.comments
    for line in above:
        tokens = layout.split(line)
        if len(tokens) != ncols:
            continue
        filled = [t for t in tokens if t]
        if filled and all(is_number(layout.number(t)) or t.upper() == "N/A" for t in filled):
            masses = tokens
        elif filled:
            species = tokens
    return species, masses


_SKIP = re.compile(r"^(data\s*point.*|dose|fluence|primary\s*dose|scan|cycle|index)$", re.IGNORECASE)


def _profile(path: Path, layout, info: dict, *, channels, sha256: str) -> xr.Dataset:
    from tracerdiff.io.image import make_time_profile
    from tracerdiff.io.texttable import TIME_AXIS

    header = layout.names
    body = layout.data[1:] if layout.names_line == -1 else layout.data
    arr = _numbers(body, layout, path, finite=False)
    if arr.shape[1] != len(header):
        raise FileFormatError(f"header names {len(header)} columns but rows have {arr.shape[1]}", source=path)
    parsed = [split_header(h) for h in header]
    depth = next((i for i, (_, u) in enumerate(parsed) if length_factor_um(u) is not None), None)
    time = next((i for i, (n, u) in enumerate(parsed) if TIME_AXIS.match(n.strip()) and (u or "s").strip() in
                 ("s", "sec")), None)
    if depth is None and time is None:
        raise FileFormatError(f"profile has no depth (length unit) or sputter-time (s) column among {header[:6]}",
                              source=path)
    axis = depth if depth is not None else time
    pos = arr[:, axis]
    if not np.all(np.isfinite(pos)):
        raise FileFormatError(f"the {header[axis]!r} column holds NaN or infinity", source=path)
    species_row, mass_row = _label_rows(layout, len(header))
    data, labels = {}, {}
    for i, (name, _unit) in enumerate(parsed):
        if i in (depth, time) or _SKIP.match(name.strip()):
            continue
        label = species_row[i] if species_row and species_row[i] else header[i].strip()
        mass = None
        if mass_row and mass_row[i] and mass_row[i].upper() != "N/A":
            mass = float(layout.number(mass_row[i]))
        sp = parse_species(label, mass)
        # a ratio "A / ( B )" keeps its label in the metadata; its name avoids "/", HDF5's group separator
        key = sp.name.replace("/", "÷") if sp.name else f"column {i + 1}"
        if key in data:
            key = f"{key}#{sum(1 for k in data if k == key or k.startswith(key + '#')) + 1}"
        data[key] = arr[:, i]
        labels[key] = {"label": label, "isotope": sp.isotope, "mass_u": mass}
    if not data:
        raise FileFormatError("profile has an axis column but no data columns", source=path)
    data = select_channels(data, channels, path)
    meta = {"header": info, "columns": list(header), "channel_labels": {k: labels[k] for k in data},
            "comments": layout.comments[:20]}
    if depth is not None:
        meta["position_column"] = header[depth]
        ds = make_profile(pos * length_factor_um(parsed[depth][1]), data, source_path=str(path), sha256=sha256,
                          fmt="surfacelab_profile", metadata=meta)
        ds.attrs["profile_axis"] = "depth" if "depth" in parsed[depth][0].lower() else "position"
        return ds
    meta["time_column"] = header[time]
    return make_time_profile(pos, data, source_path=str(path), sha256=sha256, fmt="surfacelab_profile",
                             metadata=meta)


def _spectrum_table(path: Path):
    from tracerdiff.io.texttable import SPECTRUM_WORDS, text_layout

    layout = text_layout(read_text(path))
    names = layout.names or []
    body = layout.data[1:] if layout.names_line == -1 else layout.data
    arr = _numbers(body, layout, path, finite=False)
    mz = next((i for i, n in enumerate(names) if SPECTRUM_WORDS.match(n.strip())), None)
    inten = next((i for i, n in enumerate(names) if "intens" in n.lower() or "count" in n.lower()), None)
    return names, arr, mz, inten


def spectrum_summary(path: Path) -> dict:
    """What a mass-spectrum export holds (for ``inspect``): columns, points, m/z range, total intensity."""
    names, arr, mz, inten = _spectrum_table(path)
    out = {"kind": "spectrum", "columns": names, "n_points": int(arr.shape[0])}
    if mz is not None and arr.shape[0]:
        out["mz_range"] = [float(np.nanmin(arr[:, mz])), float(np.nanmax(arr[:, mz]))]
    if inten is not None:
        out["intensity_sum"] = float(np.nansum(arr[:, inten]))
    return out


def refuse_spectrum(path: Path, **_) -> xr.Dataset:
    """Mass spectra are recognised and refused: they are neither an image nor a depth profile."""
    from tracerdiff.io.texttable import text_layout

    names = text_layout(read_text(path)).names or []
    raise FileFormatError(f"is a mass spectrum (columns {', '.join(names)}), not an image or a depth profile; "
                          "tracerdiff analyses count images and profiles", source=path)


def refuse_table(path: Path, **_) -> xr.Dataset:
    """A table of named columns that holds no pixels and no position axis is not a count image."""
    from tracerdiff.io.texttable import text_layout

    names = text_layout(read_text(path)).names or []
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    raise FileFormatError(f"looks like a table with named columns ({shown}), not a count image or a profile; "
                          "give an image as a bare count matrix or as x y counts rows, a profile with a "
                          "position column with a unit (e.g. x_um) or a sputter-time column", source=path)

