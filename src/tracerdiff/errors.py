"""Error types. Every user-facing failure is a :class:`TracerdiffError`.

The CLI catches :class:`TracerdiffError` and prints its message as one line,
so messages must be complete sentences naming the file/key and the problem.
"""

from __future__ import annotations

from pathlib import Path


class TracerdiffError(Exception):
    """Base class for all errors tracerdiff raises on purpose."""


class InputError(TracerdiffError, ValueError):
    """Bad user input: a value, a unit, a parameter combination.

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    source
        Optional file path or key the problem belongs to; prefixed to the message.
    """

    def __init__(self, message: str, *, source: str | Path | None = None):
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {message}" if self.source else message)


class FileFormatError(InputError):
    """A file cannot be read: missing, unreadable, truncated or of the wrong format."""


class FitError(TracerdiffError, RuntimeError):
    """A fit or estimate failed to converge or is undefined for these data."""


class OutputError(TracerdiffError):
    """An output cannot be written, or its folder cannot be used (full disk, permissions, a lock held).

    The previous complete output is left in place. ``source`` names the output path.
    """

    def __init__(self, message: str, *, source: str | Path | None = None):
        self.source = None if source is None else str(source)
        self.message = message
        Exception.__init__(self, f"{self.source}: {message}" if self.source else message)
