"""The demo batches, made from the project's own data and contract: two the contract accepts, one it must refuse."""

import pandas as pd
import pytest

from modelkeel.data.contract import (
    load_schema_model,
    validate_frame,
)
from modelkeel.data.files import read_file
from modelkeel.errors import DataValidationError
from modelkeel.loop.demo import demo_batches
from modelkeel.runtime.calendar import as_datetime


@pytest.fixture(scope="module")
def made(settings, validated):
    schema = load_schema_model(settings)
    return schema, {b.name: b for b in demo_batches(settings, validated.frame, schema.to_schema())}


def test_the_unchanged_and_shifted_batches_keep_the_contract_and_the_corrupted_one_breaks_it(made, tmp_path):
    schema, batches = made
    assert list(batches) == ["1_unchanged", "2_shifted", "3_corrupted"]
    for name in ("1_unchanged", "2_shifted"):
        validate_frame(read_file(batches[name].write(tmp_path)), schema, name)  # as the loop reads it
    with pytest.raises(DataValidationError) as caught:
        validate_frame(read_file(batches["3_corrupted"].write(tmp_path)), schema, "3_corrupted")
    planted = batches["3_corrupted"].planted
    assert planted
    for column, bad in planted:
        assert column in str(caught.value) and str(bad).rstrip("0").rstrip(".") in str(caught.value), (column, bad)


def test_the_shifted_batch_moves_the_features_and_keeps_the_labels(made, settings, validated):
    from scipy.stats import ks_2samp

    _, batches = made
    data = settings.data
    unchanged, shifted = batches["1_unchanged"].frame, batches["2_shifted"].frame
    assert shifted[data.target].notna().all()
    if data.numeric_features:

        def smallest_pvalue(batch):
            return min(
                ks_2samp(pd.to_numeric(batch[c]).dropna(), pd.to_numeric(validated.frame[c]).dropna()).pvalue
                for c in data.numeric_features
            )

        assert smallest_pvalue(shifted) < 1e-6, "some numeric feature moved, as a KS test sees it"
        assert smallest_pvalue(unchanged) > 1e-4, "the unchanged batch looks like the data"
    else:
        column = data.categorical_features[0]
        before = unchanged[column].value_counts(normalize=True).sort_index()
        after = shifted[column].value_counts(normalize=True).sort_index()
        assert list(before.index) == list(after.index) and not before.equals(after), "categories renamed"


def test_new_batches_come_after_the_data_in_time(toy_settings):
    """On data with a time column (the toy data's `when`), every demo batch is later than the data."""
    import pandera.pandas as pa

    from ..conftest import toy_frame

    frame = toy_frame(toy_settings.task)
    schema = pa.DataFrameSchema({c: pa.Column(nullable=True) for c in frame.columns})
    batches = {b.name: b for b in demo_batches(toy_settings, frame, schema)}
    last = as_datetime(frame["when"], "when").max()
    for name in ("1_unchanged", "2_shifted"):
        assert as_datetime(batches[name].frame["when"], "when").min() > last, name


def test_a_contract_whose_categories_are_expectations_only_still_gets_a_refused_batch(toy_settings):
    """Text features only, their categories expectations (no hard check): the corrupted batch plants a gap."""
    import pandera.pandas as pa

    from modelkeel.settings import DataSettings

    from ..conftest import toy_frame

    frame = toy_frame(toy_settings.task)[["colour", "target"]].assign(colour=lambda f: f["colour"].fillna("red"))
    data = DataSettings(path="toy.csv", schema="toy", target="target", categorical_features=("colour",), test_size=0.25)
    settings = toy_settings.model_copy(update={"data": data})
    schema = pa.DataFrameSchema(
        {
            "colour": pa.Column(str, metadata={"expect": {"isin": ["blue", "green", "red"]}}),
            "target": pa.Column(frame["target"].dtype),
        },
        strict=True,
        coerce=True,
    )
    corrupted = {b.name: b for b in demo_batches(settings, frame, schema)}["3_corrupted"]
    assert corrupted.planted == (("colour", None),)
    with pytest.raises(DataValidationError, match="colour"):
        validate_frame(corrupted.frame, schema, "3_corrupted")
