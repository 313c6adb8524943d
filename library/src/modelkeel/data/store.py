"""The data store: every file a training run read, kept by its sha256 and written once (`data_store.url`).

Any fsspec URL holds it: a local folder (the default, `.data-store` beside params.yaml, ignored by git),
`s3://bucket/prefix`, `gs://...`. Credentials come from the environment, as each filesystem reads them
(AWS_* for s3://), never from params.yaml. The layout under the URL:

    objects/sha256/<first two hex digits>/<the 64 hex digits>   each object, whose name is its sha256
    staging/<random>.partial                                     uploads in progress, or interrupted ones
    manifests/<project>/<version>+<sha256>.json                  each release's data manifest (data/manifest.py)
    challengers/<version>.json, runs/<run id>.json               challengers that wait for a person (loop/approval.py)
    judged/<sha256>.json                                         batches the loop judged, so not judged again
    forgotten/<sha256>.json                                      objects a person removed, and why (`forget`)

Records (every key but objects and staging) are small JSON documents written whole: a rename on a local
disk, one PUT on an object store (which makes the whole object appear at once). They are bounded
(`MAX_RECORD_BYTES`) and named from a closed set of folders (`RECORD_FOLDERS`), so no name reaches
outside the store.

`put` reads its source once, hashing and counting the bytes as it uploads them to a staging key; only a
complete upload of the declared size is moved to the object's key: on a local disk by a rename (atomic),
on an object store by a server-side copy (S3 has no rename; a copy makes the whole object appear at once)
and then the staging key is deleted. So a reader never sees half an object at an object's key, and an
interrupted put leaves at most a staging key (`staged()` lists them for gc). A put told the sha256 its bytes
must have (a manifest's file streamed from its URL: data/manifest.py) moves nothing when they hash otherwise.
A put of content the store already holds, and that still verifies, uploads nothing. Two concurrent puts of the
same content both succeed: the object's key gets the same bytes either way.

`get` streams an object to a temporary file beside the destination, hashing and counting, and renames it
into place only when the bytes hash to the name and are the size the store (and the caller, when it
knows) declares: a corrupted or substituted object is refused (CorruptObject), never more bytes than that
size are read, and nothing is left at the destination. Every object is bounded (`max_bytes`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CorruptObject, DataStoreError, ObjectNotFound
from ..utils import atomic
from ..utils.hashing import sha256_file
from .remote import check_no_credentials

OBJECTS = "objects/sha256"
STAGING = "staging"
CHUNK = 1024 * 1024
MAX_OBJECT_BYTES = 64 * 1024**3  # one object, unless the store is opened with another bound
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
RECORD_FOLDERS = ("manifests", "challengers", "runs", "judged", "forgotten")
RECORD_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
MAX_RECORD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Stored:
    """One object of the store: its sha256 (its name) and its size in bytes."""

    sha256: str
    bytes: int


class DataStore:
    """Content-addressed objects under an fsspec URL; see the module's docstring for the layout."""

    def __init__(self, url: str, storage_options: dict | None = None, *, max_bytes: int = MAX_OBJECT_BYTES) -> None:
        from ..utils.extras import require

        check_no_credentials(url, "data_store.url")
        fsspec = require("fsspec", f"the data store {url}")
        self.url = url.rstrip("/") or url
        self.max_bytes = max_bytes
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        except (ImportError, ValueError, TypeError) as error:  # an unknown protocol, its library missing
            raise DataStoreError(f"cannot open the data store {url!r}: {error}") from None
        self.root = root.rstrip("/")
        protocol = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocol or "local" in protocol

    # --- names -------------------------------------------------------------------------------------------

    def key(self, sha256: str) -> str:
        """The object's key (a path within the filesystem); a ValueError for anything but 64 lowercase hex digits."""
        if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
            raise ValueError(f"not a sha256 (64 lowercase hex digits): {sha256!r}")
        return f"{self.root}/{OBJECTS}/{sha256[:2]}/{sha256}"

    def object_url(self, sha256: str) -> str:
        return f"{self.url}/{OBJECTS}/{sha256[:2]}/{sha256}"

    # --- reading ------------------------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        """Whether an object of that sha256 is there (not whether it verifies: `get` checks that)."""
        key = self.key(sha256)
        try:
            return bool(self.fs.isfile(key))
        except OSError as error:
            raise DataStoreError(f"cannot read the data store {self.url}: {error}") from None

    def stat(self, sha256: str) -> Stored | None:
        """The object's sha256 and size as the store declares it, or None when there is none."""
        try:
            info = self.fs.info(self.key(sha256))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DataStoreError(f"cannot read the data store {self.url}: {error}") from None
        return Stored(sha256, _declared_size(info) or 0)

    def objects(self) -> list[Stored]:
        """Every object, by sha256; what is not named like an object (in the wrong folder) is not listed."""
        prefix = f"{self.root}/{OBJECTS}"
        try:
            found = self.fs.find(prefix, detail=True) if self.fs.exists(prefix) else {}
        except OSError as error:
            raise DataStoreError(f"cannot list the data store {self.url}: {error}") from None
        listed = []
        for path, info in found.items():
            parts = path.rstrip("/").split("/")
            name, folder = parts[-1], parts[-2]
            if info.get("type") == "file" and SHA256_RE.match(name) and folder == name[:2]:
                listed.append(Stored(name, int(info.get("size") or 0)))
        return sorted(listed, key=lambda s: s.sha256)

    def staged(self) -> list[str]:
        """The staging keys there are: uploads in progress, or left by interrupted ones (gc removes old ones)."""
        prefix = f"{self.root}/{STAGING}"
        try:
            found = self.fs.find(prefix, detail=True) if self.fs.exists(prefix) else {}
        except OSError as error:
            raise DataStoreError(f"cannot list the data store {self.url}: {error}") from None
        return sorted(path for path, info in found.items() if info.get("type") == "file")

    def abandoned_uploads(self) -> list[dict]:
        """Unfinished multipart uploads under the staging prefix (an object store's upload killed half way is no
        key, but its parts take storage until aborted): each {"key", "id", "started" (seconds since the epoch)}.
        Empty on a store without multipart uploads (a folder)."""
        lister = getattr(self.fs, "list_multipart_uploads", None)
        if lister is None or self.local:
            return []
        bucket, _, prefix = self.root.partition("/")
        staging = f"{prefix}/{STAGING}/" if prefix else f"{STAGING}/"
        try:
            uploads = lister(bucket)
        except OSError as error:
            raise DataStoreError(f"cannot list the uploads in progress in {self.url}: {error}") from None
        found = []
        for upload in uploads:
            key, started = upload.get("Key", ""), upload.get("Initiated")
            if key.startswith(staging) and upload.get("UploadId"):
                at = started.timestamp() if hasattr(started, "timestamp") else None
                found.append({"key": f"{bucket}/{key}", "id": upload["UploadId"], "started": at})
        return found

    def abort_upload(self, upload: dict) -> None:
        """Abort one of `abandoned_uploads()` (its parts are deleted)."""
        bucket, _, key = upload["key"].partition("/")
        if not upload["key"].startswith(f"{self.root}/{STAGING}/"):
            raise ValueError(f"not an upload to the staging prefix of {self.url}: {upload['key']!r}")
        try:
            self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["id"])
        except OSError as error:
            raise DataStoreError(f"cannot abort the upload {upload['key']}: {error}") from None

    def get(self, sha256: str, dest: Path, *, size: int | None = None) -> Stored:
        """Copy the object to `dest`, checked: its bytes must hash to `sha256` and be its size (`size`, when the
        caller knows it, must agree). ObjectNotFound if there is none; CorruptObject if it does not verify,
        and then nothing is written to `dest`."""
        key = self.key(sha256)
        label = self.object_url(sha256)
        try:
            info = self.fs.info(key)
        except FileNotFoundError:
            raise ObjectNotFound(f"the data store {self.url} has no object {sha256}") from None
        except OSError as error:
            raise DataStoreError(f"cannot read {label}: {error}") from None
        declared = _declared_size(info)
        if size is not None and declared is not None and declared != size:
            raise CorruptObject(f"{label}: the store holds {declared:,} bytes, {size:,} were stored; refused")
        expected = size if size is not None else declared
        limit = expected if expected is not None else self.max_bytes
        if limit > self.max_bytes:
            raise DataStoreError(f"{label}: {limit:,} bytes, more than the {self.max_bytes:,} an object may hold")
        digest = hashlib.sha256()
        count = 0
        try:
            with self.fs.open(key, "rb") as source, atomic.atomic_path(dest) as tmp, tmp.open("wb") as copy:
                while chunk := source.read(min(CHUNK, limit + 1 - count)):
                    count += len(chunk)
                    if count > limit:
                        raise CorruptObject(f"{label}: more than the {limit:,} bytes it holds; refused")
                    digest.update(chunk)
                    copy.write(chunk)
                copy.flush()
                if expected is not None and count != expected:
                    raise CorruptObject(f"{label}: {count:,} bytes read, {expected:,} expected; refused")
                if digest.hexdigest() != sha256:
                    raise CorruptObject(
                        f"{label}: its bytes hash to {digest.hexdigest()}, not to its name: the object is corrupt "
                        "or was replaced; refused (nothing was written)"
                    )
        except FileNotFoundError:
            raise ObjectNotFound(f"the data store {self.url} has no object {sha256}") from None
        except OSError as error:
            raise DataStoreError(f"cannot read {label}: {error}") from None
        return Stored(sha256, count)

    def verifies(self, sha256: str) -> bool:
        """Whether the object is there and its bytes hash to its name (read whole; nothing is written)."""
        key = self.key(sha256)
        try:
            declared = _declared_size(self.fs.info(key))
            if declared is not None and declared > self.max_bytes:
                return False
            digest = hashlib.sha256()
            with self.fs.open(key, "rb") as source:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise DataStoreError(f"cannot read {self.object_url(sha256)}: {error}") from None
        return digest.hexdigest() == sha256

    # --- records -----------------------------------------------------------------------------------------

    def record_key(self, name: str) -> str:
        """The key of the record `name` (`<folder>/<part>[/<part>]`, the folder one of RECORD_FOLDERS); a
        ValueError for any other name (a path that would leave the store, a hidden or odd name)."""
        parts = name.split("/") if isinstance(name, str) else []
        if (
            not 2 <= len(parts) <= 3
            or parts[0] not in RECORD_FOLDERS
            or not all(RECORD_PART_RE.match(p) and p not in (".", "..") for p in parts[1:])
        ):
            raise ValueError(f"not a record name of the data store: {name!r}")
        return f"{self.root}/{name}"

    def put_record(self, name: str, data: bytes) -> None:
        """Write the record whole (replacing any before it): a rename locally, one PUT on an object store."""
        key = self.record_key(name)
        if len(data) > MAX_RECORD_BYTES:
            raise DataStoreError(f"{self.url}/{name}: {len(data):,} bytes, more than a record may hold")
        try:
            if self.local:
                atomic.write_bytes(Path(key), data)
            else:
                self.fs.pipe_file(key, data)
        except OSError as error:
            raise DataStoreError(f"cannot write {self.url}/{name}: {error.strerror or error}") from None

    def get_record(self, name: str) -> bytes | None:
        """The record's bytes, or None when there is none; a DataStoreError for one over MAX_RECORD_BYTES."""
        key = self.record_key(name)
        try:
            size = _declared_size(self.fs.info(key))
            if size is not None and size > MAX_RECORD_BYTES:
                raise DataStoreError(f"{self.url}/{name}: {size:,} bytes, more than a record may hold; not read")
            with self.fs.open(key, "rb") as handle:
                data = handle.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DataStoreError(f"cannot read {self.url}/{name}: {error.strerror or error}") from None
        if len(data) > MAX_RECORD_BYTES:
            raise DataStoreError(f"{self.url}/{name}: more than a record may hold; not read")
        return data

    def records(self, folder: str) -> list[str]:
        """The names of the records under `folder` (one of RECORD_FOLDERS, or `manifests/<project>`), sorted."""
        self.record_key(f"{folder}/x")  # checks the folder
        prefix = f"{self.root}/{folder}"
        try:
            found = self.fs.find(prefix, detail=True) if self.fs.exists(prefix) else {}
        except OSError as error:
            raise DataStoreError(f"cannot list {self.url}/{folder}: {error}") from None
        names = []
        for path, info in found.items():
            if info.get("type") != "file":
                continue
            name = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
            try:
                self.record_key(name)
            except ValueError:
                continue  # not a record (a temporary file of an interrupted local write)
            names.append(name)
        return sorted(names)

    def remove_record(self, name: str) -> bool:
        """Remove the record; whether there was one."""
        return self._remove_key(self.record_key(name), f"{self.url}/{name}")

    def remove(self, sha256: str) -> bool:
        """Remove the object (gc, `forget`); whether there was one."""
        return self._remove_key(self.key(sha256), self.object_url(sha256))

    def remove_staged(self, key: str) -> bool:
        """Remove a staging key `staged()` listed (gc)."""
        if not key.startswith(f"{self.root}/{STAGING}/"):
            raise ValueError(f"not a staging key of {self.url}: {key!r}")
        return self._remove_key(key, key)

    def modified(self, key: str) -> float | None:
        """When the key was last written (seconds since the epoch), where the store says; None where it does not."""
        try:
            info = self.fs.info(key)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DataStoreError(f"cannot read {key}: {error}") from None
        for field in ("mtime", "LastModified", "created"):
            value = info.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
        return None

    def _remove_key(self, key: str, label: str) -> bool:
        try:
            if not self.fs.exists(key):
                return False
            self.fs.rm(key)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise DataStoreError(f"cannot remove {label}: {error.strerror or error}") from None
        return True

    # --- writing ------------------------------------------------------------------------------------------

    def put(
        self,
        source: Path | str | BinaryIO,
        *,
        max_bytes: int | None = None,
        sha256: str | None = None,
        label: str | None = None,
    ) -> Stored:
        """Store a local file (or the bytes a binary stream gives), at most `max_bytes` (default: the store's
        bound); return its sha256 and size. Nothing is uploaded when the store already holds the content and it
        verifies; an object that does not verify is replaced. With `sha256` (a stream whose content the caller
        knows: a manifest's file read from its URL, `max_bytes` its size), bytes that hash otherwise, or more
        bytes than `max_bytes`, are refused (CorruptObject) before they become an object: the staged upload is
        removed and nothing is stored. `label` names a stream in messages."""
        if sha256 is not None:
            self.key(sha256)  # a ValueError for anything but a sha256
        limit = self.max_bytes if max_bytes is None else min(max_bytes, self.max_bytes)
        if isinstance(source, str | Path):
            path = Path(source)
            try:
                size = path.stat().st_size
            except OSError as error:
                raise DataStoreError(f"cannot store {path}: {error.strerror or error}") from None
            if size > limit:
                raise DataStoreError(
                    f"{path}: {size:,} bytes, more than the {limit:,} bytes an object may hold; not stored"
                )
            known = sha256_file(path)
            if self.verifies(known):
                return Stored(known, size)
            try:
                with path.open("rb") as handle:
                    return self._upload(handle, limit, str(path), sha256)
            except OSError as error:
                raise DataStoreError(f"cannot store {path}: {error.strerror or error}") from None
        return self._upload(source, limit, label or str(getattr(source, "name", "a stream")), sha256)

    def _upload(self, handle: BinaryIO, limit: int, label: str, expected: str | None = None) -> Stored:
        staging = f"{self.root}/{STAGING}/{uuid.uuid4().hex}.partial"
        try:
            sha256, count = self._write_staged(staging, handle, limit, label, CorruptObject if expected else None)
            try:
                if expected is not None and sha256 != expected:
                    raise CorruptObject(
                        f"{label}: its {count:,} bytes hash to {sha256}, not to the {expected} expected; "
                        "not stored (nothing was stored)"
                    )
                self._settle(staging, sha256, count)
            finally:
                self._remove(staging)
        except OSError as error:
            raise DataStoreError(
                f"cannot store {label} in {self.url}: {error.strerror or error} (no object was stored)"
            ) from None
        return Stored(sha256, count)

    def _write_staged(
        self, staging: str, handle: BinaryIO, limit: int, label: str, over: type[DataStoreError] | None = None
    ) -> tuple[str, int]:
        """Copy `handle` to the staging key, hashing and counting; the sha256 and size of a complete upload.
        More than `limit` bytes raise `over` (default DataStoreError). On any failure the upload is abandoned (an
        fsspec upload discarded, a multipart upload aborted) and the staging key removed as far as possible (what
        is left, gc removes)."""
        digest = hashlib.sha256()
        count = 0
        if self.local:
            os.makedirs(os.path.dirname(staging), exist_ok=True)
        target = open(staging, "wb") if self.local else self.fs.open(staging, "wb")  # noqa: SIM115
        try:
            while chunk := handle.read(CHUNK):
                count += len(chunk)
                if count > limit:
                    raise (over or DataStoreError)(
                        f"{label}: more than the {limit:,} bytes "
                        + ("expected" if over else "an object may hold")
                        + "; not stored"
                    )
                digest.update(chunk)
                target.write(chunk)
            target.close()  # completes the upload
        except BaseException:
            self._abandon(target)
            self._remove(staging)
            raise
        return digest.hexdigest(), count

    def _abandon(self, target) -> None:
        """Close a half-written file without completing it: an fsspec upload is discarded and marked closed,
        so neither close() nor garbage collection commits what was written."""
        if self.local:
            target.close()
            return
        with contextlib.suppress(Exception):  # best effort: the staging key is removed next, or left for gc
            target.discard()
        target.closed = True

    def _settle(self, staging: str, sha256: str, count: int) -> None:
        """Move a complete staged upload to the object's key, unless an object there already verifies."""
        key = self.key(sha256)
        staged = _declared_size(self.fs.info(staging))
        if staged is not None and staged != count:
            raise DataStoreError(f"the staged upload holds {staged:,} bytes, {count:,} were sent: not stored")
        if self.verifies(sha256):
            return  # stored before (or by a concurrent put of the same content)
        if self.local:
            os.makedirs(os.path.dirname(key), exist_ok=True)
            os.replace(staging, key)
        else:
            self.fs.copy(staging, key)  # server-side: the whole object appears at once
            stored = _declared_size(self.fs.info(key))
            if stored is not None and stored != count:
                raise DataStoreError(f"{self.object_url(sha256)}: {stored:,} bytes after the copy, {count:,} expected")

    def _remove(self, staging: str) -> None:
        try:
            if self.fs.exists(staging):
                self.fs.rm(staging)
        except OSError:
            pass  # left for gc: a staging key is never read as an object


def _declared_size(info: dict) -> int | None:
    size = info.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
