"""Integration tests: real Ray (one in-process instance for the whole session) and tiny Keras models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "search_spaces"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray for every integration test; shut down (only this one) at the end.

    It declares 4 logical GPUs (this machine has none) so that GPU placement is testable: Ray
    assigns GPU ids and sets CUDA_VISIBLE_DEVICES exactly as on a GPU machine.
    """
    from orchestrator.runner import connect_ray

    started = connect_ray(None, {"num_cpus": 2, "num_gpus": 4})
    import ray

    yield ray
    if started:
        ray.shutdown()


def write_spec(tmp_path: Path, base: str | dict[str, Any], **changes: Any) -> Path:
    """Copy a shipped spec (or a dict) into tmp_path with nested ``changes`` applied.

    ``changes`` keys are dotted paths, e.g. ``{"model.epochs": 2, "search.num_samples": 3}``;
    a value of ``None`` deletes the key.
    """
    doc = yaml.safe_load((SPECS / base).read_text()) if isinstance(base, str) else dict(base)
    for dotted, value in changes.items():
        keys = dotted.split("__") if "__" in dotted else dotted.split(".")
        node = doc
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    name = base if isinstance(base, str) else f"{doc.get('name', 'spec')}.yaml"
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_cli(*argv: str) -> int:
    from orchestrator.cli import main

    return main([str(a) for a in argv])


def only_run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]
