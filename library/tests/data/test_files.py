from pathlib import Path

import pandas as pd
import pytest

from modelkeel.data.files import read_file, read_table, resolve_files
from modelkeel.data.snapshot import fingerprint
from modelkeel.errors import DataError

# the fingerprints `test_a_file_and_a_glob_keep_the_snapshot_they_had` got before a folder was accepted
ONE_FILE = "5000a7637472c4e14cae8c93cd02f0d0090bd49f189f377ce944a738dc5c2400"
TWO_FILES = "c0303084c54e4c6347d3aa36fd01a2efaa098aa4b8210b412207d65c19d892b8"


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


def _with_understated_footer(path: Path, rows: int) -> None:
    """Rewrite a one-row-group Parquet file's file-level row count (a zigzag varint in the Thrift footer) to 1,
    leaving the row group's own count, which a reader reads, as it was: a footer that lies."""
    import struct

    data = bytearray(path.read_bytes())
    length = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - length

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            low, value = value & 0x7F, value >> 7
            out.append(low | (0x80 if value else 0))
            if not value:
                return bytes(out)

    encoded = varint(rows << 1)
    at = data.index(b"\x16" + encoded, start)  # field 3 (num_rows, i64) right after field 2
    data[at + 1 : at + 1 + len(encoded)] = bytes([0x82] + [0x80] * (len(encoded) - 2) + [0x00])  # 1, padded
    path.write_bytes(data)


@pytest.mark.parametrize("suffix", [".parquet", ".dat"])
def test_a_parquet_footer_that_understates_its_row_groups_is_not_believed(tmp_path, suffix):
    """The row limit is checked against what a reader would read (the row groups' sum), for every file read
    as Parquet (all but .csv), before a row is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelkeel.data.files import check_file_limits

    path = tmp_path / f"batch{suffix}"
    rows = 200_000
    pq.write_table(pa.table({"x": pa.array([7] * rows, pa.int64())}), path, row_group_size=rows)
    _with_understated_footer(path, rows)
    metadata = pq.read_metadata(path)
    assert metadata.num_rows == 1 and metadata.row_group(0).num_rows == rows, "the footer lies"
    with pytest.raises(DataError, match=r"200,000 rows, more than the limit of 1,000 rows.*raise it here"):
        check_file_limits(path, max_rows=1000, max_bytes=1 << 30, rows_limit="raise it here", bytes_limit="b")


def test_a_csv_over_the_row_limit_is_refused_streaming_and_quoted_line_breaks_are_not_rows(tmp_path):
    """A CSV's rows are bounded before it is loaded: counted by line breaks, and exactly (streaming) only when
    those exceed the limit, so a cell holding line breaks does not make a file too long."""
    from modelkeel.data.files import check_file_limits

    long = tmp_path / "long.csv"
    long.write_text("x\n" + "1\n" * 5000)
    with pytest.raises(
        DataError, match=r"5,000 rows, more than the limit of 1,000 rows in one file \(counted streaming; nothing was"
    ):
        check_file_limits(long, max_rows=1000, max_bytes=1 << 30, rows_limit="r", bytes_limit="b")
    check_file_limits(long, max_rows=5000, max_bytes=1 << 30, rows_limit="r", bytes_limit="b")
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"id": range(10), "note": ["line\n" * 300] * 10}).to_csv(notes, index=False)
    assert notes.read_text().count("\n") > 1000
    check_file_limits(notes, max_rows=1000, max_bytes=1 << 30, rows_limit="r", bytes_limit="b")  # 10 rows


def _data_folder(root: Path) -> Path:
    """A folder of data files in it and below, beside files that are not data."""
    folder = root / "data"
    (folder / "2024" / "02").mkdir(parents=True)
    (folder / "b.csv").write_text("x,y\n1,2\n")
    (folder / "2024" / "a.CSV").write_text("x,y\n3,4\n")
    pd.DataFrame({"x": [5], "y": [6]}).to_parquet(folder / "2024" / "02" / "c.parquet", index=False)
    (folder / "README.md").write_text("not data")
    (folder / "2024" / "notes.txt").write_text("not data either")
    return folder


def test_a_folder_names_its_csv_and_parquet_files_in_it_and_below_on_the_pandas_engine(tmp_path):
    _data_folder(tmp_path)
    found = resolve_files("data", tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "data/2024/02/c.parquet",
        "data/2024/a.CSV",
        "data/b.csv",
    ]
    assert resolve_files(str(tmp_path / "data"), tmp_path) == found  # absolute or relative, the same files
    frame, rows = read_table(found)
    assert rows == [1, 1, 1] and frame["x"].tolist() == [5, 3, 1]


def test_a_folder_and_a_glob_of_the_same_files_have_one_fingerprint(tmp_path):
    _data_folder(tmp_path)
    by_folder = resolve_files("data", tmp_path)
    by_glob = resolve_files("data/**/*.[cCp]*[vVt]", tmp_path)
    assert by_folder == by_glob
    assert fingerprint(by_folder, [1, 1, 1], tmp_path) == fingerprint(by_glob, [1, 1, 1], tmp_path)


def test_a_folder_without_data_files_names_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no data here")
    with pytest.raises(DataError, match=r"data.path 'empty': the folder .*empty holds no .csv or .parquet file"):
        resolve_files("empty", tmp_path)


def test_a_file_and_a_glob_keep_the_snapshot_they_had(tmp_path):
    """The snapshot of existing inputs (one file, a glob, a list) is what it was before folders were accepted:
    the same paths, and the fingerprint computed then (a change here re-trains every project's model)."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "raw" / "b.csv").write_text("x,y\n3,4\n5,6\n")
    one = fingerprint(resolve_files("raw/a.csv", tmp_path), [1], tmp_path)
    both = fingerprint(resolve_files(["raw/b.csv", "raw/a*"], tmp_path), [2, 1], tmp_path)
    assert [f["path"] for f in both["files"]] == ["raw/b.csv", "raw/a.csv"]
    assert (one["fingerprint"], both["fingerprint"]) == (ONE_FILE, TWO_FILES)
