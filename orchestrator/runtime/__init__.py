"""The warm runtime: a Ray node and a long-lived driver kept on this machine between sweeps.

``sweep up`` starts it (:mod:`.control`), ``sweep down`` stops it, ``sweep status`` shows it.
While it is up, ``sweep run`` and :func:`orchestrator.run` hand their sweep to its host
(:mod:`.host`, through :mod:`.client`), whose workers have TensorFlow imported already; what is
written down of it, and whether a sweep may use it, is :mod:`.state`. Imports neither Ray nor
TensorFlow (the host does, in its own process).
"""
