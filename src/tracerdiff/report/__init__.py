"""Outputs of a run: atomic writers (JSON, CSV, PNG, HTML) and the self-contained HTML report."""

from tracerdiff.report.atomic import (figure_png_bytes, write_bytes_atomic, write_csv_atomic, write_json_atomic,
                                      write_png_atomic, write_text_atomic)
from tracerdiff.report.html import Section, render_html

__all__ = ["figure_png_bytes", "write_bytes_atomic", "write_csv_atomic", "write_json_atomic", "write_png_atomic",
           "write_text_atomic", "Section", "render_html"]
