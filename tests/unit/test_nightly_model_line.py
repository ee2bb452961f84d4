"""``sweep nightly`` prints only paths that exist when it returns: the model it names is the one in
the night's partition, not in the staging area the night was written to and renamed from.

The sweep is a stand-in (no Ray, no TensorFlow) that writes a run directory with an exported model
the way the runner does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from orchestrator.execution import RunResult
from tests.helpers import NIGHTLY_DATA, NIGHTLY_PARAMS, FakeSweep


class SweepWithModel(FakeSweep):
    """A stand-in sweep whose run exports its model (``model/``), as a completed run does."""

    def __call__(self, spec: Any, out: Any, **kwargs: Any) -> RunResult:
        result = super().__call__(spec, out, **kwargs)
        model = Path(result.run_dir) / "model"
        model.mkdir()
        (model / "model.keras").write_bytes(b"keras")
        (model / "preprocessing.json").write_text(json.dumps({"format": 1, "kind": "table", "columns": []}))
        (model / "model.json").write_text(json.dumps({"format": 1, "data": {"source": "table"}}))
        return RunResult(**{**result.__dict__, "model": f"{result.run_dir}/model/model.keras"})


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    import yaml

    p = tmp_path / "n.yaml"
    p.write_text(yaml.safe_dump({"name": "n", "data": NIGHTLY_DATA, "params": NIGHTLY_PARAMS,
                                 "metric": "val_accuracy"}))
    return p


def test_every_path_nightly_prints_exists_when_it_returns(tmp_path, spec_file, capsys, monkeypatch) -> None:
    import orchestrator.execution

    hist = tmp_path / "h"
    for date in ("2026-11-20", "2026-11-20", "2026-11-21"):  # a first night, its replacement, the next
        monkeypatch.setattr(orchestrator.execution, "run_sweep", SweepWithModel(0.97, test=0.95))
        assert main(["nightly", str(spec_file), "--history", str(hist), "--date", date]) == 0
        out = capsys.readouterr().out
        model, run_dir = re.search(r"^model: (\S+) \(sweep predict (\S+) ROWS\.csv\)$", out, re.M).groups()
        results = re.search(r"^results: (\S+)$", out, re.M).group(1)
        assert Path(model).is_file() and Path(run_dir).is_dir() and Path(results).is_dir(), out
        assert Path(model) == Path(results) / "model" / "model.keras"
        assert Path(results).parent == hist.resolve() / f"date={date}" and "_staging" not in out
