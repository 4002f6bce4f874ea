"""Minimal valid vendor files built from each format's documented structure.

No freely licensed sample files exist for IONTOF ITA/BIF6, Cameca .im or SurfaceLab ASCII
exports, so tests, fuzzing and benchmarks build small files here. Each builder writes only
the parts tracerdiff's reader (and the vendor library under it) needs; everything else a real
instrument file holds (spectra, raw event streams, calibration tables, worksheets, stage
positions, ...) is absent and therefore untested. Sources of the structures:

* ITA/ITM: the block format as documented (reverse engineered) in ``pySPM.Block``; files are
  written with pySPM's own block writer (``Block.edit_block``), so the test is only as good
  as pySPM's description of the format.
* BIF6: the layout read by ``pybif6.parser`` (``<6s3H`` header, ``<I3f`` + uint32 raster per
  interval).
* Cameca .im: the header layout read by ``sims.SIMSReader`` (main header, mass table,
  Poly_list, NanoSIMS header, 84-byte image header at the end of the header, then the
  data as planes x masses x height x width unsigned integers).
* SurfaceLab ASCII: the tab-separated layout described in :mod:`tracerdiff.io.surfacelab`.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def write_bif6(path: str | Path, intervals: Sequence[tuple[int, float, float, float, np.ndarray]]) -> Path:
    """Write a BIF6 file; ``intervals`` are (id, mz_center, mz_lower, mz_upper, image[y, x])."""
    shapes = {np.asarray(img).shape for *_, img in intervals}
    if len(shapes) != 1:
        raise ValueError("all interval images must share one shape")
    ny, nx = shapes.pop()
    out = bytearray(struct.pack("<6s3H", b"\x00\x00BIF6", len(intervals), nx, ny))
    for iid, centre, lower, upper, img in intervals:
        out += struct.pack("<I3f", iid, centre, lower, upper)
        out += np.ascontiguousarray(img, dtype="<u4").tobytes()
    Path(path).write_bytes(bytes(out))
    return Path(path)


def write_cameca_im(path: str | Path, images: Mapping[str, np.ndarray], masses: Sequence[float], *,
                    raster_um: float, bytes_per_pixel: int = 4, version: int = 4108) -> Path:
    """Write a minimal NanoSIMS image file (type 27, little-endian).

    ``images`` maps species labels to (planes, y, x) or (y, x) count arrays.
    """
    labels = list(images)
    stack = np.stack([np.asarray(images[k]) if np.asarray(images[k]).ndim == 3 else np.asarray(images[k])[None]
                      for k in labels], axis=1)  # planes, masses, y, x
    planes, nmass, height, width = stack.shape
    bo = "<"

    def species(label: str) -> bytes:
        body = struct.pack(bo + "4i c 64s", 0, 0, 0, 0, b"+", label.encode("latin-1"))
        return body + b"\x00" * 3 + struct.pack(bo + "15i", *([0] * 15))

    main = bytearray()
    main += struct.pack(bo + "4i 32s 16s i 12x 16s 16s", 0, 1, 0, 0, b"MIMS Image", b"tracerdiff", 0,
                        b"25.11.26", b"12:00")
    main += struct.pack(bo + "16s 3i 3h 2x 3i", b"synthetic.im", 0, planes, 0, 0, 0, 0, 0, 0, 0)
    main += struct.pack(bo + "i 64s 2i", 0, b"", 0, 0)  # AutoCal
    main += struct.pack(bo + "i", 0) + species("") + struct.pack(bo + "3i", 0, 0, 0)  # SigRef
    main += struct.pack(bo + "i", nmass)
    main += b"\x00" * (60 * 4 if version >= 4108 else 10 * 4)  # mass-table pointers
    for i, (label, mass) in enumerate(zip(labels, masses)):
        main += struct.pack(bo + "2i d 2i 2d", i, 0, float(mass), 0, i, 0.0, 0.0)
        main += struct.pack(bo + "2i", 0, 0) + species(label)
    poly = b"Poly_list\x00".ljust(16, b"\x00") + struct.pack(bo + "i", 0) + b"\x00" * 4
    nanosims = struct.pack(bo + "25i", 9, 0, 0, 0, 0, 0, 0, width, height, 0, width, 0, height,
                           0, width - 1, 0, height - 1, 0, 0, 0, 0, 0, 0, 0, 0)
    nanosims += b"\x00" * (604 - len(nanosims)) + b"\x00" * 948
    body = bytes(main) + poly + nanosims
    image_header = struct.pack(bo + "i 6h i 64s", 84, 27, width, height, bytes_per_pixel, nmass, planes,
                               int(round(raster_um * 1000)), b"synthetic.im")
    header_size = 12 + len(body) + len(image_header)
    head = struct.pack(bo + "3i", version, 27, header_size)
    dtype = bo + ("u2" if bytes_per_pixel == 2 else "u4")
    Path(path).write_bytes(head + body + image_header + np.ascontiguousarray(stack, dtype=dtype).tobytes())
    return Path(path)


def _key_value(key: str, *, int_value: int = 0, float_value: float = 0.0, string: str = "") -> bytes:
    """A propend/propstart value as pySPM.Block.get_key_value decodes it."""
    k = key.encode("utf-16-le")
    s = string.encode("utf-16-le")
    return (b"\x00" * 16 + struct.pack("<I", len(k)) + k + b"\x00\x00" + struct.pack("<qd", int_value, float_value)
            + struct.pack("<I", len(s)) + s)


def write_ita(path: str | Path, scans: Mapping[str, np.ndarray], masses: Mapping[str, float], *,
              fov_um: float, shots_per_pixel: int = 1, polarity: str = "Positive") -> Path:
    """Write a minimal IONTOF ITA file readable by ``pySPM.ITA``.

    ``scans`` maps peak assignments (e.g. ``"6Li+"``) to (scans, y, x) counts; ``masses`` maps
    them to centre masses (u). Peak ids 0 (total) and 1 (sum of the rest) are added.
    """
    from pySPM.Block import Block

    names = list(scans)
    stacks = [np.asarray(scans[n], dtype=np.uint32) for n in names]
    nscan, ny, nx = stacks[0].shape
    total = np.sum(stacks, axis=0, dtype=np.uint32)
    images = [total, total] + stacks  # ids 0 (total), 1 (sum of others), then the peaks
    dir_value = struct.pack(f"<2IB6IQ{53 * 100 - 41}x", 53 * 100, 100, 0, 0, 0, 0, 0, 0, 0, 0)
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(b"ITStrF01" + struct.pack("<B6I", 1, 25, 0, 0, 0, len(dir_value), len(dir_value)) + dir_value)
    with open(path, "r+b") as fh:
        fh.seek(8)
        root = Block(fh)

        def put(where: str, name: str, value: bytes, *, id: int = 0, compressed: bool = False):  # noqa: A002
            fh.seek(8)
            Block(fh).edit_block(where, name, value, id=id, _type=128 if compressed else 0)

        put("Meta/SI Image", "res_x", struct.pack("<i", nx))
        put("Meta/SI Image", "res_y", struct.pack("<i", ny))
        put("Meta/SI Image", "fieldofview", struct.pack("<d", fov_um * 1e-6))
        put("Meta/SI Image", "intensdata", zlib.compress(total.sum(axis=0).astype("<f4").tobytes()), compressed=True)
        put("propend", "Instrument.Analyzer_Polarity_Switch",
            _key_value("Instrument.Analyzer_Polarity_Switch", string=polarity))
        put("propend", "Registration.Raster.ShotsPerPixel",
            _key_value("Registration.Raster.ShotsPerPixel", int_value=shots_per_pixel, float_value=shots_per_pixel))
        put("propend", "Registration.Raster.FieldOfView",
            _key_value("Registration.Raster.FieldOfView", float_value=fov_um * 1e-6))
        put("filterdata/TofCorrection/Spectrum/Reduced Data/IMassScaleSFK0", "sf", struct.pack("<d", 72000.0))
        put("filterdata/TofCorrection/Spectrum/Reduced Data/IMassScaleSFK0", "k0", struct.pack("<d", 0.0))
        red = "filterdata/TofCorrection/ImageStack/Reduced Data"
        put(red, "NumberOfScans", struct.pack("<i", nscan))
        put(f"{red}/ImageStackScans", "Image.XSize", struct.pack("<I", nx))
        put(f"{red}/ImageStackScans", "Image.YSize", struct.pack("<I", ny))
        put(f"{red}/ImageStackScans", "Image.NumberOfImages", struct.pack("<I", len(images)))
        put(f"{red}/ImageStackScans", "Image.NumberOfScans", struct.pack("<I", nscan))
        for ch, img in enumerate(images):
            frames = img if img.ndim == 3 else img[None]
            for s, frame in enumerate(frames):
                put(f"{red}/ImageStackScans/Image[{ch}]", "ImageArray.Long",
                    zlib.compress(np.ascontiguousarray(frame, dtype="<u4").tobytes()), id=s, compressed=True)
            put(f"{red}/ImageStackScansAdded/Image[{ch}]", "ImageArray.Long",
                zlib.compress(np.ascontiguousarray(frames.sum(axis=0), dtype="<u4").tobytes()), compressed=True)
        peaks = [("total", "Total", 0.0), ("sum", "Sum of rest", 0.0)] + [(n, n, float(masses[n])) for n in names]
        for pid, (assign, desc, mass) in enumerate(peaks):
            where = f"MassIntervalList/mi[{pid}]"
            put(where, "id", struct.pack("<i", pid))
            put(where, "assign", (assign if pid > 1 else "").encode("utf-16"))
            put(where, "desc", desc.encode("utf-16"))
            put(where, "SN", f"sn-{pid:04d}".encode("utf-16"))
            put(where, "lmass", struct.pack("<d", mass - 0.1 if mass else 0.0))
            put(where, "cmass", struct.pack("<d", mass))
            put(where, "umass", struct.pack("<d", mass + 0.1 if mass else 0.0))
        del root
    return path


def write_surfacelab_image(path: str | Path, counts: np.ndarray, *, channel: str, mass: float,
                           fov_um: tuple[float, float]) -> Path:
    """Write a SurfaceLab-style ASCII image export (x, y[, scan], counts per line)."""
    counts = np.asarray(counts)
    ny, nx = counts.shape[-2:]
    lines = ["# ION-TOF SurfaceLab ASCII image export",
             f"# Channel: {channel} ({mass:.3f} u)",
             f"# Field of view: {fov_um[0]:g} x {fov_um[1]:g} µm",
             f"# Image size: {nx} x {ny} pixels"]
    if counts.ndim == 3:
        lines.append(f"# Scans: {counts.shape[0]}")
        lines.append("# x\ty\tscan\tcounts")
        for z, frame in enumerate(counts):
            lines += [f"{x}\t{y}\t{z}\t{frame[y, x]}" for y in range(ny) for x in range(nx)]
    else:
        lines.append("# x\ty\tcounts")
        lines += [f"{x}\t{y}\t{counts[y, x]}" for y in range(ny) for x in range(nx)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def write_surfacelab_profile(path: str | Path, x: np.ndarray, channels: Mapping[str, np.ndarray], *,
                             position: str = "Distance", unit: str = "µm") -> Path:
    """Write a SurfaceLab-style line-scan/depth-profile export (tab-separated, unit in the header)."""
    names = list(channels)
    lines = ["# ION-TOF SurfaceLab line scan export", f"# Field of view: {float(np.ptp(x)):g} {unit}",
             "\t".join([f"{position} ({unit})"] + names)]
    for i, xi in enumerate(x):
        lines.append("\t".join([repr(float(xi))] + [str(channels[n][i]) for n in names]))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def write_surfacelab_depth_profile(path: str | Path, sputter_time_s: np.ndarray,
                                   channels: Mapping[str, tuple[float | None, np.ndarray]], *,
                                   decimal_comma: bool = False, crlf: bool = True) -> Path:
    """Write a depth profile in the layout SurfaceLab really exports (see :mod:`tracerdiff.io.surfacelab`).

    ``channels`` maps SurfaceLab species labels (``"O-"``, ``"^18O-"``, ``"^18O- / ( O- )"``) to
    (mass in u or None for N/A, values). Every header line starts with ``#``, lines end in CRLF
    and a trailing tab; non-finite values are written ``inf``/``nan`` as SurfaceLab does.
    """
    t = np.asarray(sputter_time_s, dtype=float)
    labels = list(channels)

    def num(v) -> str:
        text = f"{float(v):g}" if np.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
        return text.replace(".", ",") if decimal_comma else text

    lines = ["# Profile Smoothing is Disabled",
             "#\t\t\t\t" + "\t".join(labels) + "\t",
             "#\t\t\t\t" + "\t".join("N/A" if channels[k][0] is None else f"{channels[k][0]:.4f}" for k in labels)
             + "\t",
             "#Data Point #\tSputter Time (s)\tDose (ions)\tFluence (ions/cm^2)\t" + "\t".join(["Intensity"] * len(labels))
             + "\t"]
    for i, ti in enumerate(t):
        cells = [str(i + 1), num(ti), num(2.5e6 * (i + 1)), num(1e11 * (i + 1))]
        cells += [num(np.asarray(channels[k][1], dtype=float)[i]) for k in labels]
        lines.append("\t".join(cells) + "\t")
    end = "\r\n" if crlf else "\n"
    Path(path).write_bytes((end.join(lines) + end).encode("utf-8"))
    return Path(path)
