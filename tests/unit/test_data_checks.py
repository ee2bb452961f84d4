"""What a user sees for a data file with one slip in it: a number column with a stray word, a column
named twice, a data file that is not there, a ``.npy`` path, an image that does not decode.

Each is one line naming the file and the column (or the file's extension), exit code 2 from
``sweep validate``; and what is not a slip (a column of categories, numeric codes kept as
categories on purpose, a column really named ``age.1``) still loads. No Ray, no TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.cli import main
from orchestrator.data import check_data_path, check_source, load_raw, load_source, prepare
from orchestrator.data import images
from orchestrator.data.checks import STRAY_TEXT_FRACTION
from orchestrator.errors import DataError


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50_000, 10_000, n).round(2),
        "city": rng.choice(["north", "south", "east"], n),
        "label": np.arange(n) % 2,
    })


def _error(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return info.value


def _validate(tmp_path: Path, capsys, data: dict) -> tuple[int, str, str]:
    """``sweep validate`` on a spec beside the data: exit code, stdout, stderr."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"data": data, "params": {"learning_rate": 0.01}}) + "\n")
    code = main(["validate", str(spec)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------------------------
# A number column with a stray word
# --------------------------------------------------------------------------------------------


def test_a_stray_word_in_a_number_column_is_refused_naming_the_column_value_and_row(tmp_path, capsys):
    df = _table()
    df["income"] = df["income"].astype(object)
    df.loc[41, "income"] = "lots"
    (tmp_path / "people.csv").write_text(df.to_csv(index=False))
    code, out, err = _validate(tmp_path, capsys, {"path": "people.csv", "target": "label",
                                                  "task": "classification"})
    assert code == 2 and out == "", (out, err)
    line = err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in err
    for phrase in ("data.path", "people.csv", "column 'income'", "'lots'", "data row 42", "1 of its 60 values",
                   "data.missing: impute"):
        assert phrase in line, (phrase, line)


def test_the_same_file_without_the_stray_word_is_ok_with_its_own_feature_count(tmp_path, capsys):
    df = _table()
    (tmp_path / "people.csv").write_text(df.to_csv(index=False))
    code, out, err = _validate(tmp_path, capsys, {"path": "people.csv", "target": "label",
                                                  "task": "classification"})
    assert code == 0, err
    assert "5 features" in out, out  # age, income and city one-hot (3): income is one feature, not 60


def test_the_row_named_is_the_files_even_when_rows_without_a_target_were_dropped(tmp_path):
    df = _table()
    df["income"] = df["income"].astype(object)
    df.loc[[3, 5], "label"] = np.nan  # dropped (missing: impute) before the features are checked
    df.loc[30, "income"] = "n.a."
    (tmp_path / "t.csv").write_text(df.to_csv(index=False))
    e = _error(load_raw, path=tmp_path / "t.csv", target="label", task="classification", missing="impute")
    assert "'n.a.'" in e.message and "data row 31" in e.message, e.message


def test_strays_are_counted_and_the_threshold_is_the_documented_fraction(tmp_path):
    n = 200
    allowed = int(STRAY_TEXT_FRACTION * n)
    for strays, refused in ((allowed, True), (allowed + 1, False)):
        df = _table(n)
        df["income"] = df["income"].astype(object)
        df.loc[list(range(10, 10 + strays)), "income"] = "unknown"
        df.to_csv(tmp_path / "t.csv", index=False)
        if refused:
            e = _error(load_raw, path=tmp_path / "t.csv", target="label", task="classification")
            assert f"{strays} of its {n} values are not a number" in e.message and "data row 11" in e.message
        else:  # that many words: a column of categories, one-hot encoded as before
            raw = load_raw(path=tmp_path / "t.csv", target="label", task="classification")
            assert "income" in prepare(raw).report["categorical_columns"]


def test_a_column_of_categories_is_still_one_hot_encoded(tmp_path):
    df = _table()
    df["size"] = np.where(np.arange(len(df)) % 3 == 0, "XL", (np.arange(len(df)) % 3).astype(str))
    df.to_csv(tmp_path / "t.csv", index=False)
    raw = load_raw(path=tmp_path / "t.csv", target="label", task="classification")
    report = prepare(raw).report
    assert set(report["categorical_columns"]) == {"city", "size"}


def test_numeric_codes_kept_as_categories_on_purpose_still_load(tmp_path):
    # a pandas category column (Parquet keeps it) and a text column of codes with no stray: both categories
    df = _table()
    df["zone"] = pd.Categorical(np.where(np.arange(len(df)) == 7, "other", (np.arange(len(df)) % 4).astype(str)))
    df["zip"] = [f"{10000 + i % 5:05d}" for i in range(len(df))]
    df.to_parquet(tmp_path / "t.parquet")
    raw = load_raw(path=tmp_path / "t.parquet", target="label", task="classification")
    assert {"zone", "zip", "city"} <= set(prepare(raw).report["categorical_columns"])


def test_a_loaders_dataframe_with_a_stray_word_is_the_loaders_error(tmp_path):
    (tmp_path / "load.py").write_text(
        "import pandas as pd\n"
        "def load():\n"
        "    v = [float(i) for i in range(40)]\n"
        "    v[12] = 'twelve'\n"
        "    return pd.DataFrame({'v': v, 'y': [i % 2 for i in range(40)]})\n")
    e = _error(load_source, loader="load.py:load", base_dir=str(tmp_path), target="y", task="classification")
    assert e.key == "data.loader" and "column 'v'" in e.message and "'twelve'" in e.message
    assert "data row 13" in e.message


# --------------------------------------------------------------------------------------------
# A column named twice
# --------------------------------------------------------------------------------------------


def test_a_csv_column_named_twice_is_refused_by_validate(tmp_path, capsys):
    text = _table().to_csv(index=False).replace("age,income,city,label", "age,income,age,label", 1)
    (tmp_path / "dup.csv").write_text(text)
    code, out, err = _validate(tmp_path, capsys, {"path": "dup.csv", "target": "label", "task": "classification"})
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (out, err)
    for phrase in ("data.path", "dup.csv", "'age'", "columns 1, 3", "more than once"):
        assert phrase in err, (phrase, err)


@pytest.mark.parametrize("name", ["dup.csv", "dup.csv.gz"])
def test_a_column_named_twice_is_refused_by_the_check_and_the_load(tmp_path, name):
    df = _table()
    df.columns = ["age", "income", "income", "label"]
    df.to_csv(tmp_path / name, index=False)
    for e in (_error(check_source, path=tmp_path / name, target="label", task="classification"),
              _error(load_raw, path=tmp_path / name, target="label", task="classification")):
        assert e.key == "data.path" and name in e.message and "'income' (columns 2, 3)" in e.message, e.message
        assert "income.1" not in e.message


def test_a_column_really_named_like_a_renamed_duplicate_loads(tmp_path):
    df = _table().rename(columns={"city": "age.1"})
    df.to_csv(tmp_path / "t.csv", index=False)
    check_source(path=tmp_path / "t.csv", target="label", task="classification")
    raw = load_raw(path=tmp_path / "t.csv", target="label", task="classification")
    assert list(raw.X.columns) == ["age", "income", "age.1"]


def test_a_parquet_column_named_twice_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    pq.write_table(pa.table([pa.array(np.arange(n)), pa.array(np.arange(n)), pa.array(np.arange(n) % 2)],
                            names=["x", "x", "y"]), tmp_path / "dup.parquet")
    for e in (_error(check_source, path=tmp_path / "dup.parquet", target="y", task="classification"),
              _error(load_raw, path=tmp_path / "dup.parquet", target="y", task="classification")):
        assert "dup.parquet" in e.message and "'x' (columns 1, 2)" in e.message, e.message


# --------------------------------------------------------------------------------------------
# A data file that is not there; a path no source reads
# --------------------------------------------------------------------------------------------


def test_a_missing_data_file_is_looked_for_beside_the_spec_as_the_message_says(tmp_path, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = tmp_path / "project"
    here.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "t.csv").write_text(_table().to_csv(index=False))  # where the command runs: not looked at
    code, out, err = _validate(here, capsys, {"path": "t.csv", "target": "label", "task": "classification"})
    assert code == 2, out
    assert str(here / "t.csv") in err and "relative to the spec file's directory" in err, err
    (here / "t.csv").write_text(_table().to_csv(index=False))  # beside the spec: found
    code, out, err = _validate(here, capsys, {"path": "t.csv", "target": "label", "task": "classification"})
    assert code == 0, err


@pytest.mark.parametrize("name, shown", [("x.npy", "'.npy'"), ("x.txt", "'.txt'"), ("x.tar.gz", "'.tar.gz'"),
                                         ("x", "no extension")])
def test_a_path_no_source_reads_is_named_with_its_extension_before_any_other_check(tmp_path, name, shown):
    (tmp_path / name).write_bytes(b"\x93NUMPY")
    for e in (_error(check_data_path, tmp_path / name),
              _error(check_source, path=tmp_path / name, target=None, task=None),  # not "target required"
              _error(load_source, path=tmp_path / name, target=None, task=None)):
        assert e.key == "data.path" and name in e.message and shown in e.message, e.message
        assert ".csv, .csv.gz, .parquet, .pq or .npz file, or a folder of images" in e.message
    assert ("numpy.savez" in _error(check_data_path, tmp_path / name).message) == name.endswith(".npy")


def test_paths_a_source_reads_pass_the_extension_check(tmp_path):
    (tmp_path / "photos").mkdir()
    for path in (tmp_path / "t.csv", tmp_path / "t.CSV.gz", tmp_path / "t.pq", tmp_path / "a.npz",
                 tmp_path / "photos", tmp_path / "not_there_yet", None):
        check_data_path(path)


# --------------------------------------------------------------------------------------------
# An image that does not decode (Keras and TensorFlow stood in for; tests/integration has the real one)
# --------------------------------------------------------------------------------------------


def test_an_image_that_does_not_decode_is_named_without_tensorflow_internals(tmp_path, monkeypatch):
    for cls in ("cats", "dogs"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "pics" / cls / f"{i}.png").write_bytes(b"\x89PNG fine")
    (tmp_path / "pics" / "dogs" / "1.png").write_bytes(b"broken")
    internals = "{{function_node __wrapped__IteratorGetNext_output_types_2_device_/job:localhost/replica:0}}"

    def loader_fails(*args):
        raise ValueError(f"{internals} Unknown image file format. One of PNG, JPEG required.")

    def decode(files, color_mode):  # the decoder's verdict, as Keras' own would give it
        return next(((f, "Unknown image file format. One of PNG, JPEG required.") for f in files
                     if not f.read_bytes().startswith(b"\x89PNG")), None)

    monkeypatch.setattr(images, "_read_batches", loader_fails)
    monkeypatch.setattr(images, "_first_unreadable", decode)
    e = _error(load_source, path=tmp_path / "pics", task=None, image_size=[4, 4])
    assert e.key == "data.path" and str(tmp_path / "pics" / "dogs" / "1.png") in e.message, e.message
    assert "not a readable image" in e.message and "function_node" not in e.message and "{{" not in e.message
    # when no single file is to blame, the folder is named, still without the internals
    monkeypatch.setattr(images, "_first_unreadable", lambda files, color_mode: None)
    e = _error(load_source, path=tmp_path / "pics", task=None, image_size=[4, 4])
    assert f"cannot read the images in {tmp_path / 'pics'}" in e.message and "{{" not in e.message, e.message
    assert "Unknown image file format" in e.message


def test_the_files_searched_for_a_bad_image_are_the_ones_keras_reads(tmp_path):
    for rel in ("b/2.png", "a/1.PNG", "a/deep/0.jpg", "a/notes.txt", ".hidden/x.png", "c/3.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = images._loader_files(tmp_path, ["a", "b"])
    assert [f.relative_to(tmp_path).as_posix() for f in found] == ["a/1.PNG", "a/deep/0.jpg", "b/2.png"]
    assert len(images._loader_files(tmp_path, None)) == 5  # no classes: every image below the folder


@pytest.mark.parametrize("values, refused", [
    (["1", "2", "3", "4", "5", "6", "7", "8", "9", "lots"], True),   # one word among 10 values
    (["1", "2", "3", "4", "5", "6", "7", "8", "lots"], False),       # among 9: too few to tell
    (["", "", "", "", "", "", "", "", "", "word"], False),           # one word and empty cells: no numbers
    (["1", "2", "3", "4", "5", "6", "7", "8", "x", "y"], False),     # 2 in 10: a column of categories
])
def test_a_single_stray_needs_enough_numbers_around_it(values, refused):
    from orchestrator.data.checks import check_features

    X = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    if refused:
        e = _error(check_features, X, where="t.csv")
        assert "column 'c' in t.csv" in e.message and "'lots' at data row 10" in e.message, e.message
    else:
        check_features(X, where="t.csv")


def test_validate_says_an_unread_extension_before_asking_for_a_target(tmp_path, capsys):
    np.save(tmp_path / "arr.npy", np.zeros((4, 2)))
    code, out, err = _validate(tmp_path, capsys, {"path": "arr.npy", "task": "classification"})
    assert code == 2 and out == ""
    line = err.strip()
    assert len(line.splitlines()) == 1 and "data.target" not in line
    assert line.startswith(f"sweep: error: spec.yaml: data.path: {tmp_path / 'arr.npy'} has the extension '.npy'")
    assert "numpy.savez" in line
