"""One front door: ``sweep run`` is a thin layer over ``orchestrator.run``, which parses the options,
checks MLflow and hands the dashboard choice to the runner as an argument; one name per operation.

The runner is replaced by a stand-in that writes a run directory as a run does (no Ray, no TensorFlow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import orchestrator
import orchestrator.execution
import orchestrator.tracking
from orchestrator.cli import main
from orchestrator.errors import UsageError
from orchestrator.execution import RunResult
from orchestrator.results import write_json, write_parquet

ROOT = Path(__file__).resolve().parents[2]


class Runner:
    """Stands in for ``run_sweep`` / ``resume_sweep``: writes a finished run directory (run.json with
    its counts, selected trial and model; trials; epochs) and keeps the keywords it was called with."""

    def __init__(self, selected: bool = True) -> None:
        self.selected = selected
        self.extra: dict[str, Any] = {}  # more run.json keys (a select rule's choice, a no-result reason)
        self.calls: list[dict[str, Any]] = []

    def run_dir(self, out: Any, name: str) -> Path:
        run_dir = Path(str(out)) / f"{name}-20260101-000000-abcd"
        run_dir.mkdir(parents=True, exist_ok=True)
        sel = {"trial_id": "t1", "config": {"learning_rate": 0.01}, "best_val_accuracy": 0.91234,
               "best_epoch": 2, "test_accuracy": 0.875, "test_loss": 0.41} if self.selected else None
        info = {"run_id": run_dir.name, "name": name, "status": "complete" if sel else "no_result",
                "started_at": 1000.0, "budget": {"metric": "val_accuracy", "mode": "max"},
                "counts": {"stopped": 2, "completed": 1} if sel else {"diverged": 3}, "selected": sel,
                "model": {"path": "model", "file": "model/model.keras"} if sel else {"path": None}, **self.extra}
        write_json(info, run_dir / "run.json")
        write_parquet(pd.DataFrame([{"run_id": run_dir.name, "trial_id": "t1", "status": "completed",
                                     "is_selected": bool(sel)}]), run_dir / "trials.parquet")
        write_parquet(pd.DataFrame([{"run_id": run_dir.name, "trial_id": "t1", "epoch": 1}]),
                      run_dir / "epochs.parquet")
        return run_dir

    def run_sweep(self, spec: Any, out: Any, **kw: Any) -> RunResult:
        self.calls.append({"env_dashboard": os.environ.get("SWEEP_DASHBOARD"), **kw})
        run_dir = self.run_dir(out, spec.name)
        return RunResult(run_dir, run_dir.name, "complete", None, None, {}, {})  # read back, not used

    def resume_sweep(self, run_dir: Any, **kw: Any) -> RunResult:
        self.calls.append(dict(kw))
        return RunResult(Path(run_dir), Path(run_dir).name, "complete", None, None, {}, {})


@pytest.fixture
def runner(monkeypatch) -> Runner:
    fake = Runner()
    monkeypatch.setattr(orchestrator.execution, "run_sweep", fake.run_sweep)
    monkeypatch.setattr(orchestrator.execution, "resume_sweep", fake.resume_sweep)
    monkeypatch.delenv("SWEEP_DASHBOARD", raising=False)
    return fake


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ndata: {dataset: digits}\n", encoding="utf-8")
    return f


def _run_dir(tmp_path: Path) -> Path:
    return tmp_path / "out" / "s-20260101-000000-abcd"


def test_sweep_run_prints_the_run_read_back(spec_file, tmp_path, runner, capsys):
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    run_dir = _run_dir(tmp_path)
    assert lines[0] == "run s-20260101-000000-abcd: 1 completed, 2 stopped"
    assert lines[1] == "selected t1: val_accuracy=0.9123; test (once): test_accuracy=0.8750 test_loss=0.4100"
    assert lines[2].startswith(f"model: {run_dir}/model/model.keras ")
    assert lines[3:] == [f"results: {run_dir}"]


def test_orchestrator_run_ends_with_the_lines_sweep_run_prints(spec_file, tmp_path, runner, capsys):
    """From Python (a script, a notebook) the run says how it ended as the command does: it printed
    the trial lines and the compute line, then nothing of the selected trial or where it went."""
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out")]) == 0
    by_command = capsys.readouterr().out.splitlines()
    run = orchestrator.run(str(spec_file), out=str(tmp_path / "out"))
    by_api = capsys.readouterr().out.splitlines()
    assert by_api == by_command and by_api[1].startswith("selected t1: val_accuracy=0.9123; test (once)")
    assert by_api[-1] == f"results: {run.path}"


def test_a_run_without_a_result_exits_1_naming_its_trials_table(spec_file, tmp_path, runner, capsys):
    runner.selected = False
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == ["run s-20260101-000000-abcd: 3 diverged"]
    assert err.splitlines() == ["sweep: error: no trial produced a usable result (every trial diverged or "
                                f"failed); see {_run_dir(tmp_path) / 'trials.parquet'}"]


def test_a_select_rule_says_why_it_chose_the_selected_trial(spec_file, tmp_path, runner, capsys):
    runner.extra = {"select": {"rule": "within", "selected": "t1",
                               "why": "lowest params (610) among the 2 trial(s) within 0.01 of the best val_accuracy"}}
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("selected t1: val_accuracy=0.9123")
    assert lines[2] == "  chosen: lowest params (610) among the 2 trial(s) within 0.01 of the best val_accuracy"


def test_no_feasible_trial_exits_1_naming_the_constraint(spec_file, tmp_path, runner, capsys):
    runner.selected = False
    runner.extra = {"no_result_reason": "latency_ms <= 1e-06 ruled out 2 of 2 trials; closest: t1 (0.61)"}
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["sweep: error: no feasible trial: latency_ms <= 1e-06 ruled out 2 of 2 trials; "
                                f"closest: t1 (0.61); see {_run_dir(tmp_path) / 'trials.parquet'}"]


def test_the_dashboard_is_an_argument_not_an_environment_variable(spec_file, tmp_path, runner):
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out"), "--dashboard"]) == 0
    assert main(["run", str(spec_file), "--out", str(tmp_path / "o2")]) == 0
    orchestrator.run(str(spec_file), out=str(tmp_path / "o3"), dashboard=True)
    assert [c["dashboard"] for c in runner.calls] == [True, False, True]
    assert [c["env_dashboard"] for c in runner.calls] == [None, None, None]
    assert "SWEEP_DASHBOARD" not in os.environ


def test_the_budget_is_parsed_once_for_the_command_and_the_api(spec_file, tmp_path, runner, capsys):
    orchestrator.run(str(spec_file), out=str(tmp_path / "o1"), budget=90)
    orchestrator.run(str(spec_file), out=str(tmp_path / "o2"), budget="1.5m")
    assert main(["run", str(spec_file), "--out", str(tmp_path / "o3"), "--budget", "90s"]) == 0
    assert all(85 < c["budget_s"] <= 90 for c in runner.calls), runner.calls
    # the same refusal, named as the caller spelled the option
    with pytest.raises(UsageError) as e:
        orchestrator.run(str(spec_file), out=str(tmp_path / "o4"), budget="5x")
    assert str(e.value) == "budget: expected seconds or a duration such as 300, 90s, 5m, 1.5h; got '5x'"
    capsys.readouterr()
    assert main(["run", str(spec_file), "--out", str(tmp_path / "o4"), "--budget", "5x"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "sweep: error: --budget: expected seconds or a duration such as 300, 90s, 5m, 1.5h; got '5x'"]
    with pytest.raises(UsageError, match="^budget: at most a week"):
        orchestrator.run(str(spec_file), budget=8 * 24 * 3600.0)
    assert len(runner.calls) == 3 and not (tmp_path / "o4").exists()


@pytest.mark.parametrize("option, value, said", [
    ("num_samples", "abc", "num_samples: input should be a valid integer, got 'abc'"),
    ("seed", "x", "seed: input should be a valid integer, got 'x'"),
    ("max_concurrent", 1.5, "max_concurrent: input should be a valid integer, got 1.5"),
    ("num_samples", True, "num_samples: input should be a valid integer, got True"),
    ("out", 123, "out: expected a folder's path or a storage URI, got 123 (int)"),
])
def test_a_bad_option_value_is_a_usage_error_naming_it(spec_file, runner, option, value, said):
    """What ``--num-samples abc`` tells the command line, the API tells as a UsageError, never a
    bare ValueError or TypeError; nothing runs."""
    with pytest.raises(UsageError) as e:
        orchestrator.run(str(spec_file), **{option: value})
    assert str(e.value) == said
    assert not runner.calls


def test_load_of_a_folder_that_is_no_run_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a run directory \\(no run.json\\)"):
        orchestrator.load(str(tmp_path / "nothing"))


def test_mlflow_is_checked_and_logged_once_by_the_api(spec_file, tmp_path, runner, capsys, monkeypatch):
    logged: list[tuple[str, str]] = []

    def log_run(run: Any, uri: str) -> str:
        logged.append((run.info["run_id"], uri))
        return "parent-123"

    monkeypatch.setattr(orchestrator.tracking, "require_mlflow", lambda option="--mlflow": None)
    monkeypatch.setattr(orchestrator.tracking, "log_run", log_run)
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out"), "--mlflow", "file:./mlruns"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "mlflow: file:./mlruns (parent run parent-123)"
    assert lines[1] == "run s-20260101-000000-abcd: 1 completed, 2 stopped"
    run = orchestrator.run(str(spec_file), out=str(tmp_path / "o2"), mlflow="file:./other")
    assert (run.mlflow_uri, run.mlflow_parent) == ("file:./other", "parent-123")
    assert logged == [("s-20260101-000000-abcd", "file:./mlruns"), ("s-20260101-000000-abcd", "file:./other")]
    # without a tracking URI nothing is logged
    assert orchestrator.run(str(spec_file), out=str(tmp_path / "o3")).mlflow_parent is None
    assert len(logged) == 2


def test_sweep_resume_goes_through_the_api_and_prints_as_run_does(tmp_path, runner, capsys):
    run_dir = runner.run_dir(tmp_path / "out", "s")
    assert main(["resume", str(run_dir), "--address", "ray://head:10001"]) == 0
    assert runner.calls == [{"address": "ray://head:10001"}]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "run s-20260101-000000-abcd: 1 completed, 2 stopped" and lines[-1] == f"results: {run_dir}"


def test_the_run_read_back_says_what_the_runner_returned(tmp_path, runner):
    run = orchestrator.load(runner.run_dir(tmp_path, "s"))
    result = run.result
    assert (result.run_id, result.status, result.selected, result.metric) == (
        "s-20260101-000000-abcd", "complete", "t1", "val_accuracy")
    assert result.best_value == 0.91234 and result.test_metrics == {"test_accuracy": 0.875, "test_loss": 0.41}
    assert result.counts == {"stopped": 2, "completed": 1}
    assert result.model == f"{tmp_path / result.run_id}/model/model.keras"


def test_one_name_per_operation():
    import orchestrator.compare
    import orchestrator.results
    import orchestrator.spec

    assert orchestrator.results.load.__name__ == "load" and orchestrator.results.load_many.__name__ == "load_many"
    for gone in ("read_run", "read_runs"):
        assert not hasattr(orchestrator.results, gone)
    for gone in ("parse_budget", "parse_strategies"):
        assert not hasattr(orchestrator.compare, gone)
    # compare uses the spec's names, not a list of its own
    assert getattr(orchestrator.compare, "STRATEGIES", None) is orchestrator.spec.STRATEGIES
    assert not hasattr(orchestrator.spec, "FAMILIES")
    assert set(orchestrator.spec.FAMILY_HYPERPARAMETERS) == {"mlp", "cnn"}


def test_the_strategies_a_spec_accepts_are_the_registered_ones():
    """spec.STRATEGIES (the spec's `strategy` values, what `sweep compare --strategies` takes) and the
    execution registry name the same strategies. The registry is read in a fresh process, so this
    process never imports Ray; if importing it pulled Ray in, the check is skipped."""
    code = ("import json, sys\n"
            "from orchestrator.execution import strategies\n"
            "print(json.dumps([sorted(strategies.STRATEGIES), 'ray' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    registered, loaded_ray = json.loads(done.stdout.strip().splitlines()[-1])
    if loaded_ray:
        pytest.skip("importing the strategy registry imports Ray; a unit test must not")
    from orchestrator.spec import STRATEGIES

    assert sorted(STRATEGIES) == registered
