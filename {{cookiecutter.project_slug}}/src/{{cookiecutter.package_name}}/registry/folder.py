"""An fsspec URL as the registry (a local folder, `s3://`, `gs://`), laid out as `<root>/<version>/<bundle files>`."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from ..bundle.layout import CHECKSUMS
from ..bundle.reader import Bundle
from ..errors import NoReleaseYet, RegistryError, ReleaseNotFound
from ..github.rest import copy_stream
from .base import Backend
from .versions import VERSION_RE, normalize_version, parse_version


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
        import fsspec

        self.url = url.rstrip("/")
        self.name = url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as error:
            raise RegistryError(f"cannot open registry {url!r}: {error}") from None

    def versions(self) -> list[str]:
        try:
            entries = self.fs.ls(self.root, detail=False) if self.fs.exists(self.root) else []
        except OSError as error:
            raise RegistryError(f"cannot list {self.url}: {error}") from None
        found = [Path(e.rstrip("/")).name for e in entries]
        return sorted((v for v in found if VERSION_RE.match(v) and not v.startswith("v")), key=parse_version)

    def latest(self) -> str:
        versions = self.versions()
        if not versions:
            raise NoReleaseYet(f"{self.url} holds no published version yet")
        return versions[-1]

    def _download_files(self, version: str, folder: Path) -> None:
        remote = f"{self.root}/{version}"
        if not self.fs.exists(remote):
            raise ReleaseNotFound(f"{self.url} has no version {version}. `list` shows the versions there are.")
        if not self.fs.exists(f"{remote}/{CHECKSUMS}"):
            raise RegistryError(f"{self.url}/{version} has no {CHECKSUMS}, so it cannot be trusted")
        for entry in self.fs.ls(remote, detail=True):
            if entry["type"] != "file":
                continue
            name = Path(entry["name"]).name
            with self.fs.open(entry["name"], "rb") as source:
                copy_stream(source, folder / name, entry.get("size"), name)

    def publish(self, bundle: Bundle) -> str:
        """Copy an opened (so verified) bundle to <root>/<its version>/; refuses to overwrite a published version.

        On a local disk the copy is staged under a unique name and renamed into place (atomic; of two
        concurrent publishes one wins, the other is refused). On object stores, SHA256SUMS is written
        last, and a version without it is never fetched.
        """
        version = normalize_version(bundle.version)
        remote = f"{self.root}/{version}"
        try:
            if self.fs.exists(remote):
                raise RegistryError(
                    f"{self.url}/{version} already exists; publish a new version instead of overwriting"
                )
            listed = (p for p in bundle.folder.iterdir() if not p.name.startswith("."))  # as SHA256SUMS lists them
            files = sorted(listed, key=lambda p: p.name == CHECKSUMS)  # SHA256SUMS last
            if _is_local(self.fs):
                Path(self.root).mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=self.root))
                try:
                    for path in files:
                        shutil.copyfile(path, staging / path.name)
                    os.rename(staging, remote)
                except OSError as error:
                    if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise RegistryError(f"{self.url}/{version} was published meanwhile; not overwritten") from None
                    raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            else:
                self.fs.makedirs(remote, exist_ok=True)
                for path in files:
                    self.fs.put_file(str(path), f"{remote}/{path.name}")
        except OSError as error:
            raise RegistryError(f"cannot publish to {self.url}: {error.strerror or error}") from None
        return f"{self.url}/{version}"


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol
