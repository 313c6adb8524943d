"""The model registry: released bundles, fetched by version and trusted only after they open as bundles.

Two backends share one interface (`base.Backend`):

- `github_releases.GitHubReleases`: versioned GitHub Releases of a repository (the "latest"
  release is the champion), through the GitHub REST API;
- `folder.FolderRegistry`: any fsspec URL (a local folder, `s3://`, `gs://`) laid out as
  `<root>/<version>/<bundle files>`, for teams without GitHub Releases.

`versions` parses and bumps versions, `diff` compares two bundles, `release` publishes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RegistryError
from .base import Backend

if TYPE_CHECKING:
    from ..settings import Signer


def backend_for(repo: str | None, url: str | None, signer: Signer | None = None) -> Backend:
    """The fsspec registry when a URL is given, else the GitHub repository's releases; with a `signer`,
    every bundle it fetches must carry that signer's signature."""
    backend: Backend
    if url:
        from .folder import FolderRegistry

        backend = FolderRegistry(url)
    elif repo:
        from .github_releases import GitHubReleases

        backend = GitHubReleases(repo)
    else:
        raise RegistryError("no registry given: pass --repo OWNER/NAME or --url URL (or set registry.* in params.yaml)")
    backend.signer = signer
    return backend
