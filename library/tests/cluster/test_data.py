"""data.path read on the cluster: the pandas engine's types, rows and fingerprint, partition by partition."""

from __future__ import annotations

import pandas as pd
import pytest

from modelkeel.cluster.data import read_data
from modelkeel.data.files import read_table, resolve_sources
from modelkeel.data.snapshot import fingerprint
from modelkeel.errors import DataError

from .projects import project, rows_frame, with_data, write


@pytest.fixture(scope="module")
def rows_project(tmp_path_factory):
    """Four files of constructed rows: three CSV (one whose ints have a gap, so they read as float), one Parquet
    of four row groups."""
    root = tmp_path_factory.mktemp("cluster_data")
    first = rows_frame(800, 0)
    gapped = rows_frame(700, 800).astype({"id": "float64"})
    gapped.loc[5, "id"] = float("nan")
    write(first, root / "data" / "a.csv")
    write(gapped, root / "data" / "b.csv")
    write(rows_frame(600, 1500), root / "data" / "c.csv")
    parquet = rows_frame(1000, 2100)
    write(parquet.assign(day=pd.to_datetime(parquet["day"])), root / "data" / "d.parquet", row_group_size=250)
    with project(root, "cluster_data_project", "data") as settings:
        yield settings


def pandas_engine(settings, snapshot_dir=None):
    found = resolve_sources(settings.data.path, settings.root, snapshot_dir)
    files = [path for path, _ in found]
    frame, rows = read_table(files)
    return frame, fingerprint(files, rows, settings.root, [url for _, url in found])


def test_a_folder_reads_as_the_pandas_engine_reads_its_files(rows_project, dask_cluster):
    data = read_data(rows_project, dask_cluster, partition_bytes=1)
    expected, snapshot = pandas_engine(with_data(rows_project, path="data/*"))
    assert data.partitions == 3 + 4  # a CSV file each, a Parquet row group each (none fits with another)
    assert read_data(rows_project, dask_cluster).partitions == 3 + 1  # small row groups share a partition
    assert data.frame.npartitions == data.partitions
    assert data.frame.dtypes.to_dict() == expected.dtypes.to_dict()
    assert str(expected["flag"].dtype) == "bool" and expected["day"].dtype.kind == "M"
    assert str(expected["id"].dtype) == "float64"  # one file's gap makes every file's ids float, as pd.concat does
    pd.testing.assert_frame_equal(data.frame.compute(), expected)
    for i in range(data.partitions):  # each partition on its own has the whole data's types
        assert data.frame.get_partition(i).compute().dtypes.to_dict() == expected.dtypes.to_dict()
    assert data.snapshot == snapshot  # same files, same paths, rows, sha256 and fingerprint
    folder_frame, folder_snapshot = pandas_engine(rows_project)  # the pandas engine takes the folder itself too
    assert folder_snapshot == data.snapshot
    pd.testing.assert_frame_equal(folder_frame, expected)
    assert data.frame.known_divisions and data.frame.divisions[-1] == len(expected) - 1


def test_a_glob_and_a_list_name_the_same_files_in_order(rows_project, dask_cluster):
    listed = read_data(with_data(rows_project, path=("data/c.csv", "data/a.*")), dask_cluster)
    expected, snapshot = pandas_engine(with_data(rows_project, path=("data/c.csv", "data/a.*")))
    assert [f["path"] for f in listed.snapshot["files"]] == ["data/c.csv", "data/a.csv"]
    assert listed.snapshot == snapshot
    pd.testing.assert_frame_equal(listed.frame.compute(), expected)
    # ints without a gap stay ints, as the pandas engine reads them
    assert str(listed.frame.dtypes["id"]) == "int64" == str(expected.dtypes["id"])


def test_one_file_per_partition_of_a_csv_and_row_groups_of_a_parquet_file(rows_project, dask_cluster):
    data = read_data(with_data(rows_project, path=("data/b.csv", "data/d.parquet")), dask_cluster, partition_bytes=1)
    assert [(p.source.shown, p.row_groups, p.start, p.rows) for p in data.parts] == [
        ("data/b.csv", None, 0, 700),
        ("data/d.parquet", (0,), 700, 250),
        ("data/d.parquet", (1,), 950, 250),
        ("data/d.parquet", (2,), 1200, 250),
        ("data/d.parquet", (3,), 1450, 250),
    ]
    # a partition holds its rows only, indexed by their place in the whole data
    third = data.frame.get_partition(2).compute()
    assert list(third.index) == list(range(950, 1200)) and third["id"].iloc[0] == 2100 + 250


def test_files_behind_a_url_are_read_in_place_with_the_fingerprint_of_the_pandas_engine(
    rows_project, dask_cluster, s3_server, monkeypatch
):
    bucket = s3_server.new_bucket()
    fs = s3_server.filesystem()
    for name in ("a.csv", "d.parquet"):
        fs.put(str(rows_project.root / "data" / name), f"{bucket}/rows/{name}")
    url = f"s3://{bucket}/rows"
    settings = with_data(rows_project, path=url)
    data = read_data(settings, dask_cluster, s3_server.storage_options)
    for key, value in s3_server.environment.items():  # the pandas engine copies with the environment's credentials
        monkeypatch.setenv(key, value)
    expected, snapshot = pandas_engine(settings, settings.data_snapshot_dir)
    assert data.snapshot == snapshot
    assert [f["url"] for f in data.snapshot["files"]] == [f"{url}/a.csv", f"{url}/d.parquet"]
    pd.testing.assert_frame_equal(data.frame.compute(), expected)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"", r"data/bad\.parquet: the file is empty"),
        (b"PAR1 this is no parquet file", r"data/bad\.parquet: cannot be read as Parquet"),
    ],
)
def test_an_unreadable_file_is_a_data_error_naming_it(rows_project, dask_cluster, content, complaint, tmp_path):
    (rows_project.root / "data" / "bad.parquet").write_bytes(content)
    try:
        with pytest.raises(DataError, match=complaint):
            read_data(with_data(rows_project, path=("data/a.csv", "data/bad.parquet")), dask_cluster)
    finally:
        (rows_project.root / "data" / "bad.parquet").unlink()


def test_a_malformed_csv_and_a_missing_path_are_data_errors(rows_project, dask_cluster):
    bad = rows_project.root / "broken" / "x.csv"
    bad.parent.mkdir()
    bad.write_text("id,amount\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"broken/x\.csv: cannot be read as CSV"):
        read_data(with_data(rows_project, path="broken"), dask_cluster)
    with pytest.raises(DataError, match=r"data\.path 'nowhere/\*\.csv': no file matches"):
        read_data(with_data(rows_project, path="nowhere/*.csv"), dask_cluster)


def test_files_without_the_same_columns_are_refused(rows_project, dask_cluster, tmp_path):
    write(rows_frame(10).drop(columns="flag"), rows_project.root / "other" / "x.csv")
    with pytest.raises(DataError, match="do not share one set of columns"):
        read_data(with_data(rows_project, path=("data/a.csv", "other/x.csv")), dask_cluster)


def test_the_penguins_data_reads_as_the_pandas_engine_reads_it(settings, dask_cluster):
    data = read_data(settings, dask_cluster)
    expected, snapshot = pandas_engine(settings)
    assert data.snapshot == snapshot
    pd.testing.assert_frame_equal(data.frame.compute(), expected)


def test_a_path_the_loop_maps_to_a_url_is_read_from_the_url_under_that_path(rows_project, dask_cluster, s3_server):
    """A batch of retrain.source behind a URL is never copied on the Dask engine: the challenger's data.path names
    it by the path the pandas engine would copy it to, and `data_urls` maps that path to the object."""
    bucket = s3_server.new_bucket()
    s3_server.filesystem().put(str(rows_project.root / "data" / "d.parquet"), f"{bucket}/incoming/d.parquet")
    url, named = f"s3://{bucket}/incoming/d.parquet", f"artifacts/retrain/snapshot/s3/{bucket}/incoming/d.parquet"
    assert not (rows_project.root / named).exists()
    settings = with_data(rows_project, path=("data/a.csv", named)).model_copy(update={"data_urls": {named: url}})
    data = read_data(settings, dask_cluster, s3_server.storage_options)
    expected, snapshot = pandas_engine(with_data(rows_project, path=("data/a.csv", "data/d.parquet")))
    assert [(f["path"], f.get("url")) for f in data.snapshot["files"]] == [("data/a.csv", None), (named, url)]
    assert [f["sha256"] for f in data.snapshot["files"]] == [f["sha256"] for f in snapshot["files"]]
    pd.testing.assert_frame_equal(data.frame.compute(), expected)
