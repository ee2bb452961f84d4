"""The report's learning curves: every trial's validation curve in one overview, and panels of the
top trials and of a choice of stopped ones (each stop reason in turn)."""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .context import OVERVIEW_MAX_LINES, STOPPED_CURVES, TOP_CURVES, Context
from .figures import new_figure, plot_style, plot_text, to_png
from .page import BAD_STATUSES, STATUS_COLOURS, figure_html, format_value, section_html

__all__ = ["curves_section"]


def _stopped_picks(ctx: Context, exclude: Iterable[str] = ()) -> list[pd.Series]:
    """Up to STOPPED_CURVES stopped/diverged/failed trials with epochs (not in ``exclude``).

    One stop reason after another; within a reason the best, then the worst, then the next best...
    so that both the good trials a scheduler let go and the bad ones it caught are shown.
    """
    r = ctx.ranked
    if r.empty:
        return []
    skip = set(exclude)
    cand = r[(r["status"] != "completed") & r["trial_id"].isin(list(ctx.curves)) & ~r["trial_id"].isin(skip)]
    by_reason: dict[str, list[pd.Series]] = {}
    for _, row in cand.iterrows():
        by_reason.setdefault(str(row.get("stop_reason") or row.get("status")), []).append(row)
    picks: list[pd.Series] = []
    turn = 0
    while len(picks) < STOPPED_CURVES and any(by_reason.values()):
        for reason in sorted(by_reason, key=lambda k: -len(by_reason[k])):
            if by_reason[reason] and len(picks) < STOPPED_CURVES:
                picks.append(by_reason[reason].pop(0 if turn % 2 == 0 else -1))
        turn += 1
    return picks


def _stop_text(ctx: Context, row: pd.Series) -> tuple[str, str]:
    """How a trial ended, as a headline and a why (both short enough for a panel title)."""
    status = str(row.get("status") or "")
    n = format_value(row.get("epochs"))
    if status == "completed":
        return f"completed {n} epochs", ""
    if status == "error":
        first = (str(row.get("error") or "").strip().splitlines() or [""])[0]
        return f"failed at epoch {n}", _clip(first, 48)
    if status == "diverged":
        return f"diverged at epoch {n}", "stopped by the divergence guard"
    ev = ctx.stop_event(str(row["trial_id"]))
    who = f"by {ev['source']}: " if ev and ev.get("source") else ""
    return f"{status} at epoch {n}", _clip(f"{who}{row.get('stop_reason') or status}", 48)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _curve_panel(ax, ctx: Context, row: pd.Series) -> None:
    from matplotlib.ticker import MaxNLocator

    tid = str(row["trial_id"])
    e = ctx.curves.get(tid)
    if e is None or e.empty:
        ax.set_axis_off()
        return
    x = e["epoch"].to_numpy()
    for col, style, label in ((ctx.train_col, "--", "training"), (ctx.metric, "-", "validation")):
        if col in e:
            ax.plot(x, pd.to_numeric(e[col], errors="coerce").to_numpy(dtype=float), style, marker=".",
                    color="#1f77b4" if style == "-" else "#78909c", label=label, lw=1.4)
    be = row.get("best_epoch")
    if pd.notna(be) and int(be) > 0 and ctx.metric in e:
        hit = e[e["epoch"] == int(be)]
        if not hit.empty:
            ax.plot([int(be)], [float(hit[ctx.metric].iloc[0])], "*", color="#2e7d32", ms=11, label="best epoch",
                    zorder=5)
    if "diverged" in e and e["diverged"].fillna(False).astype(bool).any():
        d = e[e["diverged"].fillna(False).astype(bool)]
        for ep in d["epoch"]:
            ax.axvline(ep, color="#d62728", lw=6, alpha=0.15)
    status = str(row.get("status") or "")
    if status != "completed":
        ax.axvline(float(x.max()), color="#d62728", lw=1.5, label="stopped here")
    sse = row.get("should_stop_epoch")
    if sse is not None and pd.notna(sse):
        ax.axvline(float(sse), color="#6a1b9a", ls=":", lw=1.5, label="should have stopped")
    vals = pd.to_numeric(e[ctx.metric], errors="coerce") if ctx.metric in e else pd.Series(dtype=float)
    pos = vals[np.isfinite(vals) & (vals > 0)]
    if ctx.mode == "min" and len(pos) > 1 and pos.max() / pos.min() > 30:
        ax.set_yscale("log")
    ax.set_xlim(0.5, max(float(x.max()), ctx.max_epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    mark = "★ " if bool(row.get("is_selected")) else ""
    diag = row.get("diagnosis")
    head, why = _stop_text(ctx, row)
    lines = [f"{mark}{tid} · {head}", why, f"diagnosis: {diag}" if isinstance(diag, str) and diag else ""]
    ax.set_title("\n".join(plot_text(_clip(x, 52)) for x in lines if x), loc="left",
                 color=STATUS_COLOURS.get(status, "#222"))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ctx.metric.removeprefix("val_"))
    ax.grid(alpha=0.3)


def _panels(ctx: Context, rows: list[pd.Series]) -> bytes | None:
    if not rows:
        return None
    with plot_style():
        ncol = min(3, len(rows))
        nrow = math.ceil(len(rows) / ncol)
        # Fixed margins in inches instead of constrained layout, which measures every tick label
        # of every panel several times (a third of the report's time on a 500-trial run).
        w, h = 4.6 * ncol, 3.3 * nrow + 0.6
        top, bottom, left, right, vgap, hgap = 0.65, 0.85, 0.7, 0.15, 1.1, 0.8
        axes_h = (h - top - bottom - vgap * (nrow - 1)) / nrow
        axes_w = (w - left - right - hgap * (ncol - 1)) / ncol
        fig = new_figure(w, h, layout=None)
        axes = fig.subplots(nrow, ncol, squeeze=False, gridspec_kw={
            "left": left / w, "right": 1 - right / w, "top": 1 - top / h, "bottom": bottom / h,
            "hspace": vgap / axes_h, "wspace": hgap / axes_w})
        for ax, row in zip(axes.flat, rows):
            _curve_panel(ax, ctx, row)
        for ax in list(axes.flat)[len(rows):]:
            ax.set_axis_off()
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        if handles:
            fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncols=len(handles),
                       frameon=False)
        return to_png(fig)


def _overview(ctx: Context, highlight: list[str]) -> tuple[bytes | None, str]:
    from matplotlib.collections import LineCollection

    if not ctx.curves:
        return None, ""
    ids = list(ctx.curves)
    rng = np.random.default_rng(0)
    keep = set(highlight)
    rest = [t for t in ids if t not in keep]
    room = max(0, OVERVIEW_MAX_LINES - len(keep))
    note = ""
    if len(rest) > room:
        rest = list(rng.choice(rest, size=room, replace=False))
        note = f" {len(rest) + len(keep)} of {len(ids)} trials drawn (a random sample plus the highlighted ones)."
    status = dict(zip(ctx.trials["trial_id"], ctx.trials["status"]))
    reasons = dict(zip(ctx.trials["trial_id"], ctx.trials["stop_reason"].fillna("").astype(str)))
    with plot_style():
        fig = new_figure(11, 4.2)
        ax = fig.subplots()
        segs, ends = [], {}
        all_vals = []
        for tid in rest + [t for t in highlight if t in ctx.curves]:
            e = ctx.curves[tid]
            if ctx.metric not in e:
                continue
            y = pd.to_numeric(e[ctx.metric], errors="coerce").to_numpy(dtype=float)
            xs = e["epoch"].to_numpy(dtype=float)
            ok = np.isfinite(y)
            if not ok.any():
                continue
            all_vals.append(y[ok])
            if tid not in keep:
                segs.append(np.column_stack([xs[ok], y[ok]]))
            if status.get(tid) != "completed":
                ends.setdefault(reasons.get(tid) or str(status.get(tid)), []).append((xs[ok][-1], y[ok][-1]))
        if segs:
            ax.add_collection(LineCollection(segs, colors="#90a4ae", linewidths=0.7, alpha=0.45, label="other trials"))
        cmap_colours = ["#1b5e20", "#2e7d32", "#43a047", "#66bb6a", "#81c784", "#a5d6a7"]
        for i, tid in enumerate(t for t in highlight if t in ctx.curves):
            e = ctx.curves[tid]
            if ctx.metric in e:
                ax.plot(e["epoch"], pd.to_numeric(e[ctx.metric], errors="coerce"), color=cmap_colours[i % 6], lw=2,
                        label=f"#{i + 1} {plot_text(tid)}", zorder=4)
        markers = "xv^sPDo<>"
        for i, (reason, pts) in enumerate(sorted(ends.items(), key=lambda kv: -len(kv[1]))[:9]):
            p = np.asarray(pts)
            ax.scatter(p[:, 0], p[:, 1], marker=markers[i % len(markers)], s=22, zorder=3,
                       color="#d62728" if reason in ("diverged", "error") else None,
                       label=f"stopped: {plot_text(reason)} ({len(pts)})")
        if all_vals:
            v = np.concatenate(all_vals)
            lo, hi = np.nanpercentile(v, 1), np.nanpercentile(v, 99)
            if ctx.mode == "min" and lo > 0 and hi / lo > 30:
                ax.set_yscale("log")
            pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
            if ax.get_yscale() == "linear":
                ax.set_ylim(lo - pad, hi + pad)
        ax.autoscale(axis="x")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{ctx.metric} (validation)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return to_png(fig), note


def curves_section(ctx: Context) -> str:
    """The learning-curves section: an overview of every trial and panels of the top and stopped ones."""
    r = ctx.ranked
    if r.empty or not ctx.curves:
        return section_html("curves", '<p class="note">No epochs recorded.</p>')
    top = [row for _, row in r[~r["status"].isin(BAD_STATUSES) & r["trial_id"].isin(list(ctx.curves))]
           .head(TOP_CURVES).iterrows()]
    stopped = _stopped_picks(ctx, exclude=[str(row["trial_id"]) for row in top])
    png, note = _overview(ctx, [str(row["trial_id"]) for row in top])
    inner = figure_html(png, "validation curves of all trials",
                    f"Validation {html.escape(ctx.metric)} per epoch of every trial (grey), the top {len(top)} in "
                    "green; a marker shows where each trial that did not complete was stopped, by stop reason."
                    + html.escape(note))
    inner += "<h3>top trials</h3>" + figure_html(
        _panels(ctx, top), "learning curves of the top trials",
        f"Training (dashed) and validation (solid) {html.escape(ctx.metric.removeprefix('val_'))} of the best trials "
        "by "
        f"{html.escape(ctx.col)} (★: the selected trial); green star: the best epoch; red line: where a trial was "
        "stopped; purple dotted line: where the diagnosis says early stopping should have stopped it.")
    inner += "<h3>stopped trials</h3>" + figure_html(
        _panels(ctx, stopped), "learning curves of stopped trials",
        "Trials ended before their last epoch (by the scheduler, a plateau stopper, patience, the divergence guard "
        "or an error) other than those above: each stop reason in turn, the best and the worst of each. The title "
        "says when, by whom and why; the x axis runs to the full length a trial could have trained.")
    return section_html("curves", inner)
