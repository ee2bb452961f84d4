"""Bad CSV data at the command line: ``sweep validate`` and ``sweep run`` refuse it before anything starts.

Each case is a spec pointing at a CSV with one problem. Both commands must print one line naming
the CSV file and the column (and row, where there is one), exit with code 2, start no Ray and write
nothing under ``--out``. Driven in-process through ``orchestrator.cli.main``; Ray's start is
replaced by a tripwire, and a subprocess checks that Ray is not even imported. No Ray, no TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int, label=lambda i: i % 2, a=lambda i: float(i), b=lambda i: float(i % 7)) -> list[str]:
    return [f"{a(i)},{b(i)},{label(i)}" for i in range(n)]


def _csv_text(rows: list[str], header: str = "a,b,y") -> str:
    return "\n".join([header, *rows]) + "\n"


def _write_case(tmp_path: Path, name: str) -> tuple[Path, str, list[str]]:
    """Write case ``name``: its spec, the data file's name, and phrases its error must contain."""
    task = "classification"
    target = "y"
    data = tmp_path / f"{name}.csv"
    extra = ""
    if name == "regression_target_not_numeric":
        task = "regression"
        rows = _rows(30, label=lambda i: "about 5" if i == 11 else f"{i * 1.5}")
        data.write_text(_csv_text(rows))
        phrases = ["'y'", "must be numeric for regression", "'about 5'", "data row 12"]
    elif name == "class_with_one_sample":
        rows = _rows(40, label=lambda i: "rare" if i == 17 else ("cat" if i % 2 else "dog"))
        data.write_text(_csv_text(rows))
        phrases = ["'y'", "class 'rare' has only 1 row", "stratify: false"]
    elif name == "nan_in_feature":
        rows = _rows(30, b=lambda i: "" if i in (4, 9) else float(i % 7))
        data.write_text(_csv_text(rows))
        phrases = ["column 'b'", "2 missing values", "data row 5", "data.missing: impute"]
    elif name == "nan_in_target":
        rows = _rows(30, label=lambda i: "NaN" if i == 20 else i % 2)
        data.write_text(_csv_text(rows))
        phrases = ["target column 'y'", "1 missing value", "data row 21"]
    elif name == "empty_file":
        data.write_text("")
        phrases = ["is empty"]
    elif name == "header_only":
        data.write_text("a,b,y\n")
        phrases = ["only 0 usable rows"]
    elif name == "missing_column":
        data.write_text(_csv_text(_rows(30)))
        target = "label"
        phrases = ["target column 'label' is not in", "available columns: 'a', 'b', 'y'"]
    elif name == "directory_not_file":
        data.mkdir()
        phrases = ["is a directory, not a data file"]
    elif name == "not_utf8":
        text = _csv_text(_rows(30)).replace("\n5.0,", "\n5.0 caf\u00e9,", 1)
        data.write_bytes(text.encode("latin-1"))  # header is ASCII: only reading the rows finds it
        phrases = ["is not UTF-8 text", "byte 0xe9 on line 7", "save it as UTF-8"]
    elif name == "infinite_feature":
        rows = _rows(30, a=lambda i: "inf" if i == 3 else float(i))
        data.write_text(_csv_text(rows))
        phrases = ["column 'a'", "infinite", "data row 4"]
    else:  # pragma: no cover - a typo in the table below
        raise KeyError(name)
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(json.dumps({"data": {"path": data.name, "target": target, "task": task}}) + "\n" + extra)
    return spec, data.name, phrases


CASES = ["regression_target_not_numeric", "class_with_one_sample", "nan_in_feature", "nan_in_target",
         "empty_file", "header_only", "missing_column", "directory_not_file", "not_utf8", "infinite_feature"]


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if `sweep run` gets as far as starting (or connecting to) Ray."""
    import orchestrator.execution.run as runner

    class Tripwire:
        def __init__(self, *a, **k):
            raise AssertionError("Ray was started for bad data")

    monkeypatch.setattr(runner, "RayStart", Tripwire)
    monkeypatch.setattr(runner, "connect_ray", Tripwire)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sweep: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_csv_is_one_line_exit_2_and_starts_nothing(case, command, tmp_path, capsys, monkeypatch, no_ray):
    monkeypatch.chdir(tmp_path)
    spec, csv_name, phrases = _write_case(tmp_path, case)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [command, str(spec)] + (["--out", str(out)] if command == "run" else [])
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"sweep: error: {spec.name}: data."), line
    assert csv_name in line, line
    for phrase in phrases:
        assert phrase in line, (phrase, line)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written anywhere


def test_missing_values_are_accepted_when_asked_to_impute(tmp_path, capsys):
    spec, _, _ = _write_case(tmp_path, "nan_in_feature")
    doc = json.loads(spec.read_text())
    doc["data"]["missing"] = "impute"
    spec.write_text(json.dumps(doc))
    assert main(["validate", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "ok: 1 trial;" in out and "data nan_in_feature.csv: 21/6/3 rows, 2 features" in out


def test_missing_value_setting_is_checked(tmp_path, capsys):
    spec, _, _ = _write_case(tmp_path, "nan_in_feature")
    spec.write_text(json.dumps({"data": {"path": "nan_in_feature.csv", "target": "y", "task": "classification",
                                         "missing": "zero"}}))
    assert main(["validate", str(spec)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("sweep: error: nan_in_feature.yaml: data.missing: ") and "'impute'" in line


def test_bad_data_and_bad_specs_never_import_ray(tmp_path):
    """`sweep run` on every bad CSV case and every bad spec of the corpus, in a fresh interpreter."""
    specs = [str(_write_case(tmp_path, c)[0]) for c in CASES]
    specs += [str(p) for p in sorted((ROOT / "tests" / "specs" / "bad").glob("*.yaml"))]
    out = tmp_path / "out"
    code = (
        "import sys, io, contextlib, json\n"
        "from orchestrator.cli import main\n"
        "codes = {}\n"
        "for spec in sys.argv[2:]:\n"
        "    with contextlib.redirect_stderr(io.StringIO()):\n"
        "        codes[spec] = main(['run', spec, '--out', sys.argv[1]])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'tensorflow', 'keras'})\n"
        "print(json.dumps({'codes': codes, 'loaded': loaded}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(out), *specs], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(result["codes"]) == len(specs) >= 60
    assert {s: c for s, c in result["codes"].items() if c != 2} == {}
    assert result["loaded"] == []
    assert not out.exists()


def _write_array_case(tmp_path: Path, name: str) -> tuple[Path, str, str, list[str]]:
    """Write array-source case ``name``: its spec, the key and the file or function its error names, and
    phrases the error must contain."""
    import numpy as np

    x, y = np.zeros((30, 4)), np.arange(30) % 2
    data: dict = {"task": "classification"}
    if name == "npz_without_x":
        np.savez(tmp_path / "arrays.npz", features=x, y=y)
        data["path"], key, named, phrases = "arrays.npz", "data.path", "arrays.npz", ["no array 'x'", "'features'"]
    elif name == "npz_lengths_differ":
        np.savez(tmp_path / "arrays.npz", x=x, y=y[:25])
        data["path"], key, named, phrases = "arrays.npz", "data.path", "arrays.npz", ["30 examples", "25 labels"]
    elif name == "image_folder_one_class":
        (tmp_path / "pictures" / "cats").mkdir(parents=True)
        (tmp_path / "pictures" / "cats" / "1.png").write_bytes(b"")
        data = {"path": "pictures"}
        key, named, phrases = "data.path", "pictures", ["only 1 class subfolder", "'cats'"]
    elif name == "loader_raises":
        (tmp_path / "load.py").write_text("def load():\n    raise RuntimeError('no network here')\n")
        data["loader"], key, named, phrases = "load.py:load", "data.loader", "load.py:load", ["RuntimeError: no network"]
    elif name == "loader_parts_without_test":
        (tmp_path / "load.py").write_text("import numpy as np\ndef load():\n    x = np.zeros((20, 3))\n"
                                          "    return {'train': (x, np.arange(20) % 2), 'val': (x, np.arange(20) % 2)}\n")
        data["loader"], key, named = "load.py:load", "data.loader", "load.py:load"
        phrases = ["no 'test' part", "set data.split.test: 0"]
    else:  # pragma: no cover - a typo in the table below
        raise KeyError(name)
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(json.dumps({"data": data}) + "\n")
    return spec, key, named, phrases


ARRAY_CASES = ["npz_without_x", "npz_lengths_differ", "image_folder_one_class", "loader_raises",
               "loader_parts_without_test"]


@pytest.mark.parametrize("case", ARRAY_CASES)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_array_sources_are_one_line_exit_2_and_start_nothing(case, command, tmp_path, capsys, monkeypatch,
                                                                  no_ray):
    monkeypatch.chdir(tmp_path)
    spec, key, named, phrases = _write_array_case(tmp_path, case)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [command, str(spec)] + (["--out", str(out)] if command == "run" else [])
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"sweep: error: {spec.name}: {key}: "), line
    assert named in line, line
    for phrase in phrases:
        assert phrase in line, (phrase, line)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == before
