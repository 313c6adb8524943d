"""Writes that never leave a half-written file or folder behind: write to a temporary path, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; it replaces `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, data: object) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; it replaces `target` (and anything there) only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staging.chmod(0o777 & ~_umask())
    try:
        yield staging
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


STALE_AFTER_SECONDS = 3600.0  # a staging entry nothing has written to for this long was left by a killed run


def remove_stale_staging(folder: Path, older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove what killed runs left in `folder`: the hidden `.tmp` / `.old` / `.partial` entries this module
    (or a download) stages, once nothing has written to them for `older_than` seconds.

    A folder's age is that of its newest entry, so a concurrent run writing a large file into a folder
    made long ago is kept. Returns what was removed; never raises.
    """
    removed: list[Path] = []
    try:
        entries = [
            e for e in folder.iterdir() if e.name.startswith(".") and e.name.endswith((".tmp", ".old", ".partial"))
        ]
    except OSError:
        return removed  # no such folder yet, or not readable: nothing to clean
    now = time.time()
    for entry in entries:
        try:
            if entry.is_symlink():
                continue
            stamps = [entry.lstat().st_mtime]
            if entry.is_dir():
                stamps += [child.lstat().st_mtime for child in entry.iterdir()]
            if now - max(stamps) <= older_than:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # removed meanwhile (its run finished or failed), or not ours to remove
        removed.append(entry)
    return removed
