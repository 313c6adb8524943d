"""GitHub Releases as the registry: versioned releases of a repository, the "latest" release is the champion.

Read through the GitHub REST API (`github/rest.py`) with GH_TOKEN / GITHUB_TOKEN when set.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from ..bundle import checksums
from ..bundle.layout import CHECKSUMS
from ..errors import NoReleaseYet, NotFoundOnGitHub, RegistryError, ReleaseNotFound, RepositoryNotFound
from ..github.rest import RestClient
from .base import Backend
from .versions import normalize_version, parse_version

PAGE_SIZE = 100  # the GitHub API's largest page


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

    def _release(self, version: str) -> dict:
        for tag in (f"v{version}", version):
            try:
                release = self.api.json(f"/repos/{self.repo}/releases/tags/{tag}")
            except NotFoundOnGitHub:
                continue
            if not isinstance(release, dict) or not isinstance(release.get("assets"), list):
                raise RegistryError(f"GitHub answered the release {tag} of {self.repo} without an asset list")
            return release
        raise self._missing(
            ReleaseNotFound(f"{self.repo} has no release v{version}. `list` shows the versions there are.")
        )

    def versions(self) -> list[str]:
        found: list[str] = []
        url: str | None = f"{self.api.api_url}/repos/{self.repo}/releases?per_page={PAGE_SIZE}"
        while url:
            try:
                releases, url = self.api.page(url)
            except NotFoundOnGitHub:
                raise self._missing(RepositoryNotFound(f"{self.repo}: GitHub answered 404 for its releases")) from None
            for release in releases if isinstance(releases, list) else []:
                with contextlib.suppress(RegistryError):
                    found.append(normalize_version(str(release.get("tag_name", ""))))
        return sorted(set(found), key=parse_version)

    def latest(self) -> str:
        try:
            release = self.api.json(f"/repos/{self.repo}/releases/latest")
        except NotFoundOnGitHub:
            raise self._missing(NoReleaseYet(f"{self.repo} has no published release yet")) from None
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
        self.api.download(asset["url"], target, asset.get("size"), asset["name"])
