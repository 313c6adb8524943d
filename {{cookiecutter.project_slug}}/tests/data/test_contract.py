"""Data tests: the contract accepts the shipped data and rejects known-bad rows, with a readable report."""

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data.contract import (
    load_schema_model,
    schema_from_yaml,
    schema_yaml,
    validate_frame,
)
from {{ cookiecutter.package_name }}.errors import DataValidationError

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def schema(settings):
    return load_schema_model(settings.data.schema_name)


@pytest.fixture()
def good(validated):
    return validated.frame.head(30).copy()


def failures(schema, frame):
    with pytest.raises(DataValidationError) as caught:
        validate_frame(frame, schema, "test.csv")
    return caught.value


def test_shipped_data_passes(validated, settings):
    assert len(validated.frame) == validated.snapshot["rows"] > 0
    assert set(settings.data.features) <= set(validated.frame.columns)


def test_sample_and_demo_batches_pass_except_the_corrupted_one(settings, schema):
    from {{ cookiecutter.package_name }}.data.files import read_file

    data = settings.root / "data"
    batches = sorted([*(data / "samples").glob("*.csv"), *(data / "batches").glob("*.csv")])
    assert len(batches) == 4, "the sample data ships the 2009 season and three demo batches"
    for batch in batches:
        if "corrupted" in batch.name:
            error = failures(schema, read_file(batch))
            for expected in ("Atlantis", "Emperor", "eighteen", "-4200", "2150"):
                assert expected in str(error), expected
        else:
            validate_frame(read_file(batch), schema, batch.name)


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
    column = settings.data.numeric_features[0]
    good.loc[good.index[:3], column] = -1e9
    error = failures(schema, good)
    entry = next(f for f in error.report["failures"] if f["column"] == column)
    assert entry["rows"] == 3
    assert entry["examples"][0]["value"] == -1e9
    assert f"column '{column}'" in str(error) and "3 row(s)" in str(error)


def test_unknown_category_is_reported(schema, good, settings):
    column = settings.data.categorical_features[0]
    good.loc[good.index[0], column] = "Atlantis"
    error = failures(schema, good)
    assert "Atlantis" in str(error) and column in str(error)


def test_wrong_type_is_reported(schema, good, settings):
    column = settings.data.numeric_features[0]
    good[column] = good[column].astype(object)
    good.loc[good.index[1], column] = "heavy"
    error = failures(schema, good)
    assert "heavy" in str(error)


def test_every_problem_reported_at_once(schema, good, settings):
    good.loc[good.index[0], settings.data.numeric_features[0]] = -1e9
    good.loc[good.index[1], settings.data.categorical_features[0]] = "Atlantis"
    error = failures(schema, good)
    columns = {f["column"] for f in error.report["failures"]}
    assert {settings.data.numeric_features[0], settings.data.categorical_features[0]} <= columns


def test_schema_round_trips_through_yaml(schema, good):
    restored = schema_from_yaml(schema_yaml(schema))
    pd.testing.assert_frame_equal(restored.validate(good), schema.validate(good))
