"""The report's sections about the run as a whole: summary, selected trial, compute, best so far
over time, and the table of every trial."""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ..results.front import selected_costs
from ..results.status import UNTRAINED_WHY
from .context import SCATTER_MAX, TABLE_MAX_ROWS, Context
from .figures import new_figure, plot_style, to_png
from .page import STATUS_COLOURS, escaped, figure_html, format_value, kv_table, section_html

__all__ = ["summary_section", "selected_section", "compute_section", "best_so_far_section", "trials_section"]


def _status_class(status: Any) -> str:
    s = str(status)
    return f"s-{s}" if s in STATUS_COLOURS else ""


def _when(ts: Any) -> str:
    if ts is None or (isinstance(ts, float) and not math.isfinite(ts)):
        return ""
    try:
        return datetime.fromtimestamp(float(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return str(ts)


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(s):
        return ""
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def summary_section(ctx: Context) -> str:
    """The summary section: what ran, how it ended, and counts of stop reasons, diagnoses and events."""
    info, t = ctx.info, ctx.trials
    counts = t["status"].value_counts().to_dict() if not t.empty else {}
    started, ended = info.get("started_at"), info.get("ended_at")
    timed = isinstance(started, (int, float)) and isinstance(ended, (int, float))
    wall = float(ended) - float(started) if timed else None
    spec = info.get("spec") if isinstance(info.get("spec"), dict) else {}
    search = spec.get("search") or {}
    sched = spec.get("scheduler") or {}
    rows = [
        ("run id", info.get("run_id")), ("name", info.get("name")), ("status", info.get("status")),
        ("directory", str(ctx.run.path)), ("spec file", info.get("spec_file")),
        ("metric", f"{ctx.metric} ({ctx.mode})"),
        ("search", f"{search.get('algorithm', '')}, {search.get('num_samples', '')} samples" if search else None),
        ("scheduler", sched.get("type")),
        ("trials", f"{len(t)}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))),
        ("started", _when(started)), ("ended", _when(ended)), ("wall clock", _duration(wall) if wall else None),
        ("hosts", ", ".join(map(str, info.get("hosts") or [])) or None),
    ]
    data = info.get("data") if isinstance(info.get("data"), dict) else {}
    if data:
        rows.append(("data", f"{data.get('name', '')}: {data.get('rows_train', '?')} train / "
                             f"{data.get('rows_val', '?')} val / {data.get('rows_test', '?')} test rows, "
                             f"{data.get('n_features', '?')} features"))
    versions = info.get("versions") if isinstance(info.get("versions"), dict) else {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    inner = kv_table([(k, v) for k, v in rows if v not in (None, "")])
    tables = []
    for col, title in (("stop_reason", "stop reasons"), ("diagnosis", "diagnoses")):
        if col in t and not t.empty:
            vc = t[col].fillna("").astype(str).replace("", "(none)").value_counts()
            cells = "".join(f"<tr><td>{escaped(k)}</td><td class=\"num\">{int(v)}</td></tr>" for k, v in vc.items())
            tables.append(f"<div><h3>{html.escape(title)}</h3><table><tr><th>{html.escape(col)}</th>"
                          f"<th>trials</th></tr>{cells}</table></div>")
    ev = ctx.events
    if not ev.empty and {"source", "reason"} <= set(ev.columns):
        vc = ev.groupby(["source", "decision" if "decision" in ev else "source", "reason"], dropna=False).size()
        cells = "".join(f"<tr><td>{escaped(k[0])}</td><td>{escaped(k[1])}</td><td>{escaped(k[2])}</td>"
                        f"<td class=\"num\">{int(v)}</td></tr>" for k, v in vc.items())
        tables.append("<div><h3>interventions (events)</h3><table><tr><th>source</th><th>decision</th><th>reason</th>"
                      f"<th>events</th></tr>{cells}</table></div>")
    if tables:
        inner += '<div class="grid">' + "".join(tables) + "</div>"
    return section_html("summary", inner)


def _selected_row(ctx: Context) -> pd.Series | None:
    t = ctx.trials
    if t.empty:
        return None
    sel = t[t["is_selected"]]
    if sel.empty:
        info_sel = ctx.info.get("selected")
        chosen = info_sel.get("trial_id") if isinstance(info_sel, dict) else None
        sel = t[t["trial_id"] == str(chosen)] if chosen else sel
    return None if sel.empty else sel.iloc[0]


def selected_section(ctx: Context) -> str:
    """The selected trial, its one test score, its configuration and how it trained."""
    row = _selected_row(ctx)
    sel_info = ctx.info.get("selected") if isinstance(ctx.info.get("selected"), dict) else {}
    if row is None and not sel_info:
        return section_html("selected", '<p class="big">No trial was selected</p><p>Every trial diverged or failed, or '
                                    "the run has not finished. No test score was computed.</p>")
    tests: dict[str, Any] = {k: v for k, v in sel_info.items() if k.startswith("test_")}
    if row is not None:
        for c in row.index:
            if c.startswith("test_") and c not in tests and pd.notna(row[c]):
                tests[c] = row[c]
    tid = sel_info.get("trial_id") or (row["trial_id"] if row is not None else "")
    best = sel_info.get(ctx.col, row[ctx.col] if row is not None else None)
    best_epoch = sel_info.get("best_epoch", row.get("best_epoch") if row is not None else None)
    score = " · ".join(f"{html.escape(k)} = {escaped(v)}" for k, v in tests.items()) or "not computed"
    refit = sel_info.get("refit") or (row.get("refit") if row is not None else None)
    refit = refit if isinstance(refit, str) and refit != "none" else None
    if refit:  # the model scored is the configuration trained again (final: {refit: ...}), not the trial's
        epochs = sel_info.get("refit_epochs", row.get("refit_epochs") if row is not None else None)
        scored = (f"of its configuration refit on {html.escape(refit)}"
                  + (f" for {escaped(epochs)} epochs" if epochs is not None else "") + " (the refit's curve: "
                  "refit_epochs.parquet)")
    else:
        scored = "of this trial"
    inner = (f'<p class="big">test score (once{", refit on " + html.escape(refit) if refit else ""}): {score}</p>'
             f"<p>Trial <b>{escaped(tid)}</b> was selected on validation data: {html.escape(ctx.col)} = "
             f"{escaped(best)} at "
             f"epoch {escaped(best_epoch)}. The test split was read once, by the final evaluation {scored}.</p>")
    config = sel_info.get("config") if isinstance(sel_info.get("config"), dict) else None
    if config is None and row is not None:
        config = {c.removeprefix("hp_"): row[c] for c in row.index if c.startswith("hp_")}
    if config:
        searched = set(ctx.params) | {n for n, p in ((ctx.info.get("spec") or {}).get("params") or {}).items()
                                      if isinstance(p, dict) and p.get("type") != "constant"}
        rows = [(f"{k}{' (searched)' if k in searched else ''}",
                 "n/a (its condition did not hold)" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in config.items()]
        inner += "<h3>configuration</h3>" + kv_table(rows)
    costs = selected_costs(row) if row is not None else {}
    if costs:  # what the model costs (objectives and constraints may name these)
        inner += "<h3>its model</h3>" + kv_table(list(costs.items()))
    if row is not None:
        inner += "<h3>how it trained</h3>" + kv_table([
            ("status", row.get("status")), ("stop reason", row.get("stop_reason")), ("epochs", row.get("epochs")),
            ("diagnosis", row.get("diagnosis")), ("why", row.get("diagnosis_reason")),
        ])
    return section_html("selected", inner)


def compute_section(ctx: Context) -> str:
    """The compute section: trial-seconds spent, and what early stopping saved."""
    c = ctx.info.get("compute") if isinstance(ctx.info.get("compute"), dict) else None
    note = ""
    if not c:  # older or unfinished run: what the tables say
        secs = pd.to_numeric(ctx.trials.get("train_seconds", pd.Series(dtype=float)), errors="coerce").sum()
        c = {"epochs_trained": len(ctx.epochs), "trial_seconds": float(secs)}
        note = '<p class="note">run.json has no compute summary (the run did not finish); figures from the tables.</p>'
    rows = [
        ("trial-seconds spent", f"{float(c.get('trial_seconds') or 0):.1f} ({_duration(c.get('trial_seconds'))})"),
        ("epochs trained", c.get("epochs_trained")),
    ]
    if "trial_seconds_full" in c:
        rows += [
            ("training every trial fully", f"~{float(c['trial_seconds_full'] or 0):.1f} trial-seconds, "
                                           f"{c.get('epochs_full')} epochs"),
        ]
        untrained, full = c.get("epochs_untrained"), c.get("epochs_full") or 0
        if isinstance(untrained, dict) and full:  # what early stopping saved, apart from what was never trained
            saved = 100 * untrained.get("early_stopping", 0) / full
            rows.append(("saved by early stopping", f"{saved:.0f}% of epochs"))
            others = [f"{100 * untrained[k] / full:.0f}% because {why}" for k, why in UNTRAINED_WHY.items()
                      if untrained.get(k)]
            if others:
                rows.append(("not trained", ", ".join(others)))
        else:  # a run from before run.json said why
            rows.append(("not trained (early stopping, failures, interruptions)",
                         f"{100 * float(c.get('trial_seconds_saved_fraction') or 0):.0f}% of trial-seconds, "
                         f"{100 * float(c.get('epochs_saved_fraction') or 0):.0f}% of epochs"))
    t = ctx.trials
    if "cpus" in t and "train_seconds" in t and not t.empty:
        cpu_s = (pd.to_numeric(t["cpus"], errors="coerce") * pd.to_numeric(t["train_seconds"], errors="coerce")).sum()
        rows.append(("CPU-seconds reserved", f"{cpu_s:.1f}"))
        gpus = pd.to_numeric(t.get("gpus", 0), errors="coerce")
        if (gpus > 0).any():
            gpu_s = (gpus * pd.to_numeric(t["train_seconds"], errors="coerce")).sum()
            rows.append(("GPU-seconds reserved", f"{gpu_s:.1f}"))
    started, ended = ctx.info.get("started_at"), ctx.info.get("ended_at")
    if isinstance(started, (int, float)) and isinstance(ended, (int, float)):
        rows.append(("wall clock", _duration(ended - started)))
    inner = note + kv_table(rows)
    inner += ('<p class="note">Trial-seconds are the sum of the trials\' own training times. The cost of training '
              "every trial fully extrapolates each stopped trial from its own seconds per epoch.</p>")
    return section_html("compute", inner)


def best_so_far_section(ctx: Context) -> str:
    """The best metric reached so far against time (or against epochs reported, without times)."""
    e = ctx.epochs
    if e.empty or ctx.metric not in e:
        return section_html("best-so-far", '<p class="note">No epochs recorded.</p>')
    y = pd.to_numeric(e[ctx.metric], errors="coerce").to_numpy(dtype=float)
    if "elapsed_s" in e and pd.to_numeric(e["elapsed_s"], errors="coerce").notna().any():
        t = pd.to_numeric(e["elapsed_s"], errors="coerce").to_numpy(dtype=float)
        xlabel = "time since the run started"
    else:
        t = np.arange(1, len(y) + 1, dtype=float)
        xlabel = "epochs reported (in order)"
    ok = np.isfinite(t) & np.isfinite(y)
    if not ok.any():
        return section_html("best-so-far", '<p class="note">No finite metric values.</p>')
    t, y = t[ok], y[ok]
    trial_ids = e["trial_id"].astype(str).to_numpy()[ok]
    order = np.argsort(t, kind="stable")
    t, y, trial_ids = t[order], y[order], trial_ids[order]
    unit, scale = ("min", 60.0) if xlabel.startswith("time") and t.max() > 600 else ("s", 1.0)
    if not xlabel.startswith("time"):
        unit, scale = "", 1.0
    best = np.maximum.accumulate(y) if ctx.mode == "max" else np.minimum.accumulate(y)
    improved = np.r_[True, best[1:] != best[:-1]]
    with plot_style():
        fig = new_figure(11, 3.8)
        ax = fig.subplots()
        idx = np.arange(len(t))
        if len(idx) > SCATTER_MAX * 2:
            idx = np.sort(np.random.default_rng(0).choice(idx, SCATTER_MAX * 2, replace=False))
        ax.scatter(t[idx] / scale, y[idx], s=6, color="#90a4ae", alpha=0.5, label="an epoch of a trial")
        ax.step(np.r_[t, t[-1]] / scale, np.r_[best, best[-1]], where="post", color="#2e7d32", lw=2,
                label="best so far")
        ax.scatter(t[improved] / scale, best[improved], s=18, color="#2e7d32", zorder=4)
        lo, hi = np.nanpercentile(y, 1), np.nanpercentile(y, 99.5)
        lo, hi = min(lo, best.min()), max(hi, best.max())
        pad = (hi - lo) * 0.06 or 0.05
        if ctx.mode == "min" and lo > 0 and hi / lo > 30:
            ax.set_yscale("log")
        else:
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"{xlabel} ({unit})" if unit else xlabel)
        ax.set_ylabel(ctx.metric)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ctx.mode == "max" else "upper right", fontsize=8)
        png = to_png(fig)
    last_gain = float(t[improved][-1]) / scale
    final = float(best[-1])
    caption = (f"Every epoch's validation {html.escape(ctx.metric)} (grey) and the best value reached so far across "
               f"all trials (green). The best so far ({escaped(final)}) was last improved at {last_gain:.1f} "
               f"{html.escape(unit)} "
               f"of {float(t[-1]) / scale:.1f} {html.escape(unit)}; trial of the last improvement: "
               f"{escaped(trial_ids[improved][-1])}.")
    return section_html("best-so-far", figure_html(png, "best so far over time", caption))


def trials_section(ctx: Context) -> str:
    """The table of every trial, best first (at most ``TABLE_MAX_ROWS`` rows)."""
    r = ctx.ranked
    if r.empty:
        return section_html("trials", '<p class="note">No trials recorded.</p>')
    hp_names = list(ctx.params) or [c.removeprefix("hp_") for c in r.columns if c.startswith("hp_")]
    cols = [("trial_id", "trial"), ("status", "status"), ("stop_reason", "stop reason"), ("epochs", "epochs"),
            (ctx.col, ctx.col), ("best_epoch", "best epoch"), ("train_seconds", "seconds"),
            ("diagnosis", "diagnosis"), ("should_stop_epoch", "should stop at")]
    cols = ([(c, h) for c, h in cols if c in r] + [(f"hp_{n}", n) for n in hp_names if f"hp_{n}" in r]
            + [(c, h) for c, h in (("diagnosis_reason", "diagnosis: why"),) if c in r])
    has_error = "error" in r and r["error"].fillna("").astype(str).str.len().gt(0).any()
    if has_error:
        cols.append(("error", "error"))
    head = "<tr><th>#</th>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in cols) + "</tr>"
    body = []
    shown = r.head(TABLE_MAX_ROWS)
    for i, (_, row) in enumerate(shown.iterrows(), start=1):
        cells = [f'<td class="num">{i}</td>']
        for c, _ in cols:
            v = row.get(c)
            if c == "trial_id":
                star = "★ " if bool(row.get("is_selected")) else ""
                cells.append(f'<td class="tid">{star}{escaped(v)}</td>')
            elif c == "status":
                cells.append(f'<td class="{_status_class(v)}">{escaped(v)}</td>')
            elif c == "diagnosis_reason":
                cells.append(f'<td class="reason">{escaped(v)}</td>')
            elif c == "error":
                text = format_value(v)
                short = text if len(text) <= 300 else text[:300] + "…"
                title = html.escape(text[:2000], quote=True)
                cells.append(f'<td class="err" title="{title}">{html.escape(short)}</td>')
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                cells.append(f'<td class="num">{escaped(v)}</td>')
            else:
                cells.append(f"<td>{escaped(v)}</td>")
        cls = ' class="sel"' if bool(row.get("is_selected")) else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    note = ""
    if len(r) > TABLE_MAX_ROWS:
        note = f'<p class="note">The best {TABLE_MAX_ROWS} of {len(r)} trials; every trial is in trials.parquet.</p>'
    inner = (f"<p>Every trial, best first by {html.escape(ctx.col)} (diverged and failed trials last; ★ the selected "
             "one). <i>stop reason</i> says what ended it; <i>diagnosis</i> reads its learning curve.</p>" + note
             + f'<div class="scroll"><table class="trials">{head}{"".join(body)}</table></div>')
    return section_html("trials", inner)
