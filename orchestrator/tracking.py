"""MLflow: a finished run logged as a parent run with one child run per trial, from the driver.

``sweep run --mlflow URI`` (or ``tracking: {mlflow: URI}`` in the spec, or
``orchestrator.run(..., mlflow=URI)``) logs, once the run directory is written:

- the parent run (named after the run id, in the experiment named after the sweep): the searched
  space and the run's settings as parameters (with several objectives or constraints also
  ``objectives``, ``constraints`` and ``select.rule``), the selected trial's validation and test
  scores and its model's costs as metrics (and ``front_size``, ``feasible_trials``, the front's
  trial ids as the tag ``sweep.front``), ``run.json`` as an artifact, and the exported model
  (``model/``) as artifacts;
- one child run per trial (tagged ``mlflow.parentRunId``): its hyperparameters as parameters,
  its best scores, its model's costs (``params``, ``model_bytes``, ``latency_ms``, ...) and, with
  a front, ``pareto_rank`` and ``feasible`` (1 or 0) as metrics, every per-epoch figure of
  ``epochs.parquet`` at its epoch as the step, its status, stop reason and diagnosis as tags, the
  selected one tagged ``selected`` and holding the exported model too.

Everything is read from the run's own tables, so workers never talk to the tracking server and a
run can be logged again later (:func:`log_run` on any run directory). Trials that ended well are
``FINISHED``, stopped ones too (a scheduler's stop is a normal end, its reason in ``stop_reason``),
errors and divergences ``FAILED``.

MLflow is an optional extra (``pip install 'orchestrator[mlflow]'``); :func:`require_mlflow` says
so in one line before a run starts.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from .errors import UsageError
from .results.front import bound_text, constraints_of, cost_names, has_front, objectives_of

__all__ = ["require_mlflow", "log_run", "EPOCH_KEYS"]

INSTALL = "pip install 'orchestrator[mlflow]' (or: pip install mlflow)"
EPOCH_KEYS = ("run_id", "trial_id", "epoch", "diverged")  # epochs.parquet columns that are not figures
_STATUS = {"completed": "FINISHED", "stopped": "FINISHED", "error": "FAILED", "diverged": "FAILED",
           "running": "KILLED", "infeasible": "FINISHED"}  # infeasible: a normal end, before any epoch
_BATCH = 900  # MLflow takes at most 1000 metrics per log_batch


def require_mlflow(option: str = "--mlflow") -> None:
    """Refuse to start a run whose results cannot be logged: MLflow missing is one line naming ``option``."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UsageError(option, f"MLflow is not installed; {INSTALL}") from None


def _allow_file_store(uri: str) -> None:
    """A local directory as the tracking store (``file:./mlruns``, ``./mlruns``): MLflow 3 keeps it
    in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``; the user asked for it by naming it."""
    if uri.startswith("file:") or "://" not in uri and ":" not in uri.split("/")[0]:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def log_run(run: Any, uri: str, experiment: str | None = None) -> str:
    """Log a run directory (:class:`orchestrator.results.Run`) to the MLflow tracking ``uri``.

    Returns:
        The parent run's MLflow id.

    Raises:
        UsageError: key ``--mlflow`` when MLflow is missing or the tracking store refuses.
    """
    require_mlflow()
    _allow_file_store(uri)
    from mlflow.tracking import MlflowClient

    info = run.info
    name = experiment or (info.get("spec") or {}).get("name") or "sweep"
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(name)
        exp_id = found.experiment_id if found is not None else client.create_experiment(name)
    except Exception as e:  # noqa: BLE001 - a store that cannot be reached or written
        from .errors import first_line

        raise UsageError("--mlflow", f"{uri}: {first_line(e)}") from None
    model_files = _model_files(run.path)
    pid = _log_parent(client, exp_id, run, model_files)
    for _, trial in run.trials.iterrows():
        _log_trial(client, exp_id, pid, run, trial, model_files)
    client.set_terminated(pid, "FINISHED" if info.get("status") == "complete" else "FAILED",
                          end_time=int(1000 * float(info.get("ended_at") or time.time())))
    return pid


def _log_parent(client: Any, exp_id: str, run: Any, model_files: list[str]) -> str:
    """The sweep's run: its settings, the selected trial's scores, run.json and the exported model."""
    from mlflow.entities import Metric, Param, RunTag

    info, spec = run.info, run.info.get("spec") or {}
    started = int(1000 * float(info.get("started_at") or time.time()))
    parent = client.create_run(exp_id, start_time=started, run_name=str(info.get("run_id")),
                               tags={"sweep.run_id": str(info.get("run_id")), "sweep.status": str(info.get("status")),
                                     "sweep.strategy": str(info.get("strategy", "parallel"))})
    pid = parent.info.run_id
    selected = info.get("selected") or {}
    params = {"search.algorithm": (spec.get("search") or {}).get("algorithm"),
              "scheduler.type": (spec.get("scheduler") or {}).get("type"),
              "metric": (spec.get("metric") or {}).get("name"), "trials": len(run.trials),
              "model.family": (spec.get("model") or {}).get("kind"), **_goal_params(info)}
    now = int(time.time() * 1000)
    costs = set(cost_names())
    metrics = [Metric(k, float(v), now, 0) for k, v in selected.items()
               if _number(v) and (k.startswith("test_") or k.startswith("best_") or k in costs)]
    if has_front(info):
        metrics += [Metric("feasible_trials", float(info.get("feasible_count") or 0), now, 0),
                    Metric("front_size", float(len(info.get("front") or [])), now, 0)]
    tags = [RunTag("sweep.selected", str(selected.get("trial_id", "")))]
    if info.get("front"):  # the front's trial ids (an MLflow tag holds at most 5000 characters)
        tags.append(RunTag("sweep.front", ",".join(str(f.get("trial_id")) for f in info["front"])[:5000]))
    client.log_batch(pid, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items() if v is not None],
                     tags=tags)
    _log_file(client, pid, run.path, "run.json", "")
    for rel in model_files:
        _log_file(client, pid, run.path, rel, "model")
    return pid


def _log_trial(client: Any, exp_id: str, pid: str, run: Any, t: Any, model_files: list[str]) -> None:
    """One trial as a child run: hyperparameters, per-epoch figures at their epoch, status tags."""
    from mlflow.entities import Metric, Param, RunTag

    tid = str(t["trial_id"])
    now = int(time.time() * 1000)
    start = _millis(t.get("started_at"), now)
    child = client.create_run(exp_id, start_time=start, run_name=tid,
                              tags={"mlflow.parentRunId": pid, "sweep.run_id": str(run.info.get("run_id")),
                                    "sweep.trial_id": tid})
    cid = child.info.run_id
    hp = [Param(c.removeprefix("hp_"), str(t[c])) for c in run.trials.columns
          if c.startswith("hp_") and not _missing(t[c])]
    tags = [RunTag(f"sweep.{k}", str(t[k])) for k in ("status", "stop_reason", "diagnosis", "error")
            if k in t and not _missing(t[k])]
    if bool(t.get("is_selected")):
        tags.append(RunTag("sweep.selected", "true"))
    costs = set(cost_names())
    summary = [Metric(c, float(t[c]), now, 0) for c in run.trials.columns
               if (c.startswith(("best_", "test_")) and c != "best_epoch" or c in costs or c == "pareto_rank")
               and _number(t[c])]
    if "feasible" in t and not _missing(t["feasible"]):  # 1 feasible, 0 not (sortable, unlike a tag)
        summary.append(Metric("feasible", float(bool(t["feasible"])), now, 0))
    client.log_batch(cid, params=hp, tags=tags, metrics=summary)
    history = _history(run.epochs, tid, start)
    for i in range(0, len(history), _BATCH):
        client.log_batch(cid, metrics=history[i:i + _BATCH])
    if bool(t.get("is_selected")):
        for rel in model_files:
            _log_file(client, cid, run.path, rel, "model")
    client.set_terminated(cid, _STATUS.get(str(t["status"]), "FINISHED"), end_time=_millis(t.get("ended_at"), now))


def _goal_params(info: dict[str, Any]) -> dict[str, str]:
    """The run's objectives, constraints and select rule as parent-run parameters (none for a run
    with one objective and no constraint: its ``metric`` says it all)."""
    if not has_front(info):
        return {}
    sel = info.get("select") if isinstance(info.get("select"), dict) else {}
    return {"objectives": ", ".join(f"{n} ({m})" for n, m in objectives_of(info)),
            "constraints": "; ".join(bound_text(n, b) for n, b in constraints_of(info).items()) or "none",
            "select.rule": str(sel.get("rule", "best"))}


def _history(epochs: Any, tid: str, start: int) -> list[Any]:
    """A trial's per-epoch figures as MLflow metrics, the epoch as the step."""
    from mlflow.entities import Metric

    if epochs.empty:
        return []
    figures = [c for c in epochs.columns if c not in EPOCH_KEYS and _numeric(epochs[c])]
    out = []
    for _, e in epochs[epochs["trial_id"] == tid].sort_values("epoch").iterrows():
        elapsed = e.get("trial_elapsed_s")
        stamp = start + (0 if _missing(elapsed) else int(1000 * float(elapsed)))
        out += [Metric(c, float(e[c]), stamp, int(e["epoch"])) for c in figures if not _missing(e[c])]
    return out


def _model_files(path: Any) -> list[str]:
    from .serving import MODEL_DIR, MODEL_FILES

    return [f"{MODEL_DIR}/{n}" for n in MODEL_FILES if (path / MODEL_DIR / n).is_file()]


def _log_file(client: Any, run_id: str, root: Any, rel: str, artifact_path: str) -> None:
    """Log ``root/rel`` (a local path or a storage Location) as an artifact."""
    import tempfile
    from pathlib import Path

    src = root / rel
    if isinstance(src, Path):
        client.log_artifact(run_id, str(src), artifact_path or None)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(rel).name
        local.write_bytes(src.read_bytes())
        client.log_artifact(run_id, str(local), artifact_path or None)


def _numeric(col: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)


def _missing(v: Any) -> bool:
    try:
        return v is None or (isinstance(v, float) and math.isnan(v)) or bool(v != v)
    except (TypeError, ValueError):
        return False


def _number(v: Any) -> bool:
    import numbers

    import numpy as np

    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_)) and not _missing(v)


def _millis(ts: Any, default: int) -> int:
    """A pandas timestamp (or None) as MLflow's milliseconds."""
    if ts is None or _missing(ts):
        return default
    try:
        return int(ts.timestamp() * 1000)
    except AttributeError:
        return int(float(ts) * 1000)
