import pytest

from modelkeel.utils import atomic


def test_interrupted_file_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_interrupted_folder_write_leaves_no_half_bundle(tmp_path):
    target = tmp_path / "bundle-0.1.0"
    with pytest.raises(RuntimeError), atomic.atomic_dir(target) as staging:
        (staging / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_folder_write_replaces_the_previous_one_whole(tmp_path):
    target = tmp_path / "bundle-0.1.0"
    target.mkdir()
    (target / "stale.txt").write_text("from an older run")
    with atomic.atomic_dir(target) as staging:
        (staging / "model.onnx").write_bytes(b"new")
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle-0.1.0"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o700), "bundle folders get normal permissions"


def test_staging_left_by_a_killed_run_is_removed_once_it_is_old(tmp_path):
    import os
    import time

    from modelkeel.utils.atomic import remove_stale_staging

    old, fresh = tmp_path / ".bundle-0.1.0.abc.tmp", tmp_path / ".bundle-0.1.0.def.tmp"
    kept = tmp_path / "bundle-0.1.0"
    for folder in (old, fresh, kept):
        folder.mkdir()
        (folder / "file").write_text("x")
    busy = tmp_path / ".bundle-0.1.0.ghi.tmp"  # made long ago, but a run still writes into it
    busy.mkdir()
    (busy / "file").write_text("x")
    hours_ago = time.time() - 7200
    for path in (old / "file", old, kept / "file", kept, busy):
        os.utime(path, (hours_ago, hours_ago))
    assert remove_stale_staging(tmp_path) == [old]
    assert not old.exists() and fresh.is_dir() and kept.is_dir() and busy.is_dir()
