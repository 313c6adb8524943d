"""Semantic versions: parsing, bumping, and refusing a tag that understates the change."""

import pytest

from modelkeel.errors import RegistryError
from modelkeel.registry import versions


@pytest.mark.parametrize(
    ("previous", "kind", "expected"),
    [("0.1.0", "patch", "0.1.1"), ("0.1.3", "minor", "0.2.0"), ("1.4.2", "major", "2.0.0")],
)
def test_bump(previous, kind, expected):
    assert versions.bump(previous, kind) == expected


def test_a_tag_that_understates_a_breaking_change_is_refused():
    versions.check_tag("0.1.0", "v1.0.0", "major")
    versions.check_tag("0.1.0", "v0.2.0", "minor")
    versions.check_tag("0.1.0", "v1.0.0", "patch")  # overstating is allowed
    with pytest.raises(
        RegistryError, match=r"is a minor bump, but the changes since 0.1.0 need a major bump: use 1.0.0"
    ):
        versions.check_tag("0.1.0", "v0.2.0", "major")
    with pytest.raises(RegistryError, match=r"not above the previous release"):
        versions.check_tag("0.2.0", "v0.1.9", "patch")


@pytest.mark.parametrize("bad", ["1.2", "v1.2.3.4", "latest-ish", ""])
def test_versions_must_be_semantic(bad):
    with pytest.raises(RegistryError, match=r"is not a version"):
        versions.normalize_version(bad)


def test_a_first_release_is_the_project_version():
    versions.check_first_release("0.1.0", None)
    versions.check_first_release("0.1.0", "v0.1.0")
    with pytest.raises(RegistryError, match=r"v0.2.0 is not the project version 0.1.0 of this first release"):
        versions.check_first_release("0.1.0", "v0.2.0")
