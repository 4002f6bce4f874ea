"""The layout of a text export, found from its content: delimiter, decimal comma, named columns.

Real exports end lines in CRLF and a trailing tab, write ``inf`` in ratio columns, use a
decimal comma in some locales, and put every header line, the column names included, behind
``#``. :func:`text_layout` reads all of that once, so that detection (:mod:`.detect`) and the
readers agree on what a file is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$", re.IGNORECASE)
_COMMA_NUM = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")
_COMMENT = ("#", "%", "//")
SPECTRUM_WORDS = re.compile(r"^(m/z|mass|mass\s*\(u\)|m/q)$", re.IGNORECASE)
TIME_AXIS = re.compile(r"^(sputter\s*)?time$", re.IGNORECASE)
POINT_COLUMN = re.compile(r"^data\s*point", re.IGNORECASE)


def is_number(token: str) -> bool:
    """A decimal number, ``inf`` or ``nan`` (as exports write them)."""
    return bool(_NUM.match(token.strip()))


@dataclass(frozen=True)
class TextLayout:
    """What the start of a text file looks like.

    Attributes
    ----------
    comments
        Comment lines with the comment mark removed (only the mark: tabs that align columns stay).
    data
        Data lines, trailing whitespace (CR, trailing tab) removed.
    delimiter
        ``"\\t"``, ``","``, ``";"`` or None (whitespace).
    decimal_comma
        Numbers are written ``1,5``; the delimiter is then not a comma.
    names
        Column names when a header names the data columns (a ``#`` line or the first data
        line), else None. ``names_line`` is the index into ``comments`` (or -1 for the first
        data line).
    """

    comments: list[str]
    data: list[str]
    delimiter: str | None
    decimal_comma: bool = False
    names: list[str] | None = None
    names_line: int | None = None
    extra: dict = field(default_factory=dict)

    def split(self, line: str) -> list[str]:
        """Tokens of one line (a trailing empty token from a trailing delimiter is dropped)."""
        tokens = line.split(self.delimiter) if self.delimiter else line.split()
        while tokens and not tokens[-1].strip():
            tokens.pop()
        return [t.strip() for t in tokens]

    def number(self, token: str) -> str:
        return token.replace(",", ".") if self.decimal_comma else token


def _guess_delimiter(lines: list[str]) -> str | None:
    sample = lines[:20]
    for d in ("\t", ";", ","):
        if sample and all(d in ln for ln in sample):
            return d
    return None


def text_layout(text: str) -> TextLayout:
    """The :class:`TextLayout` of ``text`` (the whole file or its first block)."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    comments, data = [], []
    for ln in lines:
        if not ln.strip():
            continue
        stripped = ln.lstrip()
        mark = next((m for m in _COMMENT if stripped.startswith(m)), None)
        if mark is not None and not data:
            comments.append(stripped[len(mark):])
        elif mark is None:
            data.append(ln)
    delimiter = _guess_delimiter(data[1:] or data)
    tokens = [t for ln in data[1:21] or data[:1] for t in (ln.split(delimiter) if delimiter else ln.split())]
    decimal_comma = delimiter != "," and any(_COMMA_NUM.match(t.strip()) for t in tokens)
    if delimiter is None and data and all("," in ln for ln in data[:20]) and not decimal_comma:
        delimiter = ","
    layout = TextLayout(comments, data, delimiter, decimal_comma)
    names, where = _column_names(layout)
    return TextLayout(comments, data, delimiter, decimal_comma, names, where)


def _column_names(layout: TextLayout) -> tuple[list[str] | None, int | None]:
    if not layout.data:
        return None, None
    first = layout.split(layout.data[0])
    if first and not all(is_number(layout.number(t)) for t in first):
        return first, -1
    ncols = len(first)
    # The comment line right above the data, when it splits into as many words as the data has columns
    # (free text further up, such as "# ION-TOF SurfaceLab ASCII image export", is not a header).
    if not layout.comments:
        return None, None
    i = len(layout.comments) - 1
    tokens = layout.split(layout.comments[i])
    words = [t for t in tokens if t and not is_number(layout.number(t)) and t.upper() != "N/A"
             and not t.endswith(":")]
    if len(tokens) == ncols and len(words) == ncols and ncols >= 2:
        return tokens, i
    return None, None


def looks_like_spectrum(names: list[str] | None) -> bool:
    """A mass spectrum: a column of m/z (or mass) next to intensity, no position or time axis."""
    if not names:
        return False
    lowered = [n.strip().lower() for n in names]
    return any(SPECTRUM_WORDS.match(n) for n in lowered) and any("intens" in n or "count" in n for n in lowered)
