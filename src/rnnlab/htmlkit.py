"""The HTML kit of rnnlab's self-contained pages (the run report, the study and recipe reports):
the style sheet, the broken-image probe script, escaping, number formatting and embedded figures.

Example:
    >>> esc("<b>"), num(0.5), short([1, 2.5])
    ('&lt;b&gt;', '0.5', '[1, 2.5]')
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure

from rnnlab.plots import style

NO_DATA = "no data recorded"
#: Problems a section may hit while reading or drawing a run's files: shown, not raised.
SECTION_ERRORS = (ValueError, TypeError, KeyError, IndexError, OSError)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.2em 2em 3em; color: #222; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #666; font-size: 0.9em; }
nav a { margin-right: 1em; font-size: 0.9em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.nodata { color: #8a6d00; background: #fff8e1; padding: 0.5em 0.8em; border-left: 4px solid #f0c000; }
.problem { color: #8b0000; background: #fdecea; padding: 0.5em 0.8em; border-left: 4px solid #b00020; }
.finding { border-left: 6px solid #999; padding: 0.4em 0.9em; margin: 0.8em 0; background: #fafafa; }
.finding h3 { margin: 0.1em 0 0.3em; }
.sev { display: inline-block; font-size: 0.75em; font-weight: bold; color: #fff; padding: 0.1em 0.5em;
       border-radius: 3px; margin-right: 0.5em; vertical-align: middle; }
.error { border-left-color: #b00020; } .error .sev { background: #b00020; }
.warning { border-left-color: #e67e00; } .warning .sev { background: #e67e00; }
.info { border-left-color: #1f77b4; } .info .sev { background: #1f77b4; }
.check { color: #666; font-size: 0.85em; }
"""

#: Sets ``data-broken-images`` on <body>: images the browser failed to decode (for the browser test).
SCRIPT = """
window.addEventListener("load", function () {
  var broken = 0;
  document.querySelectorAll("img").forEach(function (img) {
    if (!img.complete || img.naturalWidth === 0) { broken += 1; }
  });
  document.body.dataset.brokenImages = String(broken);
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    if isinstance(value, int):
        return str(value)
    return style.fmt(value) if math.isfinite(value) else esc(value)


def short(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        items = ", ".join(num(v) for v in value[:8])
        return f"[{items}{', …' if len(value) > 8 else ''}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{esc(k)}: {short(v)}" for k, v in list(value.items())[:8]) + "}"
    return num(value)


def no_data(what: str) -> str:
    return f'<p class="nodata">{NO_DATA}: {esc(what)}</p>'


def problem(what: str, err: Exception) -> str:
    return f'<p class="problem">could not show {esc(what)}: {esc(type(err).__name__)}: {esc(err)}</p>'


def img(fig: Figure, alt: str) -> str:
    data = base64.b64encode(style.png(fig)).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def guarded(what: str, build: Callable[[], str]) -> str:
    try:
        return build()
    except SECTION_ERRORS as err:
        return problem(what, err)
