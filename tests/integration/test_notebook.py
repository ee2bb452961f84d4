"""docs/notebook.ipynb, executed headless by a real Jupyter kernel: the test fails if any cell fails.

The kernel is a process of its own: it starts its own embedded Ray, as a user's notebook does (this
session's Ray answers on an address only its own processes reach), and writes to a temporary
folder. It needs no ``ray_session``, and starts after the session's Ray is idle.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def test_the_notebook_runs_a_sweep_reads_its_tables_and_predicts(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("SWEEP_NOTEBOOK_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("SWEEP_NOTEBOOK_OUT", str(tmp_path / "out"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "accuracy on the test rows" in outputs
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert (run_dir / "model" / "model.keras").is_file() and (run_dir / "report.html").is_file()
    assert os.environ["SWEEP_NOTEBOOK_OUT"] == str(tmp_path / "out")
