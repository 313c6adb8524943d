"""Which bundles may score: signed by default.

A bundle from a registry is used only with a signer (`registry.signer`, `load_model(signer=...)`), and
only when its `bundle.sig` is that signer's (`Backend.fetch`: `require_signer`). A local bundle folder
(`predict --bundle`, `serve --bundle`, `load_model(path=...)`) is opened by `open_local`:

- a signed folder is always checked against the signer, and refused when there is none to check it with;
- an unsigned folder is accepted only when it is this checkout's own build (`is_own_build`), or when the
  caller says `--allow-unsigned` / `allow_unsigned=True`, which the answer and the log then say.

This checkout's own build is strict: the folder, with every symlink resolved, sits directly in the project's
`paths.dist`, its name is `<project>-<version>` of its own lineage, and that lineage names this project
(pyproject's `name`). A folder placed anywhere else, linked into dist/ from elsewhere, or another project's
bundle renamed into dist/ is not: writing a forgery into dist/ itself takes write access to the checkout,
which could change the code that runs too. Imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import VerificationError
from ..settings import Signer
from .layout import SIGNATURE_FILE
from .reader import Bundle, open_bundle

log = logging.getLogger(__name__)

SIGNED = "verified"  # bundle.sig is the expected signer's (or a release from before signing, unsigned_before)
OWN_BUILD = "own-build"  # this checkout's own unsigned build in dist/
UNCHECKED = "not-checked"  # --allow-unsigned / allow_unsigned=True: nobody checked who made it
ALLOW_FLAG = "--allow-unsigned"


@dataclass(frozen=True)
class Trusted:
    """An opened bundle and why it may score: SIGNED, OWN_BUILD or UNCHECKED."""

    bundle: Bundle
    trust: str

    @property
    def unchecked(self) -> bool:
        return self.trust == UNCHECKED


@dataclass(frozen=True)
class Project:
    """What tells this checkout's own build: its dist/ folder and its project name."""

    dist: Path
    name: str


def require_signer(signer: Signer | None, source: str) -> Signer:
    """The signer every bundle fetched from a registry is checked against; none is a VerificationError."""
    if signer is None:
        raise VerificationError(
            f"{source}: no signer is configured, so no bundle from this registry can be trusted and none was "
            "fetched: set registry.signer in params.yaml (the release workflow that signs keylessly, or public_key: "
            "a key pair's public key), or pass load_model(signer=...). "
            f"{ALLOW_FLAG} is for local bundle folders only: a registry is always checked"
        )
    return signer


def is_own_build(folder: Path, project: Project | None) -> bool:
    """Whether `folder` is this checkout's own build: directly in dist/ (symlinks resolved), named
    `<name>-<version>` of its lineage, and its lineage names this project."""
    if project is None:
        return False
    try:
        real, dist = folder.resolve(strict=True), project.dist.resolve(strict=True)
    except OSError:
        return False
    if real.parent != dist:
        return False
    try:
        import json

        lineage = json.loads((real / "lineage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(lineage, dict):
        return False
    name, version = lineage.get("name"), lineage.get("version")
    return name == project.name and isinstance(version, str) and real.name == f"{name}-{version}"


def open_local(
    folder: str | Path,
    signer: Signer | None,
    *,
    project: Project | None = None,
    allow_unsigned: bool = False,
    require_signature: bool = False,
    source: str | None = None,
    names: tuple[str, str] = ("registry.signer in params.yaml", ALLOW_FLAG),
) -> Trusted:
    """A local bundle folder, opened and checked (checksums, layout, model hashes, signature), and why it may
    score; else VerificationError naming the fix. `require_signature`: not even the own build goes unsigned.
    `names`: what the caller calls the signer and the opt-out (the command line's, or load_model's arguments)."""
    folder = Path(folder)
    source = source or str(folder)
    signer_name, allow_name = names
    if signer is None:
        fix = f"set {signer_name} to check a signed bundle, or pass {allow_name} to use it unchecked"
    elif signer.public_key is not None:
        fix = f"sign it with the private key of {signer_name} (`make sign`), or pass {allow_name} to use it unchecked"
    else:
        fix = (
            f"only {' or '.join(signer.workflows)} signs it (keylessly, when it releases), or pass {allow_name} "
            "to use it unchecked"
        )
    if (folder / SIGNATURE_FILE).exists():
        if signer is not None:
            return Trusted(open_bundle(folder, source, signer=signer), SIGNED)
        if allow_unsigned:
            return _unchecked(open_bundle(folder, source), source, allow_name, "its bundle.sig was not checked")
        raise VerificationError(
            f"{source}: carries {SIGNATURE_FILE}, but no signer is configured to check it against, so it is not "
            f"used: {fix}"
        )
    own = not require_signature and is_own_build(folder, project)
    if own:
        return Trusted(open_bundle(folder, source), OWN_BUILD)
    if allow_unsigned:
        return _unchecked(open_bundle(folder, source), source, allow_name, "it is unsigned")
    open_bundle(folder, source)  # a tampered bundle says so first, whoever made it
    # no unsigned_before here: a folder's version is its own lineage's word, which a forger writes (a registry
    # release's version is its tag, checked against the lineage: Backend.fetch)
    where = (
        "" if project is None else f" (only this checkout's own build, {project.dist}/{project.name}-<version>, may be)"
    )
    raise VerificationError(
        f"{source}: unsigned ({SIGNATURE_FILE} is missing), and an unsigned bundle folder is not used{where}: "
        f"do not score with it unless you know who made it; releases carry the release workflow's signature. {fix}"
    )


def _unchecked(bundle: Bundle, source: str, allow_name: str, why: str) -> Trusted:
    log.warning(
        "%s: used with %s although %s: nobody checked who made this model (version %s)",
        source,
        allow_name,
        why,
        bundle.version,
    )
    return Trusted(bundle, UNCHECKED)
