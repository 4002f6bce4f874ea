"""Error types. Every user-facing failure is a :class:`TracerdiffError`.

The CLI catches :class:`TracerdiffError` and prints its message as one line,
so messages must be complete sentences naming the file/key and the problem.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator


class TracerdiffError(Exception):
    """Base class for all errors tracerdiff raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence (kept as ``.message``).
    source : str or pathlib.Path, optional
        File path or key the problem belongs to (kept as ``.source``); ``str(error)`` is
        ``"source: message"``. Code that renames the source (the CLI naming a flag instead of a
        keyword) rebuilds the error from ``.message``, never by cutting ``str(error)``.
    """

    def __init__(self, message: str = "", *, source: str | Path | None = None):
        self.source = None if source is None else str(source)
        self.message = str(message)
        super().__init__(f"{self.source}: {self.message}" if self.source else self.message)


class InputError(TracerdiffError, ValueError):
    """Bad user input: a value, a unit, a parameter combination (``.message``, ``.source``)."""


class FileFormatError(InputError):
    """A file cannot be read: missing, unreadable, truncated or of the wrong format."""


class FitError(TracerdiffError, RuntimeError):
    """A fit or estimate failed to converge or is undefined for these data (``.message``, ``.source``)."""


class MissingDependencyError(TracerdiffError, ImportError):
    """An optional dependency (a vendor reader's extra) is not installed."""


def import_optional(module: str, *, extra: str, purpose: str):
    """Import an optional dependency, or raise :class:`MissingDependencyError` naming its extra.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"pySPM"``.
    extra : str
        The tracerdiff extra that installs it, e.g. ``"iontof"``.
    purpose : str
        What it is needed for, e.g. ``"reading IONTOF .ita files"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {module.split('.')[0]!r}, which is not installed "
            f"({exc}); install it with: pip install 'tracerdiff[{extra}]'") from None


class SourceEdgeWarning(UserWarning):
    """The exchanged edge given for a tracer image contradicts the image's large-scale C trend:
    with the wrong edge every step has the wrong sign and is flagged. The remark is also kept
    in the result's message."""


class InstallationError(TracerdiffError, ImportError):
    """A module of tracerdiff itself (or one of its required dependencies) cannot be imported.

    That is a broken installation, never missing data: runs stop on it (non-zero exit) instead
    of recording an analysis as skipped.
    """


@contextlib.contextmanager
def own_imports(purpose: str) -> Iterator[None]:
    """Imports of tracerdiff's own modules: an ImportError becomes :class:`InstallationError`.

    A missing optional extra stays a :class:`MissingDependencyError` (it names the extra to
    install). ``purpose`` says what the modules were needed for, e.g. ``"reading line scans"``.
    """
    try:
        yield
    except MissingDependencyError:
        raise
    except ImportError as exc:
        module = exc.name or "one of its modules"
        raise InstallationError(f"{purpose} needs {module}, which cannot be imported ({exc}); the tracerdiff "
                                "installation is broken: reinstall it (pip install --force-reinstall "
                                "tracerdiff)") from exc


class GrainMapWarning(UserWarning):
    """The grain map behind a whole-image inversion is deficient: boundaries were missing from it
    (cut from the C map) or grains remain that the model cannot explain. The values are then
    less certain than the counting statistics say; the population median's standard error
    carries a grain-map term."""


class ModelFitWarning(UserWarning):
    """The network model of a whole-image inversion does not describe part of the image: window
    fits stopped far from where their data pull (``windows.unconverged``). Those windows'
    boundaries are not accepted and do not set the population; the rest may be biased too."""


class OutputError(TracerdiffError):
    """An output cannot be written, or its folder cannot be used (full disk, permissions, a lock held).

    The previous complete output is left in place. ``source`` names the output path.
    """
