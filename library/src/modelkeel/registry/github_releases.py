"""GitHub Releases as the registry: versioned releases of a repository, the "latest" release is the champion.

Read through the GitHub REST API (`github/rest.py`: https only, the token only to the API host, redirects
checked hop by hop, downloads capped at their declared size, a deadline on every call) with
GH_TOKEN / GITHUB_TOKEN when set.

Every answer's shape is checked before use, so a malformed one is a RegistryError saying what is wrong,
never a traceback: the releases list is a list, a release an object with a string `tag_name` (the one
asked for) and a list of `assets`, each asset an object with a string `name` (no two alike), a string
`url` the client will fetch and a non-negative integer `size`; a name with a NUL byte, a control character,
a path separator or a leading dot is refused. Each file is downloaded only if its declared `size` is within
its cap (`SHA256SUMS` 1 MiB, `model.onnx` 2 GiB, others 256 MiB: `bundle/layout.py`), and its bytes stop at
that size, so `SHA256SUMS` is read bounded, before any signature check. Only the files `SHA256SUMS` lists are
downloaded, and the signature (`bundle.sig`) when attached: it vouches for `SHA256SUMS`, so is not
listed in it. `Backend.fetch` then opens the folder as a bundle, which requires every bundle file to
be listed and to match: a `SHA256SUMS` listing only some files does not pass.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..bundle import checksums
from ..bundle.layout import CHECKSUMS, SIGNATURE_FILE, byte_size, max_file_bytes, odd_name, over_budget, shown_name
from ..errors import NoReleaseYet, NotFoundOnGitHub, RegistryError, ReleaseNotFound, RepositoryNotFound
from ..github.rest import RestClient, check_url
from .base import Backend
from .versions import is_version, normalize_version, parse_version

PAGE_SIZE = 100  # the GitHub API's largest page


def _kind(value: object) -> str:
    """What a JSON value is, in JSON's words, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def checked_release(release: object, where: str) -> dict:
    """The release, if it is an object with a non-empty string `tag_name`; else a RegistryError."""
    if not isinstance(release, dict):
        raise RegistryError(f"{where}: GitHub answered {_kind(release)} instead of a release object")
    tag = release.get("tag_name")
    if not isinstance(tag, str) or not tag:
        raise RegistryError(f"{where}: the release's tag_name is {_kind(tag)} ({tag!r}), not a tag")
    return release


def checked_assets(release: dict, where: str) -> dict[str, dict]:
    """Asset name -> {name, url, size}, if `assets` is a list of well-formed, distinctly named assets."""
    assets = release.get("assets")
    if not isinstance(assets, list):
        raise RegistryError(f"{where}: the release's assets are {_kind(assets)}, not a list")
    found: dict[str, dict] = {}
    for number, asset in enumerate(assets, start=1):
        if not isinstance(asset, dict):
            raise RegistryError(f"{where}: asset #{number} is {_kind(asset)}, not an object")
        name, url, size = asset.get("name"), asset.get("url"), asset.get("size")
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{where}: asset #{number} has no name (its name is {_kind(name)})")
        why = odd_name(name)
        if why is not None:  # GitHub itself never names an asset so: the answer is not GitHub's
            raise RegistryError(f"{where}: asset #{number} is named {shown_name(name)}: {why}; refused")
        if not isinstance(url, str) or not url:
            raise RegistryError(f"{where}: asset {name!r} has no url (its url is {_kind(url)})")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RegistryError(f"{where}: asset {name!r} has size {size!r:.80}, not a number of bytes")
        if name in found:
            raise RegistryError(f"{where}: two assets are named {name!r}; refused (which one would be checked?)")
        check_url(url, f"the url of asset {name!r} in {where}")
        found[name] = {"name": name, "url": url, "size": size}
    return found


class GitHubReleases(Backend):
    """Releases of OWNER/NAME through the GitHub REST API (`GITHUB_API_URL` overrides the API address)."""

    def __init__(self, repo: str, token: str | None = None, api_url: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repo or ""):
            raise RegistryError(f"--repo {repo!r}: use OWNER/NAME, e.g. octo-org/churn-model")
        self.repo = repo
        self.name = f"github:{repo}"
        self.api = RestClient(repo, token, api_url)

    def _missing(self, absent: RegistryError) -> RegistryError:
        """A 404 means `absent` (no such release) only if the repository itself can be seen."""
        try:
            self.api.json(f"/repos/{self.repo}")
        except NotFoundOnGitHub:
            return RepositoryNotFound(
                f"repository {self.repo} not found, or not readable with the current token "
                "(private repositories need GH_TOKEN or GITHUB_TOKEN)"
            )
        return absent

    def has_release(self, version: str) -> bool:
        """Whether a release tagged v<version> (or <version>) exists, drafts and pre-releases included."""
        try:
            self._release(version)
        except ReleaseNotFound:
            return False
        return True

    def _release(self, version: str) -> tuple[dict, dict[str, dict]]:
        """The release of a version and its checked assets by name."""
        for tag in (f"v{version}", version):
            try:
                answer = self.api.json(f"/repos/{self.repo}/releases/tags/{tag}")
            except NotFoundOnGitHub:
                continue
            where = f"{self.repo} release {tag}"
            release = checked_release(answer, where)
            if release["tag_name"] != tag:
                raise RegistryError(f"{where}: GitHub answered the release tagged {release['tag_name']!r} instead")
            return release, checked_assets(release, where)
        raise self._missing(
            ReleaseNotFound(f"{self.repo} has no release v{version}. `list` shows the versions there are.")
        )

    def versions(self) -> list[str]:
        found: list[str] = []
        url = f"{self.api.api_url}/repos/{self.repo}/releases?per_page={PAGE_SIZE}"
        try:
            for releases in self.api.pages(url):
                if not isinstance(releases, list):
                    raise RegistryError(
                        f"{self.repo}: GitHub answered the list of releases with {_kind(releases)}, not a list"
                    )
                for number, release in enumerate(releases, start=1):
                    tag = checked_release(release, f"{self.repo} releases, entry #{number}")["tag_name"]
                    if is_version(tag):  # other tags (nightly, docs-1) are not model versions
                        found.append(normalize_version(tag))
        except NotFoundOnGitHub:
            raise self._missing(RepositoryNotFound(f"{self.repo}: GitHub answered 404 for its releases")) from None
        return sorted(set(found), key=parse_version)

    def latest(self) -> str:
        try:
            answer = self.api.json(f"/repos/{self.repo}/releases/latest")
        except NotFoundOnGitHub:
            raise self._missing(NoReleaseYet(f"{self.repo} has no published release yet")) from None
        return normalize_version(checked_release(answer, f"{self.repo} latest release")["tag_name"])

    def _download_files(self, version: str, folder: Path) -> None:
        """SHA256SUMS, every file it lists and the signature, in one deadline; `fetch` verifies the bundle after."""
        with self.api.budget():
            _, assets = self._release(version)
            if CHECKSUMS not in assets:
                raise RegistryError(f"{self.repo} release v{version} has no {CHECKSUMS} asset, so it cannot be trusted")
            self._download_asset(assets[CHECKSUMS], folder / CHECKSUMS)
            listed = checksums.read(folder / CHECKSUMS, f"{self.name} {version}")
            for name in sorted(listed):  # every size checked before any of them is downloaded
                if name not in assets:
                    raise RegistryError(
                        f"{self.repo} release v{version}: {name} is listed in {CHECKSUMS} but not attached"
                    )
                self._check_size(assets[name])
            too_large = over_budget({name: assets[name]["size"] for name in listed})
            if too_large:
                raise RegistryError(f"{self.repo} release v{version}: {too_large}; refused before downloading it")
            for name in sorted(listed):
                self._download_asset(assets[name], folder / name)
            if SIGNATURE_FILE in assets and SIGNATURE_FILE not in listed:  # signs the others; checked with a signer
                self._download_asset(assets[SIGNATURE_FILE], folder / SIGNATURE_FILE)

    def _check_size(self, asset: dict) -> None:
        """A RegistryError if the asset's declared size is over its cap (`bundle/layout.py`)."""
        cap = max_file_bytes(asset["name"])
        if asset["size"] > cap:
            raise RegistryError(
                f"{self.repo}: the asset {asset['name']} declares {asset['size']:,} bytes, more than the "
                f"{byte_size(cap)} a bundle's {asset['name']} may hold; refused before downloading it"
            )

    def _download_asset(self, asset: dict, target: Path) -> None:
        """One asset, if its declared size is within its cap; the bytes stop at that size."""
        self._check_size(asset)
        self.api.download(asset["url"], target, asset["size"], asset["name"])
