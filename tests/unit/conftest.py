"""Unit tests import neither Ray nor TensorFlow (nor Keras): each test is checked as it ends.

A test that needs one of them belongs in tests/integration. The check sees what a test imports in
this process (its code, the package modules it reaches); when the integration tests ran first in
the same session and imported them already, there is nothing left to see.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

HEAVY = ("ray", "tensorflow", "keras")


@pytest.fixture(autouse=True)
def _neither_ray_nor_tensorflow(request: pytest.FixtureRequest) -> Iterator[None]:
    before = {m for m in HEAVY if m in sys.modules}
    yield
    new = sorted(m for m in HEAVY if m in sys.modules and m not in before)
    if new:
        pytest.fail(f"{request.node.nodeid} imported {', '.join(new)}: unit tests import neither Ray nor "
                    "TensorFlow (move the test, or its part that needs them, to tests/integration)", pytrace=False)
