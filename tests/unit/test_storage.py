"""Storage URIs without Ray: parsing, joining, whole-file writes, the mirror, reading runs and a nightly
history through pyarrow's filesystem (``file://`` URIs: the same code path as ``s3://``/``gs://``)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from orchestrator import nightly as nl
from orchestrator import storage
from orchestrator.cli import main
from orchestrator.errors import SpecError
from orchestrator.results import load, load_many, write_json, write_parquet
from orchestrator.storage import Location, Mirror, resolve

from tests.helpers import NIGHTLY_PARAMS, FakeSweep, nightly_spec


def uri(p: Path) -> str:
    return p.resolve().as_uri()  # file:///...


# ------------------------------------------------------------------------------------------
# parsing and joining
# ------------------------------------------------------------------------------------------


def test_plain_paths_stay_local_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("results") == tmp_path.resolve() / "results"
    assert resolve("/shared/nfs/sweep") == Path("/shared/nfs/sweep")
    assert isinstance(resolve("./a:b"), Path) and not storage.is_uri("C/x")


def test_uris_become_locations_that_join_and_print_as_uris(tmp_path):
    loc = resolve(uri(tmp_path))
    assert isinstance(loc, Location) and loc.fs.type_name == "local" and loc.path == str(tmp_path.resolve())
    run = loc / "date=2026-11-20" / "r1"
    assert str(run) == f"{uri(tmp_path)}/date=2026-11-20/r1" and run.name == "r1"
    assert run.parent.parent == loc
    # a URI typer or pathlib folded ("s3:/b") is unfolded; S3 options in the query are kept in the URI
    s3 = resolve("s3:/bucket/prefix?endpoint_override=127.0.0.1:9&scheme=http", check=False)
    assert s3.fs.type_name == "s3" and s3.path == "bucket/prefix"
    assert str(s3 / "run") == "s3://bucket/prefix/run?endpoint_override=127.0.0.1:9&scheme=http"
    gs = resolve("gs://bucket/nightly", check=False)
    assert gs.fs.type_name == "gcs" and str(gs / "date=2026-11-20") == "gs://bucket/nightly/date=2026-11-20"
    assert resolve(s3) is s3


@pytest.mark.parametrize("bad, says", [
    ("foo://bucket/x", "Unrecognized filesystem type"),
    ("file://somehost/x", "hostname"),
])
def test_bad_uris_are_one_line_naming_the_option(bad, says):
    with pytest.raises(SpecError) as e:
        resolve(bad, "--out")
    assert str(e.value).startswith(f"--out: {bad}: ") and says in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------
# files on a location
# ------------------------------------------------------------------------------------------


def test_location_reads_writes_lists_copies_and_deletes(tmp_path):
    root = resolve(uri(tmp_path / "store"))
    assert not root.exists()
    root.mkdir()
    (root / "a.json").write_bytes(b'{"x": 1}')
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_bytes(b"b")
    assert (root / "a.json").read_text() == '{"x": 1}' and (root / "a.json").is_file()
    assert [e.name for e in root.iterdir()] == ["a.json", "sub"]
    assert root.walk_files() == ["a.json", "sub/b.txt"]
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.endswith(".tmp")]  # renamed into place
    copy = root.parent / "copy"
    root.copy_tree_to(copy)
    assert (tmp_path / "copy" / "sub" / "b.txt").read_text() == "b"
    copy.rmtree()
    assert not (tmp_path / "copy").exists()
    assert list((root / "missing").iterdir()) == [] and not (root / "missing").is_dir()


def test_mirror_pushes_what_changed_and_run_json_last(tmp_path):
    local = tmp_path / "staging"
    local.mkdir()
    write_json({"status": "running"}, local / "run.json")
    write_parquet(pd.DataFrame({"a": [1]}), local / "trials.parquet")
    (local / "journal.jsonl").write_text('{"kind": "start"}\n')
    remote = resolve(uri(tmp_path / "remote" / "run1"))
    remote.mkdir()
    order: list[str] = []
    original = Location.write_bytes

    def spy(self, data):
        order.append(self.name)
        original(self, data)

    mirror = Mirror(local, remote)
    try:
        Location.write_bytes = spy  # type: ignore[method-assign]
        mirror.push()
        assert order == ["trials.parquet", "journal.jsonl", "run.json"]
        order.clear()
        mirror.push()
        assert order == []  # nothing changed: nothing uploaded
        with open(local / "journal.jsonl", "a") as f:
            f.write('{"kind": "epoch"}\n')
        mirror.push(("journal.jsonl",))
        assert order == ["journal.jsonl"]
    finally:
        Location.write_bytes = original  # type: ignore[method-assign]
    assert (tmp_path / "remote" / "run1" / "journal.jsonl").read_text().count("\n") == 2
    assert pd.read_parquet(tmp_path / "remote" / "run1" / "trials.parquet")["a"].tolist() == [1]


# ------------------------------------------------------------------------------------------
# reading runs from a URI
# ------------------------------------------------------------------------------------------


def _fake_run(root: Path, run_id: str, started: float, hp: dict) -> Path:
    d = root / run_id
    d.mkdir(parents=True)
    write_json({"run_id": run_id, "name": "n", "status": "complete", "started_at": started,
                "budget": {"metric": "val_accuracy", "mode": "max"},
                "selected": {"trial_id": "t0", "best_val_accuracy": 0.9, "test_accuracy": 0.8}}, d / "run.json")
    write_parquet(pd.DataFrame([{"run_id": run_id, "trial_id": "t0", "status": "completed", "epochs": 2,
                                 "best_val_accuracy": 0.9, "is_selected": True, "test_accuracy": 0.8,
                                 **{f"hp_{k}": v for k, v in hp.items()}}]), d / "trials.parquet")
    write_parquet(pd.DataFrame([{"run_id": run_id, "trial_id": "t0", "epoch": e, "train_loss": 1.0 / e,
                                 "val_loss": 1.1 / e, "val_accuracy": 0.8 + 0.05 * e} for e in (1, 2)]),
                  d / "epochs.parquet")
    (d / "tune").mkdir()
    (d / "tune" / "run.json").write_text("{}")  # inside a run directory: never taken for a run
    return d


def test_load_and_load_many_through_a_uri_equal_the_local_read(tmp_path):
    a = _fake_run(tmp_path / "results", "n-a", 1.0, {"lr": 0.1})
    _fake_run(tmp_path / "results" / "deeper", "n-b", 2.0, {"lr": 0.2, "units": 8})
    (tmp_path / "results" / "_staging" / "x").mkdir(parents=True)
    (tmp_path / "results" / "_staging" / "x" / "run.json").write_text("{}")  # never read as a run
    remote = load(uri(a))
    local = load(a)
    assert isinstance(remote.path, Location) and str(remote.path) == uri(a)
    assert remote.info == local.info
    pd.testing.assert_frame_equal(remote.trials, local.trials)
    pd.testing.assert_frame_equal(remote.epochs, local.epochs)
    many = load_many(uri(tmp_path / "results"))
    assert list(many.runs["run_id"]) == ["n-a", "n-b"] and many.runs["path"].iloc[0] == uri(a)
    assert many.trials["hp_units"].isna().tolist() == [True, False]
    with pytest.raises(FileNotFoundError):
        load_many(uri(tmp_path / "nothing"))


def test_cli_show_and_report_on_a_uri(tmp_path, capsys):
    run_dir = _fake_run(tmp_path / "results", "n-a", 1.0, {"lr": 0.1})
    assert main(["show", uri(run_dir)]) == 0
    assert "run n-a · status complete · 1 trials" in capsys.readouterr().out
    assert main(["report", uri(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {uri(run_dir)}/report.html"
    page = (run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "n-a" in page
    assert main(["show", uri(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"sweep: error: {uri(tmp_path)}: not a run directory (no run.json)"


@pytest.mark.parametrize("argv, option", [
    (["run", "SPEC", "--out", "foo://bucket/runs"], "--out"),
    (["nightly", "SPEC", "--history", "foo://bucket/h"], "--history"),
    (["show", "foo://bucket/run"], "RUN_DIR"),
    (["report", "foo://bucket/run"], "RUN_DIR"),
    (["resume", "foo://bucket/run"], "RUN_DIR"),
    # nothing listens there: pyarrow's S3 client gives up after its retries (a few seconds)
    (["run", "SPEC", "--out", "s3://bucket/runs?endpoint_override=127.0.0.1:1&scheme=http"], "--out"),
    (["show", "gs://bucket/run?endpoint_override=127.0.0.1:1&scheme=http&retry_limit_seconds=1"], "RUN_DIR"),
])
def test_cli_bad_or_unreachable_uris_exit_2_with_one_line(tmp_path, capsys, argv, option, monkeypatch):
    import yaml

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    spec = tmp_path / "n.yaml"
    spec.write_text(yaml.safe_dump({"name": "n", "data": {"dataset": "digits"}, "params": NIGHTLY_PARAMS}))
    assert main([str(spec) if a == "SPEC" else a for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sweep: error: {option}: "), err
    assert ("Unrecognized filesystem type" in err[0]) or ("cannot reach" in err[0])


# ------------------------------------------------------------------------------------------
# a nightly history on a URI
# ------------------------------------------------------------------------------------------


class RemoteFakeSweep(FakeSweep):
    """The stand-in sweep, writing a run directory to a URI as the runner does (local staging, mirror)."""

    def __call__(self, spec, out, **kw):
        assert isinstance(out, Location)
        local = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            result = super().__call__(spec, local, **kw)
        finally:
            for run_dir in local.iterdir():  # what the runner's mirror would have copied so far
                (out / run_dir.name).mkdir()
                Mirror(run_dir, out / run_dir.name).push()
        return dataclasses.replace(result, run_dir=out / result.run_id)


_made = iter(range(0, 10**6, 100))


def _remote_sweep(tmp_path: Path, *args, **kw) -> RemoteFakeSweep:
    s = RemoteFakeSweep(*args, **kw)
    s.tmp, s.n = tmp_path, next(_made)  # run ids unique across stand-ins, as the runner's are
    return s


def test_nightly_on_a_uri_history_replaces_a_date_and_reads_back(tmp_path):
    hist = tmp_path / "h"
    spec = nightly_spec(NIGHTLY_PARAMS)
    r1 = nl.run_nightly(spec, uri(hist), "2026-11-20", run=_remote_sweep(tmp_path, 0.9, hp={"learning_rate": 0.02}))
    assert str(r1.partition) == f"{uri(hist)}/date=2026-11-20" and r1.result.run_dir.parent == r1.partition
    assert (hist / "date=2026-11-20" / r1.result.run_id / "trials.parquet").is_file()

    messages: list[str] = []
    r2 = nl.run_nightly(spec, uri(hist), "2026-11-21", run=_remote_sweep(tmp_path, 0.95), log=messages.append)
    assert r2.warm_start == [{"learning_rate": 0.02}] and not r2.regressed
    info = json.loads((hist / "date=2026-11-21" / r2.result.run_id / "run.json").read_text())
    assert info["nightly"]["comparison"]["previous_best"]["value"] == 0.9  # run.json updated on the URI

    # the same date again: replaced, one run in the partition; a failure leaves it as it was
    r2b = nl.run_nightly(spec, uri(hist), "2026-11-21", run=_remote_sweep(tmp_path, 0.5), log=messages.append)
    assert r2b.replaced and r2b.regressed and "replaced the earlier run of this date" in messages[-1]
    assert [p.name for p in (hist / "date=2026-11-21").iterdir()] == [r2b.result.run_id]
    with pytest.raises(KeyboardInterrupt):
        nl.run_nightly(spec, uri(hist), "2026-11-21", run=_remote_sweep(tmp_path, fail=KeyboardInterrupt()))
    assert [p.name for p in (hist / "date=2026-11-21").iterdir()] == [r2b.result.run_id]
    assert not list((hist / "_staging").iterdir())  # the failed night's staging copy is gone

    # what a publish killed midway left (a run without run.json) is cleared by the next run of the date
    (hist / "date=2026-11-21" / "half-copied").mkdir()
    (hist / "date=2026-11-21" / "half-copied" / "trials.parquet").write_bytes(b"x")
    r2c = nl.run_nightly(spec, uri(hist), "2026-11-21", run=_remote_sweep(tmp_path, 0.96))
    assert r2c.replaced and [p.name for p in (hist / "date=2026-11-21").iterdir()] == [r2c.result.run_id]

    assert [n.date.isoformat() for n in nl.read_nights(uri(hist))] == ["2026-11-20", "2026-11-21"]
    h = nl.load_history(uri(hist))
    local = nl.load_history(hist)
    assert list(h.runs["date"].dt.strftime("%Y-%m-%d")) == ["2026-11-20", "2026-11-21"]
    pd.testing.assert_frame_equal(h.trials, local.trials)
    assert h.trials["best_val_accuracy"].tolist() == [0.9, 0.96]


def test_cli_nightly_on_a_uri_history(tmp_path, capsys, monkeypatch):
    import yaml

    import orchestrator.execution

    spec = tmp_path / "n.yaml"
    spec.write_text(yaml.safe_dump({"name": "n", "data": {"dataset": "digits"}, "params": NIGHTLY_PARAMS,
                                    "metric": "val_accuracy"}))
    hist = uri(tmp_path / "h")
    monkeypatch.setattr(orchestrator.execution, "run_sweep", _remote_sweep(tmp_path, 0.97, test=0.95))
    assert main(["nightly", str(spec), "--history", hist, "--date", "2026-11-20"]) == 0
    assert f"results: {hist}/date=2026-11-20/n-" in capsys.readouterr().out
    monkeypatch.setattr(orchestrator.execution, "run_sweep", _remote_sweep(tmp_path, 0.91, test=0.9))
    assert main(["nightly", str(spec), "--history", hist, "--date", "2026-11-21"]) == 3
    assert capsys.readouterr().err.startswith("regression: val_accuracy 0.9100 < previous best 0.9700")


# ------------------------------------------------------------------------------------------
# an object store (a local S3 endpoint; skipped without moto): no directories, no renames
# ------------------------------------------------------------------------------------------


def test_s3_nightly_history_run_reading_and_report(s3_root, tmp_path, capsys):
    root = resolve(s3_root)
    hist = root / "nightly"
    spec = nightly_spec(NIGHTLY_PARAMS)
    r1 = nl.run_nightly(spec, hist, "2026-11-20", run=_remote_sweep(tmp_path, 0.9, hp={"learning_rate": 0.02}))
    r2 = nl.run_nightly(spec, str(hist), "2026-11-21", run=_remote_sweep(tmp_path, 0.95))
    assert r2.warm_start == [{"learning_rate": 0.02}] and r2.comparison.reference.run_id == r1.result.run_id
    r2b = nl.run_nightly(spec, str(hist), "2026-11-21", run=_remote_sweep(tmp_path, 0.97))
    assert r2b.replaced and [e.name for e in (hist / "date=2026-11-21").iterdir()] == [r2b.result.run_id]
    assert [e.name for e in (hist / "_staging").iterdir()] == []
    h = nl.load_history(str(hist))
    assert h.trials["best_val_accuracy"].tolist() == [0.9, 0.97]
    assert list(h.runs["date"].dt.strftime("%Y-%m-%d")) == ["2026-11-20", "2026-11-21"]

    run = str(r2b.result.run_dir)
    assert json.loads((resolve(run) / "run.json").read_text())["nightly"]["date"] == "2026-11-21"
    assert main(["show", run]) == 0
    assert f"run {r2b.result.run_id} · status complete · 1 trials" in capsys.readouterr().out
    assert main(["report", run]) == 0
    assert (resolve(run) / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_s3_missing_bucket_is_one_line_naming_the_option(s3_root, tmp_path, capsys):
    missing = s3_root.replace("s3://sweep-test/", "s3://no-such-bucket/")
    with pytest.raises(SpecError, match=r"^--history: s3://no-such-bucket/runs\?.*: no such bucket 'no-such-bucket'$"):
        resolve(missing, "--history")
    assert main(["show", missing]) == 2
    assert capsys.readouterr().err.startswith("sweep: error: RUN_DIR: s3://no-such-bucket/")
