"""matplotlib for the report and ``sweep compare``: figures on the Agg canvas, PNG bytes out.

matplotlib is imported inside these functions, never at import time, and pyplot never: a figure
is an object on its own canvas, so no global figure is left open and an interactive backend in a
notebook is left alone.
"""

from __future__ import annotations

import io
from typing import Any

from .page import format_value

__all__ = ["DPI", "new_figure", "fixed_axes", "to_png", "plot_text", "plot_style"]

DPI = 80


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    """A matplotlib ``Figure`` (inches) on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def fixed_axes(width: float, height: float, left: float = 0.8, right: float = 0.15, top: float = 0.3,
               bottom: float = 0.55) -> tuple[Any, Any]:
    """A figure with one axes and margins fixed in inches (cheaper than a layout engine)."""
    fig = new_figure(width, height, layout=None)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
    return fig, fig.subplots()


def to_png(fig: Any) -> bytes:
    """The figure as PNG bytes; its artists are released at once."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    fig.clear()  # release the artists at once (the figure is in no pyplot registry: nothing else to close)
    return buf.getvalue()


def plot_text(value: Any) -> str:
    """A value from the data as plot text: ``$`` would start mathtext (tick labels need it on)."""
    return format_value(value).replace("$", r"\$")


def plot_style() -> Any:
    """The context manager of the plots' style (font sizes, no top/right spines)."""
    import matplotlib

    return matplotlib.rc_context({"font.size": 9, "axes.titlesize": 9,
                                  "axes.spines.top": False, "axes.spines.right": False})
