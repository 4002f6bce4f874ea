"""Reading a study file: TOML -> validated :class:`~tracerdiff.study.schema.Study`.

All problems are reported before any analysis starts, as one
:class:`~tracerdiff.errors.InputError` whose message names the file and the
key path of every problem (``study.toml: steps[1].duration: ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from tracerdiff.errors import FileFormatError, InputError
from tracerdiff.study.schema import Study


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(err: dict) -> str:
    key = _key_path(tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))))
    msg = err.get("msg", "invalid")
    kind = err.get("type", "")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden":
        msg = "unknown key (check the spelling; see the study-file documentation)"
    elif kind == "missing":
        msg = "required key is missing"
    # Errors raised by whole-model checks already name their sub-key (e.g. "measurements.images[0].after: ...").
    if not key:
        return msg
    return f"{key}: {msg}"


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML study file; relative data paths inside it are resolved against its folder.

    Raises
    ------
    FileFormatError
        The file is missing or is not valid TOML.
    InputError
        Any validation problem; the message lists every problem with its key path.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"cannot read the study file ({exc.strerror})", source=path) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"not a valid TOML file: {exc}", source=path) from None
    try:
        return Study.model_validate(data, context={"base_dir": str(path.parent.resolve())})
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        raise InputError("; ".join(problems), source=path) from None
