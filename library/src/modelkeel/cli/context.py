"""What every command handler gets: the parsed arguments, the settings (loaded once, on first use),
and the registry they name, so handlers stay a few lines each."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..bundle.layout import SIGNATURE_FILE
from ..bundle.reader import Bundle, open_bundle
from ..bundle.trust import Project, Trusted
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
        """--signer-workflow / --signer-key, else registry.signer of params.yaml (its key file relative to
        params.yaml), when there is a params file."""
        workflows, key = getattr(self.args, "signer_workflow", None), getattr(self.args, "signer_key", None)
        if key:
            from ..errors import SettingsError

            if not Path(key).is_file():
                raise SettingsError(f"--signer-key {key}: no such file (the signer's PEM public key)")
            return Signer(public_key=str(Path(key).resolve()))
        if workflows:
            from pydantic import ValidationError

            from ..errors import SettingsError

            # the workflow(s) given; the refs and issuer params.yaml names for its own workflow signer, if any
            own = self.settings.registry.signer if self.args.params.is_file() else None
            kept = {"refs": own.refs, "issuer": own.issuer} if own is not None and own.workflow is not None else {}
            try:
                return Signer(workflow=tuple(workflows), **kept)
            except ValidationError as error:
                problems = "; ".join(e["msg"] for e in error.errors())
                raise SettingsError(f"--signer-workflow: {problems}") from None
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

    @property
    def allow_unsigned(self) -> bool:
        """--allow-unsigned: a local bundle folder is used even when nobody can check who made it."""
        return bool(getattr(self.args, "allow_unsigned", False))

    @cached_property
    def project(self) -> Project | None:
        """This checkout (its dist/ and project name), which tells its own build; None without a params file."""
        if not self.args.params.is_file():
            return None
        from ..bundle.lineage import project_name

        try:
            name = project_name(self.settings.root)
        except (OSError, KeyError, ValueError):
            return None  # no readable pyproject.toml: nothing is this checkout's own build
        return Project(self.settings.dist_dir, name)

    def open_local(self, folder: Path, require_signature: bool = False) -> Trusted:
        """A local bundle folder as `predict` and `serve` use it: signed by registry.signer, this checkout's own
        unsigned build, or --allow-unsigned (bundle/trust.py); else VerificationError."""
        from ..bundle.trust import open_local

        return open_local(
            folder,
            self.signer,
            project=self.project,
            allow_unsigned=self.allow_unsigned,
            require_signature=require_signature,
        )

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
        """A bundle folder given as a path (default: this version's), or a released version, fetched and verified,
        to be read and compared (lineage, diff, next-version, report --against), never scored: with registry.signer
        its signature is checked; without one it is read unchecked (bundle/trust.py governs what scores)."""
        if ref is None:
            return open_bundle(self.default_bundle())
        if Path(ref).is_dir():
            return open_bundle(ref, signer=self.signer_for(Path(ref)))
        return self.backend.fetch(str(ref), self.cache, compare_only=True)
