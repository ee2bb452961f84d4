"""``sweep compare``: parallel sweeps ("caviar") against the babysitter ("panda") on the same budget.

Each strategy runs the same spec for the same wall-clock budget, once per seed, one run after the
other on the same Ray instance: ``parallel`` is the spec's sweep on every slot Ray has (Ray Tune's
``time_budget_s``), ``babysit`` trains one model at a time on one slot (the spec's per-trial
resources). Every run is an ordinary run directory (``sweep show``/``sweep report`` work on it),
and the comparison directory gathers them::

    <out>/<name>-compare-<stamp>/runs/<run_id>/   one run directory per strategy and seed
    <out>/<name>-compare-<stamp>/comparison.parquet
    <out>/<name>-compare-<stamp>/summary.json
    <out>/<name>-compare-<stamp>/plots/*.png
    <out>/<name>-compare-<stamp>/index.html

Everything here is pure (pandas, matplotlib): no Ray, no TensorFlow; :func:`run_compare` runs
the strategies through :mod:`orchestrator.execution`.
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .spec import STRATEGIES

__all__ = ["time_series", "default_target", "summarize", "first_reach", "write_page", "run_compare", "CompareResult",
           "BUDGET_SLACK_S"]

# What a run may take past its budget besides 5% of it: the partial epoch in flight (trials and the
# babysitter stop at the next batch), the stopper's 1 s drain, and stopping the trial actors, for
# which Ray Tune waits up to a fixed 10 s (TuneController._actor_force_cleanup_timeout) when an
# actor does not acknowledge its stop. Measured on the loaded 2-core machine: babysit -1.2%..+1.3%
# of 30-300 s; parallel +0.9 s at 30 s, +9 s and +10.7 s at 300 s (benchmarks/panda_vs_caviar.md).
BUDGET_SLACK_S = 10.0


# ------------------------------------------------------------------------------------------------
# The time series and the summary (pure)
# ------------------------------------------------------------------------------------------------


def time_series(epochs: pd.DataFrame, metric: str, mode: str, *, end_s: float | None = None) -> pd.DataFrame:
    """Best-so-far, compute, trials and epochs over one run's wall time.

    One row per reported epoch (in the order they ended), plus one at 0 and one at ``end_s`` (the
    end of the search). ``compute_s`` at time ``t`` is the trial-seconds spent by then: for every
    trial that had started, ``min(t, its last report) - its start`` (a trial's start is its first
    report's ``elapsed_s - trial_elapsed_s``). Epochs flagged ``diverged`` never count as the best.

    Returns:
        ``elapsed_s, compute_s, best_val_so_far, trials_started, epochs_trained``.
    """
    cols = ["elapsed_s", "compute_s", "best_val_so_far", "trials_started", "epochs_trained"]
    if epochs is None or epochs.empty:
        rows = [[0.0, 0.0, math.nan, 0, 0]] + ([[float(end_s), 0.0, math.nan, 0, 0]] if end_s else [])
        return pd.DataFrame(rows, columns=cols)
    e = epochs.sort_values(["elapsed_s", "trial_id", "epoch"]).reset_index(drop=True)
    start = (e["elapsed_s"] - e["trial_elapsed_s"]).groupby(e["trial_id"]).min()
    end = e.groupby("trial_id")["elapsed_s"].max()
    starts, ends = start.to_numpy(dtype=float), end.reindex(start.index).to_numpy(dtype=float)
    values = e[metric].to_numpy(dtype=float) if metric in e else np.full(len(e), np.nan)
    if "diverged" in e:
        values = np.where(e["diverged"].fillna(False).astype(bool).to_numpy(), np.nan, values)
    rows = [[0.0, 0.0, math.nan, 0, 0]]
    best = math.nan
    for i, t in enumerate(e["elapsed_s"].to_numpy(dtype=float)):
        v = values[i]
        if math.isfinite(v) and (math.isnan(best) or (v < best if mode == "min" else v > best)):
            best = float(v)
        compute = float(np.clip(np.minimum(t, ends) - starts, 0, None)[starts <= t].sum())
        rows.append([float(t), compute, best, int((starts <= t).sum()), i + 1])
    if end_s is not None and end_s >= rows[-1][0]:
        last = rows[-1]
        rows.append([float(end_s), float(np.clip(ends - starts, 0, None).sum()), last[2], last[3], last[4]])
    return pd.DataFrame(rows, columns=cols)


def first_reach(series: pd.DataFrame, target: float, mode: str) -> tuple[float | None, float | None]:
    """``(elapsed_s, compute_s)`` when best-so-far first reached ``target`` (None: never)."""
    v = series["best_val_so_far"].to_numpy(dtype=float)
    ok = np.isfinite(v) & ((v <= target) if mode == "min" else (v >= target))
    if not ok.any():
        return None, None
    i = int(np.flatnonzero(ok)[0])
    return float(series["elapsed_s"].iloc[i]), float(series["compute_s"].iloc[i])


def default_target(finals: Sequence[float], mode: str) -> float | None:
    """The level every run reached: the worst of the runs' final best values (so time-to-target
    is defined for all of them and says who got there first). None without a finite value."""
    vals = [float(v) for v in finals if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    return max(vals) if mode == "min" else min(vals)


def summarize(runs: pd.DataFrame, series: pd.DataFrame, *, metric: str, mode: str, budget_s: float,
              target: float | None) -> dict[str, Any]:
    """The summary: per run (strategy, seed) and per strategy (mean, spread across seeds).

    Args:
        runs: one row per run with ``strategy, seed, run_dir, best_val, test_*, elapsed_s,
            search_elapsed_s, slot_seconds``.
        series: :func:`time_series` rows of every run with ``strategy, seed`` columns.
        target: the metric level for time-to-target (None: :func:`default_target`).
    """
    target_given = target is not None
    if target is None:
        target = default_target(runs["best_val"].tolist(), mode)
    per_run = []
    for _, r in runs.iterrows():
        s = series[(series.strategy == r.strategy) & (series.seed == r.seed)]
        t_s, c_s = first_reach(s, target, mode) if target is not None else (None, None)
        last = s.iloc[-1]
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        row.update({
            "compute_s": float(last.compute_s), "trials_started": int(last.trials_started),
            "epochs_trained": int(last.epochs_trained), "time_to_target_s": t_s, "compute_to_target_s": c_s,
            "over_budget_s": float(r.search_elapsed_s) - budget_s,
            "over_budget_pct": 100 * (float(r.search_elapsed_s) - budget_s) / budget_s,
        })
        per_run.append(row)
    per_strategy: dict[str, Any] = {}
    frame = pd.DataFrame(per_run)
    test_cols = [c for c in frame.columns if c.startswith("test_")]
    for strategy, g in frame.groupby("strategy", sort=False):
        agg: dict[str, Any] = {"runs": int(len(g))}
        for col in ["best_val", *test_cols, "search_elapsed_s", "elapsed_s", "compute_s", "slot_seconds",
                    "trials_started", "epochs_trained", "time_to_target_s", "compute_to_target_s", "over_budget_pct"]:
            if col not in g:
                continue
            v = pd.to_numeric(g[col], errors="coerce").dropna()
            agg[col] = None if v.empty else {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()),
                                             "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}
        agg["reached_target"] = int(g["time_to_target_s"].notna().sum())
        per_strategy[str(strategy)] = agg
    return {"metric": metric, "mode": mode, "budget_s": budget_s, "target": target,
            "target_source": "--target" if target_given else "default: the level every run reached",
            "budget_rule": f"search_elapsed_s <= budget * 1.05 + {BUDGET_SLACK_S:g} s",
            "runs": per_run, "strategies": per_strategy}


def summary_table(summary: dict[str, Any]) -> list[list[str]]:
    """The summary as rows of text (header first), one row per run: what ``sweep compare`` prints."""
    metric = summary["metric"]
    head = ["strategy", "seed", f"best {metric}", "test", "search s", "budget s", "over %", "compute s",
            "trials", "epochs", "to target s"]
    rows = [head]

    def f(v: Any, spec: str = ".4f") -> str:
        return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)

    for r in summary["runs"]:
        test = next((r[k] for k in (f"test_{metric.removeprefix('val_')}", "test_loss") if r.get(k) is not None),
                    None)
        rows.append([r["strategy"], str(r["seed"]), f(r.get("best_val")), f(test), f(r["search_elapsed_s"], ".1f"),
                     f(summary["budget_s"], ".0f"), f(r["over_budget_pct"], "+.1f"), f(r["compute_s"], ".1f"),
                     str(r["trials_started"]), str(r["epochs_trained"]), f(r["time_to_target_s"], ".1f")])
    return rows


# ------------------------------------------------------------------------------------------------
# Plots and the page (matplotlib's Agg canvas, as sweep report)
# ------------------------------------------------------------------------------------------------

_COLOURS = {"parallel": "#1f77b4", "babysit": "#d62728"}
_STYLES = ["-", "--", ":", "-."]
_ACTION_MARKERS = {"revert_and_cut_lr": ("v", "#d62728"), "decay_lr": ("v", "#ff7f0e"), "raise_lr": ("^", "#2ca02c"),
                   "stop_overfit": ("X", "#9467bd"), "next_more_capacity": ("P", "#8c564b"),
                   "stop_diverged": ("X", "#d62728"), "stop_converged": ("s", "#7f7f7f")}


def plot_best_so_far(series: pd.DataFrame, x: str, *, metric: str, budget_s: float, target: float | None) -> bytes:
    """Best-so-far validation metric against ``x`` (``elapsed_s`` or ``compute_s``), one line per
    strategy and seed."""
    from .report.figures import fixed_axes, plot_style, to_png

    with plot_style():
        fig, ax = fixed_axes(6.6, 3.8, right=1.6)
        for (strategy, seed), g in series.groupby(["strategy", "seed"], sort=False):
            g = g[np.isfinite(g["best_val_so_far"].to_numpy(dtype=float))]
            if g.empty:
                continue
            ax.step(g[x], g["best_val_so_far"], where="post", color=_COLOURS.get(strategy, "#555"),
                    ls=_STYLES[int(seed) % len(_STYLES)], lw=1.6, label=f"{strategy} seed {seed}")
        if target is not None:
            ax.axhline(target, color="#555", lw=0.8, ls="--", label=f"target {target:.4g}")
        v = series["best_val_so_far"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:  # zoom on where the strategies differ: the first, poor epochs are cut off
            lo, hi = (np.percentile(v, 10), v.max()) if series_mode(series) == "max" else (v.min(), np.percentile(v, 90))
            pad = 0.05 * ((hi - lo) or abs(hi) or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        if x == "elapsed_s":
            ax.axvline(budget_s, color="#000", lw=0.8, ls=":", label="budget")
        ax.set_xlabel("wall-clock seconds since the strategy started" if x == "elapsed_s"
                      else "compute: trial-seconds (slot-seconds) spent")
        ax.set_ylabel(f"best {metric} so far")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return to_png(fig)


def series_mode(series: pd.DataFrame) -> str:
    """``max`` when best-so-far rises over time (an accuracy), else ``min``."""
    for _, g in series.groupby(["strategy", "seed"], sort=False):
        v = g["best_val_so_far"].dropna().to_numpy(dtype=float)
        if v.size > 1 and v[-1] != v[0]:
            return "max" if v[-1] > v[0] else "min"
    return "max"


def plot_babysat(epochs: pd.DataFrame, events: pd.DataFrame, *, metric: str, title: str) -> bytes | None:
    """The babysat models' learning curves over wall time (one colour per model), the learning rate
    below, and every intervention marked where it happened."""
    from .report.figures import new_figure, plot_style, to_png

    if epochs is None or epochs.empty:
        return None
    e = epochs.sort_values(["elapsed_s"])
    with plot_style():
        fig = new_figure(8.0, 5.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
        ids = list(dict.fromkeys(e["trial_id"]))
        cmap = [f"C{i % 10}" for i in range(len(ids))]
        twin = top.twinx()
        for i, tid in enumerate(ids):
            g = e[e.trial_id == tid]
            top.plot(g["elapsed_s"], g[metric], "-o", ms=2.5, lw=1.2, color=cmap[i])
            twin.plot(g["elapsed_s"], g["val_loss"].clip(upper=float(np.nanpercentile(e["val_loss"], 95))), ":",
                      lw=0.8, color=cmap[i])
            bottom.step(g["elapsed_s"], g["learning_rate"], where="pre", color=cmap[i], lw=1.2)
            t0 = float((g["elapsed_s"] - g["trial_elapsed_s"]).min())
            top.axvline(t0, color="#bbb", lw=0.6)
            if i % (len(ids) // 15 + 1) == 0:  # number every model, or every k-th of many
                top.text(t0, 1.0, f" {i}", transform=top.get_xaxis_transform(), fontsize=7, va="bottom",
                         color=cmap[i])
        seen: set[str] = set()
        if events is not None and not events.empty:
            ev = events[events.decision.isin(list(_ACTION_MARKERS))]
            for _, r in ev.iterrows():
                row = e[(e.trial_id == r.trial_id) & (e.epoch == r.epoch)]
                if row.empty:
                    continue
                m, c = _ACTION_MARKERS[r.decision]
                xv, yv = float(row.elapsed_s.iloc[0]), float(row[metric].iloc[0])
                label = r.decision if r.decision not in seen else None
                seen.add(r.decision)
                top.scatter([xv], [yv] if math.isfinite(yv) else [top.get_ylim()[0]], marker=m, s=60, color=c,
                            zorder=5, edgecolors="white", linewidths=0.6, label=label)
                lr = float(row.learning_rate.iloc[0])
                bottom.scatter([xv], [lr], marker=m, s=30, color=c, zorder=5)
        top.set_ylabel(f"{metric} (solid)")
        twin.set_ylabel("val_loss (dotted)")
        twin.spines["right"].set_visible(True)
        bottom.set_yscale("log")
        bottom.set_ylabel("learning rate")
        bottom.set_xlabel("wall-clock seconds since the run started (grey lines: a new model starts)")
        top.set_title(title, loc="left", fontweight="bold")
        if seen:
            top.legend(fontsize=7, loc="lower right", frameon=True)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        return to_png(fig)


def write_page(comp_dir: Path, summary: dict[str, Any], figures: list[tuple[str, str, str]]) -> Path:
    """``index.html``: the summary table and the figures (``(file under plots/, alt, caption)``),
    self-contained like ``sweep report`` (PNG embedded as base64)."""
    from .report.page import CSS, figure_html

    rows = summary_table(summary)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    strat = []
    for name, agg in summary["strategies"].items():
        bv = agg.get("best_val") or {}
        tt = agg.get("time_to_target_s") or {}
        strat.append(f"<tr><td>{html.escape(name)}</td><td>{agg['runs']}</td><td>{bv.get('mean', float('nan')):.4f}"
                     f" (± {bv.get('std', 0):.4f}, {bv.get('min', float('nan')):.4f}–{bv.get('max', float('nan')):.4f})"
                     f"</td><td>{agg['reached_target']}/{agg['runs']}</td><td>"
                     + (f"{tt['mean']:.1f}" if tt else "-") + "</td></tr>")
    # (every figure here has a caption: figure_html then writes the same <figure> as sweep report)
    figs = [figure_html((comp_dir / "plots" / name).read_bytes(), alt, caption) for name, alt, caption in figures]
    target = summary["target"]
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>sweep compare · {html.escape(comp_dir.name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>sweep compare · {html.escape(comp_dir.name)}</h1></header>\n<main>\n"
        "<section id=\"summary\"><h2>Summary</h2>"
        f"<p>Budget {summary['budget_s']:.0f} s of wall-clock time per strategy and seed; metric "
        f"{html.escape(summary['metric'])} ({summary['mode']}); target "
        + ("-" if target is None else f"{target:.4g}") + f" ({html.escape(summary['target_source'])}). "
        "<i>search s</i> is the wall-clock time the search took (the budget counts it); the single test "
        "evaluation of the selected model comes after it. <i>compute s</i> is trial-seconds (slot-seconds) "
        "from the runs' reports.</p>"
        f'<div class="scroll"><table class="trials"><tr>{head}</tr>{body}</table></div>'
        "<h3>Per strategy (mean ± standard deviation, min–max across seeds)</h3>"
        "<table class=\"trials\"><tr><th>strategy</th><th>runs</th><th>best validation</th><th>reached target</th>"
        f"<th>time to target s (mean)</th></tr>{''.join(strat)}</table></section>\n"
        "<section id=\"plots\"><h2>Plots</h2>" + "".join(figs) + "</section>\n</main>\n</body>\n</html>\n")
    path = comp_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# Running it (imports the execution core, hence Ray, when called)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareResult:
    """Where :func:`run_compare` wrote the comparison, and its summary."""

    path: Path
    summary: dict[str, Any]


def _strategy_spec(spec: Any, strategy: str, seed_offset: int) -> Any:
    from .spec import SchedulerSpec, StoppersSpec

    changes: dict[str, Any] = {"strategy": strategy, "seed": spec.seed + seed_offset,
                               "search": spec.search.model_copy(update={"seed": (spec.search.seed or 0) + seed_offset})}
    if strategy == "babysit":  # its own rules replace Tune's schedulers, stoppers and early stopping
        changes.update(scheduler=SchedulerSpec(), stoppers=StoppersSpec(), early_stopping=None)
    elif spec.resources.max_concurrent is None:
        # As many trials at once as the slots hold, and no more queued: with a large num_samples
        # (the budget, not the count, ends the search) Tune would otherwise create hundreds of
        # pending trials and their directories up front (17 s of a 30 s budget under load).
        changes["resources"] = spec.resources.model_copy(update={"max_concurrent": "auto"})
    return spec.with_overrides(**changes)


def run_compare(spec: Any, budget_s: float, *, strategies: Sequence[str] = STRATEGIES, seeds: int = 1,
                target: float | None = None, out: str | Path = "results", address: str | None = None,
                log: Callable[[str], None] = print) -> CompareResult:
    """Run every strategy x seed under ``budget_s`` and write the comparison directory."""
    from .results import clean_json, load, new_run_id, write_json, write_parquet
    from .execution import connect_ray, run_sweep, warm_workers

    comp_dir = Path(out).expanduser().resolve() / new_run_id(f"{spec.name}-compare")
    (comp_dir / "runs").mkdir(parents=True)
    (comp_dir / "plots").mkdir()
    started_ray = connect_ray(address, spec=spec, out=out)
    rows, frames, babysat = [], [], []
    try:
        for seed in range(seeds):
            for strategy in strategies:
                s = _strategy_spec(spec, strategy, seed)
                log(f"== {strategy}, seed {seed}: budget {budget_s:g} s ==")
                warm_workers()
                t0 = time.time()
                result = run_sweep(s, comp_dir / "runs", address=address, budget_s=budget_s)
                run = load(result.run_dir)
                info = run.info
                search = float(info.get("budget", {}).get("search_elapsed_s") or (time.time() - t0))
                slots = 1 if strategy == "babysit" else _slots(info)
                row = {"strategy": strategy, "seed": seed, "run_dir": str(Path("runs") / result.run_dir.name),
                       "status": result.status, "selected_trial": result.selected, "best_val": result.best_value,
                       **result.test_metrics, "search_elapsed_s": search,
                       "elapsed_s": float(info.get("elapsed_s") or (time.time() - t0)),
                       "slots": slots, "slot_seconds": slots * search}
                rows.append(row)
                ts = time_series(run.epochs, spec.metric_name, spec.mode, end_s=search)
                ts.insert(0, "seed", seed)
                ts.insert(0, "strategy", strategy)
                frames.append(ts)
                if strategy == "babysit":
                    babysat.append((seed, run))
                over = 100 * (search - budget_s) / budget_s
                log(f"   {strategy} seed {seed}: search {search:.1f} s of {budget_s:g} s ({over:+.1f}%), "
                    f"best {spec.metric_name}={_fmt(result.best_value)}, "
                    + " ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items()))
    finally:
        if started_ray:
            from .execution import shutdown_ray

            shutdown_ray()
    series = pd.concat(frames, ignore_index=True)
    write_parquet(series, comp_dir / "comparison.parquet")
    runs = pd.DataFrame(rows)
    summary = summarize(runs, series, metric=spec.metric_name, mode=spec.mode, budget_s=budget_s, target=target)
    summary.update({"spec": spec.source, "name": spec.name, "strategies_run": list(strategies), "seeds": seeds})
    write_json(clean_json(summary), comp_dir / "summary.json")

    figures = []
    for x, name, what in (("elapsed_s", "best_vs_time.png", "wall-clock time"),
                          ("compute_s", "best_vs_compute.png", "compute (trial-seconds)")):
        (comp_dir / "plots" / name).write_bytes(plot_best_so_far(series, x, metric=spec.metric_name,
                                                                 budget_s=budget_s, target=summary["target"]))
        figures.append((name, f"best so far vs {what}",
                        f"Best validation {html.escape(spec.metric_name)} found so far against {what}; one line "
                        "per strategy (colour) and seed (line style); dashed: the target."))
    for seed, run in babysat:
        png = plot_babysat(run.epochs, run.events, metric=spec.metric_name,
                           title=f"babysat models, seed {seed}")
        if png is not None:
            name = f"babysit_curves_seed{seed}.png"
            (comp_dir / "plots" / name).write_bytes(png)
            figures.append((name, f"babysat learning curves, seed {seed}",
                            "The babysitter's models one after the other (numbered at the top): validation metric "
                            "(solid) and loss (dotted) per epoch, the learning rate below (log scale); markers: "
                            "its interventions (events.parquet)."))
    write_page(comp_dir, summary, figures)
    return CompareResult(comp_dir, summary)


def _slots(info: dict[str, Any]) -> int:
    """How many trials of a parallel run could run at once (the CPUs and GPUs Ray had, per trial)."""
    total = (info.get("ray") or {}).get("cluster_resources") or {}
    per = (info.get("budget") or {}).get("resources") or {}
    cpu, gpu = float(per.get("cpu") or 1.0), float(per.get("gpu") or 0.0)
    fit = int(math.floor(float(total.get("CPU", cpu)) / cpu + 1e-9))
    if gpu > 0:
        fit = min(fit, int(math.floor(float(total.get("GPU", 0.0)) / gpu + 1e-9)))
    mc = per.get("max_concurrent")
    if isinstance(mc, int):
        fit = min(fit, mc)
    return max(1, fit)


def _fmt(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4f}"


def dumps(summary: dict[str, Any]) -> str:
    """The summary as indented JSON (values JSON does not know as text)."""
    return json.dumps(summary, indent=2, default=str)
