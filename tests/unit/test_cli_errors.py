"""The CLI's one place for errors (``orchestrator.cli.main``): every kind of failure is one line.

- a bad spec (a key given twice, ten thousand levels of nesting, ...) or a bad argument: exit 2,
  nothing started;
- a run that failed under way (``RunFailed``): exit 1, the line says where the traceback is and
  how to resume;
- anything unexpected: from the console script, one line naming the file the traceback was
  written to, exit 1; called as ``main(argv)`` it propagates (so tests see it);
- an interrupt: exit 130.

The runner is replaced by fakes (no Ray, no TensorFlow), except where a bad spec or data file is
refused before the runner is reached.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

import orchestrator.execution
import orchestrator.spec
from orchestrator.cli import entry, main
from orchestrator.errors import DataError, RunFailed, SpecError, UsageError
from tests.helpers import assert_no_native_lines, run_cli

ROOT = Path(__file__).resolve().parents[2]
BAD_DIR = ROOT / "tests" / "specs" / "bad"
INTERNAL = re.compile(r"^sweep: internal error: (?P<what>.*) \(traceback: (?P<file>.*)\)$")


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    f = tmp_path / "s.yaml"
    f.write_text("data: {dataset: digits}\n", encoding="utf-8")
    return f


@pytest.fixture
def runner(monkeypatch):
    """Replace run_sweep/resume_sweep: ``runner.fail = exc`` makes them raise it; calls are kept."""

    class Fake:
        fail: BaseException | None = None
        calls: list[str] = []

        def run_sweep(self, spec, out, **kw):  # noqa: ARG002 - the runner's signature
            self.calls.append("run")
            raise self.fail if self.fail is not None else AssertionError("run_sweep was called")

        def resume_sweep(self, run_dir, **kw):  # noqa: ARG002
            self.calls.append("resume")
            raise self.fail if self.fail is not None else AssertionError("resume_sweep was called")

    fake = Fake()
    monkeypatch.setattr(orchestrator.execution, "run_sweep", fake.run_sweep)
    monkeypatch.setattr(orchestrator.execution, "resume_sweep", fake.resume_sweep)
    return fake


def _run(spec_file: Path, *extra: str) -> list[str]:
    return ["run", str(spec_file), "--out", str(spec_file.parent / "out"), *extra]


# ------------------------------------------------------------------------------------------
# bad YAML through the CLI: exit 2, one line, nothing started
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_key_given_twice_is_one_line_exit_2(command, runner, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([command, str(BAD_DIR / "duplicate_key.yaml")]) == 2
    out, err = capsys.readouterr()
    assert _one_line(err) == "sweep: error: duplicate_key.yaml: params.units: given twice (lines 4 and 6)"
    assert out == "" and runner.calls == [] and not (tmp_path / "results").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_ten_thousand_levels_of_nesting_are_one_line_exit_2(command, runner, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([command, str(BAD_DIR / "deeply_nested.yaml")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("sweep: error: deeply_nested.yaml: values are nested more than 50 levels deep (at line 4")
    assert runner.calls == [] and not (tmp_path / "results").exists()


def test_deep_nesting_from_the_console_script_is_one_line():
    """In a fresh process, as a user runs it: no RecursionError, no traceback, exit 2."""
    code = "import sys; from orchestrator.cli import entry; sys.argv = ['sweep', *sys.argv[1:]]; entry()"
    r = subprocess.run([sys.executable, "-c", code, "validate", str(BAD_DIR / "deeply_nested.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert _one_line(r.stderr).startswith("sweep: error: deeply_nested.yaml: values are nested more than")
    assert_no_native_lines(r.stdout + r.stderr, "sweep validate")


def test_bad_spec_starts_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ndata: {dataset: digits}\nparams:\n  learning_rate: {type: loguniform, low: 0, high: 1}\n")
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sweep: error: bad.yaml: params.learning_rate.low: must be > 0 for a log scale, got 0"]
    assert not out.exists()


def test_missing_csv_column_starts_nothing(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40)))
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {path: d.csv, target: label, task: classification}\n")
    assert run_cli("run", spec, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.yaml: data.target" in err[0] and "label" in err[0]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------
# usage errors: exit 2, the argument named, nothing started
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, line", [
    (["--num-samples", "0"], "sweep: error: --num-samples: must be >= 1, got 0"),
    (["--max-concurrent", "0"], "sweep: error: --max-concurrent: must be >= 1, got 0"),
])
def test_a_bad_argument_is_a_usage_error(args, line, spec_file, runner, capsys):
    assert main(_run(spec_file, *args)) == 2
    assert _one_line(capsys.readouterr().err) == line
    assert runner.calls == [] and not (spec_file.parent / "out").exists()


def test_compare_target_must_be_finite(spec_file, capsys):
    assert main(["compare", str(spec_file), "--budget", "5m", "--target", "nan"]) == 2
    assert _one_line(capsys.readouterr().err) == "sweep: error: --target: must be a finite number, got nan"


def test_a_usage_error_from_the_runner_is_printed_as_it_is(spec_file, runner, capsys):
    runner.fail = UsageError("--out", "s3://bucket/x: cannot write: access denied")
    assert main(_run(spec_file)) == 2
    assert _one_line(capsys.readouterr().err) == "sweep: error: --out: s3://bucket/x: cannot write: access denied"


def test_a_usage_error_from_resume(runner, tmp_path, capsys):
    runner.fail = UsageError("run", f"{tmp_path} is complete; nothing to resume")
    assert main(["resume", str(tmp_path)]) == 2
    assert _one_line(capsys.readouterr().err) == f"sweep: error: run: {tmp_path} is complete; nothing to resume"


def test_a_spec_error_from_the_runner_names_the_spec_file(spec_file, runner, capsys):
    runner.fail = SpecError("resources.cpu", "a trial asks for 64 CPUs but the largest node has 8")
    assert main(_run(spec_file)) == 2
    assert _one_line(capsys.readouterr().err) == ("sweep: error: s.yaml: resources.cpu: a trial asks for 64 CPUs "
                                                  "but the largest node has 8")


# ------------------------------------------------------------------------------------------
# a run that failed under way: exit 1, resumable
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_failed_run_is_one_line_exit_1_saying_how_to_resume(command, spec_file, runner, capsys):
    cause = FileNotFoundError(2, "No such file or directory")
    runner.fail = RunFailed("Ray Tune's end-of-run analysis", cause, run_dir="results/q-1",
                            traceback_file="/tmp/sweep-traceback-1.txt")
    argv = _run(spec_file) if command == "run" else ["resume", "results/q-1"]
    assert main(argv) == 1
    assert _one_line(capsys.readouterr().err) == (
        "sweep: error: Ray Tune's end-of-run analysis failed: FileNotFoundError: [Errno 2] No such file or "
        "directory (traceback: /tmp/sweep-traceback-1.txt); the run can be resumed: sweep resume results/q-1")


# ------------------------------------------------------------------------------------------
# anything unexpected
# ------------------------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_naming_its_traceback_file(spec_file, runner, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("SWEEP_ERROR_DIR", str(tmp_path / "errors"))
    runner.fail = FileNotFoundError("[Errno 2] No such file or directory: 'tune/experiment_state.json'\nsecond line")
    assert main(_run(spec_file), catch_internal=True) == 1
    found = INTERNAL.match(_one_line(capsys.readouterr().err))
    assert found, "not the internal error line"
    assert found["what"] == ("FileNotFoundError: [Errno 2] No such file or directory: "
                             "'tune/experiment_state.json'")
    written = Path(found["file"])
    assert written.parent == tmp_path / "errors" and written.name.startswith("sweep-traceback-")
    text = written.read_text(encoding="utf-8")
    assert text.startswith("Traceback (most recent call last)") and "in run_sweep" in text and "second line" in text


def test_the_console_script_turns_an_unexpected_error_into_one_line(spec_file, runner, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("SWEEP_ERROR_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["sweep", *_run(spec_file)])
    runner.fail = ZeroDivisionError("division by zero")
    with pytest.raises(SystemExit) as info:
        entry()
    assert info.value.code == 1
    found = INTERNAL.match(_one_line(capsys.readouterr().err))
    assert found and found["what"] == "ZeroDivisionError: division by zero" and Path(found["file"]).is_file()


def test_called_as_a_function_main_lets_an_unexpected_error_through(spec_file, runner):
    runner.fail = ZeroDivisionError("division by zero")
    with pytest.raises(ZeroDivisionError):
        main(_run(spec_file))


def test_an_error_without_a_message_is_named_by_its_type(spec_file, runner, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SWEEP_ERROR_DIR", str(tmp_path))
    runner.fail = RuntimeError()
    assert main(_run(spec_file), catch_internal=True) == 1
    found = INTERNAL.match(_one_line(capsys.readouterr().err))
    assert found and found["what"] == "RuntimeError"


def test_a_traceback_that_cannot_be_written_still_gives_one_line(spec_file, runner, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("SWEEP_ERROR_DIR", str(blocker))
    runner.fail = ValueError("boom")
    assert main(_run(spec_file), catch_internal=True) == 1
    found = INTERNAL.match(_one_line(capsys.readouterr().err))
    assert found and found["what"] == "ValueError: boom" and found["file"].startswith("not written: ")


def test_an_unexpected_error_in_an_offline_command(spec_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SWEEP_ERROR_DIR", str(tmp_path))

    def broken(path):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(orchestrator.spec, "load_spec", broken)
    assert main(["validate", str(spec_file)], catch_internal=True) == 1
    found = INTERNAL.match(_one_line(capsys.readouterr().err))
    assert found and found["what"].startswith("TypeError: unsupported operand")


# ------------------------------------------------------------------------------------------
# interrupts
# ------------------------------------------------------------------------------------------


def test_an_interrupted_run_exits_130(spec_file, runner, capsys):
    runner.fail = KeyboardInterrupt()
    assert main(_run(spec_file)) == 130
    assert _one_line(capsys.readouterr().err) == "sweep: error: interrupted; the run directory is marked incomplete"


def test_an_interrupt_in_any_command_exits_130(spec_file, monkeypatch):
    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(orchestrator.spec, "load_spec", interrupted)
    assert main(["validate", str(spec_file)], catch_internal=True) == 130


@pytest.mark.parametrize("error", [
    SpecError("model.builder", "models.py: no such file", "spec.yaml"),
    DataError("data.loader", "data.py:load returned 3 x rows and 2 y rows"),
    UsageError("--out", "not writable"),
], ids=["spec", "data", "usage"])
def test_an_error_raised_in_a_ray_worker_reaches_the_driver_whole(error: SpecError) -> None:
    """Ray pickles a worker's exception: it comes back the same kind, with the same fields and line."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert (back.key, back.message, back.file) == (error.key, error.message, error.file)
