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


def fingerprint(files: list[Path], rows: list[int], root: Path) -> dict:
    """Per-file sha256, size and rows, plus one fingerprint of the whole snapshot."""
    entries = []
    for path, count in zip(files, rows, strict=True):
        try:
            shown = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            shown = str(path)
        entries.append(FileFingerprint(shown, sha256_file(path), path.stat().st_size, count))
    combined = hashlib.sha256("".join(f"{e.sha256}  {e.path}\n" for e in entries).encode()).hexdigest()
    return {
        "files": [e.__dict__ for e in entries],
        "rows": sum(rows),
        "fingerprint": combined,
    }
