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
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

# mkstemp creates 0600 files; outputs are ordinary files, so give them the mode open() would (0666 & ~umask).
# The umask can only be read by setting it; done once at import, before any thread writes.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_TEMP_SUFFIX = ".tmp"
# mkstemp's names: prefix ".<target>." + 8 random characters from [a-z0-9_] + suffix.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        # Interrupted (including KeyboardInterrupt): drop the partial temp file, keep the old target.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def make_output_folder(path: str | Path) -> Path:
    """Create the output folder (and parents); a clear error if it is a file or cannot be made.

    Raises
    ------
    InputError
        ``path`` exists and is not a folder, or the system refuses to create it.
    """
    from tracerdiff.errors import InputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("the output folder exists as a file; give a folder name", source=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror})", source=path) from None
    return path


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files a killed writer left in ``folder`` (recursively); return them.

    A crash (SIGKILL, power loss) between ``mkstemp`` and ``os.replace`` cannot clean up
    after itself, so the next run into the same folder does. Only names this module
    makes (``.<target>.<8 random characters>.tmp``) are touched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(f".*{_TEMP_SUFFIX}") if p.is_file() and _TEMP_NAME.fullmatch(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


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
