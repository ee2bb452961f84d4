"""Bad builders, loaders and data files through `sweep validate`: one line naming the spec, the key
and the function or file; exit code 2; nothing started. None of these needs TensorFlow or Ray (a
subprocess checks that the checks import neither)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[2]

GOOD_LOADER = "import numpy as np\n\ndef load(n=60):\n    x = np.random.default_rng(0).normal(size=(n, 6, 2)).astype('float32')\n" \
              "    return x, np.arange(n) % 3\n"


def _spec(tmp_path: Path, doc: dict, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _builder_doc(ref: str = "models.py:build_model", **model: object) -> dict:
    return {"data": {"dataset": "digits", "samples": 300, "shape": [8, 8, 1]},
            "model": {"builder": ref, "epochs": 1, **model},
            "params": {"width": {"type": "choice", "values": [4, 8]}}}


def _loader_doc(ref: str = "data.py:load", **data: object) -> dict:
    return {"data": {"loader": ref, "task": "classification", **data}, "model": {"family": "cnn", "epochs": 1}}


def _npz(tmp_path: Path, **arrays: np.ndarray) -> dict:
    np.savez(tmp_path / "arrays.npz", **arrays)
    return {"data": {"path": "arrays.npz", "task": "classification"}, "model": {"family": "cnn"}}


def _images(tmp_path: Path, classes: list[str]) -> dict:
    from PIL import Image

    for c in classes:
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / "images" / c / f"{i}.png")
    return {"data": {"path": "images", "image_size": [8, 8]}, "model": {"family": "cnn"}}


X6 = np.zeros((6, 4, 2), dtype="float32")

CASES = {
    # the builder
    "builder file missing": (lambda t: _spec(t, _builder_doc("nowhere.py:build_model")),
                             "model.builder", ["nowhere.py"]),
    "builder function missing": (lambda t: _spec(t, _builder_doc("models.py:build_it"),
                                                 {"models.py": "def build_model(hp, data):\n    pass\n"}),
                                 "model.builder", ["build_it"]),
    "builder wrong signature": (lambda t: _spec(t, _builder_doc(), {"models.py": "def build_model(hp):\n    pass\n"}),
                                "model.builder", ["build_model", "hp"]),
    "builder import raises": (lambda t: _spec(t, _builder_doc(),
                                              {"models.py": "import no_such_package_here\n"}),
                              "model.builder", ["models.py", "no_such_package_here"]),
    "builder not a function": (lambda t: _spec(t, _builder_doc(), {"models.py": "build_model = 3\n"}),
                               "model.builder", ["build_model"]),
    "builder reference malformed": (lambda t: _spec(t, _builder_doc("models.py")), "model.builder", ["models.py"]),
    "builder module missing": (lambda t: _spec(t, _builder_doc("no_such_pkg.models:build")),
                               "model.builder", ["no_such_pkg"]),
    "builder and family together": (lambda t: _spec(t, _builder_doc(family="cnn"),
                                                    {"models.py": "def build_model(hp, data):\n    pass\n"}),
                                    "model", ["builder", "family"]),
    # the loader
    "loader file missing": (lambda t: _spec(t, _loader_doc("nowhere.py:load")), "data.loader", ["nowhere.py"]),
    "loader raises": (lambda t: _spec(t, _loader_doc(), {"data.py": "def load():\n    raise OSError('disk gone')\n"}),
                      "data.loader", ["data.py:load", "disk gone"]),
    "loader returns a string": (lambda t: _spec(t, _loader_doc(), {"data.py": "def load():\n    return 'x'\n"}),
                                "data.loader", ["data.py:load", "str"]),
    "loader x and y lengths differ": (lambda t: _spec(t, _loader_doc(), {
        "data.py": "import numpy as np\n\ndef load():\n    return np.zeros((10, 3)), np.zeros(9)\n"}),
        "data.loader", ["10", "9"]),
    "loader parts without test": (lambda t: _spec(t, _loader_doc(), {
        "data.py": "import numpy as np\n\ndef load():\n    p = (np.zeros((30, 4, 1)), np.arange(30) % 2)\n"
                   "    return {'train': p, 'val': p}\n"}),
        "data.loader", ["test"]),
    "loader unknown argument": (lambda t: _spec(t, _loader_doc(args={"rows": 5}), {"data.py": GOOD_LOADER}),
                                "data.args", ["rows"]),
    "loader without task": (lambda t: _spec(t, {"data": {"loader": "data.py:load"}}, {"data.py": GOOD_LOADER}),
                            "data.task", []),
    # data files without code
    "npz without y": (lambda t: _spec(t, _npz(t, x=X6)), "data.path", ["arrays.npz", "y"]),
    "npz lengths differ": (lambda t: _spec(t, _npz(t, x=X6, y=np.zeros(5))), "data.path", ["arrays.npz", "6", "5"]),
    "image folder with one class": (lambda t: _spec(t, _images(t, ["cat"])), "data.path", ["images"]),
    # shapes and names
    "cnn on flat rows": (lambda t: _spec(t, {"data": {"dataset": "digits", "samples": 300},
                                             "model": {"family": "cnn"}}), "model.family", ["data.shape"]),
    "shape does not fit the rows": (lambda t: _spec(t, {"data": {"dataset": "digits", "samples": 300, "shape": [7, 7, 1]},
                                                        "model": {"family": "cnn"}}), "data.shape", ["49", "64"]),
    "unknown hyperparameter of the mlp": (lambda t: _spec(t, {"data": {"dataset": "digits"},
                                                              "params": {"filters": 8}}), "params.filters", ["builder"]),
    "mlp hyperparameter in a cnn": (lambda t: _spec(t, {"data": {"dataset": "digits", "shape": [8, 8, 1]},
                                                        "model": {"family": "cnn"}, "params": {"units": 8}}),
                                    "params.units", ["cnn"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_user_code_and_data_is_one_line_and_exit_2(name, tmp_path, capsys):
    make, key, words = CASES[name]
    spec = make(tmp_path)
    assert main(["validate", str(spec)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"sweep: error: user.yaml: {key}"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert captured.out == ""


def test_these_checks_import_neither_tensorflow_nor_ray(tmp_path):
    """A bad builder found by validate costs no TensorFlow import (so the unit tests above need none)."""
    spec = CASES["builder wrong signature"][0](tmp_path)
    code = ("import sys\nfrom orchestrator.cli import main\n"
            f"assert main(['validate', {str(spec)!r}]) == 2\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'tensorflow', 'keras'))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
