import pytest

from {{ cookiecutter.package_name }}.utils import atomic


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
