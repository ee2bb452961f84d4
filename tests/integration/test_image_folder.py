"""Array sources that need TensorFlow: a folder of images read through Keras' own loader, and a
loader whose parts are ``tf.data.Dataset``s. Tiny generated PNGs; no Ray. ``sweep validate`` on an
image folder reads it through Keras too, and lets none of TensorFlow's native lines through.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.data import ArrayData, load_for, load_source, prepare
from orchestrator.errors import DataError
from orchestrator.quiet import NATIVE_LOG_LINE
from orchestrator.spec import parse_spec


def _images(root: Path, counts: dict[str, int], shade: dict[str, int], size=(12, 10)) -> Path:
    """One subfolder per class; each image a flat grey of its class's shade plus a little noise."""
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.clip(shade[name] + rng.integers(-10, 10, size=(size[1], size[0], 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


def test_an_image_folder_loads_through_its_spec_scaled_to_0_1(tmp_path):
    _images(tmp_path / "shades", {"dark": 10, "light": 10}, {"dark": 40, "light": 215})
    (tmp_path / "shades" / "notes.txt").write_text("not an image, not a class")
    spec = parse_spec({"name": "img", "data": {"path": "shades", "image_size": [6, 5], "color_mode": "grayscale"}},
                      source="img.yaml", base_dir=str(tmp_path))
    assert spec.task == "classification"
    raw, p = load_for(spec)
    assert isinstance(raw, ArrayData) and raw.name == "shades"
    assert p.input_shape == (6, 5, 1) and p.train.X.shape[1:] == (6, 5, 1) and p.train.X.dtype == np.float32
    assert p.class_names == ["dark", "light"] and p.n_classes == 2
    assert (len(p.train), len(p.val), len(p.test)) == (14, 4, 2)
    every = np.concatenate([p.train.X, p.val.X, p.test.X])
    assert every.min() >= 0.0 and every.max() <= 1.0
    labels = np.concatenate([p.train.y, p.val.y, p.test.y])
    means = every.reshape(len(every), -1).mean(axis=1)
    assert means[labels == 0].max() < 0.3 < 0.7 < means[labels == 1].min()  # dark is class 0, light class 1
    assert p.report["source"] == "image_folder" and p.report["scaling"].startswith("[0, 1]")
    assert p.report["input_shape"] == [6, 5, 1]
    # how the pictures were read, for the exported model; which pictures were the test split
    assert p.preprocessing["images"] == {"image_size": [6, 5], "color_mode": "grayscale"}
    assert list(p.test_rows.columns) == ["path", "target"] and len(p.test_rows) == 2
    for path, label in p.test_rows.itertuples(index=False):
        assert Path(path).is_file() and Path(path).parent.name == label


@pytest.mark.parametrize("color_mode, channels", [("rgb", 3), ("rgba", 4)])
def test_image_size_and_color_mode(tmp_path, color_mode, channels):
    root = _images(tmp_path / "pics", {"a": 6, "b": 6}, {"a": 0, "b": 255}, size=(9, 7))
    raw = load_source(path=root, task=None, image_size=[4, 3], color_mode=color_mode)
    assert raw.x.shape == (12, 4, 3, channels)
    p = prepare(raw, fractions=(0.5, 0.5, 0.0), shape=[4 * 3 * channels])
    assert p.input_shape == (4 * 3 * channels,) and len(p.test) == 0


def test_an_image_keras_cannot_read_is_one_line_naming_the_folder(tmp_path):
    root = _images(tmp_path / "broken", {"a": 6, "b": 6}, {"a": 0, "b": 255})
    (root / "b" / "7.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError) as info:
        load_source(path=root, task=None, image_size=[4, 4])
    assert info.value.key == "data.path" and str(root) in info.value.message and "\n" not in str(info.value)


def test_loader_parts_as_tf_datasets_batched_or_not(tmp_path):
    (tmp_path / "tfdata.py").write_text(textwrap.dedent("""
        import numpy as np
        import tensorflow as tf

        def load(batch=8):
            x = np.arange(60 * 4, dtype=np.float32).reshape(60, 4)
            y = np.arange(60) % 3
            return {
                "train": tf.data.Dataset.from_tensor_slices((x[:40], y[:40])).batch(batch),
                "val": tf.data.Dataset.from_tensor_slices((x[40:52], y[40:52])),
                "test": (x[52:], y[52:]),
            }

        def pairs_of_three():
            x = np.zeros((20, 2), dtype=np.float32)
            return {"train": tf.data.Dataset.from_tensor_slices((x, x, x)), "val": (x, np.arange(20) % 2)}
    """))
    raw = load_source(loader="tfdata.py:load", args={"batch": 7}, base_dir=str(tmp_path), task="classification",
                      test_fraction=0.1)
    p = prepare(raw)
    x = np.arange(60 * 4, dtype=np.float32).reshape(60, 4)
    assert np.array_equal(p.train.X, x[:40]) and np.array_equal(p.val.X, x[40:52])
    assert np.array_equal(p.test.X, x[52:]) and p.test.y.tolist() == (np.arange(52, 60) % 3).tolist()
    assert p.report["split_by"] == "loader" and p.input_shape == (4,)
    with pytest.raises(DataError) as info:
        load_source(loader="tfdata.py:pairs_of_three", base_dir=str(tmp_path), task="classification")
    assert info.value.key == "data.loader" and "the train part tfdata.py:pairs_of_three returned" in info.value.message
    assert "(x, y) pairs" in info.value.message


def test_validate_on_an_image_folder_lets_no_native_line_through(tmp_path):
    """TensorFlow writes ``E0000 ... cuda_platform.cc:52] failed call to cuInit`` when the images are
    read on a machine without a GPU; with its own log level at 0 here, every such line would show."""
    _images(tmp_path / "shades", {"dark": 10, "light": 10}, {"dark": 40, "light": 215})
    (tmp_path / "img.yaml").write_text("name: img\ndata: {path: shades, image_size: [6, 6]}\n"
                                       "model: {family: cnn, epochs: 1}\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "validate", str(tmp_path / "img.yaml")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and "img.yaml: ok" in done.stdout, done.stderr
    native = [line for line in (done.stdout + done.stderr).splitlines() if NATIVE_LOG_LINE.match(line)]
    assert native == [], native
