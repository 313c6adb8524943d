"""The model registry: released bundles, fetched by version and trusted only after they open as bundles.

Two backends share one interface (`base.Backend`):

- `github_releases.GitHubReleases`: versioned GitHub Releases of a repository (the "latest"
  release is the champion), through the GitHub REST API;
- `folder.FolderRegistry`: any fsspec URL (a local folder, `s3://`, `gs://`) laid out as
  `<root>/<version>/<bundle files>`, for teams without GitHub Releases.

`versions` parses and bumps versions, `diff` compares two bundles, `release` publishes one.
"""

from __future__ import annotations

from ..errors import RegistryError
from .base import Backend


def backend_for(repo: str | None, url: str | None) -> Backend:
    """The fsspec registry when a URL is given, else the GitHub repository's releases."""
    if url:
        from .folder import FolderRegistry

        return FolderRegistry(url)
    if repo:
        from .github_releases import GitHubReleases

        return GitHubReleases(repo)
    raise RegistryError("no registry given: pass --repo OWNER/NAME or --url URL (or set registry.* in params.yaml)")
