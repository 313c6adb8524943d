import csv
import re
import subprocess
import sys

import pandas as pd
import pytest

from modelkeel.errors import DataError, DataValidationError
from modelkeel.runtime.scoring import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    predict,
    write_output,
)


@pytest.fixture()
def incoming(validated, settings, tmp_path):
    """New rows as a consumer has them: the raw feature columns of some of the project's rows, no target."""
    path = tmp_path / "incoming.csv"
    validated.frame[list(settings.data.features)].head(50).to_csv(path, index=False)
    return path


def test_predict_scores_new_data(bundle_dir, settings, tmp_path, incoming):
    out = tmp_path / "scored.csv"
    rows = predict(bundle_dir, incoming, out)
    scored = pd.read_csv(out)
    assert rows == len(scored) > 0
    assert scored["prediction"].notna().all()
    if settings.task == "classification":
        probabilities = scored.filter(like="probability_")
        assert probabilities.shape[1] >= 2
        assert ((probabilities.sum(axis=1) - 1).abs() < 1e-4).all()


def test_predict_rejects_input_that_breaks_the_schema(bundle_dir, settings, tmp_path):
    bad = tmp_path / "bad.csv"
    frame = pd.DataFrame({c: [1.0] for c in settings.data.features[1:]})  # the first column is missing
    frame.to_csv(bad, index=False)
    with pytest.raises(DataValidationError, match="column_in_dataframe"):
        predict(bundle_dir, bad, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_predict_does_not_import_scikit_learn(bundle_dir, settings, tmp_path, incoming):
    code = (
        "import sys\n"
        "from modelkeel.runtime.scoring import predict\n"
        f"predict({str(bundle_dir)!r}, {str(incoming)!r}, {str(tmp_path / 'o.parquet')!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skl2onnx'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.parquet").is_file()


def test_output_that_is_a_folder_is_a_clear_error(bundle_dir, settings, tmp_path, incoming):
    with pytest.raises(DataError, match="is a folder"):
        predict(bundle_dir, incoming, tmp_path)


# ---- input limits, duplicated and clashing columns, CSV injection -----------------------------------

FORMULAS = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\tindented", "\rreturn"]
HARMLESS = ["plain", "a=b", "'quoted", "1-2", " =spaced"]


def csv_cells(path):
    """The CSV file's rows as the raw text a spreadsheet receives (no type guessing)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def column(path, name):
    header, *rows = csv_cells(path)
    return [row[header.index(name)] for row in rows]


def test_the_default_limits_are_generous():
    assert DEFAULT_MAX_ROWS == 10_000_000 and DEFAULT_MAX_BYTES == 2 * 1024**3


def test_duplicated_column_names_in_a_csv_header_are_a_clear_error(bundle_dir, settings, validated, tmp_path):
    features = list(settings.data.features)
    rows = validated.frame[features].head(5)
    path = tmp_path / "twice.csv"
    pd.concat([rows, rows[[features[0]]]], axis=1).to_csv(path, index=False)
    assert csv_cells(path)[0].count(features[0]) == 2  # the header really names it twice
    with pytest.raises(DataError, match=re.escape(str([features[0]]) + " occur more than once")):
        predict(bundle_dir, path, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_duplicated_column_names_in_a_parquet_file_are_a_clear_error(bundle_dir, settings, validated, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = list(settings.data.features)
    table = pa.Table.from_pandas(validated.frame[features].head(5), preserve_index=False)
    table = table.append_column(features[0], table.column(features[0]))
    pq.write_table(table, tmp_path / "twice.parquet")
    with pytest.raises(DataError, match=re.escape(str([features[0]]) + " occur more than once")):
        predict(bundle_dir, tmp_path / "twice.parquet", tmp_path / "out.csv")


def test_more_rows_than_the_limit_is_a_clear_error(bundle_dir, tmp_path, incoming):
    with pytest.raises(DataError, match=r"50 rows, more than the limit of 10 rows.*--max-rows N"):
        predict(bundle_dir, incoming, tmp_path / "out.csv", max_rows=10)
    assert not (tmp_path / "out.csv").exists()
    assert predict(bundle_dir, incoming, tmp_path / "out.csv", max_rows=50) == 50  # the limit itself is allowed


def test_a_parquet_file_over_the_row_limit_is_refused(bundle_dir, tmp_path, incoming):
    path = tmp_path / "incoming.parquet"
    pd.read_csv(incoming).to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"50 rows, more than the limit of 49 rows"):
        predict(bundle_dir, path, tmp_path / "out.parquet", max_rows=49)


def test_a_file_over_the_size_limit_is_a_clear_error(bundle_dir, tmp_path, incoming):
    size = incoming.stat().st_size
    with pytest.raises(DataError, match=rf"\({size:,} bytes\), more than the limit of 100 bytes.*--max-bytes N"):
        predict(bundle_dir, incoming, tmp_path / "out.csv", max_bytes=100)
    assert predict(bundle_dir, incoming, tmp_path / "out.csv", max_bytes=size) == 50


@pytest.mark.parametrize("limit", [0, -1, 2.5])
def test_a_limit_below_one_is_refused(bundle_dir, tmp_path, incoming, limit):
    with pytest.raises(DataError, match="must be a whole number of at least 1"):
        predict(bundle_dir, incoming, tmp_path / "out.csv", max_rows=limit)


def test_a_column_named_like_a_prediction_is_an_error_not_overwritten(bundle_dir, settings, tmp_path, incoming):
    from modelkeel.runtime.model import load_model

    frame = pd.read_csv(incoming)
    names = ["prediction"]
    if settings.task == "classification":
        names.append(f"probability_{load_model(path=bundle_dir, allow_unsigned=True).bundle.classes[0]}")
    for name in names:
        path = tmp_path / "clash.csv"
        frame.assign(**{name: "mine"}).to_csv(path, index=False)
        with pytest.raises(DataError, match=re.escape(str([name]) + ", which the predictions are written to")):
            predict(bundle_dir, path, tmp_path / "out.csv")
        assert not (tmp_path / "out.csv").exists()


def test_other_columns_pass_through_and_csv_formulas_are_neutralised(bundle_dir, tmp_path, incoming):
    frame = pd.read_csv(incoming)
    notes = (FORMULAS + HARMLESS) * 5
    frame["note"] = notes[: len(frame)]
    frame["delta"] = [-1.5 - i for i in range(len(frame))]  # negative numbers, not text
    path = tmp_path / "with_notes.parquet"  # the CSV reader takes no line break inside a cell, Parquet does
    frame.to_parquet(path, index=False)
    predict(bundle_dir, path, tmp_path / "scored.csv")
    predict(bundle_dir, path, tmp_path / "scored.parquet")
    predict(bundle_dir, path, tmp_path / "raw.csv", allow_formulas=True)

    expected = ["'" + v if v in FORMULAS else v for v in frame["note"]]
    assert column(tmp_path / "scored.csv", "note") == expected
    assert column(tmp_path / "raw.csv", "note") == list(frame["note"]), "--allow-formulas writes them as they are"
    assert column(tmp_path / "scored.csv", "delta") == [str(v) for v in frame["delta"]]
    parquet = pd.read_parquet(tmp_path / "scored.parquet")
    assert list(parquet["note"]) == list(frame["note"]), "Parquet is not neutralised"
    assert list(parquet["delta"]) == list(frame["delta"])
    path = tmp_path / "with_notes.csv"
    frame[frame["note"] != "\rreturn"].to_csv(path, index=False)
    predict(bundle_dir, path, tmp_path / "from_csv.csv")
    assert column(tmp_path / "from_csv.csv", "note") == [v for v in expected if v != "'\rreturn"]


def test_write_output_neutralises_every_kind_of_text_cell_and_only_text(tmp_path):
    frame = pd.DataFrame(
        {
            "label": pd.Series(["=HYPERLINK(1)", "ok", None], dtype=object),  # e.g. string class labels
            "text": pd.Series(["@SUM(1)", "-x", "fine"], dtype="string"),
            "category": pd.Series(["+1", "b", "+1"], dtype="category"),
            "mixed": pd.Series([-3, "-3", "\ttab"], dtype=object),
            "number": [-1, -2.5, 3],
            "flag": [True, False, True],
            "=header": ["x", "y", "z"],
        }
    )
    write_output(frame, tmp_path / "out.csv")
    assert csv_cells(tmp_path / "out.csv") == [
        ["label", "text", "category", "mixed", "number", "flag", "'=header"],
        ["'=HYPERLINK(1)", "'@SUM(1)", "'+1", "-3", "-1.0", "True", "x"],
        ["ok", "'-x", "b", "'-3", "-2.5", "False", "y"],
        ["", "fine", "'+1", "'\ttab", "3.0", "True", "z"],
    ]
    assert frame["label"][0] == "=HYPERLINK(1)", "the caller's frame is not changed"
    write_output(frame, tmp_path / "raw.csv", allow_formulas=True)
    assert csv_cells(tmp_path / "raw.csv")[1][:2] == ["=HYPERLINK(1)", "@SUM(1)"]


def test_a_carriage_return_inside_a_cell_cannot_start_a_row_of_its_own(tmp_path):
    """Unquoted, `x<CR>=1+2` would end the row at the CR and start the next with the formula `=1+2`."""
    frame = pd.DataFrame({"note": ["x\r=1+2", "y"], "n": [1, 2]})
    write_output(frame, tmp_path / "out.csv")
    assert csv_cells(tmp_path / "out.csv") == [["note", "n"], ["x\r=1+2", "1"], ["y", "2"]]
    assert b'"x\r=1+2"' in (tmp_path / "out.csv").read_bytes()
    write_output(frame.assign(note=["x", "y"]), tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_bytes() == b"note,n\nx,1\ny,2\n", "otherwise lines end in \\n"


def test_predictions_are_the_classes_as_the_data_holds_them(typed, tmp_path):
    """Given a target of bools, 0/1 or 1/2/3 integers, or text; when a file is scored; then every prediction
    is a class as the data writes it (True/False, not the graph's 0/1), the one scikit-learn predicts."""
    inputs = typed.batch.drop(columns="target")
    inputs.to_csv(tmp_path / "in.csv", index=False)
    predict(typed.bundle.folder, tmp_path / "in.csv", tmp_path / "out.parquet")
    scored = pd.read_parquet(tmp_path / "out.parquet")
    expected_classes = {"bool": [False, True], "int": [0, 1], "text": ["no", "yes"], "three": [1, 2, 3]}[typed.kind]
    classes = typed.bundle.classes
    assert classes == expected_classes and [type(c) for c in classes] == [type(c) for c in expected_classes]
    kind = {"bool": "b", "int": "i", "three": "i"}.get(typed.kind)
    assert scored["prediction"].dtype.kind == kind if kind else pd.api.types.is_string_dtype(scored["prediction"])
    assert scored["prediction"].tolist() == typed.sklearn_predict(typed.batch).tolist()
    assert set(scored["prediction"]) <= set(classes)
    assert [c for c in scored if c.startswith("probability_")] == [f"probability_{c}" for c in classes]
