"""What every command handler gets: the parsed arguments, the settings (loaded once, on first use),
and the registry they name, so handlers stay a few lines each."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..bundle.layout import SIGNATURE_FILE
from ..bundle.reader import Bundle, open_bundle
from ..registry.base import Backend
from ..settings import Settings, Signer


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
        return backend_for(repo, url, self.signer)

    @cached_property
    def signer(self) -> Signer | None:
        """registry.signer of params.yaml (its key file relative to params.yaml), when there is a params file."""
        if not self.args.params.is_file() or self.settings.registry.signer is None:
            return None
        signer = self.settings.registry.signer
        if signer.public_key is None:
            return signer
        return signer.model_copy(update={"public_key": str(self.settings.resolve(signer.public_key))})

    @property
    def cache(self) -> Path:
        """--dest, else one folder per registry in the user's cache."""
        return getattr(self.args, "dest", None) or self.backend.default_cache()

    def signer_for(self, folder: Path) -> Signer | None:
        """The signer a local bundle folder is checked against: registry.signer when the folder carries a
        signature (a foreign or broken one is refused). Registry downloads always need it; a local folder
        may be this project's own unsigned build (signed when released)."""
        return self.signer if (folder / SIGNATURE_FILE).exists() else None

    def default_bundle(self) -> Path:
        """dist/<project>-<version>: the bundle this version of the project builds."""
        from ..bundle.lineage import bundle_name

        return self.settings.dist_dir / bundle_name(self.settings.root)

    def bundle(self, ref: str | Path | None) -> Bundle:
        """A bundle folder given as a path (default: this version's), or a released version, fetched and verified."""
        if ref is None:
            return open_bundle(self.default_bundle())
        if Path(ref).is_dir():
            return open_bundle(ref, signer=self.signer_for(Path(ref)))
        return self.backend.fetch(str(ref), self.cache)
