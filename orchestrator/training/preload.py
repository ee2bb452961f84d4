"""Imported by an embedded Ray's workers as they start (``sweep run`` with preloading on).

TensorFlow (without Keras' unused extras, :func:`worker.import_tensorflow`) and the trainable's
module load in the workers Ray prestarts while the driver still sets up the sweep, instead of in the
first trial of each worker.
"""
import orchestrator.training.trainable  # noqa: F401 - loaded now, not in the first trial
from orchestrator.training.worker import import_tensorflow

import_tensorflow()
