"""A self-contained ``report.html``: inline CSS, figures as base64 PNG data URIs.

No scripts, fonts or images are fetched from anywhere, so the report opens
offline, can be e-mailed as one file, and a headless browser loading it
reports no console errors.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f2f2f2}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;
margin:.4em 0}.ok{color:#1b7f3b}.bad{color:#b00020}code{background:#f4f4f4;padding:0 .2em}
"""


@dataclass
class Section:
    """One section: a heading, paragraphs, tables, figures and notes, in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list]]] = field(default_factory=list)
    figures: list[tuple[str, bytes, str]] = field(default_factory=list)  # (name, png bytes, caption)
    notes: list[str] = field(default_factory=list)


def _cell(v) -> str:
    if isinstance(v, float):
        return f'<td class="num">{v:.4g}</td>'
    if isinstance(v, int) and not isinstance(v, bool):
        return f'<td class="num">{v}</td>'
    return f"<td>{html.escape('' if v is None else str(v))}</td>"


def render_html(title: str, sections: list[Section], *, footer: str = "") -> str:
    """Render a complete HTML document (UTF-8) from ``sections``."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # Forbid any network access: everything the page needs is inline.
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
           "style-src 'unsafe-inline'\">",
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    for sec in sections:
        out.append(f"<section><h2>{html.escape(sec.title)}</h2>")
        out += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        out += [f'<p class="note">{html.escape(n)}</p>' for n in sec.notes]
        for caption, header, rows in sec.tables:
            out.append(f"<table><caption>{html.escape(caption)}</caption><thead><tr>"
                       + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows]
            out.append("</tbody></table>")
        for name, png, caption in sec.figures:
            data = base64.b64encode(png).decode("ascii")
            out.append(f'<figure><img class="figure" alt="{html.escape(name)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>')
        out.append("</section>")
    if footer:
        out.append(f"<footer><p><small>{html.escape(footer)}</small></p></footer>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
