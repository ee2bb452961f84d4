"""What a run on a cluster sends as Ray's working_dir (orchestrator/execution/working_dir.py), without Ray.

Only code: nothing for a spec that names none (however large its directory), and for a builder or
loader file, that file, the local modules it imports, its package and what ``code.include`` lists,
never the data the driver reads. Then the staging folder and the runtime_env a driver passes to
``ray.init`` on a cluster, in a job that carries its own working_dir and in one that does not, the
one-line refusal past the size limit, and ``sweep validate`` on bad ``code.include`` entries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from orchestrator.errors import SpecError, UsageError
from orchestrator.execution import working_dir as wd
from orchestrator.spec import load_spec
from orchestrator.usercode import load_function

MIB = 1024 * 1024
GIB = 1024 * MIB

BUILDER = """\
import helpers
from lib.layers import dense


def build_model(hp, data):
    import lazy  # an import inside a function counts too
    return helpers.name() + dense() + lazy.VALUE
"""


def _write(root: Path, rel: str, text: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def _huge(root: Path, rel: str, size: int = 3 * GIB) -> None:
    """A sparse file of ``size`` bytes: it takes no disk, but every size check sees all of it."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.touch()
    os.truncate(p, size)


def _spec(root: Path, **sections) -> Path:
    doc = {"name": "s", "data": {"path": "data/train.csv", "target": "y", "task": "classification"},
           "params": {"learning_rate": 0.01}, **sections}
    if "model" in sections and "builder" in sections["model"]:
        doc["params"] = {"units": 8}
    _write(root, "data/train.csv", "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    return _write(root, "spec.yaml", yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def builder_dir(tmp_path: Path) -> Path:
    """A builder spec beside a 3 GiB data folder, with files the builder does not need."""
    d = tmp_path / "sweep"
    _spec(d, model={"builder": "models.py:build_model"})
    _write(d, "models.py", BUILDER)
    _write(d, "helpers.py", "def name():\n    return 'h'\n")
    _write(d, "lib/layers.py", "def dense():\n    return 'd'\n")
    _write(d, "lazy.py", "VALUE = 'l'\n")
    _write(d, "lib/unused.py", "x = 1\n")  # lib/ is no package: only the module imported goes
    _write(d, "notebook.py", "import helpers\n")  # imports a shipped module, but nothing imports it
    _write(d, "notes.txt", "todo\n")
    _huge(d, "data/raw/images.bin")
    _huge(d, "checkpoints/old.keras", 200 * MIB)
    return d


def _staged_files(folder: str | Path) -> dict[str, bytes]:
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_spec_naming_no_code_sends_nothing_whatever_its_directory_holds(tmp_path):
    d = tmp_path / "home"
    spec = _spec(d)  # the built-in MLP on a CSV
    _huge(d, "downloads/dataset.tar")
    _write(d, "analysis.py", "import pandas\n")
    code = wd.select_code(load_spec(spec))
    assert code.files == () and code.size == 0
    with wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow"}, code, environ={wd.LIMIT_ENV: "1"}) as (env, sent):
        assert env == {"env_vars": {"KERAS_BACKEND": "tensorflow"}} and sent is None


def test_a_module_reference_ships_nothing_by_itself(tmp_path):
    d = tmp_path / "sweep"
    spec = _spec(d, model={"builder": "mypackage.models:build_model"})
    _write(d, "mypackage/models.py", "def build_model(hp, data):\n    return None\n")
    assert wd.select_code(load_spec(spec)).files == ()


def test_a_builder_beside_a_data_folder_sends_the_builder_and_its_local_imports_only(builder_dir):
    code = wd.select_code(load_spec(builder_dir / "spec.yaml"))
    assert [rel for rel, _ in code.files] == ["models.py", "helpers.py", "lib/layers.py", "lazy.py"]
    assert code.size == sum((builder_dir / rel).stat().st_size for rel, _ in code.files)
    with wd.cluster_runtime_env({}, code, environ={}) as (env, sent):
        staged = _staged_files(env["working_dir"])
        assert sent is code
        assert env["env_vars"] == {wd.SPEC_DIR_ENV: "."}
        json.dumps(env)  # what ray.init is given must serialise
    # the staging folder mirrors the paths relative to the spec, byte for byte, and is gone afterwards
    assert staged == {rel: (builder_dir / rel).read_bytes() for rel, _ in code.files}
    assert not Path(env["working_dir"]).exists()


def test_what_is_sent_imports_on_a_node_without_the_drivers_directory(builder_dir, tmp_path, monkeypatch):
    """A worker starts in its node's copy of the working_dir: the builder resolves and imports there."""
    spec = load_spec(builder_dir / "spec.yaml")
    node_copy = tmp_path / "node" / "_ray_pkg_0123"
    with wd.cluster_runtime_env({}, wd.select_code(spec), environ={}) as (env, _):
        for rel, content in _staged_files(env["working_dir"]).items():
            _write(node_copy, rel, content)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("TUNE_ORIG_WORKING_DIR", str(node_copy))
    monkeypatch.setenv(wd.SPEC_DIR_ENV, env["env_vars"][wd.SPEC_DIR_ENV])
    for name in ("helpers", "lazy", "lib", "lib.layers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    build = load_function(spec.model.builder, base_dir=str(tmp_path / "not-on-this-node"), key="model.builder")
    assert Path(build.__code__.co_filename).parent == node_copy
    assert build({}, None) == "hdl"


def test_a_builder_in_a_package_sends_the_packages_python_files(tmp_path, monkeypatch):
    d = tmp_path / "sweep"
    spec = _spec(d, model={"builder": "project/models.py:build_model"})
    _write(d, "project/__init__.py", "")
    _write(d, "project/models.py", "from .blocks import block\n\ndef build_model(hp, data):\n    return block()\n")
    _write(d, "project/blocks.py", "from .sub.deep import leaf\n\ndef block():\n    return 'b' + leaf()\n")
    _write(d, "project/sub/__init__.py", "")
    _write(d, "project/sub/deep.py", "def leaf():\n    return 'l'\n")
    _write(d, "project/cli_tools.py", "import argparse\n")  # nothing imports it: the package's, so sent
    _write(d, "project/__pycache__/models.cpython-311.pyc", b"\0" * 100)
    _write(d, "project/weights.npz", b"\0" * 1000)  # not a module: not sent unless listed
    _write(d, "other/mod.py", "")
    code = wd.select_code(load_spec(spec))
    assert sorted(rel for rel, _ in code.files) == ["project/__init__.py", "project/blocks.py",
                                                   "project/cli_tools.py", "project/models.py",
                                                   "project/sub/__init__.py", "project/sub/deep.py"]
    # and the package imports as a package: its relative imports work
    monkeypatch.setattr(sys, "path", list(sys.path))
    build = load_function("project/models.py:build_model", base_dir=str(d), key="model.builder")
    assert build({}, None) == "bl"


def test_code_include_adds_files_and_folders_but_never_the_data_or_byte_code(builder_dir, tmp_path):
    spec = _spec(builder_dir, model={"builder": "models.py:build_model"},
                 code={"include": ["notes.txt", "assets/", "data/labels.json"]})
    _write(builder_dir, "assets/vocab.json", "{}")
    _write(builder_dir, "assets/sub/stop_words.txt", "a\nthe\n")
    _write(builder_dir, "assets/__pycache__/x.pyc", b"\0")
    _write(builder_dir, "assets/.git/HEAD", "ref")
    _write(builder_dir, "data/labels.json", "[]")  # beside the data: listed, so sent
    code = wd.select_code(load_spec(spec))
    sent = [rel for rel, _ in code.files]
    assert sent[:4] == ["models.py", "helpers.py", "lib/layers.py", "lazy.py"]
    assert sorted(sent[4:]) == ["assets/sub/stop_words.txt", "assets/vocab.json", "data/labels.json", "notes.txt"]
    # data.path (the CSV the driver reads) and the rest of the 3 GiB data folder are not
    assert code.size < 10_000


def test_data_path_as_a_folder_is_never_sent_even_when_listed(tmp_path):
    d = tmp_path / "sweep"
    spec = _spec(d, model={"builder": "models.py:build_model"}, code={"include": ["."]})
    doc = yaml.safe_load(spec.read_text())
    doc["data"] = {"path": "images", "image_size": [8, 8]}
    spec.write_text(yaml.safe_dump(doc))
    _write(d, "models.py", "def build_model(hp, data):\n    return None\n")
    _write(d, "images/cats/1.png", b"\x89PNG" + b"\0" * 50)
    _write(d, "images/dogs/1.png", b"\x89PNG" + b"\0" * 50)
    _write(d, "results/run1/trials.parquet", b"\0" * 50)  # the default --out
    code = wd.select_code(load_spec(spec), out=d / "results")
    assert sorted(rel for rel, _ in code.files) == ["data/train.csv", "models.py", "spec.yaml"]


def test_the_line_that_says_what_was_sent():
    few = wd.Shipment(Path("/s"), (("models.py", 10_000), ("helpers.py", 2_700), ("lookup.json", 30)))
    assert few.describe() == "code: 3 files, 12.4 KiB sent to the cluster (models.py, helpers.py, lookup.json)"
    one = wd.Shipment(Path("/s"), (("models.py", 120),))
    assert one.describe() == "code: 1 file, 120 B sent to the cluster (models.py)"
    many = wd.Shipment(Path("/s"), tuple((f"pkg/m{i}.py", MIB) for i in range(9)))
    assert many.describe() == ("code: 9 files, 9 MiB sent to the cluster (pkg/m0.py, pkg/m1.py, pkg/m2.py, "
                               "pkg/m3.py, pkg/m4.py, pkg/m5.py and 3 more)")


def test_past_the_limit_one_line_names_the_spec_the_size_the_limit_and_the_largest_files(builder_dir):
    spec = _spec(builder_dir, model={"builder": "models.py:build_model"},
                 code={"include": ["weights/model.h5", "assets"]})
    _write(builder_dir, "weights/model.h5", b"\0" * (3 * MIB))
    _write(builder_dir, "assets/images.tar", b"\0" * (2 * MIB))
    code = wd.select_code(load_spec(spec))
    with pytest.raises(SpecError) as e:
        with wd.cluster_runtime_env({}, code, environ={wd.LIMIT_ENV: "4"}):
            pytest.fail("nothing is staged past the limit")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("spec.yaml: code: ") and " 5 MiB in 6 files" in message
    assert "over the 4 MiB limit" in message
    assert message.index("weights/model.h5 (3 MiB)") < message.index("assets/images.tar (2 MiB)")
    assert "models.py" in message  # the third largest
    assert "code.include" in message and wd.LIMIT_ENV in message


def test_the_limit_is_read_from_the_environment(monkeypatch):
    assert wd.limit_bytes({}) == 50 * MIB
    assert wd.limit_bytes({wd.LIMIT_ENV: "1.5"}) == int(1.5 * MIB)
    assert wd.limit_bytes({wd.LIMIT_ENV: "0"}) == 0
    for bad in ("lots", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match=f"^{wd.LIMIT_ENV}: must be a number of MiB >= 0.*{bad!r}"):
            wd.limit_bytes({wd.LIMIT_ENV: bad})


def _job(runtime_env: dict) -> dict[str, str]:
    return {wd.JOB_CONFIG_ENV: json.dumps({"runtime_env": runtime_env, "metadata": {}})}


def test_a_job_with_its_own_working_dir_keeps_it(builder_dir):
    # `ray job submit --working-dir .` from the spec's parent: the driver starts in the job's copy.
    code = wd.select_code(load_spec(builder_dir / "spec.yaml"))
    job = _job({"working_dir": "gcs://_ray_pkg_0123.zip", "env_vars": {"KERAS_BACKEND": "jax"}})
    with wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}, code,
                                environ={**job, wd.LIMIT_ENV: "0.0001"}, cwd=builder_dir.parent) as (env, sent):
        assert "working_dir" not in env and sent is None  # nothing of ours is sent, so no limit applies
        # The job's own variables win (ray.init refuses a key set twice); the workers learn where the spec is.
        assert env["env_vars"] == {"TF_CPP_MIN_LOG_LEVEL": "3", wd.SPEC_DIR_ENV: "sweep"}
    with wd.cluster_runtime_env({}, code, environ=job, cwd=builder_dir / "lib") as (outside, _):
        assert outside == {"env_vars": {}}


def test_a_job_without_a_working_dir_gets_the_staged_code(builder_dir):
    job = _job({"env_vars": {"AWS_REGION": "eu-west-1"}, "pip": ["scipy"]})
    code = wd.select_code(load_spec(builder_dir / "spec.yaml"))
    with wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow"}, code, environ=job) as (env, sent):
        assert sorted(_staged_files(env["working_dir"])) == sorted(rel for rel, _ in code.files)
        assert env["env_vars"] == {"KERAS_BACKEND": "tensorflow", wd.SPEC_DIR_ENV: "."} and sent is code


def test_nothing_is_sent_without_a_spec_or_with_the_limit_at_zero(builder_dir):
    with wd.cluster_runtime_env({"A": "1"}, None, environ={}) as (env, sent):
        assert env == {"env_vars": {"A": "1"}} and sent is None
    code = wd.select_code(load_spec(builder_dir / "spec.yaml"))
    with wd.cluster_runtime_env({"A": "1"}, code, environ={wd.LIMIT_ENV: "0"}) as (env, sent):
        assert env == {"env_vars": {"A": "1"}} and sent is None


def test_an_unreadable_job_config_is_no_job():
    assert wd.job_runtime_env({wd.JOB_CONFIG_ENV: "{not json"}) == {}
    assert wd.job_runtime_env({wd.JOB_CONFIG_ENV: "[1]"}) == {}
    assert wd.job_runtime_env({}) == {}


def test_oversized_code_stops_a_cluster_run_before_ray_is_reached(builder_dir):
    """What ``sweep run --address`` does first (``RayStart``): the refusal comes before Ray is imported.

    In a fresh interpreter: another test of this session may have imported Ray already.
    """
    spec = _spec(builder_dir, model={"builder": "models.py:build_model"}, code={"include": ["assets/blob.bin"]})
    _write(builder_dir, "assets/blob.bin", b"\0" * 8000)
    script = (
        "import sys\n"
        "from orchestrator.errors import SpecError\n"
        "from orchestrator.execution import ray_start\n"
        "from orchestrator.spec import load_spec\n"
        "try:\n"
        f"    ray_start.RayStart('127.0.0.1:1', None, spec=load_spec({str(spec)!r}))\n"
        "except SpecError as e:\n"
        "    print('REFUSED', e)\n"
        "print('RAY IMPORTED' if 'ray' in sys.modules else 'NO RAY')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != wd.JOB_CONFIG_ENV}
    env[wd.LIMIT_ENV] = "0.005"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    refused = r"REFUSED spec\.yaml: code: .*over the 5\.12 KiB limit; largest: assets/blob\.bin"
    assert re.search(refused, out.stdout), out
    assert out.stdout.strip().endswith("NO RAY"), out


@pytest.mark.parametrize("entry, words", [
    ("../shared/helpers.py", ["outside the spec's directory"]),
    ("/etc/hostname", ["outside the spec's directory"]),
    ("missing.json", ["no such file or folder"]),
    ("", ["must be a file or folder"]),
])
def test_a_bad_code_include_entry_is_one_line_naming_the_file_and_key(tmp_path, capsys, entry, words):
    d = tmp_path / "sweep"
    _write(tmp_path, "shared/helpers.py", "")
    spec = _spec(d, model={"builder": "models.py:build_model"}, code={"include": ["models.py", entry]})
    _write(d, "models.py", "def build_model(hp, data):\n    return None\n")
    assert main(["validate", str(spec)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("sweep: error: spec.yaml: code.include[1]: "), lines[0]
    assert all(w in lines[0] for w in words), lines[0]

