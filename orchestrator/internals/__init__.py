"""Every reach into Ray's, Ray Tune's and Keras' internals, behind one door.

The product relies on a few private details of its dependencies, each to save real time or memory
(the figures are in each entry's docstring). They all live in this package, so that an upgrade of
Ray or Keras has one place to look:

- a *patch* replaces an attribute of a library for the duration of :func:`patched` (and puts it
  back after); each checks its target first and, when the target moved, does nothing (the library
  then runs as it is, a little slower);
- a *reach* uses a private name directly (a subclass hook, a private module); each falls back to
  the public way when the name is not there.

Three modules: :mod:`.patches` (the registry: :class:`Patch`, :func:`patched`, :func:`swap`,
:func:`target_present`), :mod:`.ray` (Ray and Ray Tune, driver side: the patches around an
embedded Ray and three reaches) and :mod:`.keras` (Keras, worker side: reaches only). The halves
import the registry, never this package; the public names of all three are re-exported here.

``tests/integration/test_internals.py`` (Ray, Tune) and ``test_internals_keras.py`` (Keras) hold one
canary per entry: it fails, naming the entry, when an upgrade moves its target, so the fallback is
never silently the only path.

The versions these were tested against are the upper bounds in ``pyproject.toml``; to move them,
install the new versions, run ``pytest tests/integration/test_internals.py`` and the suite, then
raise the bounds.
"""

from __future__ import annotations

from .keras import KERAS_REACHES, WeightsWriter, keras_callback_list, keras_classes, keras_reach_ok
from .patches import PATCHES, Patch, patched, swap, target_present
from .ray import (RAY_START_PATCHES, autoscaler_node_types, bootstrap_address, gcs_address, prestart_workers, ray_init_private_kwargs, raylet_pid, trial_actor, trial_error,
                  tune_interrupt, tune_interrupt_in_force)

__all__ = ["Patch", "PATCHES", "patched", "swap", "target_present",
           "RAY_START_PATCHES", "ray_init_private_kwargs", "trial_actor", "trial_error", "prestart_workers", "raylet_pid",
           "tune_interrupt", "tune_interrupt_in_force", "bootstrap_address", "gcs_address", "autoscaler_node_types",
           "KERAS_REACHES", "keras_reach_ok", "WeightsWriter", "keras_callback_list", "keras_classes"]
