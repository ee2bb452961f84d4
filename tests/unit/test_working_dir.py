"""What a run on a cluster sends as Ray's working_dir (orchestrator/execution/working_dir.py), without Ray.

The size counted with the excludes a user writes (``.gitignore``, ``.rayignore``) and the defaults,
the one-line refusal past the limit, and the runtime_env a driver passes to ``ray.init`` on a
cluster, in a job that carries its own working_dir, and in one that does not.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.execution import working_dir as wd

MIB = 1024 * 1024


def _write(root: Path, rel: str, size: int) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x" * size)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sweep"
    _write(d, "spec.yaml", 100)
    _write(d, "models.py", 200)
    _write(d, "lib/helpers.py", 300)
    _write(d, ".git/objects/pack.bin", 5000)
    _write(d, "__pycache__/models.cpython-311.pyc", 4000)
    _write(d, "lib/old.pyc", 4000)
    _write(d, "results/run1/trials.parquet", 6000)  # the default --out
    _write(d, "nightly/date=2026-01-02/run1/trials.parquet", 6000)  # a nightly history
    _write(d, "data/big.npz", 7000)
    _write(d, "data/keep.csv", 400)
    _write(d, "lib/cache/blob.bin", 8000)
    return d


def test_scan_counts_only_what_ray_would_send(spec_dir):
    (spec_dir / ".gitignore").write_text("# data too big to send\ndata/*.npz\n")
    (spec_dir / "lib" / ".rayignore").write_text("cache/\n")  # relative to lib/, as Ray reads it
    package = wd.scan(spec_dir, wd.DEFAULT_EXCLUDES, environ={})
    sent = {"spec.yaml": 100, "models.py": 200, "lib/helpers.py": 300, "data/keep.csv": 400,
            ".gitignore": len((spec_dir / ".gitignore").read_bytes()),
            "lib/.rayignore": len((spec_dir / "lib" / ".rayignore").read_bytes())}
    assert package.size == sum(sent.values())
    assert package.files == len(sent)
    assert package.largest == [("data/keep.csv", 400), ("lib/helpers.py", 300), ("models.py", 200)]


def test_a_nested_ignore_file_matches_relative_to_its_own_folder(spec_dir):
    # "cache/" in lib/.rayignore leaves out lib/cache, not a top-level cache/.
    (spec_dir / "lib" / ".rayignore").write_text("cache/\n")
    _write(spec_dir, "cache/kept.bin", 900)
    package = wd.scan(spec_dir, wd.DEFAULT_EXCLUDES, environ={})
    assert ("cache/kept.bin", 900) in package.largest
    assert all(not rel.startswith("lib/cache") for rel, _ in package.largest)


def test_gitignore_is_not_read_when_ray_is_told_to_ignore_it(spec_dir):
    (spec_dir / ".gitignore").write_text("data/\nlib/\n")
    honoured = wd.scan(spec_dir, wd.DEFAULT_EXCLUDES, environ={})
    ignored = wd.scan(spec_dir, wd.DEFAULT_EXCLUDES, environ={"RAY_RUNTIME_ENV_IGNORE_GITIGNORE": "1"})
    assert ignored.size - honoured.size == 7000 + 400 + 300 + 8000


def test_without_excludes_everything_counts(spec_dir):
    package = wd.scan(spec_dir, [], environ={})
    assert package.size == sum(p.stat().st_size for p in spec_dir.rglob("*") if p.is_file())
    assert package.largest[0] == ("lib/cache/blob.bin", 8000)


def test_a_symlinked_folder_loop_is_walked_once(spec_dir):
    (spec_dir / "lib" / "loop").symlink_to(spec_dir / "lib", target_is_directory=True)
    package = wd.scan(spec_dir, wd.DEFAULT_EXCLUDES, environ={})
    assert package.files < 20


def test_past_the_limit_one_line_names_the_directory_size_limit_largest_files_and_the_fix(spec_dir):
    _write(spec_dir, "weights/model.h5", 3 * MIB)
    _write(spec_dir, "data/images.tar", 2 * MIB)
    with pytest.raises(UsageError) as e:
        wd.cluster_runtime_env({}, spec_dir, environ={wd.LIMIT_ENV: "4"})
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{spec_dir}: ")
    assert " 5.02 MiB in 8 files" in message and "over the 4 MiB limit" in message
    assert message.index("weights/model.h5 (3 MiB)") < message.index("data/images.tar (2 MiB)")
    assert "lib/cache/blob.bin" in message  # the third largest
    assert "results/run1" not in message and "date=" not in message  # the product's output is not sent
    assert str(spec_dir / ".rayignore") in message and wd.LIMIT_ENV in message


def test_the_limit_is_read_from_the_environment(monkeypatch):
    assert wd.limit_bytes({}) == 50 * MIB
    assert wd.limit_bytes({wd.LIMIT_ENV: "1.5"}) == int(1.5 * MIB)
    assert wd.limit_bytes({wd.LIMIT_ENV: "0"}) == 0
    for bad in ("lots", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match=f"^{wd.LIMIT_ENV}: must be a number of MiB >= 0.*{bad!r}"):
            wd.limit_bytes({wd.LIMIT_ENV: bad})


def test_on_a_cluster_the_spec_directory_goes_as_working_dir_with_its_excludes(spec_dir):
    env = wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow"}, spec_dir, environ={})
    assert env["working_dir"] == str(spec_dir)
    assert env["excludes"] == wd.DEFAULT_EXCLUDES
    assert env["env_vars"] == {"KERAS_BACKEND": "tensorflow", wd.SPEC_DIR_ENV: "."}
    json.dumps(env)  # what ray.init is given must serialise


def test_an_out_folder_inside_the_spec_directory_is_not_sent(spec_dir):
    _write(spec_dir, "sweeps/run/trials.parquet", 60 * MIB)
    env = wd.cluster_runtime_env({}, spec_dir, out=spec_dir / "sweeps", environ={})
    assert env["excludes"][-1] == "/sweeps/"
    assert wd.cluster_runtime_env({}, spec_dir, out="s3://bucket/x", environ={wd.LIMIT_ENV: "1000"})["excludes"] \
        == wd.DEFAULT_EXCLUDES
    with pytest.raises(UsageError, match="sweeps/run/trials.parquet"):
        wd.cluster_runtime_env({}, spec_dir, out=spec_dir.parent / "elsewhere", environ={})


def _job(runtime_env: dict) -> dict[str, str]:
    return {wd.JOB_CONFIG_ENV: json.dumps({"runtime_env": runtime_env, "metadata": {}})}


def test_a_job_with_its_own_working_dir_keeps_it(spec_dir):
    # `ray job submit --working-dir .` from the spec's parent: the driver starts in the job's copy.
    _write(spec_dir, "weights/huge.bin", 60 * MIB)  # over the limit: not checked, nothing of ours is sent
    job = _job({"working_dir": "gcs://_ray_pkg_0123.zip", "env_vars": {"KERAS_BACKEND": "jax"}})
    env = wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}, spec_dir,
                                 environ=job, cwd=spec_dir.parent)
    assert "working_dir" not in env and "excludes" not in env
    # The job's own variables win (ray.init refuses a key set twice); the workers learn where the spec is.
    assert env["env_vars"] == {"TF_CPP_MIN_LOG_LEVEL": "3", wd.SPEC_DIR_ENV: "sweep"}
    outside = wd.cluster_runtime_env({}, spec_dir, environ=job, cwd=spec_dir / "lib")
    assert outside == {"env_vars": {}}


def test_a_job_without_a_working_dir_gets_the_spec_directory(spec_dir):
    job = _job({"env_vars": {"AWS_REGION": "eu-west-1"}, "pip": ["scipy"]})
    env = wd.cluster_runtime_env({"KERAS_BACKEND": "tensorflow"}, spec_dir, environ=job)
    assert env["working_dir"] == str(spec_dir)
    assert env["env_vars"] == {"KERAS_BACKEND": "tensorflow", wd.SPEC_DIR_ENV: "."}


def test_nothing_is_sent_without_a_spec_file_or_with_the_limit_at_zero(spec_dir, tmp_path):
    assert wd.cluster_runtime_env({"A": "1"}, None, environ={}) == {"env_vars": {"A": "1"}}
    assert wd.cluster_runtime_env({"A": "1"}, tmp_path / "gone", environ={}) == {"env_vars": {"A": "1"}}
    _write(spec_dir, "weights/huge.bin", 60 * MIB)
    assert wd.cluster_runtime_env({"A": "1"}, spec_dir, environ={wd.LIMIT_ENV: "0"}) == {"env_vars": {"A": "1"}}


def test_an_unreadable_job_config_is_no_job():
    assert wd.job_runtime_env({wd.JOB_CONFIG_ENV: "{not json"}) == {}
    assert wd.job_runtime_env({wd.JOB_CONFIG_ENV: "[1]"}) == {}
    assert wd.job_runtime_env({}) == {}


def test_an_oversized_directory_stops_a_cluster_run_before_ray_is_reached(spec_dir):
    """What ``sweep run --address`` does first (``RayStart``): the refusal comes before Ray is imported.

    In a fresh interpreter: another test of this session may have imported Ray already.
    """
    script = (
        "import sys\n"
        "from orchestrator.errors import UsageError\n"
        "from orchestrator.execution import ray_start\n"
        "try:\n"
        f"    ray_start.RayStart('127.0.0.1:1', None, working_dir={str(spec_dir)!r})\n"
        "except UsageError as e:\n"
        "    print('REFUSED', e)\n"
        "print('RAY IMPORTED' if 'ray' in sys.modules else 'NO RAY')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != wd.JOB_CONFIG_ENV}
    env[wd.LIMIT_ENV] = "0.01"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert re.search(r"REFUSED .*over the 10\.2 KiB limit .*largest: lib/cache/blob\.bin", out.stdout), out
    assert out.stdout.strip().endswith("NO RAY"), out
