"""A trial's training seed: from the run's seed and the trial's place in the search, never from
Ray's random ids, so that a seeded run trains again what it trained before."""

from __future__ import annotations

from orchestrator.training.inputs import trial_seed


def test_a_numbered_trial_is_seeded_by_its_index():
    assert trial_seed(5, "a1b2c_00003") == trial_seed(5, "ffff0_00003", {"learning_rate": 0.1})  # another run's prefix
    assert trial_seed(5, "a1b2c_00003") != trial_seed(5, "a1b2c_00004")
    assert trial_seed(5, "a1b2c_00003") != trial_seed(6, "a1b2c_00003")


def test_a_searchers_random_id_is_seeded_by_its_configuration():
    """tpe's trial ids are random hex, another each run: the seed follows the configuration its
    seeded sampler drew (a user's two runs with --seed 5 trained the same configurations differently)."""
    config = {"optimizer": "sgd", "learning_rate": 0.00259, "momentum": 0.44, "units": 30}
    assert trial_seed(5, "f822e444", config) == trial_seed(5, "49f00bdc", dict(reversed(config.items())))
    assert trial_seed(5, "f822e444", config) != trial_seed(5, "f822e444", {**config, "units": 31})
    assert trial_seed(5, "f822e444", config) != trial_seed(6, "f822e444", config)
    assert 0 <= trial_seed(2**40, "f822e444", config) < 2**31 - 1
