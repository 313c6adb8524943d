"""`rebuild`: a release, and a loop release, trained again from the data store on their commit after the working
data and code moved on; what differs is named; forgotten or missing data and unknown commits are clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from modelkeel.data.manifest import of_bundle, store_release_data, upload
from modelkeel.data.retention import forget
from modelkeel.data.store import DataStore
from modelkeel.errors import DataStoreError, RebuildError
from modelkeel.registry.folder import FolderRegistry
from modelkeel.settings import load_settings
from modelkeel.stages.rebuild import rebuild

from ..conftest import PROJECT_ROOT

GIT = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.com", "-c", "commit.gpgsign=false"]


def git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def released(tmp_path_factory, release_key):
    """A git project released as 0.1.0 (its data stored), then a loop challenger 0.2.0 on a batch, released too;
    afterwards the working data and the params change and are committed, and the batch is gone."""
    root = tmp_path_factory.mktemp("rebuild") / "project"
    shutil.copytree(PROJECT_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    raw = root / "data" / "raw" / "penguins.csv"
    frame = pd.read_csv(raw)
    frame.iloc[:200].to_csv(raw, index=False)
    # the data is not in git (as large data never is): only the data store can give it back
    (root / ".gitignore").write_text("artifacts/\ndist/\n.data-store/\ndata/raw/\ndata/incoming/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    settings = load_settings(root / "params.yaml")
    registry = release_key.on(FolderRegistry(str(root.parent / "registry")))

    # each release is built in a process of its own, as the CLI builds it: the test process carries the state of
    # the tests before it (imports, options), which a release never sees and a rebuild's child never has
    built = in_a_fresh_process(
        root, "from modelkeel.stages.pipeline import run_pipeline", "print(run_pipeline(s).bundle.folder)"
    )
    champion = release_key.sign(Path(built))
    store_release_data(settings, champion, json.loads((champion / "lineage.json").read_text()))
    registry.publish(_opened(champion))
    first = registry.fetch("0.1.0", root.parent / "cache")

    incoming = root / "data" / "incoming"
    incoming.mkdir()
    frame.iloc[200:].to_csv(incoming / "batch-1.csv", index=False)
    built = in_a_fresh_process(
        root,
        "from modelkeel.bundle.reader import open_bundle\n"
        "from modelkeel.loop.challenger import train_challenger\nfrom modelkeel.loop.ingest import ingest",
        f"first = open_bundle(Path({str(first.folder)!r}))\n"
        "batches = ingest(s, first, s.root / 'artifacts' / 'snapshot')\n"
        "_, verified = train_challenger(s, first, batches, '0.2.0', s.root / 'artifacts' / 'challenger')\n"
        "print(verified.bundle.folder)",
    )
    challenger = release_key.sign(Path(built))
    store_release_data(settings, challenger, json.loads((challenger / "lineage.json").read_text()))
    registry.publish(_opened(challenger))
    release_commit = git(root, "rev-parse", "HEAD")

    # the working data and params move on; the batch is archived elsewhere
    frame.iloc[50:].to_csv(raw, index=False)
    shutil.rmtree(incoming)
    params = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(params.replace("seed: 42", "seed: 7"))
    assert "seed: 7" in (root / "params.yaml").read_text(), "the params moved on"
    git(root, "commit", "-q", "-am", "a new seed")
    return settings, registry, release_commit


def in_a_fresh_process(root: Path, imports: str, body: str) -> str:
    """Run `body` (with `s`, the project's settings) in a new interpreter; the last line it prints."""
    import sys

    code = (
        f"from pathlib import Path\nfrom modelkeel.settings import load_settings\n{imports}\n"
        f"s = load_settings(Path({str(root / 'params.yaml')!r}))\n{body}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _opened(folder: Path):
    from modelkeel.bundle.reader import open_bundle

    return open_bundle(folder)


def test_a_release_rebuilds_byte_for_byte_after_its_data_and_params_changed(released, tmp_path):
    settings, registry, commit = released
    release = registry.fetch("0.1.0", tmp_path / "cache")
    result = rebuild(settings, release)
    assert result.identical, result.describe()
    assert result.commit == commit and result.differences == ()
    assert (Path(result.bundle) / "model.onnx").read_bytes() == (release.folder / "model.onnx").read_bytes()
    report = json.loads((settings.artifacts_dir / "rebuild" / "0.1.0.json").read_text())
    assert report["identical"] is True and report["rebuilt_model_sha256"] == release.lineage["model"]["sha256"]
    assert "rebuild-" not in git(settings.root, "worktree", "list"), "the worktree is removed"


def test_a_loop_release_rebuilds_from_its_batches_and_names_its_parent(released, tmp_path):
    settings, registry, _ = released
    release = registry.fetch("0.2.0", tmp_path / "cache")
    manifest = of_bundle(release.folder, release.lineage)
    champion = registry.fetch("0.1.0", tmp_path / "cache")
    assert manifest.parent == {"version": "0.1.0", "sha256": champion.lineage["data_manifest"]["sha256"]}
    batch = [f for f in manifest.files if f.role == "batch"]
    assert [(f.path, f.held_out) for f in batch] == [("data/incoming/batch-1.csv", True)]
    assert not (settings.root / batch[0].path).exists(), "the batch is gone from the working tree"
    result = rebuild(settings, release)
    assert result.identical, result.describe()


def test_another_commit_is_rebuilt_only_when_told_and_what_differs_is_named(released, tmp_path):
    settings, registry, _ = released
    release = registry.fetch("0.1.0", tmp_path / "cache")
    result = rebuild(settings, release, commit="HEAD")  # the later commit: another seed
    assert not result.identical
    assert any(d.startswith("model.onnx: sha256") for d in result.differences), result.differences
    assert any(d.startswith("params hash") for d in result.differences), result.differences


def test_a_forgotten_file_makes_a_clear_error_and_is_never_stored_again(released, tmp_path):
    settings, registry, _ = released
    store = DataStore(settings.data_store_url)
    copy = tmp_path / "store"
    shutil.copytree(store.url, copy)  # the module's store stays whole for the other tests
    store = DataStore(str(copy))
    scoped = settings.model_copy(update={"data_store": settings.data_store.model_copy(update={"url": str(copy)})})
    release = registry.fetch("0.2.0", tmp_path / "cache")
    batch = next(f for f in of_bundle(release.folder, release.lineage).files if f.role == "batch")
    done = forget(store, batch.sha256, "a customer asked to be deleted", by="dpo")
    assert done.was_stored and done.record["releases"] == ["penguins-project 0.2.0"]
    assert not store.has(batch.sha256)
    with pytest.raises(RebuildError, match=r"removed from the data store by `forget` \(a customer asked"):
        rebuild(scoped, release)
    with pytest.raises(DataStoreError, match="must not be stored again"):  # nor by a later release
        upload(scoped, store, [batch])


def test_a_release_without_its_commit_or_its_data_is_refused_with_the_fix(released, tmp_path):
    settings, registry, _ = released
    release = registry.fetch("0.1.0", tmp_path / "cache")
    with pytest.raises(RebuildError, match="is not in this clone: fetch it"):
        rebuild(settings, release, commit="0" * 40)
    empty = settings.model_copy(
        update={"data_store": settings.data_store.model_copy(update={"url": str(tmp_path / "empty")})}
    )
    with pytest.raises(RebuildError, match="is not in the data store"):
        rebuild(empty, release)


def test_a_release_rebuilds_from_an_object_store(released, s3_server, tmp_path, monkeypatch):
    settings, registry, _ = released
    for name, value in s3_server.environment.items():  # as a project sets AWS_* for an s3:// store
        monkeypatch.setenv(name, value)
    url = f"s3://{s3_server.new_bucket()}/data"
    local, remote = DataStore(settings.data_store_url), DataStore(url)
    for stored in local.objects():
        with open(local.key(stored.sha256), "rb") as handle:
            remote.put(handle)
    on_s3 = settings.model_copy(update={"data_store": settings.data_store.model_copy(update={"url": url})})
    result = rebuild(on_s3, registry.fetch("0.2.0", tmp_path / "cache"))
    assert result.identical, result.describe()


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("src/penguins_project/model.py", "which is no data file"),
        ("src/sitecustomize.csv", "which is no data file"),
        ("params.yaml", "which is no data file"),
        ("../outside.csv", "a path outside the project"),
        ("/etc/passwd.csv", "a path outside the project"),
    ],
)
def test_a_manifest_can_put_back_only_data_files_inside_the_project(released, tmp_path, path, complaint):
    from modelkeel.data.manifest import Manifest, ManifestFile
    from modelkeel.stages.rebuild import restore_data

    settings, _, _ = released
    hostile = Manifest("penguins-project", "0.1.0", (ManifestFile("train", path, "a" * 64, 1, 1),))
    with pytest.raises(RebuildError, match=complaint):
        restore_data(settings, hostile, tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_a_symlink_in_the_worktree_cannot_carry_data_outside_it(released, tmp_path):
    from modelkeel.data.manifest import Manifest, ManifestFile
    from modelkeel.stages.rebuild import restore_data

    settings, _, _ = released
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "data").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    hostile = Manifest("penguins-project", "0.1.0", (ManifestFile("train", "data/x.csv", "a" * 64, 1, 1),))
    with pytest.raises(RebuildError, match="leads outside the rebuild's worktree"):
        restore_data(settings, hostile, tree)
