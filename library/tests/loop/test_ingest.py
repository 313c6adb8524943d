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
