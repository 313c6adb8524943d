"""Ingesting batches: what is new, and snapshots that never leave their folder."""

import pytest

from modelkeel.errors import DataError
from modelkeel.loop import ingest


def test_an_object_key_with_dot_dot_is_refused_and_nothing_is_written(settings, tmp_path, monkeypatch):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/batches/ok.csv", b"a\n1\n")
    monkeypatch.setattr(
        fsspec, "get_fs_token_paths", lambda source: (fs, None, ["/batches/ok.csv", "/batches/../../escape.csv"])
    )
    s = settings.model_copy(
        update={"retrain": settings.retrain.model_copy(update={"source": "memory://batches/*.csv"})}
    )
    snapshot = tmp_path / "work" / "snapshot"
    with pytest.raises(DataError, match=r"'\.\.' in its path"):
        ingest.find_batches(s, snapshot)
    assert not (tmp_path / "escape.csv").exists() and not (tmp_path / "work" / "escape.csv").exists()


def test_a_snapshot_keeps_the_remote_layout(settings, tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/layout/a/batch.csv", b"a\n1\n")
    fs.pipe("/layout/b/batch.csv", b"a\n2\n")
    s = settings.model_copy(
        update={"retrain": settings.retrain.model_copy(update={"source": "memory://layout/*/batch.csv"})}
    )
    found = ingest.find_batches(s, tmp_path / "snapshot")
    assert [p.read_bytes() for p, _ in found] == [b"a\n1\n", b"a\n2\n"]
    assert [p for p, _ in found] == [tmp_path / "snapshot" / "memory" / "layout" / x / "batch.csv" for x in "ab"]
    assert [url for _, url in found] == ["memory:///layout/a/batch.csv", "memory:///layout/b/batch.csv"]


def _with_source(settings, source, **limits):
    retrain = settings.retrain.model_copy(update={"source": source, **limits})
    return settings.model_copy(update={"retrain": retrain})


def test_a_parquet_batch_of_60_million_rows_is_refused_from_its_footer(settings, bundle_dir, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelkeel.bundle.reader import open_bundle
    from modelkeel.data import files

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    batch = incoming / "constant.parquet"
    chunk = pa.table({"bill_length_mm": pa.array([42.0] * 1_000_000)})
    with pq.ParquetWriter(batch, chunk.schema) as writer:  # 60 row groups of one constant: dictionary/RLE
        for _ in range(60):
            writer.write_table(chunk)
    assert batch.stat().st_size < 4 << 20 and pq.ParquetFile(batch).metadata.num_rows == 60_000_000

    def never(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(files, "read_file", never)  # refused from the footer: no row is ever loaded
    s = _with_source(settings, str(incoming / "*.parquet"))
    with pytest.raises(
        DataError, match=r"60,000,000 rows, more than the limit of 10,000,000 rows .*retrain.max_batch_rows in params"
    ):
        ingest.ingest(s, open_bundle(bundle_dir), tmp_path / "snapshot")


def test_a_batch_over_the_byte_limit_is_refused_unread(settings, bundle_dir, tmp_path, monkeypatch):
    from modelkeel.bundle.reader import open_bundle
    from modelkeel.data import files

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    with (incoming / "huge.csv").open("wb") as handle:
        handle.truncate(3 << 30)  # 3 GiB, on disk only (sparse)
    monkeypatch.setattr(files, "read_file", lambda path: pytest.fail(f"{path} was read"))
    s = _with_source(settings, str(incoming / "*.csv"))
    with pytest.raises(DataError, match=r"3.0 GiB .*more than the limit of 2.0 GiB .*retrain.max_batch_bytes"):
        ingest.ingest(s, open_bundle(bundle_dir), tmp_path / "snapshot")


def test_a_csv_batch_over_the_row_limit_is_refused(settings, bundle_dir, tmp_path):
    from modelkeel.bundle.reader import open_bundle

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "rows.csv").write_text("bill_length_mm\n" + "42.0\n" * 20)
    s = _with_source(settings, str(incoming / "*.csv"), max_batch_rows=10)
    with pytest.raises(DataError, match=r"20 rows, more than the limit of 10 rows .*retrain.max_batch_rows"):
        ingest.ingest(s, open_bundle(bundle_dir), tmp_path / "snapshot")
