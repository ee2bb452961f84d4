"""A generated classification table for pareto_generated.yaml: a size-for-accuracy trade-off.

``load(n, features, classes, clusters, seed)`` returns ``(x, y)``: scikit-learn's
``make_classification`` with several Gaussian clusters per class, so the classes are not linearly
separable and a wider or deeper MLP keeps gaining accuracy while a narrow one plateaus lower --
the knob that makes a front of (val_accuracy, params) worth searching. Nothing is downloaded; the
same arguments give the same data.
"""

from __future__ import annotations

import numpy as np


def load(n: int = 2400, features: int = 24, classes: int = 6, clusters: int = 3, seed: int = 0):
    """``x`` float32 of shape ``(n, features)`` (already roughly standardised) and ``y`` int classes."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=features, n_informative=features * 2 // 3,
                               n_redundant=features // 6, n_classes=classes, n_clusters_per_class=clusters,
                               class_sep=1.5, flip_y=0.01, random_state=seed)
    return x.astype("float32"), y.astype(np.int64)
