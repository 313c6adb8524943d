"""`freeze-trusted`: set aside a frozen, labelled evaluation set that the loop never trains on.

The (single, local) data.path file is split, and left as it was: a seeded share of its labelled
rows goes to `data/trusted/<stem>_trusted<suffix>`, the other rows to
`data/prepared/<stem>_train<suffix>`, the file `data.path` then names, so no model trains on the
trusted rows. `params.yaml` pins the trusted file by its sha256 (`retrain.trusted`; the loop
refuses any other bytes) and records the file both came from (`retrain.trusted.split_from`, with
its sha256), which each bundle's lineage repeats. Both files are written before params.yaml is
changed, each atomically: a stop leaves the project as it was. No batch can write the trusted
file: batches arrive in `retrain.source`, this file is changed only by a reviewed commit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SettingsError
from ..settings import Settings
from ..utils import atomic
from ..utils.hashing import sha256_file
from .files import read_file, resolve_files

MIN_TRUSTED_ROWS = 30
TRUSTED_DIR = Path("data") / "trusted"
TRAINING_DIR = Path("data") / "prepared"


@dataclass(frozen=True)
class Frozen:
    path: Path  # the trusted set
    sha256: str
    rows: int
    left: int  # rows of the training part
    training: Path  # the training part, which data.path now names
    source: Path  # the file both were split from, left as it was
    source_sha256: str


def trusted_part(root: Path, source: Path) -> Path:
    return root / TRUSTED_DIR / f"{source.stem}_trusted{source.suffix}"


def training_part(root: Path, source: Path) -> Path:
    return root / TRAINING_DIR / f"{source.stem}_train{source.suffix}"


def carve(frame: pd.DataFrame, target: str, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows that stay, the trusted rows): a seeded random `share` of the labelled rows, at least
    MIN_TRUSTED_ROWS and at most half of them."""
    labelled = np.flatnonzero(frame[target].notna().to_numpy())
    wanted = min(max(round(len(labelled) * share), MIN_TRUSTED_ROWS), len(labelled) // 2)
    if wanted < MIN_TRUSTED_ROWS:
        raise SettingsError(
            f"only {len(labelled)} labelled rows: a trusted set needs {MIN_TRUSTED_ROWS} and must leave as many to train on"
        )
    chosen = np.sort(np.random.default_rng(seed).choice(labelled, size=wanted, replace=False))
    keep = np.ones(len(frame), dtype=bool)
    keep[chosen] = False
    return frame[keep], frame.iloc[chosen]


def _write(frame: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def write_together(parts: dict[Path, pd.DataFrame]) -> None:
    """Write every frame to a temporary file beside its target; only when all are written do they replace
    their targets, so a failure leaves none of them half-written or new."""
    with contextlib.ExitStack() as stack:
        for path, frame in parts.items():
            _write(frame, stack.enter_context(atomic.atomic_path(path)), path.suffix)


def relative_path(path: Path, root: Path) -> str:
    """`path` as params.yaml names it: relative to the project root (with /) when inside it."""
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _source(settings: Settings, force: bool) -> Path:
    """The file to split: data.path's one local file, or, when data.path is the training part of an earlier
    split (--force), the file that split came from."""
    from .remote import is_url

    paths = (settings.data.path,) if isinstance(settings.data.path, str) else settings.data.path
    if any(is_url(p) for p in paths):
        raise SettingsError(
            "data.path is a URL: freeze-trusted splits only a local file; write a trusted file yourself and pin it "
            "under retrain.trusted (path, sha256)"
        )
    files = [f.resolve() for f in resolve_files(settings.data.path, settings.root)]
    if len(files) != 1:
        raise SettingsError(
            f"data.path names {len(files)} files: freeze-trusted takes its rows from one file; set data.path to one "
            "file first, or write a trusted file yourself and pin it under retrain.trusted (path, sha256)"
        )
    trusted = settings.retrain.trusted
    if force and trusted is not None and trusted.split_from is not None:
        earlier = settings.resolve(trusted.split_from.path)
        if files[0] == training_part(settings.root.resolve(), earlier):
            if not earlier.is_file():
                raise SettingsError(
                    f"data.path is the training part of {trusted.split_from.path}, which is gone: set data.path to "
                    "the whole data to split it again"
                )
            return earlier
    return files[0]


def freeze(settings: Settings, params_path: Path, share: float, force: bool = False) -> Frozen:
    """Split data.path's file into a trusted set and the training rows, leave it as it was, and point
    params.yaml at both (data.path; retrain.trusted, pinned, with the file they were split from)."""
    import io

    from ruamel.yaml import YAML

    if settings.retrain.trusted is not None and not force:
        raise SettingsError(
            f"retrain.trusted already names {settings.retrain.trusted.path}; pass --force to set aside another one"
        )
    source = _source(settings, force)
    source_digest = sha256_file(source)
    kept, trusted = carve(read_file(source), settings.data.target, share, settings.seed)
    root = settings.root.resolve()
    trusted_path, training_path = trusted_part(root, source), training_part(root, source)
    if source in (trusted_path, training_path):
        raise SettingsError(
            f"data.path {relative_path(source, root)} is itself a part freeze-trusted writes: point data.path at the "
            "whole data"
        )
    existing = [relative_path(p, root) for p in (trusted_path, training_path) if p.exists()]
    if existing and not force:
        raise SettingsError(
            f"{' and '.join(existing)} already exist (an earlier freeze-trusted): pass --force to split "
            f"{relative_path(source, root)} again and replace them"
        )
    write_together({trusted_path: trusted, training_path: kept})  # both, before params.yaml names them
    digest = sha256_file(trusted_path)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100_000
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    document["data"]["path"] = relative_path(training_path, root)
    split_from = {"path": relative_path(source, root), "sha256": source_digest}
    document.setdefault("retrain", {})["trusted"] = {
        "path": relative_path(trusted_path, root),
        "sha256": digest,
        "split_from": split_from,
    }
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    atomic.write_text(params_path, buffer.getvalue())
    return Frozen(trusted_path, digest, len(trusted), len(kept), training_path, source, source_digest)


def split_lineage(settings: Settings, snapshot: dict) -> dict | None:
    """For a bundle's lineage: the file its training data and the trusted set were split from (freeze-trusted),
    when data.path still names that split's training part; else None."""
    trusted = settings.retrain.trusted
    if trusted is None or trusted.split_from is None:
        return None
    root = settings.root.resolve()
    training = relative_path(training_part(root, settings.resolve(trusted.split_from.path)), root)
    if training not in {Path(f["path"]).as_posix() for f in snapshot.get("files", [])}:
        return None
    return {
        "path": trusted.split_from.path,
        "sha256": trusted.split_from.sha256,
        "training": training,
        "trusted": {"path": trusted.path, "sha256": trusted.sha256},
    }
