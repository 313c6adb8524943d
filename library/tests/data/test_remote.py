"""data.path behind a URL: copied into a snapshot before use, fingerprinted, and named by its URL in lineage."""

import shutil

import fsspec
import pytest

from modelkeel.data.files import resolve_files, resolve_sources
from modelkeel.data.remote import snapshot
from modelkeel.errors import DataError, SettingsError
from modelkeel.settings import PathSettings, load_settings
from modelkeel.stages.validate import validate
from modelkeel.utils.hashing import sha256_file

from ..conftest import PROJECT_ROOT


@pytest.fixture()
def memory():
    """fsspec's in-memory filesystem, emptied after the test."""
    fs = fsspec.filesystem("memory")
    yield fs
    for key in fs.find("/"):
        fs.rm(key)


def data_files(settings):
    return resolve_files(settings.data.path, settings.root)


def remote_settings(settings, url, tmp_path):
    return settings.model_copy(
        update={
            "data": settings.data.model_copy(update={"path": url}),
            "paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist")),
        }
    )


def test_a_memory_url_is_validated_from_its_snapshot_and_lineage_names_the_url(settings, memory, tmp_path):
    local = data_files(settings)
    for path in local:
        memory.pipe(f"/data/{path.name}", path.read_bytes())
    remote = remote_settings(settings, "memory://data/*", tmp_path)
    validated = validate(remote)
    entries = validated.snapshot["files"]
    assert [e["url"] for e in entries] == [f"memory:///data/{p.name}" for p in sorted(local, key=lambda p: p.name)]
    assert {e["sha256"] for e in entries} == {sha256_file(p) for p in local}, "the snapshot holds the same bytes"
    for entry in entries:
        assert (tmp_path / "artifacts" / "snapshot" / "data").resolve() in (
            settings.root / entry["path"]
        ).resolve().parents
    assert validated.snapshot["rows"] == validate(settings).snapshot["rows"]
    # the fingerprint names the URL, so the same bytes behind another URL are another snapshot
    assert validated.snapshot["fingerprint"] != validate(settings).snapshot["fingerprint"]


def test_a_file_url_to_a_folder_takes_its_data_files(settings, tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    for path in data_files(settings):
        shutil.copy(path, folder / path.name)
    (folder / "README.md").write_text("not data")
    found = resolve_sources(f"file://{folder}", settings.root, tmp_path / "snap")
    assert [url for _, url in found] == [f"file://{folder}/{p.name}" for p in sorted(data_files(settings))]
    assert all(path.is_file() and tmp_path / "snap" in path.parents for path, _ in found)


def test_credentials_in_a_url_are_refused_at_load_time(tmp_path):
    text = (PROJECT_ROOT / "params.yaml").read_text()
    path = load_settings(PROJECT_ROOT / "params.yaml").data.path
    first = path if isinstance(path, str) else path[0]
    params = tmp_path / "params.yaml"
    params.write_text(text.replace(first, "s3://AKIAEXAMPLE:secret@bucket/data.csv", 1))
    with pytest.raises(SettingsError, match=r"data.path: the URL carries credentials .* set them in the environment"):
        load_settings(params)


def test_a_url_that_matches_nothing_or_escapes_the_snapshot_is_refused(memory, tmp_path):
    with pytest.raises(DataError, match=r"data.path 'memory://nothing/\*.csv': no file matches this URL"):
        resolve_files("memory://nothing/*.csv", tmp_path, tmp_path / "snap")
    memory.pipe("/x/../../escape.csv", b"a\n1\n")  # the memory filesystem keeps the key as written
    with pytest.raises(DataError, match=r"has a '\.\.' in its path"):
        snapshot("memory://x/../../escape.csv", tmp_path / "snap", "data.path")
    assert not (tmp_path / "snap").exists(), "nothing is written before every key is checked"
    assert not (tmp_path.parent / "escape.csv").exists()


def test_an_unknown_protocol_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"data.path 'nosuchfs://x/a.csv': cannot open this URL"):
        resolve_files("nosuchfs://x/a.csv", tmp_path, tmp_path / "snap")


def test_a_bundle_trained_on_data_behind_a_url_names_the_url_in_its_lineage_and_card(settings, tmp_path):
    import json

    from modelkeel.stages.pipeline import run_pipeline

    share = tmp_path / "share"
    share.mkdir()
    for path in data_files(settings):
        shutil.copy(path, share / path.name)
    bundle = run_pipeline(remote_settings(settings, f"file://{share}/*", tmp_path)).bundle
    files = json.loads((bundle.folder / "lineage.json").read_text())["data"]["files"]
    assert [f["url"] for f in files] == [f"file://{share}/{p.name}" for p in sorted(data_files(settings))]
    assert all(f["sha256"] == sha256_file(share / f["url"].rsplit("/", 1)[1]) for f in files)
    card = (bundle.folder / "model_card.md").read_text()
    assert all(f"`{f['url']}`" in card for f in files)


def test_a_batch_the_loop_copied_from_a_url_is_named_by_it(settings, tmp_path):
    """The loop's challenger trains on its local copies of retrain.source objects; lineage names their URLs."""
    copy = tmp_path / f"batch{data_files(settings)[0].suffix}"  # CSV or Parquet, as the project's data
    shutil.copy(data_files(settings)[0], copy)
    extra = remote_settings(settings, (*map(str, data_files(settings)), str(copy)), tmp_path)
    urls = {str(copy): "s3://bucket/incoming/batch.csv"}
    named = extra.model_copy(update={"data_urls": urls})
    entries = validate(named).snapshot["files"]
    assert entries[-1]["url"] == "s3://bucket/incoming/batch.csv" and entries[-1]["path"] == str(copy)
    assert all("url" not in e for e in entries[:-1]), "local files carry no URL"
