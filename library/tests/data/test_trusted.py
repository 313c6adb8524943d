"""freeze-trusted: rows move from the data file to the trusted set, pinned by its sha256, never trained on."""

import shutil

import pytest

from modelkeel.data.files import read_file, resolve_files
from modelkeel.data.trusted import (
    MIN_TRUSTED_ROWS,
    carve,
    freeze,
)
from modelkeel.errors import SettingsError
from modelkeel.settings import load_settings
from modelkeel.utils.hashing import sha256_file


def test_carve_takes_a_seeded_share_of_the_labelled_rows(validated, settings):
    frame = validated.frame
    kept, trusted = carve(frame, settings.data.target, 0.2, seed=1)
    assert len(kept) + len(trusted) == len(frame) and trusted[settings.data.target].notna().all()
    assert len(trusted) >= MIN_TRUSTED_ROWS and not set(trusted.index) & set(kept.index)
    assert carve(frame, settings.data.target, 0.2, seed=1)[1].index.equals(trusted.index)
    with pytest.raises(SettingsError, match="a trusted set needs"):
        carve(frame.head(40), settings.data.target, 0.2, seed=1)


def test_freeze_moves_the_rows_and_pins_the_file(settings, tmp_path):
    root = tmp_path / "project"
    source = resolve_files(settings.data.path, settings.root)[0]
    copy = root / source.relative_to(settings.root)
    copy.parent.mkdir(parents=True)
    shutil.copy(source, copy)
    shutil.copy(settings.root / "params.yaml", root / "params.yaml")
    local = load_settings(root / "params.yaml")
    local = local.model_copy(update={"retrain": local.retrain.model_copy(update={"trusted": None})})
    rows_before = len(read_file(copy))

    done = freeze(local, root / "params.yaml", 0.15)
    assert done.path.parent == root / "data" / "trusted" and done.rows + done.left == rows_before
    assert len(read_file(copy)) == done.left
    pinned = load_settings(root / "params.yaml").retrain.trusted
    assert pinned.path == done.path.relative_to(root).as_posix() and pinned.sha256 == sha256_file(done.path)
    with pytest.raises(SettingsError, match="already names"):
        freeze(load_settings(root / "params.yaml"), root / "params.yaml", 0.15)
