"""The report's Front section: with several objectives or constraints, one scatter per pair of
objectives (the feasible trials, that pair's front joined by a line, the run's front filled,
infeasible trials greyed, the selected one a star, each constraint a dashed line), the select
rule and the front's trials as a table.

Nothing is decided here: ``feasible``, ``pareto_rank`` and ``is_selected`` are the run's own
columns; only the line through a pair's front (the trials no other feasible trial beats on both
of that pair's objectives) is sorted out here, by :func:`orchestrator.decisions.pareto.non_dominated_ranks`.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..results.front import bound_text, constraints_of, front_table, has_front, objectives_of, value_column
from ..spec.objectives import default_mode
from .context import SCATTER_MAX, Context
from .figures import fixed_axes, plot_style, to_png
from .page import STATUS_COLOURS, escaped, figure_html, format_value, plural, section_html

__all__ = ["front_section"]

_FEASIBLE, _FRONT, _LINE, _BOUND = "#1f77b4", "#2e7d32", "#2e7d32", "#c62828"


def _feasible(t: pd.DataFrame) -> np.ndarray:
    """The run's own ``feasible`` column (a trial without a value there, or no column: not feasible
    unless it has a result)."""
    if "feasible" in t:
        return t["feasible"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return ~t["status"].isin(("diverged", "error", "infeasible")).to_numpy()


def _values(t: pd.DataFrame, name: str) -> np.ndarray:
    col = value_column(t, name)
    return pd.to_numeric(t[col], errors="coerce").to_numpy(dtype=float) if col else np.full(len(t), np.nan)


def _thin(keep: np.ndarray, n: int) -> np.ndarray:
    """At most ``SCATTER_MAX`` points: every one of ``keep`` (front, selected) and a sample of the rest."""
    if n <= SCATTER_MAX:
        return np.arange(n)
    rest = np.flatnonzero(~keep)
    sample = np.random.default_rng(0).choice(rest, max(0, SCATTER_MAX - int(keep.sum())), replace=False)
    return np.sort(np.r_[np.flatnonzero(keep), sample])


def _axis_scale(ax_set: Any, v: np.ndarray) -> bool:
    """A log axis for positive values spanning a factor of 100 or more (parameter counts, bytes)."""
    f = v[np.isfinite(v)]
    log = len(f) > 1 and f.min() > 0 and f.max() / f.min() >= 100
    if log:
        ax_set("log")
    return bool(log)


def _edge(v: np.ndarray, mode: str, log: bool) -> tuple[float, float, float]:
    """The axis's limits and the worst edge, where trials without a value sit."""
    f = v[np.isfinite(v)]
    if not len(f):
        return 0.0, 1.0, 0.0 if mode == "max" else 1.0
    lo, hi = float(f.min()), float(f.max())
    if log:
        lo, hi = lo / 1.6, hi * 1.6
    else:
        pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 0.05
        lo, hi = lo - pad, hi + pad
    return lo, hi, lo if mode == "max" else hi


def _pair_front(x: np.ndarray, y: np.ndarray, modes: tuple[str, str], ok: np.ndarray) -> np.ndarray:
    """The indices of the feasible trials on this pair's own front, sorted along x."""
    from ..decisions.pareto import non_dominated_ranks

    idx = np.flatnonzero(ok & np.isfinite(x) & np.isfinite(y))
    if not len(idx):
        return idx
    ranks = np.asarray(non_dominated_ranks([(float(x[i]), float(y[i])) for i in idx], list(modes)))
    on = idx[ranks == 0]
    return on[np.argsort(x[on], kind="stable")]


def _pair_plot(ctx: Context, a: tuple[str, str], b: tuple[str, str], bounds: Mapping[str, Any]) -> bytes:
    """One pair of objectives: x = ``a``, y = ``b``."""
    t = ctx.trials
    x, y = _values(t, a[0]), _values(t, b[0])
    feasible = _feasible(t)
    on_front = (pd.to_numeric(t["pareto_rank"], errors="coerce") == 0).to_numpy() if "pareto_rank" in t \
        else np.zeros(len(t), dtype=bool)
    selected = t["is_selected"].to_numpy(dtype=bool)
    shown = _thin(on_front | selected, len(t))
    with plot_style():
        fig, ax = fixed_axes(7.0, 4.2, right=1.9)
        xlog, ylog = _axis_scale(ax.set_xscale, x), _axis_scale(ax.set_yscale, y)
        xlo, xhi, xworst = _edge(x, a[1], xlog)
        ylo, yhi, yworst = _edge(y, b[1], ylog)
        bad = shown[~feasible[shown]]
        if len(bad):  # greyed; a value they never had (no metric: no epoch trained) at the worst edge
            ax.scatter(np.where(np.isfinite(x[bad]), x[bad], xworst), np.where(np.isfinite(y[bad]), y[bad], yworst),
                       marker="x", s=26, color=STATUS_COLOURS["infeasible"], label="infeasible / no result",
                       zorder=2, clip_on=False)
        good = shown[feasible[shown]]
        ax.scatter(x[good], y[good], s=20, alpha=0.75, color=_FEASIBLE, label="feasible", zorder=3)
        line = _pair_front(x, y, (a[1], b[1]), feasible)
        if len(line):
            ax.plot(x[line], y[line], color=_LINE, lw=1.4, zorder=4, label="front of this pair")
        front = np.flatnonzero(on_front & feasible)
        if len(front):
            ax.scatter(x[front], y[front], s=42, facecolors=_FRONT, edgecolors="white", lw=0.6, zorder=5,
                       label="on the run's front")
        for i in np.flatnonzero(selected):
            ax.scatter([x[i]], [y[i]], marker="*", s=220, color="#ffb300", edgecolors="black", lw=0.6, zorder=6,
                       label="selected")
        for name, draw in ((a[0], ax.axvline), (b[0], ax.axhline)):
            for key in ("max", "min"):
                if name in bounds and bounds[name].get(key) is not None:
                    draw(bounds[name][key], color=_BOUND, ls="--", lw=1,
                         label=bound_text(name, {key: bounds[name][key]}))
        ax.set_xlim(xlo, xhi)
        ax.set_ylim(ylo, yhi)
        ax.set_xlabel(f"{a[0]} ({a[1]})")
        ax.set_ylabel(f"{b[0]} ({b[1]})")
        ax.set_title(f"{b[0]} against {a[0]}", loc="left", fontweight="bold")
        ax.grid(alpha=0.3)
        handles: dict[str, Any] = {}
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
        ax.legend(list(handles.values()), list(handles), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
        return to_png(fig)


def _select_text(info: Mapping[str, Any]) -> str:
    """The select rule as run.json says it: the rule, and its sentence when the run wrote one."""
    sel = info.get("select")
    if not isinstance(sel, Mapping):
        spec_sel = (info.get("spec") or {}).get("select") if isinstance(info.get("spec"), Mapping) else None
        sel = spec_sel if isinstance(spec_sel, Mapping) else {}
    rule = sel.get("rule", "best")
    args = ", ".join(f"{k}: {format_value(sel[k])}" for k in ("of", "tolerance", "then") if sel.get(k) is not None)
    why = next((sel[k] for k in ("why", "reason", "summary", "text") if isinstance(sel.get(k), str)), "")
    return f"{rule}" + (f" ({args})" if args else "") + (f": {why}" if why else "")


def _front_rows(front: pd.DataFrame) -> str:
    cols = [c for c in front.columns if c != "is_selected"]
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
    body = []
    for _, r in front.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c == "trial_id":
                cells.append(f'<td class="tid">{"★ " if r["is_selected"] else ""}{escaped(v)}</td>')
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                cells.append(f'<td class="num">{escaped(v)}</td>')
            else:
                cells.append(f"<td>{escaped(v)}</td>")
        cls = ' class="sel"' if r["is_selected"] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="trials">{head}{"".join(body)}</table></div>'


def front_section(ctx: Context) -> str:
    """The Front section (a note only, for a run with one objective and no constraint)."""
    info = ctx.info
    if not has_front(info):
        return section_html("front", f'<p class="note">One objective ({html.escape(ctx.metric)}) and no '
                                     "constraint: the trials are ranked on it alone (see Trials). A spec with "
                                     "<code>objectives</code> or <code>constraints</code> gets its Pareto front "
                                     "here.</p>")
    objectives = objectives_of(info)
    bounds = constraints_of(info)
    t = ctx.trials
    n_feasible = int(_feasible(t).sum()) if not t.empty else 0
    front = front_table(t, info)
    rows = [("objectives", ", ".join(f"{n} ({m})" for n, m in objectives)),
            ("constraints", "; ".join(bound_text(n, b) for n, b in bounds.items()) or "none"),
            ("select rule", _select_text(info)),
            ("feasible trials", f"{n_feasible} of {len(t)}"),
            ("on the front", plural(int((front["pareto_rank"] == 0).sum()) if not front.empty else 0, "trial"))]
    inner = '<table class="kv">' + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                                         for k, v in rows) + "</table>"
    if t.empty or not n_feasible:
        inner += ('<p class="note">No trial was feasible: every one broke a constraint or had no result; '
                  "nothing was selected (run.json says which constraint ruled out most).</p>")
    pairs = list(itertools.combinations(objectives, 2)) if len(objectives) > 1 else []
    if len(objectives) == 1 and not t.empty:  # constraints on one objective: it against the constrained costs
        pairs = [(objectives[0], (n, default_mode(n))) for n in bounds if n != objectives[0][0] and value_column(t, n)]
    figs = [figure_html(_pair_plot(ctx, a, b, bounds), f"front of {a[0]} and {b[0]}",
                        f"Each point a trial: {html.escape(b[0])} against {html.escape(a[0])}. Blue: feasible; "
                        "grey ×: infeasible (a broken constraint, at the edge when it never trained) or no result; "
                        "the green line joins the trials no feasible trial beats on both; filled green: on the run's "
                        "front over every objective; ★ the selected trial; dashed red: a constraint.")
            for a, b in pairs] if not t.empty else []
    if figs:
        inner += '<div class="grid">' + "".join(figs) + "</div>"
    if not front.empty:
        inner += ("<h3>the front's trials</h3><p>Best first on the first objective; ★ the selected one "
                  "(costs are the model's, measured once built).</p>" + _front_rows(front))
    return section_html("front", inner)
