"""An image that does not decode, in an image folder and given alone: one line naming the file, with
none of TensorFlow's internals. Real Keras and TensorFlow; tiny generated PNGs; no Ray.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
Image = pytest.importorskip("PIL.Image")

from orchestrator.data import load_source  # noqa: E402
from orchestrator.data.images import read_images  # noqa: E402
from orchestrator.errors import DataError  # noqa: E402


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


def test_an_image_that_does_not_decode_is_named_by_its_file(tmp_path):
    root = _folder(tmp_path / "pics")
    bad = root / "b" / "3.png"
    bad.write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError) as info:
        load_source(path=root, task=None, image_size=[4, 4])
    message = str(info.value)
    assert info.value.key == "data.path" and f"{bad} is not a readable image" in message, message
    assert "{{" not in message and "function_node" not in message and "[Op:" not in message, message
    assert "\n" not in message
    with pytest.raises(DataError) as info:  # given alone (an exported model's input): named as given
        read_images(bad, image_size=[4, 4], color_mode="rgb")
    assert f"{bad} is not a readable image" in str(info.value) and "sweep-image-" not in str(info.value)
