"""Atomic file writers: a reader never sees a half-written output file.

Every writer renders the whole content first, writes it to a temporary file
in the *same directory* (so :func:`os.replace` is a rename on one file system,
which POSIX makes atomic), flushes and fsyncs it, then renames it over the
target. If anything fails before the rename, the temporary file is removed and
the previous version of the target (if any) is left untouched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

# mkstemp creates 0600 files; outputs are ordinary files, so give them the mode open() would (0666 & ~umask).
# The umask can only be read by setting it; done once at import, before any thread writes.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_TEMP_SUFFIX = ".tmp"


def write_file_atomic(path: str | Path, write, *, suffix: str = _TEMP_SUFFIX) -> Path:
    """Have ``write(tmp_path)`` fill a temporary file beside ``path``, fsync it, rename it over ``path``.

    The one atomic writer of the package: the bytes/text/JSON/CSV/PNG writers below, the
    simulator's TIFF/HDF5 outputs and ``convert`` all go through it.

    Raises
    ------
    OutputError
        The system refused the write (a full disk, no permission); the message names ``path``.
    """
    from tracerdiff.errors import OutputError

    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data are on disk before the name points at them
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        # e.g. ENOSPC: "[Errno 28]" alone names no file; say which output could not be written.
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write this output: {reason} (errno {exc.errno})", source=path) from None
    finally:
        # Interrupted (including KeyboardInterrupt) or failed: drop the partial temp file, keep the old target.
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + os.replace)."""
    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)
    return write_file_atomic(path, write)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj) -> Path:
    """Serialise ``obj`` (already JSON-safe) fully, then write it atomically.

    Keys are sorted and NaN is refused, so identical results give identical bytes.
    """
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_text_atomic(path, text)


def write_csv_atomic(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a CSV table (header + rows) atomically; floats use ``repr`` precision."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow(["" if v is None else (repr(float(v)) if isinstance(v, float) else v) for v in row])
    return write_text_atomic(path, buf.getvalue())


def figure_png_bytes(fig, *, dpi: int = 110) -> bytes:
    """Render a :class:`matplotlib.figure.Figure` to PNG bytes (Agg canvas, no pyplot state).

    The PNG carries no timestamp/software metadata so reruns give identical bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def write_png_atomic(path: str | Path, fig, *, dpi: int = 110) -> bytes:
    """Render ``fig`` to PNG and write it atomically; returns the PNG bytes (for embedding)."""
    data = figure_png_bytes(fig, dpi=dpi)
    write_bytes_atomic(path, data)
    return data
