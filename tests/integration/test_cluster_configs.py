"""The Ray cluster launcher configs through Ray's own preparation, as ``ray up`` does before it
starts anything: defaults merged, then validated again. Ray's private helpers, so Ray is imported
(no Ray is started); the schema check without Ray is in tests/unit/test_cluster_configs.py.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.helpers import LAUNCHER


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_passes_rays_own_preparation(name):
    try:
        from ray.autoscaler._private.util import prepare_config, validate_config
    except ImportError:  # pragma: no cover - moved in another Ray version
        pytest.skip("ray.autoscaler._private.util moved: the schema check (unit tests) is the one that must hold")

    config = yaml.safe_load(LAUNCHER[name].read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]
