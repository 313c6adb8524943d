"""Data tests: the contract accepts the project's data and rejects bad rows derived from it, with a readable report.

The bad rows come from the contract itself (a value below its range, a category it does not
allow, a column it requires), so these tests hold for any data `infer-schema` set up.
"""

import pandas as pd
import pandera.pandas as pa
import pytest

from modelkeel.data.contract import (
    load_schema_model,
    schema_from_yaml,
    schema_yaml,
    validate_frame,
)
from modelkeel.errors import DataValidationError

from ..conftest import bounded_column, category_column

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def schema(settings):
    return load_schema_model(settings)


@pytest.fixture()
def good(validated):
    return validated.frame.head(30).copy()


def failures(schema, frame):
    with pytest.raises(DataValidationError) as caught:
        validate_frame(frame, schema, "test.csv")
    return caught.value


def test_the_projects_data_passes(validated, settings):
    assert len(validated.frame) == validated.snapshot["rows"] > 0
    assert set(settings.data.features) <= set(validated.frame.columns)


def test_missing_column_is_reported(schema, good, settings):
    column = settings.data.features[0]
    error = failures(schema, good.drop(columns=[column]))
    assert column in str(error)
    assert any(f["check"] == "column_in_dataframe" for f in error.report["failures"])


def test_unexpected_column_is_reported(schema, good):
    good["surprise"] = 1
    error = failures(schema, good)
    assert "surprise" in str(error)


def test_out_of_range_values_are_counted_with_examples(schema, good, settings):
    column, bad = bounded_column(schema, settings.data.numeric_features)
    good[column] = good[column].astype(float)
    good.loc[good.index[:3], column] = bad
    error = failures(schema, good)
    entry = next(f for f in error.report["failures"] if f["column"] == column)
    assert entry["rows"] == 3
    assert entry["examples"][0]["value"] == bad
    assert f"column '{column}'" in str(error) and "3 row(s)" in str(error)


def test_unknown_category_is_reported(schema, good, settings):
    column, allowed = category_column(schema, [*settings.data.categorical_features, settings.data.target])
    unknown = "not-" + "-".join(map(str, allowed))[:40]
    good[column] = good[column].astype(object)
    good.loc[good.index[0], column] = unknown
    error = failures(schema, good)
    assert unknown in str(error) and column in str(error)


def test_wrong_type_is_reported(schema, good, settings):
    if not settings.data.numeric_features:
        pytest.skip("the data has no numeric feature to put text into")
    column = settings.data.numeric_features[0]
    good[column] = good[column].astype(object)
    good.loc[good.index[1], column] = "heavy"
    error = failures(schema, good)
    assert "heavy" in str(error)


def test_every_problem_reported_at_once(schema, good, settings):
    data = settings.data
    good = good.drop(columns=[data.features[-1]])  # one missing column ...
    broken = {data.features[-1]}
    if data.numeric_features[:1] and data.numeric_features[0] != data.features[-1]:
        column = data.numeric_features[0]  # ... text in a numeric column ...
        good[column] = good[column].astype(object)
        good.loc[good.index[0], column] = "heavy"
        broken.add(column)
    good["surprise"] = 1  # ... and a column the contract does not know
    error = failures(schema, good)
    assert len(error.report["failures"]) >= len(broken) + 1, error.report
    for name in (*broken, "surprise"):
        assert repr(name) in str(error) or name in str(error), name


def test_schema_round_trips_through_yaml(schema, good):
    restored = schema_from_yaml(schema_yaml(schema))
    pd.testing.assert_frame_equal(restored.validate(good), schema.validate(good))


def test_a_bool_column_reads_true_and_false_and_refuses_gaps_and_other_text():
    """pandera alone would read a gap as False and any text as True ("False" too): a label would flip."""
    flags = pa.DataFrameSchema({"late": pa.Column(bool), "x": pa.Column(float)}, strict=True, coerce=True)
    frame = pd.DataFrame({"late": pd.Series(["True", "false", 1, "FALSE", 0.0], dtype=object), "x": [1.0] * 5})
    assert validate_frame(frame, flags, "flags.csv")["late"].tolist() == [True, False, True, False, False]
    broken = pd.DataFrame({"late": pd.Series([True, "maybe", None, "False"], dtype=object), "x": [1.0] * 4})
    with pytest.raises(DataValidationError) as caught:
        validate_frame(broken, flags, "flags.csv")
    failures = {(f["check"], f["rows"]) for f in caught.value.report["failures"] if f["column"] == "late"}
    assert failures == {("bool: true or false", 1), ("not_nullable", 1)}
    assert "'maybe'" in str(caught.value)


def test_expectations_are_read_from_the_fields_metadata_by_the_columns_data_name():
    from modelkeel.data.contract import contract_expectations

    class Contract(pa.DataFrameModel):
        price: float = pa.Field(ge=0, alias="Price ($)", metadata={"expect": {"ge": 1.5, "le": 90.0}})
        colour: str = pa.Field(metadata={"expect": {"isin": ["red", "blue"]}})
        note: str = pa.Field(metadata={"owner": "sales"})  # other metadata is not an expectation
        count: int

    assert contract_expectations(Contract) == {
        "Price ($)": {"ge": 1.5, "le": 90.0},
        "colour": {"isin": ["red", "blue"]},
    }


@pytest.mark.parametrize(
    ("expect", "why"),
    [
        ({"ge": "one"}, "not a number"),
        ({"ge": 5, "le": 1}, "ge above le"),
        ({"isin": "red"}, "non-empty list"),
        ({"isin": ["red"], "ge": 1}, "isin alone"),
        ({"min": 1}, "unknown key"),
        ([1, 2], "not a mapping"),
        ({"le": float("inf")}, "not a finite number"),
    ],
)
def test_a_malformed_expectation_is_a_settings_error_naming_its_column(expect, why):
    from modelkeel.data.contract import contract_expectations
    from modelkeel.errors import SettingsError

    schema = pa.DataFrameSchema({"Price ($)": pa.Column(float, metadata={"expect": expect})})
    with pytest.raises(SettingsError, match=rf"schemas/x\.py, column 'Price \(\$\)'.*{why}.*Write"):
        contract_expectations(schema, "schemas/x.py")
