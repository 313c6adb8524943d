"""What every command handler gets: the parsed arguments, the settings (loaded once, on first use),
and the registry they name, so handlers stay a few lines each."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..bundle.reader import Bundle, open_bundle
from ..registry.base import Backend
from ..settings import Settings


@dataclass
class Context:
    args: argparse.Namespace

    @cached_property
    def settings(self) -> Settings:
        from ..settings import load_settings

        return load_settings(self.args.params)

    @cached_property
    def backend(self) -> Backend:
        """--repo / --url, else registry.* in params.yaml (when there is a params file)."""
        from ..registry import backend_for

        repo, url = getattr(self.args, "repo", None), getattr(self.args, "url", None)
        if not repo and not url and self.args.params.is_file():
            repo, url = self.settings.registry.github_repo, self.settings.registry.url
        return backend_for(repo, url)

    @property
    def cache(self) -> Path:
        """--dest, else one folder per registry in the user's cache."""
        return getattr(self.args, "dest", None) or self.backend.default_cache()

    def default_bundle(self) -> Path:
        """dist/<project>-<version>: the bundle this version of the project builds."""
        from ..bundle.lineage import bundle_name

        return self.settings.dist_dir / bundle_name(self.settings.root)

    def bundle(self, ref: str | Path | None) -> Bundle:
        """A bundle folder given as a path (default: this version's), or a released version, fetched and verified."""
        if ref is None:
            return open_bundle(self.default_bundle())
        if Path(ref).is_dir():
            return open_bundle(ref)
        return self.backend.fetch(str(ref), self.cache)
