"""Shared reader plumbing: read-only opening, hashing, size guards, error wrapping, channel names.

Every reader raises only :class:`~tracerdiff.errors.FileFormatError` (a subclass of
:class:`~tracerdiff.errors.InputError`) naming the file; third-party parser exceptions
are caught around the vendor call and re-raised as that type.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from tracerdiff.errors import FileFormatError, MissingDependencyError, TracerdiffError
from tracerdiff.species import canonical_channel as _canonical

#: Hard cap on what one eager read may allocate (bytes). Lazy reads do not allocate up front.
MAX_EAGER_BYTES = 8 * 1024**3

#: Text files larger than this are refused (parsing text needs several times its size in memory).
MAX_TEXT_BYTES = 1024**3

#: Target size of one dask chunk for lazy depth stacks (whole frames per chunk).
LAZY_CHUNK_BYTES = 64 * 1024**2


def frames_per_chunk(shape, itemsize: int) -> int:
    """Frames per dask chunk so one chunk is about :data:`LAZY_CHUNK_BYTES`."""
    frame = max(1, int(shape[-1]) * int(shape[-2]) * int(itemsize))
    return max(1, min(int(shape[0]), LAZY_CHUNK_BYTES // frame))


class MemmapSource:
    """Array-like wrapper of a read-only memmap for :func:`dask.array.from_array`.

    Current dask copies any input that has a ``.copy`` method, which for a memmap reads the
    whole file into memory; this wrapper exposes only shape/dtype/slicing, so chunks are read
    when computed.
    """

    def __init__(self, mm):
        self._mm = mm
        self.shape, self.dtype, self.ndim = mm.shape, mm.dtype, mm.ndim

    def __getitem__(self, key):
        return np.asarray(self._mm[key])


class FileRegionSource:
    """Array-like view of uncompressed, contiguous pixel data in a file, read per slice.

    Each slice maps the file read-only, copies the requested pixels and unmaps it again, so a
    process reading a large image tile by tile holds only the tiles (a long-lived memmap would
    keep every page it touched resident). It pickles as its path and layout, not its pixels.
    """

    def __init__(self, path, offset: int, shape, dtype):
        self.path, self.offset, self.stored = str(path), int(offset), np.dtype(dtype)
        # Pixels come out in native byte order, as the eager readers return them.
        self.shape, self.dtype, self.ndim = tuple(int(n) for n in shape), self.stored.newbyteorder("="), len(shape)

    def __getitem__(self, key):
        mm = np.memmap(self.path, dtype=self.stored, mode="r", offset=self.offset, shape=self.shape)
        try:
            return np.array(mm[key], dtype=self.dtype)
        finally:
            del mm


def lazy_from_file(path, offset: int, shape, dtype, chunks, *, name: str):
    """Dask array over contiguous pixel data of ``path`` (see :class:`FileRegionSource`)."""
    import dask.array as da

    src = FileRegionSource(path, offset, shape, dtype)
    return da.from_array(src, chunks=chunks, name=name, inline_array=True, meta=np.empty((0,) * src.ndim, src.dtype))


def lazy_from_memmap(mm, chunks, *, name: str):
    """Dask array over a memmap without copying it (see :class:`MemmapSource`)."""
    import dask.array as da

    return da.from_array(MemmapSource(mm), chunks=chunks, name=name, inline_array=True, meta=np.empty((0,) * mm.ndim,
                                                                                                     mm.dtype))


#: Nominal masses (u) of the lithium isotopes, for picking channels by mass.
ISOTOPE_MASSES = {"6Li": 6.015122, "7Li": 7.016003}


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks (read-only).

    Raises
    ------
    FileFormatError
        The file does not exist or cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(chunk_size), b""):
                digest.update(block)
    except OSError as exc:
        raise FileFormatError(f"cannot read file: {exc.strerror or exc}", source=path) from None
    return digest.hexdigest()


def read_text(path: str | Path) -> str:
    """The text of a text file: UTF-8, else Latin-1 (older Windows exports write ``µm`` so).

    Raises
    ------
    FileFormatError
        Missing file, a folder, unreadable, larger than :data:`MAX_TEXT_BYTES`, or binary
        content (a NUL byte); the message names the file.
    """
    p = Path(path)
    if not p.exists():
        raise FileFormatError("file not found", source=p)
    if p.is_dir():
        raise FileFormatError("cannot read the file: it is a directory", source=p)
    try:
        size = p.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise FileFormatError(f"text file of {size / 1024**3:.1f} GiB is too large to parse; convert it "
                                  "to .npy or HDF5 first", source=p)
        with open(p, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise FileFormatError(f"cannot read the file ({exc.strerror or exc})", source=p) from None
    if b"\x00" in raw:
        raise FileFormatError("cannot read the file: it is not UTF-8 text (binary content)", source=p)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def check_readable(path: str | Path) -> Path:
    """Resolve ``path`` and check it is an existing regular file."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError("file does not exist", source=p)
    if not p.is_file():
        raise FileFormatError("not a regular file", source=p)
    if not os.access(p, os.R_OK):
        raise FileFormatError("file is not readable (permissions)", source=p)
    return p


def read_head(path: str | Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file (opened ``"rb"``)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise FileFormatError(f"cannot read file: {exc.strerror or exc}", source=path) from None


def guard_size(path: str | Path, declared_bytes: int, *, what: str, available: int | None = None,
               lazy: bool = False) -> None:
    """Refuse to allocate ``declared_bytes`` when the file cannot hold them or they exceed the cap.

    Parameters
    ----------
    declared_bytes
        Size implied by the file's header (shape x item size).
    available
        Bytes the file actually has for this payload (default: the file size).
    lazy
        Lazy reads skip the absolute cap (nothing is allocated up front).
    """
    if declared_bytes < 0:
        raise FileFormatError(f"{what}: negative size in header", source=path)
    if available is None:
        available = os.path.getsize(path)
    if declared_bytes > available:
        raise FileFormatError(f"{what}: header declares {declared_bytes} bytes of data but the file holds "
                              f"only {available}; the file is truncated or corrupt", source=path)
    if not lazy and declared_bytes > MAX_EAGER_BYTES:
        raise FileFormatError(f"{what}: {declared_bytes / 1024**3:.1f} GiB exceeds the eager-read limit; "
                              f"use lazy=True", source=path)
    if not lazy:
        # A compressed TIFF of 1 MB may declare 20000 x 20000 px: refuse before decoding what cannot fit.
        from tracerdiff.resources import require_memory

        require_memory(declared_bytes, what=f"reading the {what} (as declared in the header)",
                       reduce="bin or crop the image, or read it lazily (lazy=True)", source=path)


@contextlib.contextmanager
def wrap_errors(path: str | Path, fmt: str, *, caught_warnings: list | None = None) -> Iterator[None]:
    """Turn any exception raised while parsing into a :class:`FileFormatError` naming the file.

    Warnings raised inside are recorded (into ``caught_warnings`` when given) instead of
    escaping, because vendor parsers warn about benign header oddities.
    """
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            yield
        except MissingDependencyError:
            raise  # not the file's fault: the message names the extra to install
        except FileFormatError as exc:
            if exc.source is None:
                raise FileFormatError(str(exc), source=path) from None
            raise
        except TracerdiffError as exc:
            src = exc.source
            msg = exc.message if src and Path(src) == Path(path) else str(exc)  # name the file once
            raise FileFormatError(f"{fmt}: {msg}", source=path) from None
        except MemoryError:
            raise FileFormatError(f"{fmt}: declared data size does not fit in memory; the file is "
                                  "probably corrupt", source=path) from None
        except RecursionError:
            raise FileFormatError(f"{fmt}: nesting too deep; the file is probably corrupt",
                                  source=path) from None
        except Exception as exc:  # noqa: BLE001 - vendor parsers raise anything on corrupt input
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise FileFormatError(f"not a readable {fmt} file ({type(exc).__name__}"
                                  f"{': ' + detail if detail else ''})", source=path) from None
        finally:
            if caught_warnings is not None:
                caught_warnings.extend(str(w.message)[:200] for w in record)


def canonical_channel(name: str) -> str:
    """Normalise channel labels: ``"6Li+"``, ``"^6Li"``, ``"Li6"``, ``"I6Li"`` -> ``"6Li"``; ``"Li+"`` -> ``"7Li"``.

    See :func:`tracerdiff.species.parse_species`; labels that are not a single isotope
    (molecules, ``"C"``, ``"counts"``) are returned stripped, spaces between formula groups removed.
    """
    return _canonical(name)


def channel_for_mass(mass: float, *, tolerance: float = 0.2) -> str | None:
    """The isotope channel name whose mass is within ``tolerance`` (u) of ``mass``, else ``None``."""
    for name, m in ISOTOPE_MASSES.items():
        if abs(float(mass) - m) <= tolerance:
            return name
    return None


def select_channels(available: dict, wanted, path: str | Path) -> dict:
    """Keep the channels named in ``wanted`` (canonical names), in that order."""
    if wanted is None:
        return available
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    out = {}
    for w in wanted:
        key = canonical_channel(w)
        if key not in available:
            raise FileFormatError(f"channel {w!r} not in file; it has {sorted(available)}", source=path)
        out[key] = available[key]
    return out
