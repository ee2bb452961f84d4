"""The ``sweep`` commands that run without Ray: ``--help``, ``validate``, ``show``, and ``resume``'s refusals.

Driven through ``orchestrator.cli.main(argv)`` (which returns the exit code) and, for the import
check, a subprocess. Never ``sweep run``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.results import RunTables, write_json
from tests.helpers import assert_no_native_lines, run_cli

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "search_spaces").glob("*.yaml"))
BAD_DIR = ROOT / "tests" / "specs" / "bad"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    # rich wraps tables to the terminal width; give it room so cells are not cut to "…"
    monkeypatch.setenv("COLUMNS", "200")


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sweep: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_validate_every_shipped_spec(path, capsys):
    from orchestrator.decisions.space import count_trials
    from orchestrator.spec import load_spec

    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    n = count_trials(load_spec(path))
    assert f"{path}: ok: {n} trial{'' if n == 1 else 's'};" in out


@pytest.mark.parametrize("search, trials, note", [
    ("", "1 trial;", False),                            # nothing varies: one trial, not the default 16
    ("search: {num_samples: 4}\n", "4 trials;", True),  # asked for: repeats, said to differ in seeds only
])
def test_validate_a_spec_that_searches_nothing(tmp_path, capsys, search, trials, note):
    spec = tmp_path / "fixed.yaml"
    spec.write_text("name: fixed\ndata: {dataset: diabetes}\nparams: {learning_rate: 0.01, units: 32}\n" + search)
    assert main(["validate", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert f"ok: {trials} random search over nothing" in out
    said = [line for line in out.splitlines() if line.startswith("note: nothing is searched")]
    assert len(said) == (1 if note else 0), out
    if note:
        assert "the 4 trials train one configuration, differing only in their seeds" in said[0]


def test_a_searched_spec_keeps_the_default_sample_count(tmp_path, capsys):
    spec = tmp_path / "lr.yaml"
    spec.write_text("name: lr\ndata: {dataset: diabetes}\n"
                    "params: {learning_rate: {type: loguniform, low: 0.001, high: 0.1}}\n")
    assert main(["validate", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "ok: 16 trials; random search over learning_rate (loguniform)" in out
    assert "note:" not in out


def test_validate_quickstart_summary(capsys):
    assert main(["validate", str(ROOT / "search_spaces" / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok: 16 trials; random search over" in out
    assert "momentum (uniform)" in out and "learning_rate (loguniform)" in out
    assert "metric val_accuracy (max)" in out and "scheduler asha" in out


@pytest.mark.parametrize(
    "fname, key",
    [
        ("loguniform_low_zero.yaml", "params.learning_rate.low"),
        ("unknown_param_typo_learning_rat.yaml", "params.learning_rat"),
        ("data_target_column_missing.yaml", "data.target"),
        ("billion_laughs_anchors.yaml", ""),
        ("empty_file.yaml", ""),
        ("a_directory.yaml", ""),
    ],
)
def test_validate_bad_spec_is_one_line_and_exit_2(fname, key, capsys):
    assert main(["validate", str(BAD_DIR / fname)]) == 2
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert line.startswith(f"sweep: error: {fname}: {key}: " if key else f"sweep: error: {fname}: ")
    assert out == ""


def test_validate_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "nope.yaml" in line and "no such file" in line


def test_validate_without_a_file_is_a_usage_error(capsys):
    assert main(["validate"]) == 2
    assert _one_error_line(capsys.readouterr().err) == "sweep: error: FILE: missing (see 'sweep validate --help')"


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert _one_error_line(capsys.readouterr().err) == "sweep: error: no such command 'frobnicate' (see 'sweep --help')"


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("run", "validate", "show"):
        assert cmd in out


def test_offline_commands_import_neither_ray_nor_tensorflow():
    spec = ROOT / "search_spaces" / "quickstart.yaml"
    code = (
        "import sys, io, contextlib\n"
        "import orchestrator.spec, orchestrator.decisions.space, orchestrator.cli\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    codes = [orchestrator.cli.main(['--help']), orchestrator.cli.main(['validate', sys.argv[1]])]\n"
        "assert codes == [0, 0], (codes, buf.getvalue())\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'tensorflow', 'keras'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "[]"


def test_sweep_console_script_exit_codes():
    # the installed `sweep` entry point must exit non-zero on a bad spec (a shell user checks $?)
    runner = "import sys; from orchestrator.cli import entry; sys.argv = ['sweep', *sys.argv[1:]]; entry()"
    bad = subprocess.run([sys.executable, "-c", runner, "validate", str(BAD_DIR / "loguniform_low_zero.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("sweep: error: loguniform_low_zero.yaml: params.learning_rate.low: "
                                  "must be > 0 for a log scale, got 0")
    ok = subprocess.run([sys.executable, "-c", runner, "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "validate" in ok.stdout
    for r in (bad, ok):
        assert_no_native_lines(r.stdout + r.stderr, "the sweep console script")


# ------------------------------------------------------------------------------------------
# show
# ------------------------------------------------------------------------------------------


def test_show_on_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not a run directory" in line and str(tmp_path) in line


def test_show_on_a_run_with_an_unreadable_table(tmp_path, capsys):
    write_json({"run_id": "r", "status": "completed"}, tmp_path / "run.json")
    (tmp_path / "trials.parquet").write_bytes(b"not parquet at all")
    assert main(["show", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "cannot read" in line


def _fabricate_run(run_dir: Path, metric: str, mode: str, results: list[tuple[str, float, str]]) -> str:
    """A run directory as the runner writes it: run.json plus the Parquet tables."""
    tables = RunTables("demo-20250101-000000-abcd", metric, mode)
    for tid, best, optimizer in results:
        tables.trial_started(tid, {"optimizer": optimizer, "units": 32})
        # two epochs; the second is the best
        worse = best - 0.1 if mode == "max" else best + 0.1
        tables.epoch(tid, {"epoch": 1, metric: worse, "val_loss": 1.0})
        tables.epoch(tid, {"epoch": 2, metric: best, "val_loss": 0.5})
        tables.trial_ended(tid, "completed", "max_epochs")
    tables.selected = tables.select_best()
    tables.test_metrics = {"test_" + metric.removeprefix("val_"): 0.5}
    tables.flush(run_dir)
    write_json({"run_id": tables.run_id, "status": "completed",
                "budget": {"trials": len(results), "metric": metric, "mode": mode}}, run_dir / "run.json")
    return tables.selected


def _table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("│")]


def test_show_lists_trials_best_first_and_marks_the_selected(tmp_path, capsys):
    selected = _fabricate_run(tmp_path, "val_accuracy", "max", [
        ("trial_a", 0.80, "adam"), ("trial_b", 0.95, "sgd"), ("trial_c", 0.60, "rmsprop"), ("trial_d", 0.90, "adam"),
    ])
    assert selected == "trial_b"
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "run demo-20250101-000000-abcd" in out and "4 trials" in out
    rows = _table_rows(out)
    order = [next(t for t in ("trial_a", "trial_b", "trial_c", "trial_d") if t in r) for r in rows]
    assert order == ["trial_b", "trial_d", "trial_a", "trial_c"]
    assert "* trial_b" in rows[0]
    assert sum("* " in r for r in rows) == 1
    assert "0.95" in rows[0] and "sgd" in rows[0]


def test_show_min_metric_and_top(tmp_path, capsys):
    _fabricate_run(tmp_path, "val_mae", "min", [
        ("t1", 3.0, "adam"), ("t2", 1.5, "sgd"), ("t3", 2.0, "rmsprop"),
    ])
    assert main(["show", str(tmp_path), "--top", "2"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    assert len(rows) == 2
    assert "* t2" in rows[0] and "t3" in rows[1]



def test_show_lists_the_selected_trial_first_among_equal_scores(tmp_path, capsys):
    import pandas as pd

    _fabricate_run(tmp_path, "val_accuracy", "max", [("t1", 0.9, "adam"), ("t2", 0.9, "sgd"), ("t3", 0.5, "adam")])
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    trials["is_selected"] = trials["trial_id"] == "t2"  # a rule (select: within, ...) chose the second of two equals
    trials.to_parquet(tmp_path / "trials.parquet")
    assert main(["show", str(tmp_path), "--top", "1"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    assert len(rows) == 1 and "* t2" in rows[0]


def test_resume_refuses_a_babysitting_run_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    write_json({"run_id": "r", "status": "incomplete", "strategy": "babysit", "spec": {}}, run / "run.json")
    assert main(["resume", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "babysitting run; it cannot be resumed" in err[0]


def test_resume_refuses_what_it_cannot_resume(tmp_path, capsys):
    assert run_cli("resume", tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]


def test_validate_warns_of_a_large_regression_target(tmp_path, capsys):
    """House prices (~5e5) are learnt as they are: every trial of a user's sweep ended with the same
    MAE. validate says so (exit 0: the spec is valid); a target of the built-in scale is not warned of."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    sqft = rng.uniform(50, 300, 200)
    pd.DataFrame({"sqft": sqft, "price": 2500 * sqft + rng.normal(0, 3e4, 200)}).to_csv(tmp_path / "h.csv", index=False)
    spec = tmp_path / "h.yaml"
    spec.write_text("name: h\ndata: {path: h.csv, target: price, task: regression}\nmetric: val_mae\n")
    assert main(["validate", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert "ok: 1 trial;" in out
    (line,) = err.splitlines()
    assert line.startswith("warning: data.target 'price': the regression target is large (mean 4.") and "thousands" in line
    assert main(["validate", str(ROOT / "search_spaces" / "capacity.yaml")]) == 0  # diabetes: mean 152
    assert "warning" not in capsys.readouterr().err
