"""Calendar parts: one function for training and serving, from ISO text or timestamps alike."""

import numpy as np
import pandas as pd
import pytest

from modelkeel.runtime.calendar import (
    as_datetime,
    calendar_parts,
    parts_for,
)


def test_text_and_timestamps_give_the_same_parts():
    text = pd.Series(["2024-03-05T14:30", None, "2023-12-31T00:00"])
    stamps = pd.Series(pd.to_datetime(["2024-03-05 14:30", None, "2023-12-31 00:00"]))
    parts = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "minute")
    from_text, from_stamps = calendar_parts(text, "t", parts), calendar_parts(stamps, "t", parts)
    assert list(from_text) == [f"t.{p}" for p in parts]
    for name in from_text:
        assert from_text[name].dtype == np.float32
        np.testing.assert_array_equal(from_text[name], from_stamps[name])
    assert [from_text[f"t.{p}"][0] for p in parts] == [2024, 3, 5, 1, 65, 14, 30]
    assert np.isnan(from_text["t.year"][1]), "a missing time is NaN"


def test_time_zones_become_utc_and_text_that_is_not_a_time_is_a_clear_error():
    aware = pd.Series(pd.to_datetime(["2024-03-05T23:30+02:00"], format="ISO8601"))
    assert as_datetime(aware, "t").iloc[0] == pd.Timestamp("2024-03-05 21:30")
    with pytest.raises(ValueError, match="'t': not a date/time in ISO 8601 form"):
        as_datetime(pd.Series(["tomorrow"]), "t")


def test_hours_and_minutes_are_parts_only_where_present():
    assert "hour" not in parts_for(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"])))
    assert parts_for(pd.Series(pd.to_datetime(["2024-01-01 10:00"])))[-1] == "hour"
    assert parts_for(pd.Series(pd.to_datetime(["2024-01-01 10:05"])))[-2:] == ("hour", "minute")
