"""Cameca (Nano)SIMS ``.im`` image files through the ``sims`` package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError, import_optional
from tracerdiff.io._base import (channel_for_mass, frames_per_chunk, guard_size, lazy_from_memmap,
                                 select_channels)
from tracerdiff.io.image import make_image
from tracerdiff.io.plain import pixel_size
from tracerdiff.species import parse_species

#: File types holding images (others are depth profiles, spot or beam-stability data).
IMAGE_TYPES = {27: "image", 29: "grain mode image", 39: "line scan image", 41: "stage scan image"}


def read_cameca(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="", stack=False) -> xr.Dataset:
    """Read a Cameca NanoSIMS image (.im) via ``sims.SIMSReader``.

    Species become channels named by their canonical isotope (``"13C"``) or label
    (``"12C14N"``), else by mass; planes (frames) are summed unless ``stack`` keeps them along
    ``z``. ``lazy`` memory-maps the pixel data (dask, read when computed). The field of view comes from the
    image header raster (nm), falling back to the primary-beam raster (um).
    """
    SIMSReader = import_optional("sims.sims", extra="cameca",
                                 purpose=f"reading the Cameca file {path}").SIMSReader

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12:
            raise FileFormatError("Cameca header is truncated", source=path)
        reader = SIMSReader(fh, filename=str(path))
        reader.peek()
        hsize = reader.header["header size"]
        if not 12 < hsize <= size:
            raise FileFormatError(f"Cameca header size {hsize} does not fit the {size}-byte file", source=path)
        ftype = reader.header["file type"]
        if ftype not in IMAGE_TYPES:
            what = {21: "a depth profile", 22: "a line scan", 26: "an isotope (spot) measurement",
                    31: "beam-stability data", 35: "beam-stability data", 40: "a sample-stage scan"}.get(ftype, "")
            raise FileFormatError(f"Cameca file type {ftype}{' is ' + what + ',' if what else ''} not an image; "
                                  f"only image files ({sorted(IMAGE_TYPES)}) are supported", source=path)
        reader.read_header()
        img = reader.header.get("Image")
        if not img:
            raise FileFormatError("Cameca file has no image header", source=path)
        bpp = img["bytes per pixel"]
        if bpp not in (2, 4):
            raise FileFormatError(f"unsupported {bpp} bytes per pixel", source=path)
        shape = (img["planes"], img["masses"], img["height"], img["width"])
        if min(shape) <= 0:
            kind = IMAGE_TYPES[ftype]
            raise FileFormatError(f"Cameca {kind} file (type {ftype}) holds no image data: its header declares "
                                  f"{shape[0]} planes and {shape[1]} masses (a header-only file)", source=path)
        nbytes = int(np.prod(shape, dtype=np.int64)) * bpp
        if nbytes != size - hsize:
            raise FileFormatError(f"Cameca image header declares {nbytes} bytes of data but the file holds "
                                  f"{size - hsize}", source=path)
        # sims holds the raw array and a transposed copy: cap that, not just the file size
        guard_size(path, 2 * nbytes, what="Cameca image", available=2 * nbytes, lazy=lazy)
        if not reader.header.get("data included", True):
            raise FileFormatError("Cameca file says it includes no data", source=path)
        byte_order = reader._bo  # "<" or ">", from the header's version field
        if not lazy:
            reader.read_data()
    labels = list(reader.header["label list"])
    masses = list(reader.header["mass list"])
    if len(labels) != shape[1]:
        raise FileFormatError(f"mass table lists {len(labels)} species for {shape[1]} image masses", source=path)
    data, channel_labels = {}, {}
    cube = _lazy_cube(path, shape, bpp, byte_order, hsize) if lazy else None
    for i, (label, mass) in enumerate(zip(labels, masses)):
        sp = parse_species(label, float(mass) if mass else None)
        name = sp.name
        if sp.isotope is None:
            name = channel_for_mass(mass) or name or f"{mass:.3f}u"
        if name in data:
            name = f"{name}#{i}"
        frames = cube[:, i] if lazy else np.asarray(reader.data.values[i])
        data[name] = frames if stack else frames.sum(axis=0, dtype=np.int64)
        channel_labels[name] = {"label": str(label), "isotope": sp.isotope, "mass_u": float(mass)}
    data = select_channels(data, channels, path)
    raster_um = img.get("raster", 0) / 1000.0
    if raster_um <= 0:
        raster_um = float(reader.header.get("PrimaryBeam", {}).get("raster", 0) or 0)
    meta = {"reader": "sims", "file_type": ftype, "file_version": reader.header["file version"],
            "labels": labels, "masses": [float(m) for m in masses], "planes": shape[0], "raster_um": raster_um,
            "polarity": reader.header.get("polarity", ""), "date": str(reader.header.get("date", "")),
            "channel_labels": {k: channel_labels[k] for k in data}}
    px = pixel_size(path, raster_um / shape[3] if raster_um > 0 else None, pixel_size_um)
    return make_image(data, px, source_path=str(path), sha256=sha256, fmt="cameca_im", metadata=meta)


def _lazy_cube(path: Path, shape, bpp: int, byte_order: str, offset: int):
    """Dask array (planes, masses, y, x) over a read-only memmap of the pixel data (as sims lays it out)."""
    dtype = np.dtype(byte_order + ("H" if bpp == 2 else "I"))
    mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))
    chunks = (frames_per_chunk((shape[0], shape[2], shape[3]), bpp), 1, shape[2], shape[3])
    return lazy_from_memmap(mm, chunks, name=f"cameca-{path}-{path.stat().st_mtime_ns}")
