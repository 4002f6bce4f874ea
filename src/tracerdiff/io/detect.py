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


def classify_text(head: bytes) -> str:
    """``"surfacelab"``, ``"csv_profile"`` or ``"text_matrix"`` from the start of a text file."""
    text = head.decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    comments = [ln for ln in lines if ln.lstrip().startswith(("#", "%", "//"))]
    data = [ln for ln in lines if not ln.lstrip().startswith(("#", "%", "//"))]
    tokens = [t for t in re.split(r"[\s,;]+", data[0].strip()) if t] if data else []
    numeric = bool(tokens) and all(_is_number(t) for t in tokens)
    if comments and any(_SURFACELAB_KEYS.search(c) for c in comments):
        # a vendor export: x y [scan] counts rows, or a profile table; a commented matrix stays a matrix
        if not numeric or len(tokens) in (3, 4):
            return "surfacelab"
    if not data:
        return "text_matrix"
    if tokens and not numeric:
        if any(":" in ln or "=" in ln for ln in data[:1]):
            return "surfacelab"  # "key: value" header lines without comment marks
        return "csv_profile"
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
