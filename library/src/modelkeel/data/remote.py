"""Data behind a URL: an fsspec folder, file or glob (`s3://`, `gs://`, `file://`, `memory://`, ...) copied into a
local snapshot folder before anything reads it, so every stage reads, hashes and validates the same bytes.

`data.path` and `retrain.source` both come here. Credentials come from the environment, as each fsspec
filesystem reads them (AWS_* for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://, ...), never from
params.yaml: a URL with a user name or password in it is refused. An object whose path would land
outside the snapshot folder (a `..` in its key) is refused before any file is written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import DataError, SettingsError
from ..utils import atomic


@dataclass(frozen=True)
class Snapshot:
    url: str  # the object, as a full URL (protocol included)
    path: Path  # its local copy


def is_url(text: str) -> bool:
    return "://" in text


def check_no_credentials(url: str, where: str) -> None:
    """A SettingsError if the URL carries a user name or password: credentials belong in the environment."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise SettingsError(f"{where} {url!r} is not a URL ({error})") from None
    if parts.username is not None or parts.password is not None:
        raise SettingsError(
            f"{where}: the URL carries credentials ({parts.scheme}://<user>:<password>@...). Keep them out of "
            "params.yaml: remove them from the URL and set them in the environment as the filesystem expects "
            "(e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://)"
        )


def snapshot(url: str, folder: Path, where: str, *, suffixes: tuple[str, ...] | None = None) -> list[Snapshot]:
    """Every object the URL names (a file, a glob, or a folder: its files, those ending in `suffixes` when
    given), copied under `folder` keeping the remote layout (`<folder>/<protocol>/<key>`), in key order.
    Each copy is written atomically."""
    from ..utils.extras import require

    check_no_credentials(url, where)
    fsspec = require("fsspec", f"{where} {url}")
    try:
        fs, _, paths = fsspec.get_fs_token_paths(url)
    except (ValueError, ImportError, OSError) as error:  # an unknown protocol, or its library missing
        raise DataError(f"{where} {url!r}: cannot open this URL ({error})") from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    keys: list[str] = []
    for key in sorted(str(p) for p in paths):
        if fs.isdir(key):
            inner = sorted(str(k) for k in fs.find(key))
            keys += [k for k in inner if suffixes is None or k.lower().endswith(suffixes)]
        else:
            keys.append(key)
    inside = (folder / protocol).resolve()
    for key in keys:  # every key is checked before any file is written
        parts = key.replace("\\", "/").split("/")
        if ".." in parts or not (inside / key.lstrip("/")).resolve().is_relative_to(inside):
            raise DataError(
                f"{where}: the object {key!r} has a '..' in its path, which would be written outside the snapshot "
                f"folder {folder}: rename it, or narrow the glob"
            )
    copies = []
    for key in keys:
        local = folder / protocol / key.lstrip("/")
        try:
            with fs.open(key, "rb") as remote, atomic.atomic_path(local) as tmp, open(tmp, "wb") as copy:
                shutil.copyfileobj(remote, copy, 1024 * 1024)
        except FileNotFoundError:
            raise DataError(f"{where} {url!r}: no object {key!r} there; fix the URL in params.yaml") from None
        except OSError as error:
            raise DataError(f"{where} {url!r}: could not read {key!r} ({error})") from None
        copies.append(Snapshot(fs.unstrip_protocol(key), local))
    return copies
