"""Fingerprinting exactly which bytes a model was trained on: per-file sha256 and rows, and one fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..utils.hashing import sha256_file


@dataclass(frozen=True)
class FileFingerprint:
    path: str
    sha256: str
    bytes: int
    rows: int
    url: str | None = None  # the object the file was copied from (data behind a URL); absent for local files

    def as_dict(self) -> dict:
        entry = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes, "rows": self.rows}
        return entry if self.url is None else {**entry, "url": self.url}


def shown_path(path: Path, root: Path) -> str:
    """The path as lineage names it: relative to the project root when inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def fingerprint(files: list[Path], rows: list[int], root: Path, urls: list[str | None] | None = None) -> dict:
    """Per-file sha256, size and rows (and, for data behind a URL, the URL each file was copied from, which
    then names it in the fingerprint), plus one fingerprint of the whole snapshot."""
    entries = []
    for path, count, url in zip(files, rows, urls or [None] * len(files), strict=True):
        entries.append(FileFingerprint(shown_path(path, root), sha256_file(path), path.stat().st_size, count, url))
    return snapshot_of(entries)


def snapshot_of(entries: list[FileFingerprint]) -> dict:
    """The snapshot of files already fingerprinted (by whichever engine hashed them): each file, the rows, and
    one fingerprint of them all (each file's sha256 and the URL, else the path, naming it)."""
    combined = hashlib.sha256("".join(f"{e.sha256}  {e.url or e.path}\n" for e in entries).encode()).hexdigest()
    return {
        "files": [e.as_dict() for e in entries],
        "rows": sum(e.rows for e in entries),
        "fingerprint": combined,
    }
