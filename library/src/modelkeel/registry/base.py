"""The registry's common part: fetching a version into the cache, verified, and where the cache is.

`fetch` downloads into a temporary folder inside the cache, opens it as a bundle (checksums,
layout, model hashes) and only then renames the folder to `<cache>/<version>/`: a failure of
any kind leaves no partial file behind. Only a killed process leaves its temporary folder
(`.<version>.*.partial`); each fetch removes those that nothing has written to for an hour.
Imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import PACKAGE
from ..bundle.reader import Bundle, open_bundle
from ..errors import NoReleaseYet, RegistryError, VerificationError
from ..settings import Signer
from ..utils.atomic import remove_stale_staging
from .versions import normalize_version


def default_cache_dir(project: str) -> Path:
    """$MODEL_REGISTRY_CACHE, else <XDG cache>/<project>/registry."""
    if os.environ.get("MODEL_REGISTRY_CACHE"):
        return Path(os.environ["MODEL_REGISTRY_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / project / "registry"


def _as_released(bundle: Bundle, version: str, registry: str) -> Bundle:
    """The bundle, if it is the version the registry released it as (a 0.1.0 bundle tagged v0.3.0 is refused)."""
    if bundle.version != version:
        raise VerificationError(
            f"{registry} {version}: the bundle inside is version {bundle.version}; "
            "a release must carry the bundle built for its version: do not use it"
        )
    return bundle


@contextlib.contextmanager
def _staging(cache: Path, version: str, signer: Signer | None = None) -> Iterator[Path]:
    """A temporary folder in the cache that becomes <cache>/<version> only if the block succeeds.

    If another download of the same version finished first, its (verified) folder is kept.
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".partial", dir=cache))
    except OSError as error:
        raise RegistryError(f"cannot write to the cache folder {cache}: {error.strerror or error}") from None
    try:
        yield staging
        try:
            os.rename(staging, cache / version)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # a concurrent download got there first: its copy must pass the same checks as this one
            _as_released(open_bundle(cache / version, f"cached {version}", signer=signer), version, str(cache))
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise RegistryError(
                f"the cache folder {cache} is full (no space left on device); nothing was kept"
            ) from None
        raise RegistryError(f"cannot write to the cache folder {cache}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class Backend:
    """Where releases live. Subclasses implement `versions`, `latest` and `_download_files`."""

    name = "registry"
    signer: Signer | None = None  # who must have signed every bundle fetched (registry.signer); None: fetch refuses

    @property
    def cache_key(self) -> str:
        """A folder name that keeps versions of different registries apart in one cache."""
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")[:60]
        return f"{readable}-{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"

    def versions(self) -> list[str]:
        raise NotImplementedError

    def latest(self) -> str:
        """The newest published version; NoReleaseYet when there is none."""
        raise NotImplementedError

    def _download_files(self, version: str, folder: Path) -> None:
        raise NotImplementedError

    def resolve(self, version: str) -> str:
        return self.latest() if version == "latest" else normalize_version(version)

    def fetch(self, version: str, cache: Path, *, compare_only: bool = False) -> Bundle:
        """The verified bundle of a version in `<cache>/<version>/`, downloading it if not cached.

        Only with a signer: every bundle fetched must carry its signature (bundle/trust.py); without one,
        nothing is fetched (VerificationError naming registry.signer). `compare_only`: a bundle that is only
        compared with and never scores (`release`'s bump check, into a temporary cache) may come without a
        signer; with one, it is checked all the same."""
        from ..bundle.trust import require_signer

        if not compare_only:
            require_signer(self.signer, self.name)
        resolved = self.resolve(version)
        remove_stale_staging(cache)  # left by downloads that were killed
        target = cache / resolved
        if target.is_dir():
            try:
                cached = open_bundle(target, f"cached {self.name} {resolved}", signer=self.signer)
                return _as_released(cached, resolved, self.name)
            except VerificationError:
                shutil.rmtree(target, ignore_errors=True)  # a corrupted cache entry is fetched again
        with _staging(cache, resolved, self.signer) as staging:
            self._download_files(resolved, staging)
            opened = open_bundle(staging, f"{self.name} {resolved}", signer=self.signer)
            bundle = _as_released(opened, resolved, self.name)
        return bundle.moved_to(target)

    def default_cache(self) -> Path:
        """Where this registry's versions are cached: one folder per registry under the user's cache."""
        return default_cache_dir(PACKAGE) / self.cache_key

    def latest_or_none(self) -> str | None:
        """The latest version, or None when the registry holds no release yet (there is no champion)."""
        try:
            return self.latest()
        except NoReleaseYet:
            return None
