"""The report's HTML building blocks: the sections' ids, the inline CSS, and how a value is shown.

Every value from the data goes through :func:`escaped` (or :func:`html.escape`) before it is
written into the page. Nothing here draws: matplotlib is in :mod:`orchestrator.report.figures`.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

__all__ = ["SECTIONS", "CSS", "STATUS_COLOURS", "BAD_STATUSES", "format_value", "escaped", "plural",
           "section_html", "kv_table", "figure_html"]

#: ``(id, heading)`` of every section, in page order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("selected", "Selected trial and test score"),
    ("front", "Front"),
    ("compute", "Compute"),
    ("curves", "Learning curves"),
    ("best-so-far", "Best so far over time"),
    ("importance", "Importance"),
    ("goldilocks", "Goldilocks plots"),
    ("parallel", "Parallel coordinates"),
    ("trials", "Trials"),
)

#: The colour of each trial status, in the plots and the trials table.
STATUS_COLOURS = {"completed": "#1f77b4", "stopped": "#ff7f0e", "diverged": "#d62728", "error": "#7f7f7f",
                  "running": "#9467bd", "infeasible": "#b0bec5"}
#: Statuses whose metric is never a result (drawn at the edge, ranked last): an infeasible trial
#: broke a constraint on its model's costs before its first epoch, and has no metric at all.
BAD_STATUSES = ("diverged", "error", "infeasible")

#: The page's only style sheet (``sweep compare`` uses it too, so both pages look alike).
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
header{background:#263238;color:#fff;padding:12px 24px}header h1{margin:0 0 6px;font-size:1.4em}
header nav a{color:#b2ebf2;text-decoration:none;font-size:.9em}main{padding:0 24px 24px;max-width:1400px}
section{margin-top:28px}h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px}h3{margin:18px 0 6px}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid #eceff1}
figcaption{font-size:.85em;color:#555;max-width:1100px}.grid{display:flex;flex-wrap:wrap;gap:12px}
.grid figure{flex:0 1 560px}table{border-collapse:collapse;font-size:.82em}
td,th{border:1px solid #dde;padding:3px 6px;text-align:left;vertical-align:top}th{background:#eceff1}
.kv th{width:230px}.scroll{overflow-x:auto;max-height:900px;overflow-y:auto}
.num{text-align:right;font-variant-numeric:tabular-nums}.s-completed{color:#1f77b4}.s-stopped{color:#e65100}
.s-diverged{color:#d62728;font-weight:600}.s-error{color:#616161;font-weight:600}.s-infeasible{color:#78909c}
.sel{background:#fff8e1}
.reason{min-width:320px;max-width:520px;color:#444}td.tid{white-space:nowrap}
.err{max-width:360px;color:#b71c1c;white-space:pre-wrap;word-break:break-word}
.imp td.bar{width:280px}.imp td.bar>div{background:#1f77b4;height:12px;min-width:1px}
.big{font-size:1.6em;font-weight:600}.note{color:#666;font-size:.9em}footer{color:#888;font-size:.8em;padding:12px 24px}
"""


def escaped(value: Any) -> str:
    """Format a value for a cell and escape it."""
    return html.escape(format_value(value), quote=True)


def format_value(value: Any) -> str:
    """A value from the tables as short text: 4 significant digits (a whole number in full),
    ``yes``/``no``, empty for null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e9:
            return str(int(value))  # a count held as a float (parameters, bytes): 38000, not 3.8e+04
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def plural(k: int, word: str) -> str:
    """``1 trial``, ``2 trials``."""
    return f"{k} {word}{'' if k == 1 else 's'}"


def section_html(sid: str, inner: str) -> str:
    """One ``<section>`` of the page, headed as :data:`SECTIONS` says."""
    heading = dict(SECTIONS)[sid]
    return f'<section id="{sid}">\n<h2>{html.escape(heading)}</h2>\n{inner}\n</section>'


def kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and (escaped) values."""
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{escaped(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def figure_html(png: bytes | None, alt: str, caption: str = "") -> str:
    """A PNG embedded as base64 with its caption (already HTML), or a note when there is none."""
    if png is None:
        return f'<p class="note">{html.escape(alt)}: nothing to plot.</p>'
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">{cap}</figure>'
