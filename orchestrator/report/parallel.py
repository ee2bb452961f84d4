"""The report's parallel-coordinates plot: one line per trial through its hyperparameters and
its metric, coloured by the metric."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from .context import MAX_PARAM_PLOTS, Context
from .figures import new_figure, plot_style, plot_text, to_png
from .page import BAD_STATUSES, figure_html, format_value, section_html

__all__ = ["parallel_section"]


_NA = -0.1  # where a trial without a value sits on an axis (a conditional hyperparameter, no result)

#: One vertical axis: its name, each trial's position on it (0..1, or ``_NA``), its ticks and their labels.
_Axis = tuple[str, np.ndarray, list[float], list[str]]


def _numeric_axis(s: pd.Series, log: bool) -> tuple[np.ndarray, list[float], list[str]]:
    """Positions, ticks and labels of a numeric hyperparameter (on a log scale when ``log`` and positive)."""
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    log = log and np.nanmin(v) > 0 if np.isfinite(v).any() else False
    f = np.log10(v) if log else v
    lo, hi = np.nanmin(f), np.nanmax(f)
    pos = np.where(np.isfinite(f), (f - lo) / ((hi - lo) or 1.0), _NA)
    distinct = np.unique(v[np.isfinite(v)])
    if len(distinct) <= 8:  # a choice of a few numbers: label each one
        ticks = [float(q) for q in ((np.log10(distinct) if log else distinct) - lo) / ((hi - lo) or 1.0)]
        labels = [format_value(float(d)) for d in distinct]
    else:
        ticks = [0.0, 0.5, 1.0]
        inv = (lambda q: 10 ** (lo + q * (hi - lo))) if log else (lambda q: lo + q * (hi - lo))
        labels = [format_value(float(inv(q))) for q in ticks]
    return pos, ticks, labels


def _categorical_axis(s: pd.Series, values: list[Any]) -> tuple[np.ndarray, list[float], list[str]]:
    """Positions, ticks and labels of a categorical hyperparameter (the spec's order, then the rest sorted)."""
    cats_in = [str(c) for c in values] or []
    present = s.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    cats = [c for c in cats_in if c in set(present.dropna())] + sorted(set(present.dropna()) - set(cats_in))
    where = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    pos = present.map(lambda c: where.get(c, _NA) if c is not None else _NA).to_numpy(dtype=float)
    return pos, list(where.values()), [c if len(c) <= 12 else c[:11] + "…" for c in cats]


def _param_axis(ctx: Context, name: str) -> _Axis:
    p = ctx.params[name]
    s = ctx.trials[f"hp_{name}"]
    pos, ticks, labels = (_numeric_axis(s, p["log"]) if p["kind"] == "numeric"
                          else _categorical_axis(s, p["values"]))
    if (pos == _NA).any():
        ticks, labels = ticks + [_NA], labels + ["n/a"]
    return name, pos, ticks, labels


def _metric_axis(ctx: Context) -> tuple[_Axis, np.ndarray, float, float]:
    """The last axis (the metric; diverged and failed trials at "no result"), the metric values and
    the ends of the colour scale."""
    y = ctx.trials[ctx.col].to_numpy(dtype=float).copy()
    y[ctx.trials["status"].isin(BAD_STATUSES).to_numpy()] = np.nan
    fin = y[np.isfinite(y)]
    if len(fin):  # the colour scale ends at the best trial; the worst 2% are clipped to its other end
        if ctx.mode == "min":
            lo, hi = float(fin.min()), float(np.percentile(fin, 98))
        else:
            lo, hi = float(np.percentile(fin, 2)), float(fin.max())
    else:
        lo, hi = 0.0, 1.0
    ypos = np.where(np.isfinite(y), (np.clip(y, lo, hi) - lo) / ((hi - lo) or 1.0), _NA)
    mticks = [0.0, 0.5, 1.0]
    axis = (ctx.col, ypos, mticks + ([_NA] if (ypos == _NA).any() else []),
            [format_value(lo + q * (hi - lo)) for q in mticks] + (["no result"] if (ypos == _NA).any() else []))
    return axis, y, lo, hi


def _draw(ctx: Context, axes_data: list[_Axis], y: np.ndarray, lo: float, hi: float) -> bytes:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    k = len(axes_data)
    P = np.column_stack([a[1] for a in axes_data])  # trials x axes
    quality = np.where(np.isfinite(y), (y - lo) / ((hi - lo) or 1.0), np.nan)
    if ctx.mode == "min":
        quality = 1 - quality
    quality = np.clip(quality, 0, 1)
    order = np.argsort(np.nan_to_num(quality, nan=-1.0), kind="stable")  # best drawn last, on top
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.012, 0.012, P.shape)
    xs = np.arange(k, dtype=float)
    cmap = colormaps["viridis"]
    with plot_style():
        fig = new_figure(max(8.0, 1.5 * k + 2), 4.6)
        ax = fig.subplots()
        segs = [np.column_stack([xs, P[i] + jitter[i]]) for i in order]
        colours = [cmap(q) if np.isfinite(q) else (0.84, 0.16, 0.16, 0.5) for q in quality[order]]
        widths = [0.6 if np.isfinite(q) else 0.5 for q in quality[order]]
        ax.add_collection(LineCollection(segs, colors=colours, linewidths=widths,
                                         alpha=0.55 if len(segs) > 100 else 0.8))
        sel = np.flatnonzero(ctx.trials["is_selected"].to_numpy(dtype=bool))
        for i in sel:
            ax.plot(xs, P[i], color="#d62728", lw=2.4, zorder=5, label="selected")
        for j, (name, _, ticks, labels) in enumerate(axes_data):
            ax.axvline(j, color="#455a64", lw=1)
            for tk, lab in zip(ticks, labels):
                ax.text(j + 0.03, tk, plot_text(lab), fontsize=7, va="center", ha="left", color="#263238",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        ax.set_xticks(xs, [a[0] for a in axes_data], rotation=0)
        ax.set_xlim(-0.2, k - 0.5)
        ax.set_ylim(_NA - 0.06, 1.06)
        ax.set_yticks([])
        for side in ("left", "top", "right"):
            ax.spines[side].set_visible(False)
        norm = Normalize(lo, hi)
        sm = ScalarMappable(norm=norm, cmap=cmap if ctx.mode == "max" else cmap.reversed())
        fig.colorbar(sm, ax=ax, label=ctx.col, fraction=0.03, pad=0.01)
        if len(sel):
            ax.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0, 1.08))
        return to_png(fig)


def parallel_section(ctx: Context) -> str:
    """The parallel-coordinates section: one line per trial through at most ``MAX_PARAM_PLOTS``
    hyperparameters and the metric."""
    t = ctx.trials
    names = list(ctx.params)[:MAX_PARAM_PLOTS]
    if t.empty or not names:
        return section_html("parallel", '<p class="note">No searched hyperparameter took more than one value.</p>')
    metric_axis, y, lo, hi = _metric_axis(ctx)
    png = _draw(ctx, [_param_axis(ctx, n) for n in names] + [metric_axis], y, lo, hi)
    caption = (f"One line per trial ({len(t)}) through its hyperparameters (log axes in log scale) and its "
               f"{html.escape(ctx.col)} (last axis); colour: the metric, brighter is better; red: diverged, failed "
               "or infeasible trials (\"no result\"); a conditional hyperparameter that did not apply sits at n/a. "
               "The selected trial is the thick red line.")
    return section_html("parallel", figure_html(png, "parallel coordinates", caption))
