"""Memory available to this process, and a refusal before an allocation that cannot fit.

A large image must give a clear error naming the size it needs and how to reduce it,
not a kill by the kernel with no message (a 2048^2 image once needed 24 GB) or a
"Unable to allocate 214 GiB" traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from tracerdiff.errors import InputError

#: Override of the available memory (bytes, or with a unit: "4GB", "512 MiB"), for small machines and tests.
LIMIT_ENV = "TRACERDIFF_MEMORY_LIMIT"
_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
          "TIB": 2**40}


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().replace(" ", "")
    num = t.rstrip("KMGTIB")
    unit = t[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (KeyError, ValueError):
        raise InputError(f"cannot read {text!r} as a memory size such as 4GB", source=LIMIT_ENV) from None
    if not value > 0:
        raise InputError(f"must be positive, got {text!r}", source=LIMIT_ENV)
    return int(value)


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def available_memory() -> int:
    """Bytes this process may still allocate: ``TRACERDIFF_MEMORY_LIMIT``, else MemAvailable (and the cgroup limit)."""
    if os.environ.get(LIMIT_ENV):
        return _parse_bytes(os.environ[LIMIT_ENV])
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 2**63
    cgroup = _cgroup_limit()
    return min(avail, cgroup) if cgroup is not None else avail


def format_bytes(n: float) -> str:
    """1.5 GB, 320 MB (decimal units, as ``free -h`` users read them)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


def require_memory(needed: float, *, what: str, reduce: str, source: str | Path | None = None) -> None:
    """Refuse (before allocating) when ``needed`` bytes exceed what this process can get.

    Parameters
    ----------
    needed : float
        Estimated peak bytes of the step about to run.
    what : str
        What needs them, e.g. "the boundary analysis of a 20000 x 20000 px image".
    reduce : str
        How to need less, e.g. "bin the image 2x2 or analyse a smaller field".

    Raises
    ------
    InputError
        Naming the size needed, the size available and ``reduce``.
    """
    avail = available_memory()
    if needed > avail:
        raise InputError(f"{what} needs about {format_bytes(needed)} of memory but only {format_bytes(avail)} "
                         f"is available; {reduce}", source=source)
