"""A generated sequence task for sequence.yaml: which of three waveforms is hidden in the noise?

``load(n, steps, seed)`` returns ``(x, y)``: ``x`` float32 of shape ``(n, steps, 1)`` (a sine, a
square or a sawtooth wave of random frequency and phase, plus Gaussian noise) and ``y`` the wave's
class (0, 1, 2). Nothing is downloaded; the same arguments give the same data.
"""

import numpy as np


def load(n=900, steps=48, noise=0.6, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    y = rng.integers(0, 3, size=n)
    freq = rng.uniform(0.04, 0.12, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    angle = 2 * np.pi * freq * t + phase
    waves = np.stack([np.sin(angle), np.sign(np.sin(angle)), 2 * ((angle / (2 * np.pi)) % 1.0) - 1])
    x = waves[y, np.arange(n)] + rng.normal(0, noise, size=(n, steps))
    return x[..., None].astype("float32"), y
