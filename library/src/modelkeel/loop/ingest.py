"""Steps 1 and 2 of the loop: ingest the batches `retrain.source` names, and validate the new ones.

A batch whose sha256 the champion was trained on (or, for a retrained champion, one its loop had
already seen) is not new, nor is one judged before (recorded in the data store by loop/approval.py: the
loop kept the champion, a person rejected or released its challenger, or a challenger trained on it waits).
Every failure of every new batch goes to the quarantine report.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..bundle.reader import Bundle
from ..data import remote
from ..data.contract import load_schema_model, validate_frame
from ..data.files import check_file_limits, read_table
from ..data.remote import is_url
from ..errors import DataError, DataValidationError
from ..settings import Settings
from ..stages.validate import time_columns
from ..utils.hashing import sha256_file


@dataclass(frozen=True)
class Batch:
    path: str  # relative to the project root when inside it (for a URL source: the local snapshot copy)
    sha256: str
    rows: int
    new: bool
    url: str | None = None  # the object it was copied from, when retrain.source is a URL
    judged: bool = False  # not new because a run (or a person) judged it before, not because the champion saw it


def find_batches(settings: Settings, snapshot: Path) -> list[tuple[Path, str | None]]:
    """The batch files the source names, oldest name first, each with its URL when the source is one
    (fsspec URLs are copied into `snapshot` first: data/remote.py)."""
    source = settings.retrain.source
    if not is_url(source):
        full = source if Path(source).is_absolute() else str(settings.root / source)
        return [(Path(p), None) for p in sorted(glob.glob(full, recursive=True)) if Path(p).is_file()]
    return [(copy.path, copy.url) for copy in remote.snapshot(source, snapshot, "retrain.source")]


def checked_batch(settings: Settings, path: Path) -> Path:
    """The batch file, if it is within retrain.max_batch_bytes and (from a Parquet footer) retrain.max_batch_rows:
    checked before a row is read; a CSV's rows are counted once read."""
    limits = settings.retrain
    how = "retrain.{} in params.yaml"
    check_file_limits(
        path, limits.max_batch_rows, limits.max_batch_bytes, how.format("max_batch_rows"), how.format("max_batch_bytes")
    )
    return path


def _rows_within(settings: Settings, path: Path, rows: int) -> None:
    if rows > settings.retrain.max_batch_rows:
        raise DataError(
            f"{path}: {rows:,} rows, more than the limit of {settings.retrain.max_batch_rows:,} rows in one file; "
            "split it into smaller files, or raise the limit (retrain.max_batch_rows in params.yaml)"
        )


def ingest(
    settings: Settings, champion: Bundle, snapshot: Path, judged: frozenset[str] = frozenset()
) -> tuple[Batch, ...]:
    """Every batch under the source, fingerprinted, and whether it is new: neither seen by the champion nor
    among the `judged` sha256 (batches an earlier run or a person judged)."""
    lineage = champion.lineage
    # what the champion trained on, and (for a retrained champion) every batch its loop had seen,
    # so batches left out by `retrain.window` are not new again on every run
    known = {f["sha256"] for f in lineage["data"]["files"]}
    known |= set(lineage.get("retrain", {}).get("batches_seen", []))
    batches = []
    for path, url in find_batches(settings, snapshot):
        _, rows = read_table([checked_batch(settings, path)])
        _rows_within(settings, path, rows[0])  # a CSV's rows, counted once read
        digest = sha256_file(path)
        shown = str(path.relative_to(settings.root)) if path.is_relative_to(settings.root) else str(path)
        seen = digest in known
        batches.append(
            Batch(shown, digest, rows[0], not seen and digest not in judged, url, not seen and digest in judged)
        )
    return tuple(batches)


def validate_batches(settings: Settings, batches: tuple[Batch, ...]) -> tuple[pd.DataFrame, tuple[dict, ...]]:
    """The new batches validated and concatenated, and the quarantine (every failure of every batch)."""
    model = load_schema_model(settings)
    frames, quarantine = [], []
    for batch in batches:
        if not batch.new:
            continue
        frame, _ = read_table([checked_batch(settings, settings.root / batch.path)])
        try:
            frames.append(validate_frame(frame, model, batch.path, time_columns(settings)))
        except DataValidationError as error:
            quarantine.append(error.report)
    if quarantine:
        return pd.DataFrame(), tuple(quarantine)
    return pd.concat(frames, ignore_index=True), ()
