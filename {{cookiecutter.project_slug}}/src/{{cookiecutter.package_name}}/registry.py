"""The model registry: released bundles, fetched by version and trusted only after their checksums pass.

Two backends share one interface:

- `GitHubReleases`: versioned GitHub Releases of a repository (the "latest" release is the
  champion), read through the GitHub REST API with `GH_TOKEN` / `GITHUB_TOKEN` when set;
- `FolderRegistry`: any fsspec URL (a local folder, `s3://`, `gs://`) laid out as
  `<root>/<version>/<bundle files>`, for teams without GitHub Releases.

`fetch` downloads into a temporary folder inside the cache, checks `SHA256SUMS`, and only
then renames the folder to `<cache>/<version>/`: a failure of any kind leaves no partial
file behind. This module imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from . import checksums
from .checksums import CHECKSUMS, verify_folder
from .compat import check_bundle_format
from .errors import PipelineError, VerificationError

VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
CHUNK = 1 << 20
PAGE_SIZE = 100  # the GitHub API's largest page
NETWORK_ERRORS = (OSError, urllib.error.URLError, http.client.HTTPException, ValueError)
DEFAULT_API_URL = "https://api.github.com"
TIMEOUT_SECONDS = 60


class RegistryError(PipelineError):
    """A release cannot be found, fetched or trusted; the message says which and why."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = VERSION_RE.match(text.strip())
    if not match:
        raise RegistryError(f"{text!r} is not a version: use MAJOR.MINOR.PATCH, e.g. 1.4.0 or v1.4.0")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch)


def normalize_version(text: str) -> str:
    return "{}.{}.{}".format(*parse_version(text))


def default_cache_dir(project: str) -> Path:
    """$MODEL_REGISTRY_CACHE, else <XDG cache>/<project>/registry."""
    if os.environ.get("MODEL_REGISTRY_CACHE"):
        return Path(os.environ["MODEL_REGISTRY_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / project / "registry"


@contextlib.contextmanager
def _staging(cache: Path, version: str) -> Iterator[Path]:
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
            verify_folder(cache / version, f"cached {version}")  # a concurrent download got there first
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise RegistryError(
                f"the cache folder {cache} is full (no space left on device); nothing was kept"
            ) from None
        raise RegistryError(f"cannot write to the cache folder {cache}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_stream(source, target: Path, expected_size: int | None, what: str) -> None:
    written = 0
    with target.open("wb") as out:
        while True:
            try:
                chunk = source.read(CHUNK)
            except (OSError, urllib.error.URLError, ValueError) as error:
                raise RegistryError(
                    f"{what}: the download broke off after {written} bytes ({error}); try again"
                ) from None
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
    if expected_size is not None and written != expected_size:
        raise RegistryError(f"{what}: the download is truncated ({written} of {expected_size} bytes); try again")


class Backend:
    """Where releases live. Subclasses implement `versions`, `latest` and `_download_files`."""

    name = "registry"

    @property
    def cache_key(self) -> str:
        """A folder name that keeps versions of different registries apart in one cache."""
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")[:60]
        return f"{readable}-{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"

    def versions(self) -> list[str]:
        raise NotImplementedError

    def latest(self) -> str:
        raise NotImplementedError

    def _download_files(self, version: str, folder: Path) -> None:
        raise NotImplementedError

    def resolve(self, version: str) -> str:
        return self.latest() if version == "latest" else normalize_version(version)

    def fetch(self, version: str, cache: Path) -> Path:
        """The verified bundle of a version in `<cache>/<version>/`, downloading it if not cached."""
        resolved = self.resolve(version)
        target = cache / resolved
        if target.is_dir():
            try:
                verify_folder(target, f"cached {self.name} {resolved}")
                check_bundle_format(target)
                return target
            except VerificationError:
                shutil.rmtree(target, ignore_errors=True)  # a corrupted cache entry is fetched again
        with _staging(cache, resolved) as staging:
            self._download_files(resolved, staging)
            verify_folder(staging, f"{self.name} {resolved}")
            check_bundle_format(staging)
        return target


class GitHubReleases(Backend):
    """Releases of OWNER/NAME through the GitHub REST API (`GITHUB_API_URL` overrides the API address)."""

    def __init__(self, repo: str, token: str | None = None, api_url: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repo or ""):
            raise RegistryError(f"--repo {repo!r}: use OWNER/NAME, e.g. octo-org/churn-model")
        self.repo = repo
        self.name = f"github:{repo}"
        self.token = token if token is not None else os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._opener = urllib.request.build_opener(_StripAuthOnRedirect())

    def _request(self, url: str, accept: str):
        headers = {"Accept": accept, "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "mlops-registry"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self._opener.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS)
        except urllib.error.HTTPError as error:
            raise self._http_error(error, url) from None
        except NETWORK_ERRORS as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"cannot reach {url}: {reason}. Check the network or GITHUB_API_URL.") from None

    def _http_error(self, error: urllib.error.HTTPError, url: str) -> RegistryError:
        remaining = error.headers.get("x-ratelimit-remaining")
        if error.code in (403, 429) and (remaining == "0" or error.headers.get("retry-after")):
            reset = error.headers.get("x-ratelimit-reset")
            when = time.strftime("%H:%M UTC", time.gmtime(int(reset))) if reset and reset.isdigit() else "later"
            hint = (
                "" if self.token else " Set GH_TOKEN or GITHUB_TOKEN: unauthenticated calls are limited to 60 an hour."
            )
            return RegistryError(f"GitHub API rate limit exceeded (resets at {when}).{hint}")
        if error.code in (401, 403):
            return RegistryError(
                f"GitHub refused {url} ({error.code}): check that GH_TOKEN / GITHUB_TOKEN can read {self.repo}"
            )
        if error.code == 404:
            return RegistryError(f"not found on GitHub: {url}")
        return RegistryError(f"GitHub answered {error.code} for {url}; try again later")

    def _get(self, url: str) -> tuple[object, str | None]:
        """JSON body and the URL of the next page (from the Link header), for one API call."""
        with self._request(url, "application/vnd.github+json") as response:
            try:
                body = json.loads(response.read())
            except NETWORK_ERRORS as error:
                raise RegistryError(
                    f"GitHub's answer to {url} broke off or is not JSON ({error!r}); try again"
                ) from None
            links = response.headers.get("Link") or ""
        match = re.search(r'<([^>]+)>;\s*rel="next"', links)
        return body, match.group(1) if match else None

    def _json(self, path: str) -> object:
        return self._get(f"{self.api_url}{path}")[0]

    def _not_found(self, what: str) -> RegistryError:
        """A 404 means no such release only if the repository itself can be seen."""
        try:
            self._json(f"/repos/{self.repo}")
        except RegistryError as error:
            if "not found" in str(error):
                return RegistryError(
                    f"repository {self.repo} not found, or not readable with the current token "
                    "(private repositories need GH_TOKEN or GITHUB_TOKEN)"
                )
            return error
        return RegistryError(what)

    def has_release(self, version: str) -> bool:
        """Whether a release tagged v<version> (or <version>) exists, drafts and pre-releases included."""
        try:
            self._release(version)
        except RegistryError as error:
            if "has no release" in str(error):
                return False
            raise
        return True

    def _release(self, version: str) -> dict:
        for tag in (f"v{version}", version):
            try:
                release = self._json(f"/repos/{self.repo}/releases/tags/{tag}")
            except RegistryError as error:
                if "not found" in str(error):
                    continue
                raise
            if not isinstance(release, dict) or not isinstance(release.get("assets"), list):
                raise RegistryError(f"GitHub answered the release {tag} of {self.repo} without an asset list")
            return release
        raise self._not_found(f"{self.repo} has no release v{version}. `list` shows the versions there are.")

    def versions(self) -> list[str]:
        found, url = [], f"{self.api_url}/repos/{self.repo}/releases?per_page={PAGE_SIZE}"
        while url:
            releases, url = self._get(url)
            for release in releases if isinstance(releases, list) else []:
                with contextlib.suppress(RegistryError):
                    found.append(normalize_version(str(release.get("tag_name", ""))))
        return sorted(set(found), key=parse_version)

    def latest(self) -> str:
        try:
            release = self._json(f"/repos/{self.repo}/releases/latest")
        except RegistryError as error:
            if "not found" in str(error):
                raise self._not_found(f"{self.repo} has no published release yet") from None
            raise
        if not isinstance(release, dict) or "tag_name" not in release:
            raise RegistryError(f"GitHub answered the latest release of {self.repo} without a tag name")
        return normalize_version(str(release["tag_name"]))

    def _download_files(self, version: str, folder: Path) -> None:
        release = self._release(version)
        assets = {a["name"]: a for a in release["assets"]}
        if CHECKSUMS not in assets:
            raise RegistryError(f"{self.repo} release v{version} has no {CHECKSUMS} asset, so it cannot be trusted")
        self._download_asset(assets[CHECKSUMS], folder / CHECKSUMS)
        listed = checksums.read(folder / CHECKSUMS, f"{self.name} {version}")
        for name in sorted(listed):
            if name not in assets:
                raise RegistryError(f"{self.repo} release v{version}: {name} is listed in {CHECKSUMS} but not attached")
            self._download_asset(assets[name], folder / name)

    def _download_asset(self, asset: dict, target: Path) -> None:
        with self._request(asset["url"], "application/octet-stream") as response:
            size = response.headers.get("Content-Length")
            expected = int(size) if size and size.isdigit() else asset.get("size")
            _copy_stream(response, target, expected if isinstance(expected, int) else None, asset["name"])


class _StripAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow GitHub's 302 to the asset storage, without sending the token to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


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
            raise RegistryError(f"{self.url} holds no published version yet")
        return versions[-1]

    def _download_files(self, version: str, folder: Path) -> None:
        remote = f"{self.root}/{version}"
        if not self.fs.exists(remote):
            raise RegistryError(f"{self.url} has no version {version}. `list` shows the versions there are.")
        if not self.fs.exists(f"{remote}/{CHECKSUMS}"):
            raise RegistryError(f"{self.url}/{version} has no {CHECKSUMS}, so it cannot be trusted")
        for entry in self.fs.ls(remote, detail=True):
            if entry["type"] != "file":
                continue
            name = Path(entry["name"]).name
            with self.fs.open(entry["name"], "rb") as source:
                _copy_stream(source, folder / name, entry.get("size"), name)

    def publish(self, bundle: Path, version: str) -> str:
        """Copy a verified bundle to <root>/<version>/; refuses to overwrite a published version.

        On a local disk the copy is staged under a unique name and renamed into place (atomic; of two
        concurrent publishes one wins, the other is refused). On object stores, SHA256SUMS is written
        last, and a version without it is never fetched.
        """
        version = normalize_version(version)
        verify_folder(bundle, str(bundle))
        remote = f"{self.root}/{version}"
        try:
            if self.fs.exists(remote):
                raise RegistryError(
                    f"{self.url}/{version} already exists; publish a new version instead of overwriting"
                )
            files = sorted(bundle.iterdir(), key=lambda p: p.name == CHECKSUMS)  # SHA256SUMS last
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


def backend_for(repo: str | None, url: str | None) -> Backend:
    if url:
        return FolderRegistry(url)
    if repo:
        return GitHubReleases(repo)
    raise RegistryError("no registry given: pass --repo OWNER/NAME or --url URL (or set registry.* in params.yaml)")
