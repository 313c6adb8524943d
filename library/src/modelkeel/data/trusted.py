"""`freeze-trusted`: set aside a frozen, labelled evaluation set that the loop never trains on.

A share of the labelled rows of the (single) data.path file moves to `data/trusted/`; the data
file keeps the rest, so no model trains on them; `params.yaml` pins the new file by its sha256
(`retrain.trusted`), and the loop refuses any other bytes. No batch can write it: batches arrive in
`retrain.source`, this file is changed only by a reviewed commit.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Frozen:
    path: Path
    sha256: str
    rows: int
    left: int  # rows the data file keeps


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


def _write(frame: pd.DataFrame, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def freeze(settings: Settings, params_path: Path, share: float, force: bool = False) -> Frozen:
    """Move a share of data.path's rows into data/trusted/ and pin the file in params.yaml."""
    import io

    from ruamel.yaml import YAML

    if settings.retrain.trusted is not None and not force:
        raise SettingsError(
            f"retrain.trusted already names {settings.retrain.trusted.path}; pass --force to set aside another one"
        )
    from .remote import is_url

    paths = (settings.data.path,) if isinstance(settings.data.path, str) else settings.data.path
    if any(is_url(p) for p in paths):
        raise SettingsError(
            "data.path is a URL: freeze-trusted rewrites data.path's file without the rows it sets aside, which it "
            "does only for a local file; write a trusted file yourself and pin it under retrain.trusted (path, sha256)"
        )
    files = resolve_files(settings.data.path, settings.root)
    if len(files) != 1:
        raise SettingsError(
            f"data.path names {len(files)} files: freeze-trusted takes its rows from one file; set data.path to one "
            "file first, or write a trusted file yourself and pin it under retrain.trusted (path, sha256)"
        )
    source = files[0]
    kept, trusted = carve(read_file(source), settings.data.target, share, settings.seed)
    target = settings.root / TRUSTED_DIR / f"{source.stem}_trusted{source.suffix}"
    if target.exists():
        raise SettingsError(
            f"{target} exists: its rows left {source.name} when it was frozen. Move them back into "
            f"{source.name} (or delete the file if it is not needed), then freeze again"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    _write(trusted, target)  # the trusted file first: a stop in between loses no row
    _write(kept, source)
    digest = sha256_file(target)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100_000
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    document["retrain"]["trusted"] = {"path": target.relative_to(settings.root).as_posix(), "sha256": digest}
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    atomic.write_text(params_path, buffer.getvalue())
    return Frozen(target, digest, len(trusted), len(kept))
