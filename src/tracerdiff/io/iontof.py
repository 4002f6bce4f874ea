"""IONTOF readers: ITA/ITM through pySPM, BIF6 image exports through pybif6.

Orientation: images are returned as stored in the file (row 0 = first stored raster line =
top of the field of view). pySPM's own display helpers flip images vertically; we do not.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError, import_optional
from tracerdiff.io._base import ISOTOPE_MASSES, MAX_EAGER_BYTES, canonical_channel, guard_size
from tracerdiff.io.image import make_image
from tracerdiff.io.plain import pixel_size

#: Mass tolerance (u) when a peak's window does not contain the isotope mass.
MASS_TOLERANCE = 0.2
_MAX_BLOCK_DEPTH = 64
_REDUCED = "filterdata/TofCorrection/ImageStack/Reduced Data"


def check_block_tree(path: Path) -> int:
    """Walk the ITStr block tree once, checking offsets and refusing cycles.

    pySPM follows child offsets and "next block" chains without bounds or cycle checks, so a
    corrupt file could make it loop forever; this walk makes sure every pointer it will
    follow lands inside the file and is visited once. Returns the number of blocks.
    """
    size = os.path.getsize(path)
    seen: set[int] = set()
    with open(path, "rb") as fh:
        if fh.read(8) != b"ITStrF01":
            raise FileFormatError("not an IONTOF ITStr file (magic ITStrF01 missing)", source=path)
        stack = [(8, 0)]
        while stack:
            offset, depth = stack.pop()
            if depth > _MAX_BLOCK_DEPTH:
                raise FileFormatError("block tree nested too deeply; the file is corrupt", source=path)
            chain = offset
            while chain:
                if chain in seen or chain + 25 > size:
                    raise FileFormatError(f"block pointer {chain} is out of range or cyclic; the file is corrupt",
                                          source=path)
                seen.add(chain)
                fh.seek(chain)
                head = fh.read(25)
                if head[1:5] != b"\x19\x00\x00\x00":
                    raise FileFormatError(f"invalid block header at byte {chain}", source=path)
                name_len, _id, n_children, length1, _length2 = struct.unpack("<5I", head[5:25])
                data = chain + 25 + name_len
                if data + length1 > size:
                    raise FileFormatError(f"block at byte {chain} extends past the end of the file", source=path)
                if head[0] not in (1, 3):
                    break
                fh.seek(data)
                dir_head = fh.read(41)
                if len(dir_head) < 41 or 41 + 33 * n_children > length1:
                    raise FileFormatError(f"folder block at byte {chain} is truncated", source=path)
                next_block = struct.unpack("<Q", dir_head[33:41])[0]
                for i in range(n_children):
                    fh.seek(data + 42 + 33 * i)
                    index, slen, _cid, _blen, bidx = struct.unpack("<III4xQQ", fh.read(32))
                    if index + slen > length1 or bidx + 25 > size:
                        raise FileFormatError(f"child {i} of block at byte {chain} points outside the file",
                                              source=path)
                    if bidx not in seen:
                        stack.append((bidx, depth + 1))
                chain = next_block
    return len(seen)


def _peak_for(peaks: list[dict], wanted: str) -> dict | None:
    key = canonical_channel(wanted)
    for p in peaks:
        if p["id"] > 1 and key in (canonical_channel(p["assign"]), canonical_channel(p["desc"])):
            return p
    mass = ISOTOPE_MASSES.get(key)
    if mass is None:
        return None
    for p in peaks:  # by mass: inside the integration window, else centre within the tolerance
        if p["id"] > 1 and (p["lmass"] <= mass <= p["umass"] or abs(p["cmass"] - mass) <= MASS_TOLERANCE):
            return p
    return None


def read_ita(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="", stack=False) -> xr.Dataset:
    """Read 6Li/7Li (or other named) channels from an IONTOF ITA/ITM file via pySPM.

    Scans are summed (IONTOF's precomputed sum when present) unless ``stack`` is True, which
    keeps one frame per scan along ``z`` (read lazily per scan when ``lazy``).
    """
    pySPM = import_optional("pySPM", extra="iontof", purpose=f"reading the IONTOF file {path}")

    check_block_tree(path)
    ita = pySPM.ITA(str(path))  # readonly=True: opened "rb"
    try:
        peaks = ita.get_masses()
        wanted = ["6Li", "7Li"] if channels is None else ([channels] if isinstance(channels, str) else list(channels))
        chosen = {}
        for w in wanted:
            p = _peak_for(peaks, w)
            if p is None:
                have = [f"{p['assign'] or p['desc']} ({p['cmass']:.3f} u)" for p in peaks if p["id"] > 1]
                raise FileFormatError(f"no peak for {w!r} (by name or mass ±{MASS_TOLERANCE} u); peaks: {have}",
                                      source=path)
            chosen[canonical_channel(w)] = p
        sx, sy = int(ita.sx), int(ita.sy)
        nscan = int(ita.Nscan or 1)
        if not (0 < sx <= 65536 and 0 < sy <= 65536 and 0 < nscan <= 1_000_000):
            raise FileFormatError(f"implausible image size {sx}x{sy} with {nscan} scans", source=path)
        frames = nscan if stack else 1
        guard_size(path, 8 * sx * sy * frames * len(chosen), what="ITA images", lazy=lazy,
                   available=MAX_EAGER_BYTES)
        data = {}
        for name, p in chosen.items():
            if stack and lazy:
                data[name] = _lazy_scans(path, p["id"], nscan, sy, sx)
            elif stack:
                data[name] = np.stack([ita.get_image(p["id"], s) for s in range(nscan)]).astype(np.int64)
            else:
                data[name] = _summed(ita, p["id"], nscan).astype(np.int64)  # pySPM gives exact float64 counts
        fov_um = round(float(ita.fov) * 1e6, 9)  # stored in metres
        spp = int(ita.spp)
        meta = {"reader": f"pySPM {getattr(pySPM, '__version__', '?')}", "fov_um": fov_um, "scans": nscan,
                "shots_per_pixel_per_scan": spp,
                "primary_shots_per_pixel": spp if stack else spp * nscan,
                "polarity": str(getattr(ita, "polarity", "")),
                "peaks": {k: {kk: p[kk] for kk in ("id", "assign", "desc", "lmass", "cmass", "umass")}
                          for k, p in chosen.items()}}
    finally:
        ita.f.close()
    px = pixel_size(path, fov_um / sx if fov_um > 0 else None, pixel_size_um)
    return make_image(data, px, source_path=str(path), sha256=sha256, fmt="iontof_ita", metadata=meta)


def _summed(ita, channel: int, nscan: int) -> np.ndarray:
    try:
        return ita.get_added_image(channel)
    except Exception:  # noqa: BLE001 - no precomputed sum in this file: add the scans ourselves
        return ita.fast_get_image(channel, range(nscan))


def _read_scan(path: str, channel: int, scan: int, sy: int, sx: int) -> np.ndarray:
    import zlib

    from pySPM.Block import Block

    from tracerdiff.io._base import wrap_errors

    with wrap_errors(path, "IONTOF ITA/ITM"), open(path, "rb") as fh:  # runs at compute time: wrap here too
        fh.seek(8)
        block = Block(fh).goto(f"{_REDUCED}/ImageStackScans/Image[{channel}]/ImageArray.Long[{scan}]")
        raw = zlib.decompressobj().decompress(block.value, 4 * sx * sy + 1)  # bounded: no zip bomb
        if len(raw) != 4 * sx * sy:
            raise FileFormatError(f"scan {scan} of channel {channel} holds {len(raw)} bytes, not {4 * sx * sy}",
                                  source=path)
        return np.frombuffer(raw, dtype="<u4").reshape(sy, sx).astype(np.int64)


def _lazy_scans(path: Path, channel: int, nscan: int, sy: int, sx: int):
    import dask
    import dask.array as da

    return da.stack([da.from_delayed(dask.delayed(_read_scan)(str(path), channel, s, sy, sx), shape=(sy, sx),
                                     dtype=np.int64) for s in range(nscan)])


def read_bif6(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read an IONTOF BIF6 image export via pybif6 (one channel per mass interval).

    BIF6 records no field of view: ``pixel_size_um`` is required. Interval 0 (total ion
    count) becomes ``"TIC"``; intervals whose window contains, or whose centre lies within
    ``MASS_TOLERANCE`` of, 6Li/7Li become ``"6Li"``/``"7Li"``; others ``"<centre>u"``.
    """
    pybif6 = import_optional("pybif6", extra="bif6", purpose=f"reading the BIF6 file {path}")

    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12:
        raise FileFormatError("BIF6 header is truncated", source=path)
    _magic, n_int, nx, ny = struct.unpack("<6s3H", head)
    expected = 12 + n_int * (16 + 4 * nx * ny)
    actual = path.stat().st_size
    if expected != actual:
        raise FileFormatError(f"BIF6 header declares {n_int} intervals of {nx}x{ny} pixels ({expected} bytes) "
                              f"but the file has {actual} bytes", source=path)
    if n_int == 0 or nx == 0 or ny == 0:
        raise FileFormatError("BIF6 file holds no image data", source=path)
    data, meta = {}, {"intervals": []}
    with pybif6.parse_bif6(path) as parser:
        for interval in parser:
            centre, lo, hi = (float(v) for v in (interval.mz_center, interval.mz_interval_lower,
                                                 interval.mz_interval_upper))
            if interval.is_tic_image():
                name = "TIC"
            else:
                name = next((k for k, m in ISOTOPE_MASSES.items()
                             if lo <= m <= hi or abs(centre - m) <= MASS_TOLERANCE), f"{centre:.3f}u")
            if name in data:
                name = f"{name}#{interval.id}"
            data[name] = np.array(interval.image)
            meta["intervals"].append({"id": int(interval.id), "name": name, "mz_center": _finite(centre),
                                      "mz_lower": _finite(lo), "mz_upper": _finite(hi)})
    if channels is not None:
        from tracerdiff.io._base import select_channels

        data = select_channels(data, channels, path)
    px = pixel_size(path, None, pixel_size_um)
    return make_image(data, px, source_path=str(path), sha256=sha256, fmt="iontof_bif6", metadata=meta)


def _finite(v: float) -> float | None:
    return v if np.isfinite(v) else None
