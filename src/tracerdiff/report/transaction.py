"""Output folders as transactions: a run replaces a folder completely or not at all.

:func:`output_folder` is used by ``tracerdiff run``, ``demo`` and ``simulate``:

1. the target is checked before anything is written: not empty or odd, not the current
   folder, not holding any of the run's input files, and either new, empty, or an
   earlier tracerdiff output (anything else would be deleted by the swap);
2. a lock file beside it (``.<name>.tracerdiff-lock``, holding the owner's PID, taken
   with ``fcntl.flock``) makes a second run on the same folder fail at once;
3. staging folders of killed runs (``<name>.tracerdiff-staging-<pid>``) are removed, and
   a previous output a crash left mid-swap (``<name>.tracerdiff-previous-<pid>``) is
   put back;
4. the run writes into a fresh staging folder beside the target;
5. only when the body finished, the staging folder is fsynced and swapped in (one
   ``renameat2(RENAME_EXCHANGE)``, or two renames where the file system lacks it) with
   SIGINT/SIGTERM held back; the old contents are then deleted.

An exception, Ctrl-C, SIGTERM or a full disk before step 5 deletes the staging folder
and leaves the previous output untouched; outputs of analyses a re-run did not do
cannot survive, because the folder is replaced as a whole.

:func:`output_file` does steps 1-3 for a single output file (``convert``), whose
atomic write is :func:`tracerdiff.report.atomic.write_file_atomic`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Iterable

from tracerdiff.errors import InputError, OutputError
from tracerdiff.report.atomic import write_text_atomic

#: A hidden file in every output folder: "a tracerdiff run wrote this folder, it may replace it".
MARKER = ".tracerdiff-output"
STAGING = "tracerdiff-staging"
PREVIOUS = "tracerdiff-previous"
#: Test hook: pause at the named checkpoint(s) (comma-separated), see :func:`checkpoint`.
PAUSE_ENV = "TRACERDIFF_PAUSE_AT"
PAUSE_FILE_ENV = "TRACERDIFF_PAUSE_FILE"


def checkpoint(name: str) -> None:
    """A named point of a run where the interrupt tests can pause it.

    With ``TRACERDIFF_PAUSE_AT`` naming this point and ``TRACERDIFF_PAUSE_FILE`` a path, the
    process writes that file and waits (at most 60 s) until the test deletes it; the test
    sends its signal in between. Without the variables this is a no-op.
    """
    wanted = os.environ.get(PAUSE_ENV)
    flag = os.environ.get(PAUSE_FILE_ENV)
    if not wanted or not flag or name not in wanted.split(","):
        return
    Path(flag).write_text(name)
    deadline = time.monotonic() + 60
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)


def check_output_path(out: str | Path, *, option: str = "--out", kind: str = "folder") -> Path:
    """Refuse empty, odd or unusable output paths before any work; return the resolved path.

    Raises
    ------
    InputError
        Empty or blank name, control characters, leading/trailing spaces, the file system root,
        the current folder or one above it, an existing file where a folder is wanted (or the
        reverse), or a parent that is a file or not writable.
    """
    text = os.fspath(out)
    if not text.strip() or text.strip() == ".":
        raise InputError(f"the output {kind} name is empty or '.'; give a new {kind}, e.g. {option} results",
                         source=option)
    name = Path(text).name
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or name != name.strip():
        raise InputError(f"the output {kind} name {text!r} has control characters or leading/trailing spaces",
                         source=option)
    real = Path(os.path.realpath(text))
    cwd = Path(os.path.realpath(os.getcwd()))
    if real == real.parent:
        raise InputError(f"the output {kind} cannot be the file system root", source=option)
    if kind == "folder":
        if real == cwd or real in cwd.parents:
            raise InputError(f"{text!r} is the current folder or one above it; a run replaces its output folder "
                             f"as a whole, so give a new folder, e.g. {option} results", source=option)
        if real.exists() and not real.is_dir():
            raise InputError("the output folder exists as a file; give a folder name", source=text)
    elif real.is_dir():
        raise InputError("the output is a folder; give a file name such as image.h5", source=text)
    existing = real.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot create the output {kind}: {existing} is a file", source=text)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in {existing} (permission denied)", source=text)
    return real


def check_inputs_outside(real: Path, inputs: Iterable[str | Path], *, shown: str | Path) -> None:
    """Refuse an output folder that holds (or is) one of the run's input files.

    Raises
    ------
    InputError
        Naming the first input found inside the output folder.
    """
    for f in inputs:
        r = Path(os.path.realpath(f))
        if r == real or real in r.parents:
            raise InputError(f"the output folder contains the input file {f}; a run replaces its output folder as a "
                             "whole, so give a folder outside the data (e.g. --out results)", source=shown)


@contextlib.contextmanager
def _lock(real: Path, *, shown: str | Path):
    """Hold ``.<name>.tracerdiff-lock`` beside ``real`` (flock, PID inside); refuse at once if held."""
    lock = real.parent / f".{real.name}.tracerdiff-lock"
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create the lock file {lock.name} ({exc.strerror})", source=shown) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(f"another tracerdiff process (PID {owner}) is writing this output; wait for it to "
                              f"finish or choose another output (lock file {lock})", source=shown) from None
        # The previous holder unlinks the file when done; if it did so after we opened it, our lock is
        # on an orphan inode and a third process could lock a new file: start again.
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _leftovers(real: Path, tag: str) -> list[Path]:
    pattern = re.compile(re.escape(real.name) + r"\." + tag + r"-\d+")
    try:
        names = os.listdir(real.parent)
    except FileNotFoundError:
        return []
    return sorted(real.parent / n for n in names if pattern.fullmatch(n))


def _recover(real: Path) -> None:
    """Under the lock: put back an output a crash left mid-swap, delete stale staging folders."""
    previous = _leftovers(real, PREVIOUS)
    if previous and not os.path.lexists(real):
        os.rename(previous.pop(), real)  # a crash between the two renames of the fallback swap
    for p in previous + _leftovers(real, STAGING):
        shutil.rmtree(p, ignore_errors=True)


def _check_replaceable(real: Path, known: Iterable[str], *, shown) -> None:
    """The target must be new, empty, or hold only what a tracerdiff run wrote there.

    What that is: the names listed in the marker file (written at the swap), or for an
    output of an older tracerdiff without a marker, the names ``known`` for this command.
    A file the user added to an output folder is therefore never deleted by the swap.
    """
    if not real.is_dir():
        return
    entries = sorted(os.listdir(real))
    if not entries:
        return
    allowed = set(known)
    if MARKER in entries:
        try:
            allowed = set(json.loads((real / MARKER).read_text())["written"]) | {MARKER}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable marker: fall back to the command's own names
    # Temporary files of a killed atomic write (".<name>.<8 random characters>.tmp") are ours too.
    foreign = [e for e in entries if e not in allowed and not _TEMP_NAME.fullmatch(e)]
    if foreign:
        listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise InputError(f"the output folder holds files tracerdiff did not write ({listed}); a run replaces its "
                         "output folder as a whole, so give a new or empty folder (or move them out)", source=shown)


def _write_marker(staging: Path, owner: str) -> None:
    """Record the folder's top-level names: the next run may replace exactly these."""
    written = sorted(n for n in os.listdir(staging) if n != MARKER)
    text = json.dumps({"written_by": owner, "note": "replaced as a whole by the next run", "written": written},
                      indent=1) + "\n"
    write_text_atomic(staging / MARKER, text)


_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        func = _libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held():
    """Defer SIGINT/SIGTERM while the swap runs, then act on them; no-op off the main thread.

    Not ``pthread_sigmask``: a signal sent to the process may be taken by another thread
    (BLAS workers), and Python would still raise KeyboardInterrupt in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])


def _commit(staging: Path, real: Path, *, shown) -> None:
    try:
        for folder, _, _ in os.walk(staging):  # files were fsynced by their writer; now their names
            _fsync_path(Path(folder))
        with _signals_held():
            checkpoint("commit")
            if os.path.lexists(real):
                if _exchange(staging, real):
                    old = staging  # now holds the previous contents
                else:
                    old = real.parent / f"{real.name}.{PREVIOUS}-{os.getpid()}"
                    os.rename(real, old)
                    os.rename(staging, real)
            else:
                os.rename(staging, real)
                old = None
            _fsync_path(real.parent)
    except OSError as exc:
        raise OutputError(f"cannot move the finished output into place ({exc.strerror or exc}); the previous "
                          "output is unchanged", source=shown) from None
    checkpoint("committed")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def output_folder(out: str | Path, *, inputs: Iterable[str | Path] = (), known: Iterable[str] = (),
                  owner: str = "tracerdiff", option: str = "--out"):
    """Yield a staging folder; on success its contents replace ``out`` as a whole.

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder as the user gave it.
    inputs : sequence of pathlib.Path
        Files the run reads: refused inside ``out``.
    known : collection of str
        Names this command writes: an existing folder holding only these (an output of an older
        tracerdiff, without the marker) may be replaced.
    owner : str
        Recorded in the marker file.
    option : str
        The flag named in errors.

    Raises
    ------
    InputError
        A refused output path (before anything is written).
    OutputError
        The lock is held by another process, or the output cannot be written.
    """
    real = check_output_path(out, option=option)
    check_inputs_outside(real, inputs, shown=out)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror})", source=out) from None
    with _lock(real, shown=out):
        _recover(real)
        _check_replaceable(real, known, shown=out)
        staging = real.parent / f"{real.name}.{STAGING}-{os.getpid()}"
        try:
            staging.mkdir()
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(f"cannot create the staging folder {staging} ({exc.strerror})", source=out) from None
        try:
            checkpoint("staging")
            yield staging
            checkpoint("before-commit")
            _write_marker(staging, owner)
            _commit(staging, real, shown=out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # after a swap it holds the old contents (if any are left)


@contextlib.contextmanager
def output_file(out: str | Path, *, inputs: Iterable[str | Path] = (), option: str = "OUT"):
    """Check and lock a single output file; yield its resolved path (write it with ``write_file_atomic``).

    Temporary files of a killed earlier write to the same name are removed first.
    """
    real = check_output_path(out, option=option, kind="file")
    for f in inputs:
        if Path(os.path.realpath(f)) == real:
            raise InputError("output would overwrite the input file", source=out)
    if not real.parent.is_dir():
        raise InputError("output folder does not exist", source=out)
    with _lock(real, shown=out):
        pattern = re.compile(r"\." + re.escape(real.name) + r"\.[a-z0-9_]{8}\.tmp")
        for name in os.listdir(real.parent):
            if pattern.fullmatch(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(real.parent / name)
        yield real
