"""freeze-trusted: the data file is split elsewhere (the trusted set, pinned by its sha256, and the training rows)."""

import re
import shutil

import pandas as pd
import pytest

from modelkeel.data.files import read_file, resolve_files
from modelkeel.data.trusted import (
    MIN_TRUSTED_ROWS,
    carve,
    freeze,
    split_lineage,
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


@pytest.fixture()
def project(settings, tmp_path):
    """A copy of the fixed project's data file and params.yaml, with no trusted set yet: (settings, data file)."""
    root = tmp_path / "project"
    source = resolve_files(settings.data.path, settings.root)[0]
    copy = root / source.relative_to(settings.root)
    copy.parent.mkdir(parents=True)
    shutil.copy(source, copy)
    text = (settings.root / "params.yaml").read_text()
    (root / "params.yaml").write_text(re.sub(r"\n  trusted:.*\n(    .*\n)*", "\n  trusted: null\n", text))
    local = load_settings(root / "params.yaml")
    assert local.retrain.trusted is None
    return local, copy


def test_freeze_splits_the_data_file_elsewhere_leaves_it_as_it_was_and_points_params_at_the_parts(project):
    local, source = project
    root, before = local.root, sha256_file(source)

    done = freeze(local, root / "params.yaml", 0.15)
    assert sha256_file(source) == before, "the user's file is left as it was"
    assert done.path == root / "data" / "trusted" / f"{source.stem}_trusted.csv"
    assert done.training == root / "data" / "prepared" / f"{source.stem}_train.csv"
    whole, trusted, training = read_file(source), read_file(done.path), read_file(done.training)
    assert len(trusted) == done.rows and len(training) == done.left and done.rows + done.left == len(whole)
    together = pd.concat([training, trusted]).sort_values(list(whole.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, whole.sort_values(list(whole.columns)).reset_index(drop=True))
    reloaded = load_settings(root / "params.yaml")
    assert reloaded.data.path == f"data/prepared/{source.stem}_train.csv"
    pinned = reloaded.retrain.trusted
    assert pinned.path == f"data/trusted/{source.stem}_trusted.csv" and pinned.sha256 == sha256_file(done.path)
    assert pinned.split_from.path == source.relative_to(root).as_posix() and pinned.split_from.sha256 == before
    with pytest.raises(SettingsError, match="already names"):
        freeze(reloaded, root / "params.yaml", 0.15)


def test_freezing_again_with_force_splits_the_original_file_again(project):
    local, source = project
    first = freeze(local, local.root / "params.yaml", 0.15)
    trusted_bytes = first.path.read_bytes()
    again = freeze(load_settings(local.root / "params.yaml"), local.root / "params.yaml", 0.15, force=True)
    assert again.source == source and again.path == first.path and again.training == first.training
    assert first.path.read_bytes() == trusted_bytes, "the same seeded split of the same file"
    assert load_settings(local.root / "params.yaml").data.path == f"data/prepared/{source.stem}_train.csv"


def test_a_failed_freeze_leaves_every_file_as_it_was(project, monkeypatch):
    from modelkeel.data import trusted as module

    local, source = project
    params = local.root / "params.yaml"
    before = {path: path.read_bytes() for path in (source, params)}
    written = []

    def fail_on_the_second(frame, path, suffix):
        written.append(path)
        if len(written) == 2:
            raise OSError("disk full")
        frame.to_csv(path, index=False)

    monkeypatch.setattr(module, "_write", fail_on_the_second)
    with pytest.raises(OSError, match="disk full"):
        freeze(local, params, 0.15)
    assert {path: path.read_bytes() for path in before} == before
    assert not [p for p in (local.root / "data").rglob("*") if p.is_file() and p != source], "nothing new, not even tmp"


def test_parts_left_by_an_earlier_freeze_are_replaced_only_with_force(project):
    local, source = project
    stale = local.root / "data" / "trusted" / f"{source.stem}_trusted.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("a,b\n1,2\n")
    with pytest.raises(SettingsError, match=r"already exist.*--force"):
        freeze(local, local.root / "params.yaml", 0.15)
    assert freeze(local, local.root / "params.yaml", 0.15, force=True).path == stale
    assert read_file(stale).columns.tolist() == read_file(source).columns.tolist()


def test_lineage_records_the_split_while_data_path_is_its_training_part(project):
    from modelkeel.data.snapshot import fingerprint

    local, source = project
    done = freeze(local, local.root / "params.yaml", 0.15)
    frozen = load_settings(local.root / "params.yaml")
    trained_on = fingerprint([done.training], [done.left], frozen.root)
    split = split_lineage(frozen, trained_on)
    assert split == {
        "path": source.relative_to(local.root).as_posix(),
        "sha256": sha256_file(source),
        "training": f"data/prepared/{source.stem}_train.csv",
        "trusted": {"path": f"data/trusted/{source.stem}_trusted.csv", "sha256": done.sha256},
    }
    assert split_lineage(frozen, fingerprint([source], [1], frozen.root)) is None, "data.path moved on"
    assert split_lineage(local, trained_on) is None, "no split recorded"
