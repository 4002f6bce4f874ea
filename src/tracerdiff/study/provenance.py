"""Provenance of a run: what went in (checksums), which code, which parameters.

Deliberately no wall-clock time and no host name: re-running on the same
inputs must give byte-identical ``results.json``.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

from tracerdiff import __version__


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in chunks (raw data opened read-only)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scipy", "lmfit", "impedance", "xarray", "scikit-image", "matplotlib", "pydantic"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def collect_provenance(study_path: str | Path, study, input_files: list[Path]) -> dict:
    """A JSON-safe provenance record.

    Parameters
    ----------
    study_path : pathlib.Path
        The study file.
    study : Study
        The validated study (its parameters are recorded in SI, as parsed).
    input_files : sequence of pathlib.Path
        Every data file the study refers to.
    """
    study_path = Path(study_path).resolve()
    base = study_path.parent
    files = {}
    for f in [study_path, *sorted(set(input_files))]:
        try:
            key = str(Path(f).resolve().relative_to(base))
        except ValueError:
            key = str(Path(f).resolve())
        files[key] = sha256_file(f)
    return {
        "tracerdiff_version": __version__,
        "python": platform.python_version(),
        "libraries": _library_versions(),
        "study_file": study_path.name,
        "input_sha256": files,
        "parameters_si": study.model_dump(mode="json", exclude={"measurements", "reference"}),
    }


def study_input_files(study) -> list[Path]:
    """All data files named in a study."""
    files: list[Path] = []
    for im in study.measurements.images:
        files += [Path(p) for p in (im.li6, im.li7, im.file, im.optical) if p is not None]
    files += [Path(s.file) for s in study.measurements.line_scans]
    files += [Path(s.file) for s in study.measurements.profiles]
    files += [Path(s.file) for s in study.reference.impedance]
    files += [Path(s.file) for s in study.reference.series if s.file is not None]
    return files
