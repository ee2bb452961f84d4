"""Reading runs back: one run directory (:func:`load`) or many as one (:func:`load_many`),
from a local path or a storage URI."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .files import utc_timestamp
from .tables import REFIT_EPOCHS

__all__ = ["Run", "Runs", "load", "load_many", "iter_hp_columns", "score_line", "score_line_of"]


@dataclass(frozen=True)
class Run:
    """A run directory loaded into pandas (see :func:`load`).

    ``path`` is a :class:`~pathlib.Path`, or a :class:`~orchestrator.storage.Location` for a run
    read from a URI (``str(path)`` is the URI).
    """

    path: Any
    info: dict[str, Any]
    trials: pd.DataFrame
    epochs: pd.DataFrame
    events: pd.DataFrame
    # the refit's epochs (final: {refit: train+val}, RUN_DIR/refit_epochs.parquet); empty without a refit
    refit_epochs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def best(self) -> pd.Series | None:
        """The selected trial's row of :attr:`trials` (hyperparameters as ``hp_*``), or None."""
        if self.trials.empty or "is_selected" not in self.trials:
            return None
        rows = self.trials[self.trials["is_selected"].fillna(False).astype(bool)]
        return None if rows.empty else rows.iloc[0]

    @property
    def best_config(self) -> dict[str, Any]:
        """The selected trial's hyperparameters (``{}`` when none was selected)."""
        return dict((self.info.get("selected") or {}).get("config") or {})

    @property
    def test_metrics(self) -> dict[str, float]:
        """The selected model's score on the test split (read once, at the end of the run)."""
        sel = self.info.get("selected") or {}
        return {k: v for k, v in sel.items() if k.startswith("test_")}

    @property
    def test_line(self) -> str:
        """What ``sweep run`` printed of the one test score (:func:`score_line_of`); empty when none was selected."""
        return score_line_of(self.info) if self.info.get("selected") else ""

    @property
    def status(self) -> str:
        return str(self.info.get("status", "unknown"))

    def model(self) -> Any:
        """The exported model (:func:`orchestrator.load_model`): ``.predict(DataFrame)``, ``.keras_model``."""
        from ..serving import load_model

        return load_model(self.path)

    def _repr_html_(self) -> str:  # a notebook shows a run as its selected trial and the tables' sizes
        import html

        sel = self.info.get("selected") or {}
        metric = next((k for k in sel if k.startswith("best_") and k != "best_epoch"), None)
        rows = [("run", self.info.get("run_id")), ("status", self.status),
                ("trials", len(self.trials)), ("epochs", len(self.epochs))]
        if sel:
            rows += [("selected", sel.get("trial_id")), (metric or "best", sel.get(metric)),
                     *self.test_metrics.items()]
        body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


def score_line(test_metrics: dict[str, float | None], refit: str | None = "none", no_test: str | None = None) -> str:
    """What ``sweep run`` says of the one test evaluation: ``test (once): test_accuracy=0.9500 ...``;
    ``test (once, refit on train+val): ...`` when the model scored is the refit one; ``test (once):
    none (data.split.test is 0)`` when there was no test split (``no_test``: why)."""
    head = "test (once)" if refit in (None, "none") else f"test (once, refit on {refit})"
    if no_test:
        return f"{head}: none ({no_test})"
    return f"{head}: " + " ".join(f"{k}={v:.4f}" for k, v in test_metrics.items() if v is not None)


def score_line_of(info: dict[str, Any]) -> str:
    """:func:`score_line` of a finished run, from its run.json: the selected trial's ``test_*``
    figures and ``refit``, and whether the run had a test split (``data.rows_test``)."""
    sel = info.get("selected") or {}
    metrics = {k: v for k, v in sel.items() if k.startswith("test_") and isinstance(v, (int, float))
               and math.isfinite(v)}
    no_test = None
    if (info.get("data") or {}).get("rows_test") == 0:
        split = (((info.get("spec") or {}).get("data") or {}).get("split") or {})
        no_test = "data.split.test is 0" if split.get("test") == 0 else "the test split has no rows"
    return score_line(metrics, sel.get("refit") or "none", no_test)


def load(run_dir: Any) -> Run:
    """Load a run directory's run.json and tables: a local path, or a URI (``s3://``, ``gs://``, ``file://``)."""
    from ..storage import Location, is_uri, resolve

    if isinstance(run_dir, Location) or is_uri(str(run_dir)):
        return _read_remote_run(run_dir if isinstance(run_dir, Location) else resolve(str(run_dir), check=False))
    p = Path(run_dir)
    info = _run_json(Path(p, "run.json").read_text(encoding="utf-8"))
    def _read(name: str) -> pd.DataFrame:
        f = p / name
        return pd.read_parquet(f) if f.exists() else pd.DataFrame()
    return Run(p, info, _read("trials.parquet"), _read("epochs.parquet"), _read("events.parquet"),
               _read(REFIT_EPOCHS))


def _run_json(text: str) -> dict[str, Any]:
    """A run.json's contents; ValueError naming the file when it is not a JSON object."""
    try:
        info = json.loads(text)
    except ValueError as e:
        raise ValueError(f"run.json: {e}") from None
    if not isinstance(info, dict):
        raise ValueError(f"run.json: not a JSON object but a {type(info).__name__}")
    return info


def _read_remote_run(loc: Any) -> Run:
    info = _run_json((loc / "run.json").read_text())

    def _read(name: str) -> pd.DataFrame:
        f = loc / name
        return pd.read_parquet(f.path, filesystem=f.fs) if f.is_file() else pd.DataFrame()
    return Run(loc, info, _read("trials.parquet"), _read("epochs.parquet"), _read("events.parquet"),
               _read(REFIT_EPOCHS))


def _remote_run_dirs(loc: Any) -> list[Any]:
    """The run directories at or below a URI location (one listing), as :func:`load_many` finds them locally."""
    if (loc / "run.json").is_file():
        return [loc]
    dirs = []
    for rel in loc.walk_files():
        parts = rel.split("/")
        if parts[-1] != "run.json" or any(d.startswith(("_", ".")) for d in parts[:-1]):
            continue
        dirs.append(parts[:-1])
    found = []
    for parts in sorted(dirs, key=len):  # a run directory's own subdirectories hold no runs
        if parts and not any(parts[:len(f)] == f for f in found):
            found.append(parts)
    out = []
    for parts in found:
        d = loc
        for part in parts:
            d = d / part
        out.append(d)
    return out


def iter_hp_columns(df: pd.DataFrame) -> Iterable[str]:
    """The ``hp_*`` columns of a trials frame."""
    return (c for c in df.columns if c.startswith("hp_"))


@dataclass(frozen=True)
class Runs:
    """Many run directories loaded as one (see :func:`load_many`).

    ``runs`` has one row per run (``run_id, name, status, strategy, path, started_at, ended_at,
    metric, mode, trials, selected_trial, selected_value, test_*`` and the ``compute`` figures);
    ``trials``, ``epochs`` and ``events`` are the runs' tables stacked (each row keeps its
    ``run_id``; a hyperparameter one run did not have is null in its rows).
    """

    paths: list[Any]  # Path, or Location for runs read from a URI
    runs: pd.DataFrame
    trials: pd.DataFrame
    epochs: pd.DataFrame
    events: pd.DataFrame


def load_many(sources: str | Path | Iterable[str | Path]) -> Runs:
    """Load many run directories at once: a nightly history, or runs to compare in a notebook.

    Args:
        sources: one or more of: a run directory (it holds ``run.json``); a directory of run
            directories, searched at any depth (``results/``, ``nightly/2026-11-*/``), never
            inside a run directory; a glob pattern (``results/quickstart-*``; ``**`` allowed).

    Returns:
        :class:`Runs`, ordered by start time. Raises ``FileNotFoundError`` when no run directory
        is found, and whatever :func:`load` raises for an unreadable one.
    """
    paths = _run_dirs(sources)
    loaded = [load(p) for p in paths]
    runs = pd.DataFrame([_run_row(r) for r in loaded])
    order = runs.sort_values(["started_at", "run_id"], na_position="last", kind="stable").index
    runs = runs.loc[order].reset_index(drop=True)
    loaded = [loaded[i] for i in order]
    return Runs([r.path for r in loaded], runs, _stack(loaded, "trials"), _stack(loaded, "epochs"),
                _stack(loaded, "events"))


def _run_dirs(sources: str | Path | Iterable[str | Path]) -> list[Any]:
    """The run directories :func:`load_many` reads (local Paths, resolved, then storage Locations)."""
    import glob as _glob

    if isinstance(sources, (str, Path)):
        sources = [sources]
    found: list[Path] = []

    def _walk(root: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(root):
            if "run.json" in filenames:
                found.append(Path(dirpath))
                dirnames[:] = []  # a run directory's own subdirectories (tune/) hold no runs
            else:  # staging and hidden directories (a night in progress) hold no finished runs
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))

    from ..storage import Location, is_uri, resolve

    remote: list[Any] = []
    for src in sources:
        if isinstance(src, Location) or is_uri(str(src)):
            loc = src if isinstance(src, Location) else resolve(str(src), check=False)
            if loc.name == "run.json" and loc.is_file():
                remote.append(loc.parent)
            elif loc.is_dir():
                remote.extend(_remote_run_dirs(loc))
            else:
                raise FileNotFoundError(f"{src}: not a directory or a run.json (glob patterns need a local path)")
            continue
        p = Path(src)
        if p.is_dir():
            _walk(p)
        elif any(ch in str(src) for ch in "*?["):
            for match in sorted(_glob.glob(str(src), recursive=True)):
                if Path(match).is_dir():
                    _walk(Path(match))
        elif p.is_file() and p.name == "run.json":
            found.append(p.parent)
        else:
            raise FileNotFoundError(f"{src}: not a directory, a run.json or a glob pattern")
    paths: list[Any] = list(dict.fromkeys([*(p.resolve() for p in found), *remote]))
    if not paths:
        raise FileNotFoundError(f"no run directory (with a run.json) in {', '.join(map(str, sources))}")
    return paths


def _run_row(r: Run) -> dict[str, Any]:
    """One run's row of :attr:`Runs.runs`, from its run.json."""
    info = r.info if isinstance(r.info, dict) else {}
    budget = info.get("budget") or {}
    sel = info.get("selected") or {}
    metric = budget.get("metric")
    row: dict[str, Any] = {
        "run_id": info.get("run_id") or r.path.name, "name": info.get("name"), "status": info.get("status"),
        "strategy": info.get("strategy"), "path": str(r.path),
        "started_at": utc_timestamp(info.get("started_at")), "ended_at": utc_timestamp(info.get("ended_at")),
        "metric": metric, "mode": budget.get("mode"), "trials": len(r.trials),
        "selected_trial": sel.get("trial_id"),
        "selected_value": sel.get(f"best_{metric}") if metric else None,
    }
    row.update({k: v for k, v in sel.items() if k.startswith("test_")})
    row.update({k: v for k, v in (info.get("compute") or {}).items() if isinstance(v, (int, float))})
    return row


def _stack(loaded: list[Run], name: str) -> pd.DataFrame:
    """The runs' ``name`` tables (trials, epochs, events) one under the other."""
    frames = [getattr(r, name) for r in loaded]
    frames = [f for f in frames if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
