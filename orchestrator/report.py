"""``sweep report``: one self-contained HTML page about a run directory.

The page has no external resources and no JavaScript: CSS is inline and every figure is a
base64 PNG ``<img>``. Sections (ids in :data:`SECTIONS`): a summary, the selected trial and its
test score, the compute spent (and saved by early stopping), learning curves of the top trials
and of stopped ones, best-so-far over time, one "Goldilocks" plot per searched hyperparameter, a
parallel-coordinates plot, and a table of every trial with its status, stop reason and diagnosis.

This module imports neither Ray nor TensorFlow; matplotlib is imported inside the functions that
draw (its object-oriented API with the Agg canvas, never pyplot, so no global figure is left
open and an interactive backend in a notebook is left alone). Every value from the data is
passed through :func:`html.escape`.

The number of figures is bounded whatever the size of the run: :data:`TOP_CURVES` and
:data:`STOPPED_CURVES` panels, at most :data:`OVERVIEW_MAX_LINES` curves in the overview, at
most :data:`MAX_PARAM_PLOTS` Goldilocks plots, scatter plots thinned to :data:`SCATTER_MAX`
points (the best trials always kept).
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .results import Run, read_run

__all__ = ["SECTIONS", "render_report", "write_report", "goldilocks_regions", "param_kinds"]

#: ``(id, heading)`` of every section, in page order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("selected", "Selected trial and test score"),
    ("compute", "Compute"),
    ("curves", "Learning curves"),
    ("best-so-far", "Best so far over time"),
    ("goldilocks", "Goldilocks plots"),
    ("parallel", "Parallel coordinates"),
    ("trials", "Trials"),
)

TOP_CURVES = 6            # panels of the best trials
STOPPED_CURVES = 6        # panels of stopped / diverged / failed trials
OVERVIEW_MAX_LINES = 300  # curves drawn in the all-trials overview
SCATTER_MAX = 2000        # points per scatter plot
MAX_PARAM_PLOTS = 12      # Goldilocks plots
TABLE_MAX_ROWS = 1000     # rows of the trials table
DPI = 80

_STATUS_COLOURS = {"completed": "#1f77b4", "stopped": "#ff7f0e", "diverged": "#d62728", "error": "#7f7f7f",
                   "running": "#9467bd"}
_BAD_STATUSES = ("diverged", "error")
_NUMERIC_TYPES = ("uniform", "loguniform", "int", "randint")


# -------------------------------------------------------------------------------------------------
# Public API
# -------------------------------------------------------------------------------------------------


def write_report(run: Run | str | Path, out: Any = None) -> Path:
    """Render the report of ``run`` (a :class:`Run` or a run directory) and write it.

    Args:
        run: a loaded run or the path or URI of a run directory.
        out: the HTML file to write (default ``<run_dir>/report.html``), a path or a URI.

    Returns:
        The path written (written to a temporary name and renamed, like the run's tables), or
        the :class:`~orchestrator.storage.Location` for a URI.
    """
    from .storage import Location, is_uri, resolve

    if not isinstance(run, Run):
        run = read_run(run)
    if out is None and isinstance(run.path, Location):
        out = run.path / "report.html"
    if isinstance(out, Location) or (out is not None and is_uri(str(out))):
        target = out if isinstance(out, Location) else resolve(str(out), check=False)
        target.write_bytes(render_report(run).encode("utf-8"))  # whole (one PUT, or a rename)
        return target  # type: ignore[return-value]
    path = Path(out) if out is not None else Path(run.path) / "report.html"
    page = render_report(run)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def render_report(run: Run) -> str:
    """The report of ``run`` as one HTML string."""
    ctx = _Context.of(run)
    started = time.perf_counter()
    body = [
        _section_summary(ctx),
        _section_selected(ctx),
        _section_compute(ctx),
        _section_curves(ctx),
        _section_best_so_far(ctx),
        _section_goldilocks(ctx),
        _section_parallel(ctx),
        _section_trials(ctx),
    ]
    title = f"sweep report · {ctx.info.get('run_id') or getattr(run.path, 'name', None) or Path(run.path).name}"
    nav = " · ".join(f'<a href="#{sid}">{_e(name)}</a>' for sid, name in SECTIONS)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{_e(title)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><nav>{nav}</nav></header>\n<main>\n"
        + "\n".join(body)
        + f"\n</main>\n<footer>generated by <code>sweep report</code> at {_e(generated)} "
        f"in {time.perf_counter() - started:.1f} s</footer>\n</body>\n</html>\n"
    )


def param_kinds(spec_params: dict[str, Any] | None, trials: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The hyperparameters worth plotting, each ``{"kind": "numeric"|"categorical", "log": bool, "values": [...]}``.

    Only searched ones (not constants in the spec) whose ``hp_<name>`` column holds more than one
    value. The axis is logarithmic for ``loguniform`` and ``int`` with ``log: true``, and for a
    ``grid``/``choice`` of positive numbers spanning at least a factor of 100 (the spec's own
    values, e.g. learning rates 1.0, 0.01, 1e-7). Without a spec (an old run.json), every
    ``hp_*`` column with more than one value, numeric when its dtype is.
    """
    out: dict[str, dict[str, Any]] = {}
    spec_params = spec_params or {}
    names = ([n for n, p in spec_params.items() if isinstance(p, dict) and p.get("type") != "constant"]
             if spec_params else [c.removeprefix("hp_") for c in trials.columns if c.startswith("hp_")])
    for name in names:
        col = f"hp_{name}"
        if col not in trials or trials[col].nunique(dropna=True) < 2:
            continue
        p = spec_params.get(name) or {}
        t = p.get("type")
        values = list(p.get("values") or [])
        if t in _NUMERIC_TYPES:
            kind = "numeric"
            log = t == "loguniform" or (t in ("int", "randint") and bool(p.get("log")))
        elif t in ("choice", "grid"):
            numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            kind = "numeric" if numeric else "categorical"
            log = numeric and min(values) > 0 and max(values) / min(values) >= 100
        else:  # no spec: go by the column
            s = trials[col]
            kind = ("numeric" if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                    else "categorical")
            v = pd.to_numeric(s, errors="coerce").dropna() if kind == "numeric" else pd.Series([], dtype=float)
            log = kind == "numeric" and len(v) > 0 and v.min() > 0 and v.max() / v.min() >= 100
        out[name] = {"kind": kind, "log": bool(log), "values": values}
    return out


def goldilocks_regions(x: Sequence[float], y: Sequence[float], mode: str, log: bool = False,
                       chance: float = 0.05) -> dict[str, Any] | None:
    """Where a hyperparameter was too low, right, or too high, judged from the trials.

    A trial is *good* when its metric is within ``tol`` of the best one (the *threshold*), where
    ``tol`` is half the distance from the best to the median trial (at least 1% of the best
    value); trials without a result (``nan``: diverged, failed) are never good. The good trials'
    values span ``lo``..``hi``; every trial below ``lo`` or above ``hi`` is, by construction, worse
    than the threshold. Such a region is *shaded* (called too low / too high) only when it is
    clearly not luck:

    - its ``n`` trials all missing is unlikely by chance: if the ``g`` good trials of ``N`` had
      landed anywhere, the ``n`` at this end would all be bad with probability
      ``C(N - g, n) / C(N, n)``; shaded when that is under ``chance`` (with 500 random trials,
      the few at an edge of a hyperparameter that does not matter are often all bad, and must
      not be shaded); or
    - even its best trial is poor: worse than the median by more than half the best-to-median
      gap (a grid of one trial per value: learning rate 1e-7 at 12% when 0.01 scores 98%).

    When neither region is shaded, the hyperparameter shows no clear sweet spot
    (``sweet_spot`` is False): good trials were found across its range.

    Returns:
        ``None`` with fewer than two trials or no finite metric, else a dict with ``best``,
        ``median``, ``threshold``, ``tol``, ``poor`` (the "even the best is poor" line), ``lo``/``hi``,
        ``n_good``, ``n_below``/``n_above`` (trials below ``lo`` / above ``hi``),
        ``p_below``/``p_above`` (the chance figures), ``low_shaded``/``high_shaded``,
        ``sweet_spot``, ``low_edge``/``high_edge`` (the inner boundaries of the regions, halfway on
        the plot's scale between the last bad value and the good range; ``None`` when empty) and
        ``log`` (False when a log axis was asked for values that are not all positive).
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    keep = np.isfinite(xa)
    xa, ya = xa[keep], ya[keep]
    finite = np.isfinite(ya)
    if len(xa) < 2 or not finite.any():
        return None
    if log and (xa <= 0).any():
        log = False
    maximize = mode == "max"
    best = float(ya[finite].max() if maximize else ya[finite].min())
    median = float(np.median(ya[finite]))
    tol = max(0.5 * abs(best - median), 0.01 * abs(best), 1e-12)
    threshold = best - tol if maximize else best + tol
    poor = median - 0.5 * abs(best - median) if maximize else median + 0.5 * abs(best - median)
    good = finite & ((ya >= threshold) if maximize else (ya <= threshold))
    total, n_good = len(xa), int(good.sum())
    lo, hi = float(xa[good].min()), float(xa[good].max())
    below, above = xa < lo, xa > hi
    fwd = np.log10 if log else (lambda v: v)
    inv = (lambda v: 10 ** v) if log else (lambda v: v)

    def judge(mask: np.ndarray) -> tuple[float, bool]:
        n = int(mask.sum())
        if not n:
            return 1.0, False
        # the chance that the n trials at this end are all bad if the good ones were anywhere
        # (drawn without replacement: C(N - good, n) / C(N, n))
        p = float(np.prod([(total - n_good - i) / (total - i) for i in range(n)])) if n <= total - n_good else 0.0
        ys = ya[mask & finite]
        best_there = (ys.max() if maximize else ys.min()) if len(ys) else (-np.inf if maximize else np.inf)
        return p, bool(p < chance or (best_there < poor if maximize else best_there > poor))

    p_below, low_shaded = judge(below)
    p_above, high_shaded = judge(above)
    low_edge = float(inv((fwd(xa[below].max()) + fwd(lo)) / 2)) if below.any() else None
    high_edge = float(inv((fwd(xa[above].min()) + fwd(hi)) / 2)) if above.any() else None
    return {"best": best, "median": median, "threshold": threshold, "tol": tol, "poor": poor, "lo": lo, "hi": hi,
            "n_good": int(good.sum()), "n_below": int(below.sum()), "n_above": int(above.sum()),
            "p_below": p_below, "p_above": p_above, "low_shaded": low_shaded, "high_shaded": high_shaded,
            "sweet_spot": low_shaded or high_shaded, "low_edge": low_edge, "high_edge": high_edge, "log": log}


# -------------------------------------------------------------------------------------------------
# Context: what every section needs, computed once
# -------------------------------------------------------------------------------------------------


@dataclass
class _Context:
    run: Run
    info: dict[str, Any]
    trials: pd.DataFrame
    epochs: pd.DataFrame
    events: pd.DataFrame
    metric: str
    mode: str
    col: str
    params: dict[str, dict[str, Any]]
    ranked: pd.DataFrame
    curves: "_Curves | dict[str, pd.DataFrame]" = field(default_factory=dict)

    @classmethod
    def of(cls, run: Run) -> "_Context":
        info = run.info if isinstance(run.info, dict) else {}
        trials = run.trials.copy() if run.trials is not None else pd.DataFrame()
        epochs = run.epochs.copy() if run.epochs is not None else pd.DataFrame()
        events = run.events.copy() if run.events is not None else pd.DataFrame()
        spec = info.get("spec") if isinstance(info.get("spec"), dict) else {}
        budget = info.get("budget") if isinstance(info.get("budget"), dict) else {}
        metric = budget.get("metric") or (spec.get("metric") or {}).get("name")
        mode = budget.get("mode") or (spec.get("metric") or {}).get("mode")
        if not metric:  # infer from the columns
            cands = [c.removeprefix("best_") for c in trials.columns
                     if c.startswith("best_") and c not in ("best_epoch", "best_val_loss")]
            metric = cands[0] if cands else "val_loss"
        if mode not in ("min", "max"):
            mode = "max" if "accuracy" in metric else "min"
        col = f"best_{metric}"
        for c, default in (("trial_id", ""), ("status", ""), ("stop_reason", ""), ("epochs", 0),
                           ("best_epoch", 0), (col, math.nan), ("is_selected", False)):
            if c not in trials:
                trials[c] = default
        trials["trial_id"] = trials["trial_id"].astype(str)
        trials[col] = pd.to_numeric(trials[col], errors="coerce")
        trials["is_selected"] = trials["is_selected"].fillna(False).astype(bool)
        params = param_kinds(spec.get("params") if isinstance(spec.get("params"), dict) else None, trials)
        ranked = _rank(trials, col, mode)
        ctx = cls(run, info, trials, epochs, events, metric, mode, col, params, ranked)
        if not epochs.empty and "trial_id" in epochs and "epoch" in epochs:
            epochs["trial_id"] = epochs["trial_id"].astype(str)
            epochs = epochs.sort_values(["trial_id", "epoch"])
            ctx.epochs = epochs
            ctx.curves = _Curves(epochs)
        return ctx

    @property
    def max_epochs(self) -> float:
        """The most epochs a trial could train (the budget; else the longest trial)."""
        b = self.info.get("budget") if isinstance(self.info.get("budget"), dict) else {}
        try:
            return float(b.get("max_epochs") or 0) or float(pd.to_numeric(self.trials["epochs"], errors="coerce").max())
        except (TypeError, ValueError):
            return 1.0

    @property
    def train_col(self) -> str:
        return "train_" + self.metric.removeprefix("val_")

    def better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b

    def stop_event(self, trial_id: str) -> dict[str, Any] | None:
        ev = self.events
        if ev.empty or "trial_id" not in ev:
            return None
        rows = ev[(ev["trial_id"].astype(str) == trial_id) & (ev.get("decision", "stop") == "stop")]
        return None if rows.empty else rows.iloc[-1].to_dict()


class _Curves(Mapping):
    """trial_id -> that trial's epoch rows, sliced on demand from the epochs sorted by trial.

    (A groupby into 500 frames costs more than everything the report does with the few it draws.)
    """

    def __init__(self, epochs: pd.DataFrame) -> None:
        self._epochs = epochs.reset_index(drop=True)
        ids = self._epochs["trial_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=int)
        ends = np.r_[starts[1:], len(ids)]
        self._bounds = {str(ids[a]): (int(a), int(b)) for a, b in zip(starts, ends)}

    def __getitem__(self, tid: str) -> pd.DataFrame:
        a, b = self._bounds[tid]
        return self._epochs.iloc[a:b]

    def __iter__(self):
        return iter(self._bounds)

    def __len__(self) -> int:
        return len(self._bounds)

    def __contains__(self, tid: object) -> bool:
        return tid in self._bounds


def _rank(trials: pd.DataFrame, col: str, mode: str) -> pd.DataFrame:
    """Trials best first: the selected one, then usable trials by metric, then diverged/failed ones."""
    if trials.empty:
        return trials
    sign = -1.0 if mode == "max" else 1.0
    values = pd.to_numeric(trials[col], errors="coerce").astype(float)
    usable = ~trials["status"].isin(_BAD_STATUSES) & np.isfinite(values)
    key = pd.DataFrame({
        "sel": ~trials["is_selected"].astype(bool),
        "bad": ~usable,
        "v": np.where(np.isfinite(values), sign * values, np.inf),
        "e": pd.to_numeric(trials["best_epoch"], errors="coerce").fillna(0),
    }, index=trials.index)
    order = key.sort_values(["sel", "bad", "v", "e"], kind="stable").index
    return trials.loc[order].reset_index(drop=True)


# -------------------------------------------------------------------------------------------------
# HTML helpers
# -------------------------------------------------------------------------------------------------

_CSS = """
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
.s-diverged{color:#d62728;font-weight:600}.s-error{color:#616161;font-weight:600}.sel{background:#fff8e1}
.reason{min-width:320px;max-width:520px;color:#444}td.tid{white-space:nowrap}
.err{max-width:360px;color:#b71c1c;white-space:pre-wrap;word-break:break-word}
.big{font-size:1.6em;font-weight:600}.note{color:#666;font-size:.9em}footer{color:#888;font-size:.8em;padding:12px 24px}
"""


def _e(value: Any) -> str:
    """Format a value for a cell and escape it."""
    return html.escape(_fmt(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _every(k: int) -> str:
    return "the one trial" if k == 1 else f"all {k} trials"


def _section(sid: str, inner: str) -> str:
    heading = dict(SECTIONS)[sid]
    return f'<section id="{sid}">\n<h2>{html.escape(heading)}</h2>\n{inner}\n</section>'


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def _figure(png: bytes | None, alt: str, caption: str = "") -> str:
    if png is None:
        return f'<p class="note">{html.escape(alt)}: nothing to plot.</p>'
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _status_class(status: Any) -> str:
    s = str(status)
    return f"s-{s}" if s in _STATUS_COLOURS else ""


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


# -------------------------------------------------------------------------------------------------
# matplotlib (imported lazily, Agg canvas, no pyplot)
# -------------------------------------------------------------------------------------------------


def _new_figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _fixed_axes(width: float, height: float, left: float = 0.8, right: float = 0.15, top: float = 0.3,
                bottom: float = 0.55):
    """A figure with one axes and margins fixed in inches (cheaper than a layout engine)."""
    fig = _new_figure(width, height, layout=None)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
    return fig, fig.subplots()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    fig.clear()  # release the artists at once (the figure is in no pyplot registry: nothing else to close)
    return buf.getvalue()


def _t(value: Any) -> str:
    """A value from the data as plot text: ``$`` would start mathtext (tick labels need it on)."""
    return _fmt(value).replace("$", r"\$")


def _rc() -> Any:
    import matplotlib

    return matplotlib.rc_context({"font.size": 9, "axes.titlesize": 9,
                                  "axes.spines.top": False, "axes.spines.right": False})


# -------------------------------------------------------------------------------------------------
# Sections
# -------------------------------------------------------------------------------------------------


def _section_summary(ctx: _Context) -> str:
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
    inner = _kv([(k, v) for k, v in rows if v not in (None, "")])
    tables = []
    for col, title in (("stop_reason", "stop reasons"), ("diagnosis", "diagnoses")):
        if col in t and not t.empty:
            vc = t[col].fillna("").astype(str).replace("", "(none)").value_counts()
            cells = "".join(f"<tr><td>{_e(k)}</td><td class=\"num\">{int(v)}</td></tr>" for k, v in vc.items())
            tables.append(f"<div><h3>{html.escape(title)}</h3><table><tr><th>{html.escape(col)}</th>"
                          f"<th>trials</th></tr>{cells}</table></div>")
    ev = ctx.events
    if not ev.empty and {"source", "reason"} <= set(ev.columns):
        vc = ev.groupby(["source", "decision" if "decision" in ev else "source", "reason"], dropna=False).size()
        cells = "".join(f"<tr><td>{_e(k[0])}</td><td>{_e(k[1])}</td><td>{_e(k[2])}</td>"
                        f"<td class=\"num\">{int(v)}</td></tr>" for k, v in vc.items())
        tables.append("<div><h3>interventions (events)</h3><table><tr><th>source</th><th>decision</th><th>reason</th>"
                      f"<th>events</th></tr>{cells}</table></div>")
    if tables:
        inner += '<div class="grid">' + "".join(tables) + "</div>"
    return _section("summary", inner)


def _selected_row(ctx: _Context) -> pd.Series | None:
    t = ctx.trials
    if t.empty:
        return None
    sel = t[t["is_selected"]]
    if sel.empty:
        info_sel = ctx.info.get("selected")
        chosen = info_sel.get("trial_id") if isinstance(info_sel, dict) else None
        sel = t[t["trial_id"] == str(chosen)] if chosen else sel
    return None if sel.empty else sel.iloc[0]


def _section_selected(ctx: _Context) -> str:
    row = _selected_row(ctx)
    sel_info = ctx.info.get("selected") if isinstance(ctx.info.get("selected"), dict) else {}
    if row is None and not sel_info:
        return _section("selected", '<p class="big">No trial was selected</p><p>Every trial diverged or failed, or '
                                    "the run has not finished. No test score was computed.</p>")
    tests: dict[str, Any] = {k: v for k, v in sel_info.items() if k.startswith("test_")}
    if row is not None:
        for c in row.index:
            if c.startswith("test_") and c not in tests and pd.notna(row[c]):
                tests[c] = row[c]
    tid = sel_info.get("trial_id") or (row["trial_id"] if row is not None else "")
    best = sel_info.get(ctx.col, row[ctx.col] if row is not None else None)
    best_epoch = sel_info.get("best_epoch", row.get("best_epoch") if row is not None else None)
    score = " · ".join(f"{html.escape(k)} = {_e(v)}" for k, v in tests.items()) or "not computed"
    inner = (f'<p class="big">test score (once): {score}</p>'
             f"<p>Trial <b>{_e(tid)}</b> was selected on validation data: {html.escape(ctx.col)} = {_e(best)} at "
             f"epoch {_e(best_epoch)}. The test split was read once, by the final evaluation of this trial.</p>")
    config = sel_info.get("config") if isinstance(sel_info.get("config"), dict) else None
    if config is None and row is not None:
        config = {c.removeprefix("hp_"): row[c] for c in row.index if c.startswith("hp_")}
    if config:
        searched = set(ctx.params) | {n for n, p in ((ctx.info.get("spec") or {}).get("params") or {}).items()
                                      if isinstance(p, dict) and p.get("type") != "constant"}
        rows = [(f"{k}{' (searched)' if k in searched else ''}",
                 "n/a (its condition did not hold)" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in config.items()]
        inner += "<h3>configuration</h3>" + _kv(rows)
    if row is not None:
        inner += "<h3>how it trained</h3>" + _kv([
            ("status", row.get("status")), ("stop reason", row.get("stop_reason")), ("epochs", row.get("epochs")),
            ("diagnosis", row.get("diagnosis")), ("why", row.get("diagnosis_reason")),
        ])
    return _section("selected", inner)


def _section_compute(ctx: _Context) -> str:
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
            ("saved by early stopping",
             f"{100 * float(c.get('trial_seconds_saved_fraction') or 0):.0f}% of trial-seconds, "
             f"{100 * float(c.get('epochs_saved_fraction') or 0):.0f}% of epochs"),
        ]
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
    inner = note + _kv(rows)
    inner += ('<p class="note">Trial-seconds are the sum of the trials\' own training times. The cost of training '
              "every trial fully extrapolates each stopped trial from its own seconds per epoch.</p>")
    return _section("compute", inner)


# -- learning curves ---------------------------------------------------------------------------


def _stopped_picks(ctx: _Context, exclude: Iterable[str] = ()) -> list[pd.Series]:
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


def _stop_text(ctx: _Context, row: pd.Series) -> tuple[str, str]:
    """How a trial ended, as a headline and a why (both short enough for a panel title)."""
    status = str(row.get("status") or "")
    n = _fmt(row.get("epochs"))
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


def _curve_panel(ax, ctx: _Context, row: pd.Series) -> None:
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
    ax.set_title("\n".join(_t(_clip(x, 52)) for x in lines if x), loc="left", color=_STATUS_COLOURS.get(status, "#222"))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ctx.metric.removeprefix("val_"))
    ax.grid(alpha=0.3)


def _panels(ctx: _Context, rows: list[pd.Series]) -> bytes | None:
    if not rows:
        return None
    with _rc():
        ncol = min(3, len(rows))
        nrow = math.ceil(len(rows) / ncol)
        # Fixed margins in inches instead of constrained layout, which measures every tick label
        # of every panel several times (a third of the report's time on a 500-trial run).
        w, h = 4.6 * ncol, 3.3 * nrow + 0.6
        top, bottom, left, right, vgap, hgap = 0.65, 0.85, 0.7, 0.15, 1.1, 0.8
        axes_h = (h - top - bottom - vgap * (nrow - 1)) / nrow
        axes_w = (w - left - right - hgap * (ncol - 1)) / ncol
        fig = _new_figure(w, h, layout=None)
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
        return _png(fig)


def _overview(ctx: _Context, highlight: list[str]) -> tuple[bytes | None, str]:
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
    with _rc():
        fig = _new_figure(11, 4.2)
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
                        label=f"#{i + 1} {_t(tid)}", zorder=4)
        markers = "xv^sPDo<>"
        for i, (reason, pts) in enumerate(sorted(ends.items(), key=lambda kv: -len(kv[1]))[:9]):
            p = np.asarray(pts)
            ax.scatter(p[:, 0], p[:, 1], marker=markers[i % len(markers)], s=22, zorder=3,
                       color="#d62728" if reason in ("diverged", "error") else None,
                       label=f"stopped: {_t(reason)} ({len(pts)})")
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
        return _png(fig), note


def _section_curves(ctx: _Context) -> str:
    r = ctx.ranked
    if r.empty or not ctx.curves:
        return _section("curves", '<p class="note">No epochs recorded.</p>')
    top = [row for _, row in r[~r["status"].isin(_BAD_STATUSES) & r["trial_id"].isin(list(ctx.curves))]
           .head(TOP_CURVES).iterrows()]
    stopped = _stopped_picks(ctx, exclude=[str(row["trial_id"]) for row in top])
    png, note = _overview(ctx, [str(row["trial_id"]) for row in top])
    inner = _figure(png, "validation curves of all trials",
                    f"Validation {html.escape(ctx.metric)} per epoch of every trial (grey), the top {len(top)} in "
                    "green; a marker shows where each trial that did not complete was stopped, by stop reason."
                    + html.escape(note))
    inner += "<h3>top trials</h3>" + _figure(
        _panels(ctx, top), "learning curves of the top trials",
        f"Training (dashed) and validation (solid) {html.escape(ctx.metric.removeprefix('val_'))} of the best trials "
        "by "
        f"{html.escape(ctx.col)} (★: the selected trial); green star: the best epoch; red line: where a trial was "
        "stopped; purple dotted line: where the diagnosis says early stopping should have stopped it.")
    inner += "<h3>stopped trials</h3>" + _figure(
        _panels(ctx, stopped), "learning curves of stopped trials",
        "Trials ended before their last epoch (by the scheduler, a plateau stopper, patience, the divergence guard "
        "or an error) other than those above: each stop reason in turn, the best and the worst of each. The title "
        "says when, by whom and why; the x axis runs to the full length a trial could have trained.")
    return _section("curves", inner)


# -- best so far -------------------------------------------------------------------------------


def _section_best_so_far(ctx: _Context) -> str:
    e = ctx.epochs
    if e.empty or ctx.metric not in e:
        return _section("best-so-far", '<p class="note">No epochs recorded.</p>')
    y = pd.to_numeric(e[ctx.metric], errors="coerce").to_numpy(dtype=float)
    if "elapsed_s" in e and pd.to_numeric(e["elapsed_s"], errors="coerce").notna().any():
        t = pd.to_numeric(e["elapsed_s"], errors="coerce").to_numpy(dtype=float)
        xlabel = "time since the run started"
    else:
        t = np.arange(1, len(y) + 1, dtype=float)
        xlabel = "epochs reported (in order)"
    ok = np.isfinite(t) & np.isfinite(y)
    if not ok.any():
        return _section("best-so-far", '<p class="note">No finite metric values.</p>')
    t, y = t[ok], y[ok]
    trial_ids = e["trial_id"].astype(str).to_numpy()[ok]
    order = np.argsort(t, kind="stable")
    t, y, trial_ids = t[order], y[order], trial_ids[order]
    unit, scale = ("min", 60.0) if xlabel.startswith("time") and t.max() > 600 else ("s", 1.0)
    if not xlabel.startswith("time"):
        unit, scale = "", 1.0
    best = np.maximum.accumulate(y) if ctx.mode == "max" else np.minimum.accumulate(y)
    improved = np.r_[True, best[1:] != best[:-1]]
    with _rc():
        fig = _new_figure(11, 3.8)
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
        png = _png(fig)
    last_gain = float(t[improved][-1]) / scale
    final = float(best[-1])
    caption = (f"Every epoch's validation {html.escape(ctx.metric)} (grey) and the best value reached so far across "
               f"all trials (green). The best so far ({_e(final)}) was last improved at {last_gain:.1f} "
               f"{html.escape(unit)} "
               f"of {float(t[-1]) / scale:.1f} {html.escape(unit)}; trial of the last improvement: "
               f"{_e(trial_ids[improved][-1])}.")
    return _section("best-so-far", _figure(png, "best so far over time", caption))


# -- Goldilocks ---------------------------------------------------------------------------------


def _trial_xy(ctx: _Context, name: str) -> pd.DataFrame:
    t = ctx.trials
    df = pd.DataFrame({"x": t[f"hp_{name}"], "y": t[ctx.col], "status": t["status"].astype(str),
                       "sel": t["is_selected"], "trial_id": t["trial_id"]})
    bad = df["status"].isin(_BAD_STATUSES)
    df.loc[bad, "y"] = np.nan  # never "good", whatever they scored before diverging
    if len(df) > SCATTER_MAX:  # keep the best trials and a sample of the rest
        sign = -1 if ctx.mode == "max" else 1
        ordered = df.assign(k=sign * df["y"].astype(float)).sort_values("k", na_position="last")
        head = ordered.head(SCATTER_MAX // 4)
        tail = ordered.iloc[SCATTER_MAX // 4:].sample(SCATTER_MAX - len(head), random_state=0)
        df = pd.concat([head, tail]).drop(columns="k")
    return df


def _y_limits(ax, ctx: _Context, y: np.ndarray) -> tuple[float, float]:
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


def _goldilocks_numeric(ctx: _Context, name: str, log: bool) -> tuple[bytes | None, str]:
    from matplotlib.transforms import blended_transform_factory

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
    reg = goldilocks_regions(x, y, ctx.mode, log)
    with _rc():
        fig, ax = _fixed_axes(6.6, 3.8, right=1.3)
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
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        if reg:
            if reg["low_shaded"]:
                ax.axvspan(left, reg["low_edge"], color="#ef5350", alpha=0.13, lw=0)
                ax.text(inv((fwd(left) + fwd(reg["low_edge"])) / 2), 0.97, f"too low\n({_n(reg['n_below'], 'trial')})",
                        transform=trans, ha="center", va="top", color="#b71c1c", fontsize=8)
            if reg["high_shaded"]:
                ax.axvspan(reg["high_edge"], right, color="#ef5350", alpha=0.13, lw=0)
                ax.text(inv((fwd(reg["high_edge"]) + fwd(right)) / 2), 0.97,
                        f"too high\n({_n(reg['n_above'], 'trial')})", transform=trans, ha="center", va="top",
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
            ax.axhline(reg["threshold"], color="#2e7d32", ls="--", lw=0.8, label="good above" if ctx.mode == "max"
                       else "good below")
        for status in ("completed", "stopped", "running", "error", "diverged"):
            m = (df["status"] == status).to_numpy()
            if not m.any():
                continue
            yy = np.where(np.isfinite(y[m]), y[m], worst)
            if status in _BAD_STATUSES:
                ax.scatter(xs[m], np.full(m.sum(), worst), marker="x", s=30, color=_STATUS_COLOURS[status],
                           label=status, zorder=3, clip_on=False)
            else:
                ax.scatter(xs[m], yy, s=22, alpha=0.8, label=status, zorder=3,
                           facecolors=_STATUS_COLOURS[status] if status == "completed" else "none",
                           edgecolors=_STATUS_COLOURS[status])
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
        png = _png(fig)
    caption = f"Each point is a trial's {html.escape(ctx.col)} against its {html.escape(name)}"
    caption += " (log axis)." if log else "."
    if reg:
        word, worse = ("≥", "below") if ctx.mode == "max" else ("≤", "above")
        caption += (f" Dashed line: within {_e(reg['tol'])} of the best ({html.escape(ctx.col)} {word} "
                    f"{_e(reg['threshold'])}), which {_n(reg['n_good'], 'trial')} reached.")
        spot = _e(reg["lo"]) if reg["lo"] == reg["hi"] else f"{_e(reg['lo'])} – {_e(reg['hi'])}"
        if reg["sweet_spot"]:
            caption += f" Sweet spot (green): {spot}, where those trials were."
        else:
            caption += (f" No clear sweet spot: the good trials span {spot}, and the few trials outside that range may "
                        "have missed by chance.")
        for side, n, bound, shaded, pc in (("low", reg["n_below"], reg["lo"], reg["low_shaded"], reg["p_below"]),
                                           ("high", reg["n_above"], reg["hi"], reg["high_shaded"], reg["p_above"])):
            if shaded:
                where = "below" if side == "low" else "above"
                caption += (f" Too {side} (red): {_every(n)} {where} {_e(bound)} scored {worse} the line "
                            f"(by luck: {'< 0.1%' if pc < 0.001 else f'{pc:.1%}'}).")
        caption += (" A region is red only when that is unlikely to be luck (under 5%, given the share of good "
                    "trials) or even its best trial is far worse than the median trial.")
    caption += (" Hollow points: trials stopped early (their best is over fewer epochs); × at the edge: diverged or "
                "failed.")
    if na:
        caption += f" {na} trials without this hyperparameter (conditional) are left out."
    return png, caption


def _goldilocks_categorical(ctx: _Context, name: str, order: list[Any]) -> tuple[bytes | None, str]:
    df = _trial_xy(ctx, name)
    df["cat"] = df["x"].map(lambda v: "(none)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    cats = [str(v) for v in order if str(v) in set(df["cat"])] + sorted(set(df["cat"]) - {str(v) for v in order})
    if len(cats) < 2:
        return None, ""
    y = df["y"].to_numpy(dtype=float)
    with _rc():
        fig, ax = _fixed_axes(6.6, 3.8, right=1.3)
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
            for status in ("completed", "stopped", "running", "error", "diverged"):
                m = (g["status"] == status).to_numpy()
                if not m.any():
                    continue
                if status in _BAD_STATUSES:
                    ax.scatter(jit[m], np.full(m.sum(), worst), marker="x", s=30, color=_STATUS_COLOURS[status],
                               zorder=3, clip_on=False, label=status)
                else:
                    ax.scatter(jit[m], gy[m], s=18, alpha=0.75, zorder=3,
                               facecolors=_STATUS_COLOURS[status] if status == "completed" else "none",
                               edgecolors=_STATUS_COLOURS[status], label=status)
        ax.boxplot([gg for gg in groups], positions=range(len(cats)), widths=0.5, showfliers=False,
                   medianprops={"color": "#263238"}, boxprops={"color": "#607d8b"}, whiskerprops={"color": "#607d8b"},
                   capprops={"color": "#607d8b"})
        if best_by:
            winner = (max if ctx.mode == "max" else min)(best_by, key=best_by.get)
            wi = cats.index(winner)
            ax.axvspan(wi - 0.45, wi + 0.45, color="#66bb6a", alpha=0.15, lw=0)
        ax.set_xticks(range(len(cats)), [_t(c if len(c) <= 14 else c[:13] + "…") for c in cats])
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
        png = _png(fig)
    caption = (f"{html.escape(ctx.col)} by {html.escape(name)} (categorical): a box and the trials of each value")
    if best_by:
        caption += f"; the best trial had {html.escape(name)} = {_e(winner)} (green)."
    caption += " Hollow points: stopped early; × at the edge: diverged or failed."
    return png, caption


def _section_goldilocks(ctx: _Context) -> str:
    if ctx.trials.empty or not ctx.params:
        return _section("goldilocks", '<p class="note">No searched hyperparameter took more than one value.</p>')
    names = list(ctx.params)
    numeric = [n for n in names if ctx.params[n]["kind"] == "numeric"]
    categorical = [n for n in names if ctx.params[n]["kind"] != "numeric"]
    figs, skipped = [], []
    for i, n in enumerate(numeric + categorical):
        if i >= MAX_PARAM_PLOTS:
            skipped.append(n)
            continue
        p = ctx.params[n]
        png, cap = (_goldilocks_numeric(ctx, n, p["log"]) if p["kind"] == "numeric"
                    else _goldilocks_categorical(ctx, n, p["values"]))
        if png is not None:
            figs.append(_figure(png, f"Goldilocks plot of {n}", cap))
    inner = ('<p>One plot per searched hyperparameter: the metric against the value. For a numeric one, the red '
             "regions are values where every trial was clearly worse than the best (too low, too high) and the green "
             "band is where the good trials were; other hyperparameters varied at the same time, so a bad trial inside "
             "the sweet spot can be another one's fault.</p>")
    inner += '<div class="grid">' + "".join(figs) + "</div>"
    if skipped:
        inner += f'<p class="note">Not plotted (limit {MAX_PARAM_PLOTS}): {_e(", ".join(skipped))}.</p>'
    return _section("goldilocks", inner)


# -- parallel coordinates ---------------------------------------------------------------------------


def _section_parallel(ctx: _Context) -> str:
    t = ctx.trials
    names = list(ctx.params)[:MAX_PARAM_PLOTS]
    if t.empty or not names:
        return _section("parallel", '<p class="note">No searched hyperparameter took more than one value.</p>')
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    axes_data: list[tuple[str, np.ndarray, list[float], list[str]]] = []
    NA = -0.1
    for n in names:
        p = ctx.params[n]
        s = t[f"hp_{n}"]
        if p["kind"] == "numeric":
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            log = p["log"] and np.nanmin(v) > 0 if np.isfinite(v).any() else False
            f = np.log10(v) if log else v
            lo, hi = np.nanmin(f), np.nanmax(f)
            pos = np.where(np.isfinite(f), (f - lo) / ((hi - lo) or 1.0), NA)
            distinct = np.unique(v[np.isfinite(v)])
            if len(distinct) <= 8:  # a choice of a few numbers: label each one
                ticks = [float(q) for q in ((np.log10(distinct) if log else distinct) - lo) / ((hi - lo) or 1.0)]
                labels = [_fmt(float(d)) for d in distinct]
            else:
                ticks = [0.0, 0.5, 1.0]
                inv = (lambda q: 10 ** (lo + q * (hi - lo))) if log else (lambda q: lo + q * (hi - lo))
                labels = [_fmt(float(inv(q))) for q in ticks]
        else:
            cats_in = [str(c) for c in p["values"]] or []
            present = s.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
            cats = [c for c in cats_in if c in set(present.dropna())] + sorted(set(present.dropna()) - set(cats_in))
            where = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
            pos = present.map(lambda c: where.get(c, NA) if c is not None else NA).to_numpy(dtype=float)
            ticks, labels = list(where.values()), [c if len(c) <= 12 else c[:11] + "…" for c in cats]
        if (pos == NA).any():
            ticks, labels = ticks + [NA], labels + ["n/a"]
        axes_data.append((n, pos, ticks, labels))
    y = ctx.trials[ctx.col].to_numpy(dtype=float).copy()
    y[t["status"].isin(_BAD_STATUSES).to_numpy()] = np.nan
    fin = y[np.isfinite(y)]
    if len(fin):  # the colour scale ends at the best trial; the worst 2% are clipped to its other end
        if ctx.mode == "min":
            lo, hi = float(fin.min()), float(np.percentile(fin, 98))
        else:
            lo, hi = float(np.percentile(fin, 2)), float(fin.max())
    else:
        lo, hi = 0.0, 1.0
    ypos = np.where(np.isfinite(y), (np.clip(y, lo, hi) - lo) / ((hi - lo) or 1.0), NA)
    mticks = [0.0, 0.5, 1.0]
    axes_data.append((ctx.col, ypos, mticks + ([NA] if (ypos == NA).any() else []),
                      [_fmt(lo + q * (hi - lo)) for q in mticks] + (["no result"] if (ypos == NA).any() else [])))
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
    with _rc():
        fig = _new_figure(max(8.0, 1.5 * k + 2), 4.6)
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
                ax.text(j + 0.03, tk, _t(lab), fontsize=7, va="center", ha="left", color="#263238",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        ax.set_xticks(xs, [a[0] for a in axes_data], rotation=0)
        ax.set_xlim(-0.2, k - 0.5)
        ax.set_ylim(NA - 0.06, 1.06)
        ax.set_yticks([])
        for side in ("left", "top", "right"):
            ax.spines[side].set_visible(False)
        norm = Normalize(lo, hi)
        sm = ScalarMappable(norm=norm, cmap=cmap if ctx.mode == "max" else cmap.reversed())
        fig.colorbar(sm, ax=ax, label=ctx.col, fraction=0.03, pad=0.01)
        if len(sel):
            ax.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0, 1.08))
        png = _png(fig)
    caption = (f"One line per trial ({len(t)}) through its hyperparameters (log axes in log scale) and its "
               f"{html.escape(ctx.col)} (last axis); colour: the metric, brighter is better; red: diverged or failed "
               "trials (\"no result\"); a conditional hyperparameter that did not apply sits at n/a. The selected "
               "trial is the thick red line.")
    return _section("parallel", _figure(png, "parallel coordinates", caption))


# -- table ------------------------------------------------------------------------------------------


def _section_trials(ctx: _Context) -> str:
    r = ctx.ranked
    if r.empty:
        return _section("trials", '<p class="note">No trials recorded.</p>')
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
                cells.append(f'<td class="tid">{star}{_e(v)}</td>')
            elif c == "status":
                cells.append(f'<td class="{_status_class(v)}">{_e(v)}</td>')
            elif c == "diagnosis_reason":
                cells.append(f'<td class="reason">{_e(v)}</td>')
            elif c == "error":
                text = _fmt(v)
                short = text if len(text) <= 300 else text[:300] + "…"
                title = html.escape(text[:2000], quote=True)
                cells.append(f'<td class="err" title="{title}">{html.escape(short)}</td>')
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                cells.append(f'<td class="num">{_e(v)}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        cls = ' class="sel"' if bool(row.get("is_selected")) else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    note = ""
    if len(r) > TABLE_MAX_ROWS:
        note = f'<p class="note">The best {TABLE_MAX_ROWS} of {len(r)} trials; every trial is in trials.parquet.</p>'
    inner = (f"<p>Every trial, best first by {html.escape(ctx.col)} (diverged and failed trials last; ★ the selected "
             "one). <i>stop reason</i> says what ended it; <i>diagnosis</i> reads its learning curve.</p>" + note
             + f'<div class="scroll"><table class="trials">{head}{"".join(body)}</table></div>')
    return _section("trials", inner)
