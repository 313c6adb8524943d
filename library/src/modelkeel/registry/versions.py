"""Semantic versions of the model: parsing, bumping, and refusing a tag that understates the change.

- major: the ONNX input/output signature or the schema's columns or types changed (it breaks consumers);
- minor: the model was retrained on other data (the data fingerprint changed);
- patch: anything else (params, code, environment).
"""

from __future__ import annotations

import re
from typing import Literal

from ..errors import RegistryError

VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
Bump = Literal["patch", "minor", "major"]
BUMPS: tuple[Bump, ...] = ("patch", "minor", "major")


def parse_version(text: str) -> tuple[int, int, int]:
    match = VERSION_RE.match(text.strip())
    if not match:
        raise RegistryError(f"{text!r} is not a version: use MAJOR.MINOR.PATCH, e.g. 1.4.0 or v1.4.0")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch)


def is_version(text: str) -> bool:
    return VERSION_RE.match(text.strip()) is not None


def normalize_version(text: str) -> str:
    return "{}.{}.{}".format(*parse_version(text))


def bump(version: str, kind: Bump) -> str:
    major, minor, patch = parse_version(version)
    if kind == "major":
        return f"{major + 1}.0.0"
    if kind == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def check_tag(previous: str, tag: str, kind: Bump) -> None:
    """Refuse a tag that is not above the previous version or understates the required bump."""
    old, new = parse_version(previous), parse_version(tag)
    if new <= old:
        raise RegistryError(f"{tag} is not above the previous release {normalize_version(previous)}")
    given = "major" if new[0] > old[0] else "minor" if new[1] > old[1] else "patch"
    if BUMPS.index(given) < BUMPS.index(kind):
        raise RegistryError(
            f"{tag} is a {given} bump, but the changes since {normalize_version(previous)} need a {kind} bump: "
            f"use {bump(previous, kind)} or higher"
        )


def check_first_release(version: str, tag: str | None) -> None:
    """The first release of a project is its own version: a tag naming another one is refused."""
    if tag is not None and normalize_version(tag) != version:
        raise RegistryError(f"{tag} is not the project version {version} of this first release")
