"""The report's Goldilocks plots: one per searched hyperparameter, the metric against its value,
with the regions where it was too low or too high (judged by
:func:`orchestrator.report.analysis.goldilocks_regions`) and the sweet spot between them."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from .analysis import goldilocks_regions
from .context import MAX_PARAM_PLOTS, SCATTER_MAX, Context
from .figures import fixed_axes, plot_style, plot_text, to_png
from .page import BAD_STATUSES, STATUS_COLOURS, escaped, figure_html, plural, section_html

__all__ = ["goldilocks_section"]


def _every(k: int) -> str:
    return "the one trial" if k == 1 else f"all {k} trials"


def _trial_xy(ctx: Context, name: str) -> pd.DataFrame:
    t = ctx.trials
    df = pd.DataFrame({"x": t[f"hp_{name}"], "y": t[ctx.col], "status": t["status"].astype(str),
                       "sel": t["is_selected"], "trial_id": t["trial_id"]})
    bad = df["status"].isin(BAD_STATUSES)
    df.loc[bad, "y"] = np.nan  # never "good", whatever they scored before diverging
    if len(df) > SCATTER_MAX:  # keep the best trials and a sample of the rest
        sign = -1 if ctx.mode == "max" else 1
        ordered = df.assign(k=sign * df["y"].astype(float)).sort_values("k", na_position="last")
        head = ordered.head(SCATTER_MAX // 4)
        tail = ordered.iloc[SCATTER_MAX // 4:].sample(SCATTER_MAX - len(head), random_state=0)
        df = pd.concat([head, tail]).drop(columns="k")
    return df


def _y_limits(ax, ctx: Context, y: np.ndarray) -> tuple[float, float]:
    f = y[np.isfinite(y)]
    if not len(f):
        return 0.0, 1.0
    lo, hi = float(np.percentile(f, 0)), float(np.percentile(f, 100))
    if ctx.mode == "min" and lo > 0 and hi / lo > 30:
        ax.set_yscale("log")
        return lo / 1.5, hi * 1.5
    if ctx.mode == "min" and len(f) > 4:  # a few exploding losses would flatten everything else
        hi = min(hi, float(np.percentile(f, 90)) * 3 if np.percentile(f, 90) > 0 else hi)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 0.05
    return lo - pad, hi + pad


def _goldilocks_numeric(ctx: Context, name: str, log: bool) -> tuple[bytes | None, str]:
    df = _trial_xy(ctx, name)
    df["x"] = pd.to_numeric(df["x"], errors="coerce")
    na = int(df["x"].isna().sum())
    df = df[df["x"].notna()]
    if log and (df["x"] <= 0).any():
        log = False
    if df["x"].nunique() < 2:
        return None, ""
    x = df["x"].to_numpy(dtype=float)
    y = df["y"].to_numpy(dtype=float)
    # an infeasible trial never trained (its model broke a constraint): it says nothing of where
    # this hyperparameter is good, so it is drawn but not judged
    judged = (df["status"] != "infeasible").to_numpy()
    reg = goldilocks_regions(x[judged], y[judged], ctx.mode, log)
    with plot_style():
        fig, ax = fixed_axes(6.6, 3.8, right=1.3)
        if log:
            ax.set_xscale("log")
        ylo, yhi = _y_limits(ax, ctx, y)
        worst = ylo if ctx.mode == "max" else yhi
        fwd = np.log10 if log else (lambda v: v)
        inv = (lambda v: 10 ** v) if log else (lambda v: v)
        fx = fwd(x)
        span = float(fx.max() - fx.min()) or 1.0
        left, right = inv(fx.min() - 0.05 * span), inv(fx.max() + 0.05 * span)
        # discrete values (a choice of 3 batch sizes) overlap: spread them a little sideways
        if len(np.unique(x)) <= 12:
            jitter = np.random.default_rng(0).uniform(-0.012, 0.012, len(x)) * span
            xs = inv(fx + jitter)
        else:
            xs = x
        if reg:
            _draw_regions(ax, reg, ctx.mode, (left, right), span, log)
        for status in ("completed", "stopped", "running", "error", "diverged", "infeasible"):
            m = (df["status"] == status).to_numpy()
            if not m.any():
                continue
            yy = np.where(np.isfinite(y[m]), y[m], worst)
            if status in BAD_STATUSES:
                ax.scatter(xs[m], np.full(m.sum(), worst), marker="x", s=30, color=STATUS_COLOURS[status],
                           label=status, zorder=3, clip_on=False)
            else:
                ax.scatter(xs[m], yy, s=22, alpha=0.8, label=status, zorder=3,
                           facecolors=STATUS_COLOURS[status] if status == "completed" else "none",
                           edgecolors=STATUS_COLOURS[status])
        sel = df["sel"].to_numpy(dtype=bool)
        if sel.any():
            ax.scatter(xs[sel], y[sel], marker="*", s=160, color="#2e7d32", edgecolors="black", lw=0.5,
                       label="selected", zorder=5)
        ax.set_xlim(left, right)
        ax.set_ylim(ylo, yhi)
        ax.set_xlabel(f"{name} (log scale)" if log else name)
        ax.set_ylabel(ctx.col)
        ax.set_title(name, loc="left", fontweight="bold")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        png = to_png(fig)
    return png, _numeric_caption(ctx, name, log, reg, na)


def _draw_regions(ax: Any, reg: dict[str, Any], mode: str, limits: tuple[float, float], span: float,
                  log: bool) -> None:
    """Shade the too-low / too-high regions and the sweet spot of :func:`goldilocks_regions`' ``reg``,
    and draw its threshold line (``limits``: the x axis's ends; ``span``: its width on the plot's scale)."""
    from matplotlib.transforms import blended_transform_factory

    left, right = limits
    fwd = np.log10 if log else (lambda v: v)
    inv = (lambda v: 10 ** v) if log else (lambda v: v)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    if reg["low_shaded"]:
        ax.axvspan(left, reg["low_edge"], color="#ef5350", alpha=0.13, lw=0)
        ax.text(inv((fwd(left) + fwd(reg["low_edge"])) / 2), 0.97, f"too low\n({plural(reg['n_below'], 'trial')})",
                transform=trans, ha="center", va="top", color="#b71c1c", fontsize=8)
    if reg["high_shaded"]:
        ax.axvspan(reg["high_edge"], right, color="#ef5350", alpha=0.13, lw=0)
        ax.text(inv((fwd(reg["high_edge"]) + fwd(right)) / 2), 0.97,
                f"too high\n({plural(reg['n_above'], 'trial')})", transform=trans, ha="center", va="top",
                color="#b71c1c", fontsize=8)
    if reg["sweet_spot"]:
        lo_s, hi_s = reg["lo"], reg["hi"]
        if lo_s == hi_s:
            lo_s, hi_s = inv(fwd(lo_s) - 0.01 * span), inv(fwd(hi_s) + 0.01 * span)
        ax.axvspan(lo_s, hi_s, color="#66bb6a", alpha=0.18, lw=0)
        ax.text(inv((fwd(lo_s) + fwd(hi_s)) / 2), 0.03, "sweet spot", transform=trans, ha="center",
                va="bottom", color="#1b5e20", fontsize=8, fontweight="bold")
    else:
        ax.text(0.5, 0.03, "no clear sweet spot", transform=ax.transAxes, ha="center", va="bottom",
                color="#546e7a", fontsize=8, fontstyle="italic")
    ax.axhline(reg["threshold"], color="#2e7d32", ls="--", lw=0.8, label="good above" if mode == "max"
               else "good below")


def _numeric_caption(ctx: Context, name: str, log: bool, reg: dict[str, Any] | None, na: int) -> str:
    """What a numeric Goldilocks plot shows, in words, with the figures of its regions."""
    caption = f"Each point is a trial's {html.escape(ctx.col)} against its {html.escape(name)}"
    caption += " (log axis)." if log else "."
    if reg:
        word, worse = ("≥", "below") if ctx.mode == "max" else ("≤", "above")
        caption += (f" Dashed line: within {escaped(reg['tol'])} of the best ({html.escape(ctx.col)} {word} "
                    f"{escaped(reg['threshold'])}), which {plural(reg['n_good'], 'trial')} reached.")
        spot = escaped(reg["lo"]) if reg["lo"] == reg["hi"] else f"{escaped(reg['lo'])} – {escaped(reg['hi'])}"
        if reg["sweet_spot"]:
            caption += f" Sweet spot (green): {spot}, where those trials were."
        else:
            caption += (f" No clear sweet spot: the good trials span {spot}, and the few trials outside that range may "
                        "have missed by chance.")
        for side, n, bound, shaded, pc in (("low", reg["n_below"], reg["lo"], reg["low_shaded"], reg["p_below"]),
                                           ("high", reg["n_above"], reg["hi"], reg["high_shaded"], reg["p_above"])):
            if shaded:
                where = "below" if side == "low" else "above"
                caption += (f" Too {side} (red): {_every(n)} {where} {escaped(bound)} scored {worse} the line "
                            f"(by luck: {'< 0.1%' if pc < 0.001 else f'{pc:.1%}'}).")
        caption += (" A region is red only when that is unlikely to be luck (under 5%, given the share of good "
                    "trials) or even its best trial is far worse than the median trial.")
    caption += (" Hollow points: trials stopped early (their best is over fewer epochs); × at the edge: diverged, "
                "failed or infeasible (an infeasible trial never trained: it counts in no region).")
    if na:
        caption += f" {na} trials without this hyperparameter (conditional) are left out."
    return caption


def _goldilocks_categorical(ctx: Context, name: str, order: list[Any]) -> tuple[bytes | None, str]:
    df = _trial_xy(ctx, name)
    df["cat"] = df["x"].map(lambda v: "(none)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    cats = [str(v) for v in order if str(v) in set(df["cat"])] + sorted(set(df["cat"]) - {str(v) for v in order})
    if len(cats) < 2:
        return None, ""
    y = df["y"].to_numpy(dtype=float)
    with plot_style():
        fig, ax = fixed_axes(6.6, 3.8, right=1.3)
        ylo, yhi = _y_limits(ax, ctx, y)
        worst = ylo if ctx.mode == "max" else yhi
        rng = np.random.default_rng(0)
        groups, best_by = [], {}
        for i, c in enumerate(cats):
            g = df[df["cat"] == c]
            gy = g["y"].to_numpy(dtype=float)
            fy = gy[np.isfinite(gy)]
            groups.append(fy if len(fy) else np.array([np.nan]))
            if len(fy):
                best_by[c] = float(fy.max() if ctx.mode == "max" else fy.min())
            jit = i + rng.uniform(-0.18, 0.18, len(g))
            for status in ("completed", "stopped", "running", "error", "diverged", "infeasible"):
                m = (g["status"] == status).to_numpy()
                if not m.any():
                    continue
                if status in BAD_STATUSES:
                    ax.scatter(jit[m], np.full(m.sum(), worst), marker="x", s=30, color=STATUS_COLOURS[status],
                               zorder=3, clip_on=False, label=status)
                else:
                    ax.scatter(jit[m], gy[m], s=18, alpha=0.75, zorder=3,
                               facecolors=STATUS_COLOURS[status] if status == "completed" else "none",
                               edgecolors=STATUS_COLOURS[status], label=status)
        ax.boxplot([gg for gg in groups], positions=range(len(cats)), widths=0.5, showfliers=False,
                   medianprops={"color": "#263238"}, boxprops={"color": "#607d8b"}, whiskerprops={"color": "#607d8b"},
                   capprops={"color": "#607d8b"})
        if best_by:
            winner = (max if ctx.mode == "max" else min)(best_by, key=best_by.get)
            wi = cats.index(winner)
            ax.axvspan(wi - 0.45, wi + 0.45, color="#66bb6a", alpha=0.15, lw=0)
        ax.set_xticks(range(len(cats)), [plot_text(c if len(c) <= 14 else c[:13] + "…") for c in cats])
        ax.set_xlim(-0.6, len(cats) - 0.4)
        ax.set_ylim(ylo, yhi)
        ax.set_xlabel(name)
        ax.set_ylabel(ctx.col)
        ax.set_title(name, loc="left", fontweight="bold")
        ax.grid(alpha=0.3, axis="y")
        handles: dict[str, Any] = {}
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
        ax.legend(list(handles.values()), list(handles), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
        png = to_png(fig)
    caption = (f"{html.escape(ctx.col)} by {html.escape(name)} (categorical): a box and the trials of each value")
    if best_by:
        caption += f"; the best trial had {html.escape(name)} = {escaped(winner)} (green)."
    caption += " Hollow points: stopped early; × at the edge: diverged, failed or infeasible."
    return png, caption


def goldilocks_section(ctx: Context) -> str:
    """The Goldilocks section: one plot per searched hyperparameter, the most important first when
    the importance is known (else numeric ones first)."""
    if ctx.trials.empty or not ctx.params:
        return section_html("goldilocks", '<p class="note">No searched hyperparameter took more than one value.</p>')
    table, _ = ctx.importance
    by_importance = table is not None and not table.empty
    if by_importance:  # the hyperparameters that mattered most first (the Importance section)
        order = ctx.importance_order()
    else:
        names = list(ctx.params)
        order = ([n for n in names if ctx.params[n]["kind"] == "numeric"]
                 + [n for n in names if ctx.params[n]["kind"] != "numeric"])
    figs, skipped = [], []
    for i, n in enumerate(order):
        if i >= MAX_PARAM_PLOTS:
            skipped.append(n)
            continue
        p = ctx.params[n]
        png, cap = (_goldilocks_numeric(ctx, n, p["log"]) if p["kind"] == "numeric"
                    else _goldilocks_categorical(ctx, n, p["values"]))
        if png is not None:
            figs.append(figure_html(png, f"Goldilocks plot of {n}", cap))
    inner = ('<p>One plot per searched hyperparameter: the metric against the value. For a numeric one, the red '
             "regions are values where every trial was clearly worse than the best (too low, too high) and the green "
             "band is where the good trials were; other hyperparameters varied at the same time, so a bad trial inside "
             "the sweet spot can be another one's fault.</p>")
    if by_importance:
        inner += (f'<p class="note">Ordered by importance for {html.escape(ctx.metric)}, the most important '
                  "first (see Importance).</p>")
    inner += '<div class="grid">' + "".join(figs) + "</div>"
    if skipped:
        inner += f'<p class="note">Not plotted (limit {MAX_PARAM_PLOTS}): {escaped(", ".join(skipped))}.</p>'
    return section_html("goldilocks", inner)
