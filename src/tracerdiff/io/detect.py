"""Pick a reader by content (magic bytes, header structure) before extension."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from tracerdiff.errors import FileFormatError

_MAGIC = (
    (b"ITStrF01", "iontof"),
    (b"\x00\x00BIF6", "bif6"),
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "npz"),
    (b"CDF\x01", "netcdf3"), (b"CDF\x02", "netcdf3"),
)

_EXTENSIONS = {
    ".ita": "iontof", ".itm": "iontof", ".its": "iontof", ".bif6": "bif6", ".bif": "bif6",
    ".tif": "tiff", ".tiff": "tiff", ".h5": "hdf5", ".hdf5": "hdf5", ".nc": "hdf5", ".npy": "npy",
    ".npz": "npz", ".im": "cameca", ".txt": "text", ".csv": "text", ".tsv": "text", ".dat": "text",
    ".asc": "text",
}

#: Cameca file types the ``sims`` package reads (see sims.sims._supported_file_types).
CAMECA_TYPES = {21, 22, 26, 27, 29, 31, 35, 39, 40, 41}

_SURFACELAB_KEYS = re.compile(r"field\s*of\s*view|\bfov\b|ion-?tof|surface\s*lab|image\s*size|"
                              r"\bpixels?\b|\bscans?\b", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def looks_like_cameca(head: bytes, file_size: int) -> bool:
    """Cameca .im/.is files start with three int32: version, file type, header size."""
    if len(head) < 12:
        return False
    for bo in "<>":
        version, ftype, hsize = struct.unpack(bo + "3i", head[:12])
        if ftype in CAMECA_TYPES and 1 <= version < 100_000 and 12 < hsize <= file_size:
            return True
    return False


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token))


def _is_position(name: str) -> bool:
    """A position column: a length unit in the header, or ``x_<unit>``-like (a bad unit is the
    line-scan reader's to explain, not a reason to call the file a table)."""
    from tracerdiff.io.plain import _NAMED_POSITION, length_factor_um, split_header

    return length_factor_um(split_header(name)[1]) is not None or bool(_NAMED_POSITION.match(name.strip()))


def _headerless_triplets(layout) -> bool:
    """x y [scan] value rows without a header: integer pixel indices from (0, 0), each pair once."""
    rows = [layout.split(ln) for ln in layout.data[:2000]]
    if len(rows) < 4 or len({len(r) for r in rows}) != 1 or len(rows[0]) not in (3, 4):
        return False
    try:
        idx = [tuple(int(t) for t in r[:-1]) for r in rows]
    except ValueError:
        return False
    return idx[0] == (0,) * len(idx[0]) and len(set(idx)) == len(idx) and min(min(i) for i in idx) >= 0


def classify_text(head: bytes) -> str:
    """The text reader for the start of a file, from its content.

    ``"surfacelab"`` (vendor exports: images as x-y-value triplets or a matrix with a field of
    view, profiles against depth or sputter time, ``#``-commented column names),
    ``"csv_profile"``, ``"text_matrix"``, ``"text_spectrum"`` (a mass spectrum: recognised,
    then refused for analysis) or ``"text_table"`` (named columns that are neither: refused).
    """
    from tracerdiff.io.surfacelab import parse_header
    from tracerdiff.io.texttable import POINT_COLUMN, TIME_AXIS, looks_like_spectrum, text_layout

    text = head.decode("utf-8", errors="replace")
    if len(head) >= 65536 and "\n" in text:
        text = text[: text.rindex("\n")]  # the head may end mid-line
    layout = text_layout(text)
    comments = layout.comments
    if not layout.data:
        return "text_matrix"
    names = layout.names
    vendor = any(_SURFACELAB_KEYS.search(c) for c in comments)
    if looks_like_spectrum(names):
        return "text_spectrum"
    if names is not None:
        from tracerdiff.io.plain import split_header

        bare = [split_header(n)[0].strip().lower() for n in names]
        if any(TIME_AXIS.match(b) or POINT_COLUMN.match(b) for b in bare):
            return "surfacelab"  # a depth profile against sputter time (SurfaceLab layout)
        if len(names) in (3, 4) and bare[:2] == ["x", "y"]:
            return "surfacelab"  # x y [scan] value triplets
        if any(_is_position(n) for n in names):
            return "csv_profile" if layout.names_line == -1 and not vendor else "surfacelab"
        if layout.names_line == -1 and any(":" in ln or "=" in ln for ln in layout.data[:1]):
            return "surfacelab"  # "key: value" header lines without comment marks
        return "text_table"
    ncols = len(layout.split(layout.data[0]))
    if vendor and ncols in (3, 4):
        return "surfacelab"
    if vendor:
        info = parse_header(comments)
        if "fov_x_um" in info or "nx" in info:
            return "surfacelab"  # a count matrix with the vendor's field of view
    if _headerless_triplets(layout):
        return "surfacelab"
    return "text_matrix"


def extension_format(path: str | Path) -> str | None:
    """The reader a file's extension suggests (``None`` for unknown extensions)."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def sniff(path: str | Path) -> str:
    """Name of the reader for ``path``: magic bytes first, then structure, then extension.

    Raises
    ------
    FileFormatError
        The content matches no known format and the extension is unknown.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise FileFormatError(f"cannot read file: {exc.strerror or exc}", source=p) from None
    if not head:
        raise FileFormatError("file is empty", source=p)
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    # HDF5 allows a user block: the superblock may sit at 512, 1024, 2048, ... bytes.
    for offset in (512, 1024, 2048, 4096, 8192, 16384, 32768):
        if head[offset:offset + 8] == b"\x89HDF\r\n\x1a\n":
            return "hdf5"
    if b"\x00" not in head[:4096]:
        return classify_text(head)
    if looks_like_cameca(head, os.path.getsize(p)):
        return "cameca"
    ext = _EXTENSIONS.get(p.suffix.lower())
    if ext == "text":
        raise FileFormatError("binary content in a text-type file", source=p)
    if ext is None:
        raise FileFormatError("unrecognised file format (no known magic bytes or extension); "
                              "supported: ITA/ITM, BIF6, Cameca .im, TIFF, HDF5, .npy/.npz, text/CSV", source=p)
    return ext
