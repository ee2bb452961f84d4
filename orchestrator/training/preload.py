"""Imported by an embedded Ray's workers as they start (``sweep run`` with preloading on).

TensorFlow (without Keras' unused extras, :func:`trainable.import_tensorflow`) and the trainable's
module load in the workers Ray prestarts while the driver still sets up the sweep, instead of in the
first trial of each worker.
"""
from orchestrator.training.trainable import import_tensorflow

import_tensorflow()
