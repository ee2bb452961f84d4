"""The command line's front door refuses bad input in one line, exit code 2, before anything starts:

- a command line click cannot parse (a value of the wrong type, an unknown option, a missing
  argument) is one ``sweep: error:`` line naming the option, not click's usage box;
- ``--out`` never writes over a run directory's own files (``report``, ``predict``), and ``run
  --out`` refuses a file where the folder of run directories goes, before Ray starts;
- ``show --top`` below 1 and ``up --num-cpus 0`` (a runtime that can run no trial) are refused.

No Ray, no TensorFlow: refused commands never reach them, the runner is a fake.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest

import orchestrator.api
import orchestrator.report
from orchestrator.cli import main
from orchestrator.errors import UsageError
from orchestrator.options import check_not_run_file, usage_line
from orchestrator.results import write_json, write_parquet

ROOT = Path(__file__).resolve().parents[2]


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sweep: error: ") and "Traceback" not in err, err
    return lines[0]


def _sweep(*args: str) -> subprocess.CompletedProcess:
    """``sweep ARGS...`` as a user runs it: a fresh process, through the console script's entry."""
    code = "import sys; from orchestrator.cli import entry; sys.argv = ['sweep', *sys.argv[1:]]; entry()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


# -- click's own errors: one line ------------------------------------------------------------------


@pytest.mark.parametrize("args, line", [
    (["run", "--num-samples", "abc"], "sweep: error: --num-samples: input should be a valid integer"),
    (["run", "--frobnicate"], "sweep: error: --frobnicate: no such option (see 'sweep run --help')"),
    (["show"], "sweep: error: RUN_DIR: missing (see 'sweep show --help')"),
    (["show", "x", "--tpo", "3"], "sweep: error: --tpo: no such option; did you mean --top?"),
    (["run", "--seed"], "sweep: error: --seed: requires an argument"),
    (["bogus"], "sweep: error: no such command 'bogus' (see 'sweep --help')"),
], ids=["bad-int", "unknown-option", "missing-argument", "misspelled-option", "no-value", "unknown-command"])
def test_a_command_line_click_cannot_parse_is_one_line_exit_2(args, line):
    r = _sweep(*args)
    assert r.returncode == 2, r.stderr
    assert _one_line(r.stderr).startswith(line), r.stderr
    assert r.stdout == ""


def test_the_refused_value_is_named():
    r = _sweep("show", "x", "--top", "ten")
    assert r.returncode == 2 and _one_line(r.stderr).endswith("; got 'ten' (see 'sweep show --help')"), r.stderr


def test_help_is_still_click_s_help():
    r = _sweep("run", "--help")
    assert r.returncode == 0 and "Usage: sweep run [OPTIONS]" in r.stdout and "--num-samples" in r.stdout
    r = _sweep()  # no command: the help, as before
    assert "Usage: sweep [OPTIONS] COMMAND" in r.stdout + r.stderr and "sweep: error" not in r.stdout + r.stderr


@pytest.mark.parametrize("error, line", [
    (click.BadParameter("'x' is not a valid integer.", param=click.Option(["--top"])),
     "--top: 'x' is not a valid integer"),
    (click.MissingParameter(param=click.Argument(["run_dir"])), "RUN_DIR: missing"),
    (click.NoSuchOption("--frob"), "--frob: no such option"),
    (click.BadOptionUsage("--seed", "Option '--seed' requires an argument."), "--seed: requires an argument"),
    (click.UsageError("No such command 'x'."), "no such command 'x'"),
])
def test_click_s_own_exceptions_read_the_same(error, line):
    """An older typer raises click's classes, not its vendored copies: the same line."""
    assert usage_line(error) == line


# -- --out never writes over the run's own files ---------------------------------------------------


def _run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "tune").mkdir()
    write_json({"run_id": "r", "status": "complete", "budget": {"metric": "val_loss", "mode": "min"}},
               run_dir / "run.json")
    write_parquet(pd.DataFrame([{"trial_id": "t1", "status": "completed", "best_val_loss": 0.5}]),
                  run_dir / "trials.parquet")
    write_parquet(pd.DataFrame([{"trial_id": "t1", "epoch": 1, "val_loss": 0.5}]), run_dir / "epochs.parquet")
    (run_dir / "model" / "model.json").write_text("{}")
    return run_dir


def _digests(run_dir: Path) -> dict[str, str]:
    return {str(f.relative_to(run_dir)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(run_dir.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("name", ["trials.parquet", "epochs.parquet", "run.json", "model/model.json",
                                  "tune/page.html", "."])
def test_report_out_refuses_the_run_s_own_files(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(orchestrator.report, "render_report", lambda run: "<html>stub</html>")
    run_dir = _run_dir(tmp_path)
    before = _digests(run_dir)
    assert main(["report", str(run_dir), "--out", str(run_dir / name)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"sweep: error: --out: {run_dir / name}: is ")
    assert _digests(run_dir) == before
    assert main(["show", str(run_dir)]) == 0  # the run still reads


def test_report_out_may_be_the_run_s_report_or_a_new_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(orchestrator.report, "render_report", lambda run: "<html>stub</html>")
    run_dir = _run_dir(tmp_path)
    for target in (run_dir / "report.html", run_dir / "again.html", tmp_path / "elsewhere.html"):
        assert main(["report", str(run_dir), "--out", str(target)]) == 0
        assert target.read_text() == "<html>stub</html>"


@pytest.mark.parametrize("name", ["epochs.parquet", "trials.parquet", "model/preds.csv", "tune/p.parquet"])
def test_predict_out_refuses_the_run_s_own_files(name, tmp_path, capsys):
    run_dir = _run_dir(tmp_path)
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    before = _digests(run_dir)
    assert main(["predict", str(run_dir), str(tmp_path / "rows.csv"), "--out", str(run_dir / name)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"sweep: error: --out: {run_dir / name}: is "), line
    assert _digests(run_dir) == before


def test_the_rule_for_an_output_path(tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    for fine in (tmp_path / "p.csv", run / "p.csv", run.parent / "run2" / "trials.parquet", "s3://b/run/p.csv",
                 "s3://b/other/trials.parquet", "gs://b/run/trials.parquet"):
        check_not_run_file(fine, run if not str(fine).startswith(("s3", "gs")) else "s3://b/run")
    check_not_run_file(run / "report.html", run, allowed=("report.html",))
    for refused, where in ((run / "journal.jsonl", run), (run / "refit_epochs.parquet", run),
                           (run / "traceback.txt", run), (run / "model", run), (run / "new" / "p.csv", run),
                           (run / "report.html", run), (tmp_path / "." / "run" / "run.json", run),
                           (f"file://{run}/trials.parquet", run), ("s3://b/run/trials.parquet", "s3://b/run/"),
                           ("s3://b/run/model/x.csv?region=x", "s3://b/run")):
        with pytest.raises(UsageError, match="^--out: "):
            check_not_run_file(refused, where)
    link = tmp_path / "link"
    link.symlink_to(run)
    with pytest.raises(UsageError):
        check_not_run_file(link / "trials.parquet", run)


# -- run --out: a file is no folder ----------------------------------------------------------------


@pytest.mark.parametrize("under", ["", "sub"])
def test_run_out_naming_a_file_is_refused_before_anything_starts(under, tmp_path, capsys, monkeypatch):
    calls = []
    import orchestrator.execution.ray_start as ray_start

    monkeypatch.setattr(ray_start, "one_shot", lambda: None)  # it marks the process as one that exits
    for name in ("RayStart", "connect_ray"):  # what would start Ray (the check is orchestrator.run's)
        monkeypatch.setattr(ray_start, name, lambda *a, **k: calls.append("ray"))
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {dataset: digits}\n")
    taken = tmp_path / "results.txt"
    taken.write_text("mine\n")
    out = taken / under if under else taken
    assert main(["run", str(spec), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"sweep: error: --out: {out}: is ") and "not a directory" in line
    assert calls == [] and taken.read_text() == "mine\n"


def test_the_python_api_refuses_an_out_naming_a_file_before_ray_too(tmp_path, monkeypatch):
    import orchestrator.execution.ray_start as ray_start

    calls = []
    for name in ("RayStart", "connect_ray"):
        monkeypatch.setattr(ray_start, name, lambda *a, **k: calls.append("ray"))
    taken = tmp_path / "results.txt"
    taken.write_text("mine\n")
    with pytest.raises(UsageError) as e:
        orchestrator.api.run({"data": {"dataset": "digits"}}, out=str(taken))
    assert e.value.argument == "out" and "not a directory" in str(e.value)
    assert calls == [] and taken.read_text() == "mine\n"


def test_compare_out_naming_a_file_is_refused(tmp_path, capsys):
    taken = tmp_path / "results.txt"
    taken.write_text("mine\n")
    assert main(["compare", str(tmp_path / "s.yaml"), "--budget", "5m", "--out", str(taken)]) == 2
    assert _one_line(capsys.readouterr().err) == f"sweep: error: --out: {taken}: is a file, not a directory"
    assert taken.read_text() == "mine\n"


# -- show --top, up --num-cpus ---------------------------------------------------------------------


@pytest.mark.parametrize("top", ["0", "-1"])
def test_show_top_below_1_is_refused(top, tmp_path, capsys):
    run_dir = _run_dir(tmp_path)
    assert main(["show", str(run_dir), "--top", top]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == f"sweep: error: --top: must be at least 1, got {top}"
    assert captured.out == ""


@pytest.mark.parametrize("args, line", [
    (["--num-cpus", "0"], "sweep: error: --num-cpus: must be a whole number of at least 1"),
    (["--num-cpus", "-2"], "sweep: error: --num-cpus: must be a whole number of at least 1"),
    (["--num-gpus", "-1"], "sweep: error: --num-gpus: must be a whole number of at least 0, got -1"),
    (["--num-cpus", "1.5"], "sweep: error: --num-cpus: input should be a valid integer"),
])
def test_up_refuses_resources_no_trial_can_use_before_starting_anything(args, line, tmp_path, capsys, monkeypatch):
    import subprocess as sp

    monkeypatch.setenv("SWEEP_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setattr(sp, "Popen", lambda *a, **k: pytest.fail("sweep up started a process"))
    assert main(["up", *args]) == 2
    assert _one_line(capsys.readouterr().err).startswith(line)
    assert not (tmp_path / "runtime").exists()
