"""A bundle's data manifest (`data_manifest.json`): every file its training run read, so the data store can
give them back and the release can be rebuilt (`rebuild`).

Each file is listed with its role (`train`: data.path; `batch`: a retrain.source batch the loop trained on,
`held_out` when the challenger's test rows were drawn from it; `trusted`: the frozen evaluation set), its path
as lineage names it, the URL it was copied from (data behind a URL), its sha256, bytes and rows. A loop
release names its parent: the champion's version and the sha256 of the champion's manifest. lineage.json
records the manifest's own sha256, and SHA256SUMS (and the signature) cover both.

`store_release_data` uploads what a manifest needs to the data store before a release is published, then
records the manifest itself there (`manifests/<project>/<version>.json`), which is what `gc` keeps objects for.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..bundle import layout
from ..errors import CorruptObject, DataStoreError, VerificationError
from ..utils.console import say
from ..utils.hashing import sha256_bytes, sha256_file

if TYPE_CHECKING:
    from ..settings import Settings
    from .store import DataStore

MANIFEST_FORMAT = 1
ROLES = ("train", "batch", "trusted")
MAX_FILES = 100_000  # a manifest listing more is no manifest of one training run
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


@dataclass(frozen=True)
class ManifestFile:
    role: str
    path: str
    sha256: str
    bytes: int
    rows: int
    url: str | None = None
    held_out: bool = False

    def as_dict(self) -> dict:
        entry: dict = {"role": self.role, "path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        entry["rows"] = self.rows
        if self.url is not None:
            entry["url"] = self.url
        if self.role == "batch":
            entry["held_out"] = self.held_out
        return entry


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    files: tuple[ManifestFile, ...]
    parent: dict | None = None  # {"version": ..., "sha256": the champion's manifest, or None before manifests}

    def as_dict(self) -> dict:
        return {
            "manifest_format": MANIFEST_FORMAT,
            "name": self.name,
            "version": self.version,
            "files": [f.as_dict() for f in self.files],
            "parent": self.parent,
        }

    def render(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n").encode()

    @property
    def trained_on(self) -> tuple[ManifestFile, ...]:
        """The files training read, in the order it read them (data.path, then the window's batches)."""
        return tuple(f for f in self.files if f.role != "trusted")


def record_name(name: str, version: str, sha256: str) -> str:
    """`manifests/<project>/<version>+<manifest sha256>.json`: a record is added, never replaced, so a publish
    that is refused (the version exists) cannot make gc forget the data of the release that won."""
    return f"manifests/{name}/{version}+{sha256}.json"


def recorded_release(record: str) -> tuple[str, str] | None:
    """(project, version) of a record under manifests/, or None for any other name."""
    parts = record.removesuffix(".json").split("/")
    if len(parts) != 3 or parts[0] != "manifests":
        return None
    return parts[1], parts[2].split("+", 1)[0]


def build(settings: Settings, snapshot: dict, name: str, version: str) -> Manifest:
    """The manifest of a training run: the validated snapshot's files (data.path, and the loop's batches),
    and the trusted set when retrain.trusted names one that is here with its pinned bytes."""
    batches = set(settings.batch_files or ())
    held_out = set(settings.test_pool or ())
    files = [
        ManifestFile(
            "batch" if f["path"] in batches else "train",
            f["path"],
            f["sha256"],
            f["bytes"],
            f["rows"],
            f.get("url"),
            f["path"] in held_out,
        )
        for f in snapshot["files"]
    ]
    trusted = settings.retrain.trusted
    if trusted is not None:
        path = settings.root / trusted.path
        if path.is_file() and sha256_file(path) == trusted.sha256:
            from .files import read_table

            _, rows = read_table([path])
            files.append(ManifestFile("trusted", trusted.path, trusted.sha256, path.stat().st_size, rows[0]))
        else:
            say(f"data manifest: the trusted set {trusted.path} is not here with its pinned sha256; not listed")
    retrain = (settings.lineage_extra or {}).get("retrain")
    parent = None
    if retrain:
        parent = {"version": retrain["champion"], "sha256": retrain.get("champion_manifest")}
    return Manifest(name, version, tuple(files), parent)


def parse(data: bytes, source: str) -> Manifest:
    """A manifest from its bytes, every field checked; VerificationError naming what is wrong."""

    def bad(why: str) -> VerificationError:
        return VerificationError(f"{source}: not a valid data manifest: {why}")

    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad(f"not JSON ({error})") from None
    if not isinstance(raw, dict) or raw.get("manifest_format") != MANIFEST_FORMAT:
        raise bad(f"manifest_format must be {MANIFEST_FORMAT} (a newer modelkeel wrote it? upgrade)")
    name, version, entries = raw.get("name"), raw.get("version"), raw.get("files")
    for key, value in (("name", name), ("version", version)):
        if not isinstance(value, str) or not VERSION_PART_RE.match(value):
            raise bad(f"{key} {str(value)[:80]!r} is not a plain name")
    if not isinstance(entries, list) or len(entries) > MAX_FILES:
        raise bad(f"files must be a list of at most {MAX_FILES:,} entries")
    files = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise bad(f"files[{i}] is not an object")
        role, path, sha, size, rows = (entry.get(k) for k in ("role", "path", "sha256", "bytes", "rows"))
        url, held = entry.get("url"), entry.get("held_out", False)
        if role not in ROLES:
            raise bad(f"files[{i}].role {str(role)[:20]!r} is none of {', '.join(ROLES)}")
        if not isinstance(path, str) or not path or "\0" in path or len(path) > 4096:
            raise bad(f"files[{i}].path is not a path")
        if not isinstance(sha, str) or not SHA256_RE.match(sha):
            raise bad(f"files[{i}].sha256 is not 64 lowercase hex digits")
        for key, number in (("bytes", size), ("rows", rows)):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise bad(f"files[{i}].{key} is not a whole number")
        if url is not None and (not isinstance(url, str) or len(url) > 4096):
            raise bad(f"files[{i}].url is not a URL")
        if not isinstance(held, bool):
            raise bad(f"files[{i}].held_out is not true or false")
        files.append(ManifestFile(str(role), path, sha, int(size), int(rows), url, held))  # type: ignore[arg-type]
    parent = raw.get("parent")
    if parent is not None and not (
        isinstance(parent, dict)
        and isinstance(parent.get("version"), str)
        and (parent.get("sha256") is None or (isinstance(parent["sha256"], str) and SHA256_RE.match(parent["sha256"])))
    ):
        raise bad("parent must name a version and a sha256 (or null)")
    return Manifest(str(name), str(version), tuple(files), parent)


def of_bundle(folder: Path, lineage: dict) -> Manifest | None:
    """The bundle's manifest, checked against the sha256 lineage records; None for a bundle made before
    manifests (modelkeel < 2.0). The bundle's SHA256SUMS was checked when it was opened."""
    recorded = lineage.get("data_manifest")
    path = folder / layout.DATA_MANIFEST
    if recorded is None and not path.exists():
        return None
    if not isinstance(recorded, dict) or not path.is_file():
        raise VerificationError(
            f"{folder}: lineage.json and {layout.DATA_MANIFEST} disagree on whether the bundle has a data manifest"
        )
    if path.stat().st_size > layout.MAX_FILE_BYTES:
        raise VerificationError(f"{path}: larger than a bundle file may be")
    data = path.read_bytes()
    if sha256_bytes(data) != recorded.get("sha256"):
        raise VerificationError(f"{path}: its sha256 is not the one lineage.json records; refused")
    manifest = parse(data, str(path))
    if (manifest.name, manifest.version) != (lineage.get("name"), lineage.get("version")):
        raise VerificationError(
            f"{path}: the manifest of {manifest.name} {manifest.version}, in a bundle of {lineage.get('name')} "
            f"{lineage.get('version')}; refused"
        )
    return manifest


def local_path(root: Path, path: str) -> Path:
    """Where a manifest's file is in the project: relative paths under `root`, absolute ones as they are."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def safe_relative(path: str) -> PurePosixPath | None:
    """The path as a relative path that stays inside a folder (no `..`, not absolute), or None."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path:
        return None
    return pure


def forgotten(store: DataStore, sha256: str) -> dict | None:
    """The record `forget` left for the object, or None."""
    data = store.get_record(f"forgotten/{sha256}.json")
    if data is None:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return {"sha256": sha256}
    return record if isinstance(record, dict) else {"sha256": sha256}


def upload(settings: Settings, store: DataStore, files: Iterable[ManifestFile]) -> list[str]:
    """Put each file into the store unless it is there already; the sha256 of each one uploaded now.

    A file must be here with its recorded bytes, or behind its recorded URL with them (`from_url`: the Dask engine
    reads data.path and the loop's batches where they lie and keeps no copy), or already in the store; an object
    `forget` removed is never stored again (a DataStoreError says why and where the record is)."""
    uploaded = []
    for entry in files:
        gone = forgotten(store, entry.sha256)
        if gone is not None:
            raise DataStoreError(
                f"{entry.path} (sha256 {entry.sha256}) was removed from the data store by `forget` "
                f"({gone.get('reason') or 'no reason recorded'}, {gone.get('removed_at') or 'date unknown'}): "
                "it must not be stored again. Remove it from the data and train again."
            )
        held = store.stat(entry.sha256)
        if held is not None and held.bytes == entry.bytes:
            continue  # its name is its sha256, and every read (`get`: rebuild, a fetch) checks it: not read again
        path = local_path(settings.root, entry.path)
        if path.is_file() and path.stat().st_size == entry.bytes and sha256_file(path) == entry.sha256:
            stored = store.put(path)
            if stored.sha256 != entry.sha256:  # changed between the check and the upload
                raise DataStoreError(f"{entry.path} changed while it was stored; run again")
        elif entry.url is not None:  # no copy here (the Dask engine reads a URL in place): from the URL itself
            from_url(store, entry)
        else:
            raise DataStoreError(
                f"{entry.path} (sha256 {entry.sha256}) is neither here with those bytes nor in the data store "
                f"{store.url}: the release could not be rebuilt. Run where the training data is (the job that "
                "trained it), or put the file back."
            )
        uploaded.append(entry.sha256)
    return uploaded


def from_url(store: DataStore, entry: ManifestFile) -> None:
    """Stream a manifest's file from the URL it was read from into the store: at most its recorded bytes, hashed
    on the way, and moved to its object's key only when they hash to the recorded sha256 (the store's staging);
    an object the URL now holds with other bytes is refused (DataStoreError) and nothing is stored. Credentials
    come from the environment, as each fsspec filesystem reads them (data/remote.py)."""
    from ..utils.extras import require
    from .remote import check_no_credentials

    url = str(entry.url)
    check_no_credentials(url, f"the data manifest's URL of {entry.path}")
    fsspec = require("fsspec", f"{entry.path} from {url}")

    def changed(now: str) -> DataStoreError:
        return DataStoreError(
            f"{url} ({entry.path}) changed since the model was trained on it: the manifest records {entry.bytes:,} "
            f"bytes of sha256 {entry.sha256}, the object now {now}. Nothing was stored, and the release could not "
            "be rebuilt from it: put the object back as it was, or train again on the data as it is now "
            "(make pipeline, or make retrain) and release that."
        )

    try:
        fs, key = fsspec.core.url_to_fs(url)
        size = fs.info(key).get("size")
        if isinstance(size, int) and size != entry.bytes:
            raise changed(f"holds {size:,} bytes")
        with fs.open(key, "rb") as handle:
            store.put(handle, max_bytes=entry.bytes, sha256=entry.sha256, label=url)
    except FileNotFoundError:
        raise DataStoreError(
            f"{url} ({entry.path}, sha256 {entry.sha256}): no object there any more, and neither a copy here nor "
            f"one in the data store {store.url}: the release could not be rebuilt. Put the object back, or train "
            "again on the data there is (make pipeline) and release that."
        ) from None
    except CorruptObject as error:  # other bytes, or more of them (changed since its size was read)
        raise changed(f"gives other bytes ({str(error).removeprefix(url + ': ')})") from None
    except (ValueError, ImportError, OSError) as error:  # an unknown protocol, its library missing, unreachable
        raise DataStoreError(f"{url} ({entry.path}): cannot be read to store it ({error})") from None


def store_release_data(
    settings: Settings, folder: Path, lineage: dict, store: DataStore | None = None, *, record: bool = True
) -> Manifest:
    """Before a release is published: every file the bundle's manifest names is in the data store, and (with
    `record`) the manifest is recorded there first, so gc keeps what it names from the moment the upload begins.
    A bundle without a manifest (made before 2.0) is refused: it cannot be rebuilt; so is one whose data lies
    outside the project, which `rebuild` could not put back. A challenger that waits for a person stores its data
    without the record (`record=False`): its own record keeps the data until a person decides."""
    from .store import DataStore

    manifest = of_bundle(folder, lineage)
    if manifest is None:
        raise DataStoreError(
            f"{folder}: no {layout.DATA_MANIFEST} (made by modelkeel before 2.0): build the bundle again "
            "(make pipeline) so the release can be rebuilt from its data"
        )
    outside = [f.path for f in manifest.files if safe_relative(f.path) is None]
    if outside:
        raise DataStoreError(
            f"{', '.join(outside[:5])}: training data outside the project folder cannot be put back by `rebuild`, "
            "so this release could not be rebuilt: keep the data under the project (data/) or behind a URL "
            "(data.path: s3://...), and train again"
        )
    store = store or DataStore(settings.data_store_url)
    if store.local and os.environ.get("GITHUB_ACTIONS") == "true":
        say(
            "::warning title=The data store is on this runner::data_store.url is a folder, gone when the job ends: "
            "this release cannot be rebuilt elsewhere. Set data_store.url to an object store (s3://...) and its "
            "credentials as secrets (data-store.md)"
        )
    data = (folder / layout.DATA_MANIFEST).read_bytes()
    if record:  # first: from now on gc keeps every object it names, an old one this release reuses too
        store.put_record(record_name(manifest.name, manifest.version, sha256_bytes(data)), data)
    uploaded = upload(settings, store, manifest.files)
    total = len(manifest.files)
    say(f"data store {store.url}: {total} file(s) of {manifest.name} {manifest.version}, {len(uploaded)} uploaded now")
    return manifest
