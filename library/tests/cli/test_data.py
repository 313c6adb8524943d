"""The data store's commands as a user runs them: gc, forget (by sha256 or by file) and rebuild's refusals."""

from __future__ import annotations

import io
import json
import shutil

from modelkeel.data.store import DataStore

from ..conftest import PROJECT_ROOT
from .test_main import cli


def project(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, root)
    return root


def test_gc_and_forget_from_the_command_line(tmp_path):
    root = project(tmp_path)
    store = DataStore(str(root / ".data-store"))
    loose = store.put(io.BytesIO(b"nobody references me")).sha256
    kept = store.put(root / "data" / "raw" / "penguins.csv").sha256
    files = [{"role": "train", "path": "data/raw/penguins.csv", "sha256": kept, "bytes": 1, "rows": 1}]
    record = {"manifest_format": 1, "name": "penguins-project", "version": "0.1.0", "files": files, "parent": None}
    store.put_record(f"manifests/penguins-project/0.1.0+{'e' * 64}.json", json.dumps(record).encode())

    dry = cli("gc", "--dry-run", "--min-age", "0", cwd=root)
    assert dry.returncode == 0 and "would remove 1 object(s)" in dry.stdout and loose in dry.stdout
    assert store.has(loose)
    done = cli("gc", "--min-age", "0", cwd=root)
    assert done.returncode == 0 and "removed 1 object(s)" in done.stdout and not store.has(loose)

    unsaid = cli("forget", "--file", "data/raw/penguins.csv", cwd=root)
    assert unsaid.returncode == 2 and "--reason" in unsaid.stderr, "the reason is required"
    forgot = cli("forget", "--file", "data/raw/penguins.csv", "--reason", "erasure request", "--by", "dpo", cwd=root)
    assert forgot.returncode == 0, forgot.stderr
    assert "penguins-project 0.1.0" in forgot.stdout and "can no longer be rebuilt" in forgot.stdout
    assert not store.has(kept)


def test_rebuild_names_what_is_missing(tmp_path):
    root = project(tmp_path)
    missing = cli("rebuild", "0.1.0", "--url", str(tmp_path / "registry"), cwd=root)
    assert missing.returncode != 0 and "error:" in missing.stderr and "Traceback" not in missing.stderr
