"""An fsspec URL as the registry (a local folder, `s3://`, `gs://`), laid out as `<root>/<version>/<bundle files>`.

A download copies `SHA256SUMS` first, then only the files it lists and the signature: each only if the
size the listing declares is within its cap (`bundle/layout.py`), and never more bytes than that size
(or the cap, where the store declares none).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from ..bundle import checksums
from ..bundle.layout import CHECKSUMS, SIGNATURE_FILE, byte_size, max_file_bytes, over_budget
from ..bundle.reader import Bundle
from ..errors import NoReleaseYet, RegistryError, ReleaseNotFound
from ..github.rest import copy_stream
from ..utils.atomic import remove_stale_staging
from .base import Backend
from .versions import VERSION_RE, normalize_version, parse_version

# On an object store, the one run that may publish a version: an object written create-only (S3's
# If-None-Match) before any file, and kept, so a run that checked "not published yet" at the same moment
# is refused before it uploads a byte. A claim older than this, on a version still without SHA256SUMS, was
# left by a publish that died: the next publish takes it over.
CLAIM = ".publish-claim"
STALE_CLAIM_SECONDS = 3600


def publishing_registry(backend: Backend, flag: str = "publish") -> FolderRegistry:
    """The backend, if bundles can be published to it from here: only fsspec registries; GitHub releases
    are made by the release workflow."""
    if not isinstance(backend, FolderRegistry):
        raise RegistryError(
            f"{flag} writes to an fsspec registry (--url); GitHub releases are made by the release workflow"
        )
    return backend


class FolderRegistry(Backend):
    """Bundles under any fsspec URL: `<root>/<version>/<files>`; the highest version is the latest."""

    def __init__(self, url: str) -> None:
        from ..utils.extras import require

        fsspec = require("fsspec", f"the fsspec registry {url}")

        self.url = url.rstrip("/")
        self.name = url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as error:
            raise RegistryError(f"cannot open registry {url!r}: {error}") from None

    def _listed(self) -> list[str]:
        """Every version folder under the root, complete or not, lowest first."""
        try:
            entries = self.fs.ls(self.root, detail=False) if self.fs.exists(self.root) else []
        except OSError as error:
            raise RegistryError(f"cannot list {self.url}: {error}") from None
        found = {Path(e.rstrip("/")).name for e in entries}
        return sorted((v for v in found if VERSION_RE.match(v) and not v.startswith("v")), key=parse_version)

    def _complete(self, version: str) -> bool:
        """Whether the version folder holds SHA256SUMS, which a publish writes last."""
        try:
            return bool(self.fs.exists(f"{self.root}/{version}/{CHECKSUMS}"))
        except OSError as error:
            raise RegistryError(f"cannot read {self.url}/{version}: {error}") from None

    def versions(self) -> list[str]:
        """The published versions, lowest first: only complete ones (an interrupted publish is not listed)."""
        return [v for v in self._listed() if self._complete(v)]

    def incomplete(self) -> list[str]:
        """Version folders without SHA256SUMS: publishes that were interrupted (publishing again finishes them)."""
        return [v for v in self._listed() if not self._complete(v)]

    def latest(self) -> str:
        """The highest complete version: a newer, interrupted publish is passed over."""
        for version in reversed(self._listed()):
            if self._complete(version):
                return version
        raise NoReleaseYet(f"{self.url} holds no published version yet")

    def _download_files(self, version: str, folder: Path) -> None:
        remote = f"{self.root}/{version}"
        if not self.fs.exists(remote):
            raise ReleaseNotFound(f"{self.url} has no version {version}. `list` shows the versions there are.")
        if not self.fs.exists(f"{remote}/{CHECKSUMS}"):
            raise RegistryError(
                f"{self.url}/{version} has no {CHECKSUMS}, so it cannot be trusted: its publish was interrupted "
                "(publish the bundle again to finish it)"
            )
        try:
            entries = {
                Path(e["name"].rstrip("/")).name: e for e in self.fs.ls(remote, detail=True) if e["type"] == "file"
            }
        except OSError as error:
            raise RegistryError(f"cannot list {self.url}/{version}: {error}") from None
        # SHA256SUMS first, bounded; then only the files it lists (their names checked) and the signature
        if CHECKSUMS not in entries:
            raise RegistryError(f"{self.url}/{version} has no {CHECKSUMS}, so it cannot be trusted")
        self._copy(entries[CHECKSUMS], folder / CHECKSUMS, version)
        listed = checksums.read(folder / CHECKSUMS, f"{self.url} {version}")
        for name in sorted(listed):  # every size checked before any of them is copied
            if name not in entries:
                raise RegistryError(f"{self.url}/{version}: {name} is listed in {CHECKSUMS} but missing")
            self._check_size(entries[name], name, version)
        too_large = over_budget({name: self._declared(entries[name]) for name in listed})
        if too_large:
            raise RegistryError(f"{self.url}/{version}: {too_large}; refused before copying it")
        for name in sorted(listed):
            self._copy(entries[name], folder / name, version)
        if SIGNATURE_FILE in entries and SIGNATURE_FILE not in listed:
            self._copy(entries[SIGNATURE_FILE], folder / SIGNATURE_FILE, version)

    def _copy(self, entry: dict, target: Path, version: str) -> None:
        """One file, if the size the listing declares is within its cap (`bundle/layout.py`); the bytes copied
        stop at the declared size, or at the cap when the store declares none."""
        size = self._check_size(entry, target.name, version)
        with self.fs.open(entry["name"], "rb") as source:
            copy_stream(source, target, size, target.name, limit=max_file_bytes(target.name))

    @staticmethod
    def _declared(entry: dict) -> int | None:
        """The size a listing entry declares, or None when it declares none (or nonsense)."""
        size = entry.get("size")
        return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None

    def _check_size(self, entry: dict, name: str, version: str) -> int | None:
        """The size the listing declares (None if it declares none); a RegistryError if it is over the cap."""
        cap = max_file_bytes(name)
        size = self._declared(entry)
        if size is not None and size > cap:
            raise RegistryError(
                f"{self.url}/{version}/{name}: {size:,} bytes, more than the {byte_size(cap)} a bundle's "
                f"{name} may hold; refused before copying it"
            )
        return size

    def publish(self, bundle: Bundle) -> str:
        """Copy an opened (so verified) bundle to <root>/<its version>/; refuses to overwrite a published version.

        A version is published once its SHA256SUMS is there, and only then listed or fetched. On a local
        disk the copy is staged under a unique name and renamed into place (atomic; of two concurrent
        publishes one wins, the other is refused). On object stores the run first claims the version with a
        create-only write (CLAIM; of two concurrent publishes one claims it, the other is refused before it
        uploads a byte), then every other file is uploaded and its size checked, SHA256SUMS last. A version folder without SHA256SUMS (an interrupted
        publish) is published again: its files are replaced and SHA256SUMS is written last. With a
        signer (registry.signer), the bundle is signed first when $MODEL_SIGNING_KEY holds the key, and
        an unsigned one is refused: every fetch from here would refuse it.
        """
        from ..bundle.signing import ensure_signed

        version = normalize_version(bundle.version)
        ensure_signed(bundle.folder, self.signer, version, str(bundle.folder))
        try:
            if self._complete(version):
                raise RegistryError(
                    f"{self.url}/{version} already exists; publish a new version instead of overwriting"
                )
            listed = (p for p in bundle.folder.iterdir() if not p.name.startswith("."))  # as SHA256SUMS lists them
            files = sorted(listed, key=lambda p: (p.name == CHECKSUMS, p.name))  # by name, SHA256SUMS last
            if _is_local(self.fs):
                self._publish_local(version, files)
            else:
                self._publish_remote(version, files)
        except OSError as error:
            raise RegistryError(f"cannot publish to {self.url}: {error.strerror or error}") from None
        return f"{self.url}/{version}"

    def _publish_local(self, version: str, files: list[Path]) -> None:
        root = Path(self.root)
        remote = root / version
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(root)  # left by publishes that were killed
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=root))
        retired: Path | None = None
        try:
            for path in files:
                shutil.copyfile(path, staging / path.name)
            if remote.exists():  # without SHA256SUMS (checked): an interrupted publish, replaced as a whole
                if self._complete(version):
                    raise RegistryError(f"{self.url}/{version} was published meanwhile; not overwritten")
                retired = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=root))
                with contextlib.suppress(FileNotFoundError):  # another publish retired it first
                    os.rename(remote, retired / version)
            os.rename(staging, remote)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise RegistryError(f"{self.url}/{version} was published meanwhile; not overwritten") from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)

    def _publish_remote(self, version: str, files: list[Path]) -> None:
        remote = f"{self.root}/{version}"
        *contents, sums = files
        if sums.name != CHECKSUMS:
            raise RegistryError(f"{sums.parent}: no {CHECKSUMS}; only an opened bundle can be published")
        self.fs.makedirs(remote, exist_ok=True)
        claim = self._claim(remote, version)
        try:
            # What an interrupted publish left that this bundle does not have would make the version unfetchable.
            names = {p.name for p in contents} | {CLAIM}
            try:
                left = self.fs.ls(remote, detail=True)
            except FileNotFoundError:  # an object store has no folders: a first publish finds no prefix at all
                left = []
            for entry in left:
                if Path(entry["name"].rstrip("/")).name not in names:
                    self.fs.rm(entry["name"], recursive=entry["type"] == "directory")
            for path in contents:
                self.fs.put_file(str(path), f"{remote}/{path.name}")
            for path in contents:  # each file arrived whole before SHA256SUMS makes the version visible
                _check_upload(self.fs, f"{remote}/{path.name}", path, f"{self.url}/{version}/{path.name}")
            if claim is not None and self._claim_held(remote) != claim:
                raise RegistryError(f"{self.url}/{version}: another run took over this publish; not overwritten")
            self.fs.put_file(str(sums), f"{remote}/{CHECKSUMS}")
            _check_upload(self.fs, f"{remote}/{CHECKSUMS}", sums, f"{self.url}/{version}/{CHECKSUMS}")
        except BaseException:  # this run's publish failed: its claim goes, so the next publish can finish it
            if claim is not None and self._claim_held(remote) == claim:
                with contextlib.suppress(OSError):
                    self.fs.rm(f"{remote}/{CLAIM}")
            raise

    def _claim(self, remote: str, version: str) -> str | None:
        """Claim the version for this run (CLAIM, create-only) and return the claim's token; a RegistryError if
        another run holds it. None where the store cannot write create-only: two concurrent publishes are then
        not told apart (a local disk never comes here: it publishes by an atomic rename)."""
        path = f"{remote}/{CLAIM}"
        token = uuid.uuid4().hex
        for attempt in range(2):
            try:
                self.fs.pipe_file(path, json.dumps({"token": token, "at": time.time()}).encode(), mode="create")
                return token
            except OSError as error:  # FileExistsError, or a 412 some S3 servers send as another OSError
                held = self._claim_held(remote, with_time=True)
                if not isinstance(error, FileExistsError) and (held is None or held[0] == token):
                    raise  # not a claim that exists: a real failure
                stale = held is None or held[1] < time.time() - STALE_CLAIM_SECONDS
                if attempt == 0 and stale and not self._complete(version):
                    with contextlib.suppress(FileNotFoundError):
                        self.fs.rm(path)  # a publish that died left it: taken over
                    continue
                raise RegistryError(
                    f"{self.url}/{version} is being published by another run (it claimed the version first); "
                    "not overwritten: publish a new version, or, if that run died, publish again in an hour"
                ) from None
            except (TypeError, ValueError, NotImplementedError):  # no create-only write on this store
                return None
        return None

    def _claim_held(self, remote: str, with_time: bool = False):
        """The token of the claim on the version (with its time when `with_time`), or None if unreadable."""
        try:
            held = json.loads(self.fs.cat_file(f"{remote}/{CLAIM}")[:4096])
            token, at = str(held["token"]), float(held["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (token, at) if with_time else token


def _check_upload(fs, remote: str, local: Path, label: str) -> None:
    """The uploaded file has the local file's size and, where the store reports one (GCS's md5Hash), its MD5;
    else RegistryError, and the version stays incomplete.

    An S3 ETag is not compared: it is no MD5 for multipart or KMS-encrypted uploads.
    """
    info = fs.info(remote)
    size = local.stat().st_size
    if info.get("size") != size:
        raise RegistryError(
            f"{label}: the store holds {info.get('size')} bytes, the bundle's file {size}: the upload was cut "
            f"short. The version stays unpublished (no {CHECKSUMS}); publish again to finish it."
        )
    reported = _reported_md5(info)
    if reported is not None:
        with local.open("rb") as handle:
            digest = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
        if reported != digest:
            raise RegistryError(
                f"{label}: the store's MD5 differs from the bundle's file: the upload is corrupt. The version "
                f"stays unpublished (no {CHECKSUMS}); publish again to finish it."
            )


def _reported_md5(info: dict) -> str | None:
    md5_hash = info.get("md5Hash")  # gcsfs: base64 of the MD5 (absent for composite objects)
    if not isinstance(md5_hash, str):
        return None
    try:
        return base64.b64decode(md5_hash, validate=True).hex()
    except ValueError:
        return None


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol
