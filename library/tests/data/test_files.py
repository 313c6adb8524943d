import pandas as pd
import pytest

from modelkeel.data.files import read_file, resolve_files
from modelkeel.errors import DataError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("x,y\n", "no data rows"),
        ("x,y\n1,2\n3", "truncated or malformed"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_file(path)


def test_missing_path_names_the_param(tmp_path):
    with pytest.raises(DataError, match=r"data.path 'nope.csv': file not found"):
        resolve_files("nope.csv", tmp_path)


def test_parquet_and_csv_read_alike(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("x,c\n1.5,a\n,b\n2.5,\n")
    frame = read_file(csv)
    frame.to_parquet(tmp_path / "d.parquet")
    again = read_file(tmp_path / "d.parquet")
    assert frame.isna().sum().to_dict() == again.isna().sum().to_dict() == {"x": 1, "c": 1}
    if int(pd.__version__.split(".")[0]) >= 3:  # pandas 2 reads Arrow text as objects
        # text stays pandas' Arrow-backed string dtype, which the contract coerces text to anyway
        assert isinstance(frame["c"].dtype, pd.StringDtype) and isinstance(again["c"].dtype, pd.StringDtype)


def test_dates_and_timestamps_read_as_datetimes(tmp_path):
    import pandas as pd

    csv = tmp_path / "t.csv"
    csv.write_text("when,day,x\n2020-01-01 13:45:00,2020-01-02,1\n")
    frame = read_file(csv)
    assert pd.api.types.is_datetime64_any_dtype(frame["when"]) and pd.api.types.is_datetime64_any_dtype(frame["day"])
    assert frame["when"].iloc[0] == pd.Timestamp("2020-01-01 13:45")
    assert frame["day"].iloc[0] == pd.Timestamp("2020-01-02")
    parquet = tmp_path / "t.parquet"
    frame.to_parquet(parquet)
    assert read_file(parquet)["when"].iloc[0] == pd.Timestamp("2020-01-01 13:45")
