"""One self-contained HTML page from sections of text and plotly figures.

plotly.js (~4.5 MB) is embedded once, at the top, so the page opens offline and every figure
after the first adds only its data.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from sweepcast.files import write_atomic

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .2em .8em; border-bottom: 1px solid #eee;
text-align: left; } code { background: #f4f4f4; padding: 0 .3em; } .note { color: #666; }
"""


@dataclass
class Section:
    title: str
    html: str = ""  # trusted markup built by this package (values escaped by the builder)
    figures: list[go.Figure] = field(default_factory=list)


def table(rows: list[tuple[str, str]]) -> str:
    """A two-column table of label/value pairs, escaped."""
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A table with a header row, escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def paragraph(text: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f"<p{klass}>{html.escape(text)}</p>"


def render(title: str, sections: list[Section]) -> str:
    """The whole page; figure ids are stable (``figure-<n>``) so tests and browsers can find them."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    n = 0
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>{section.html}")
        for figure in section.figures:
            parts.append(figure.to_html(include_plotlyjs=False, full_html=False, div_id=f"figure-{n}",
                                        config={"displaylogo": False}))
            n += 1
    parts.append("</body></html>")
    return "\n".join(parts)


def write(path: Path, page: str) -> Path:
    """Write atomically: a reader never sees half a report."""
    write_atomic(path, page)
    return path
