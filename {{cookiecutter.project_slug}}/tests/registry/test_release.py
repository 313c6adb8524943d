"""The release checks and the `gh release create` call they lead to (against the loopback GitHub API stand-in)."""

import json
import shutil

import pytest

from {{ cookiecutter.package_name }}.errors import VerificationError
from {{ cookiecutter.package_name }}.registry import release
from {{ cookiecutter.package_name }}.registry.release import ReleaseError

from ..conftest import released_as
from ..github_standin import GitHubStandIn

REPO = "octo-org/churn-model"


@pytest.fixture()
def github(monkeypatch):
    standin = GitHubStandIn(REPO)
    monkeypatch.setenv("GITHUB_API_URL", standin.api_url)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    yield standin
    standin.close()
    assert standin.unexpected == [], "the client made requests the GitHub API does not document"


def version_of(bundle_dir) -> str:
    return json.loads((bundle_dir / "lineage.json").read_text())["version"]


def test_first_release_plans_every_bundle_file_and_the_tarball(github, bundle_dir):
    tag = f"v{version_of(bundle_dir)}"
    plan = release.plan(bundle_dir, tag, REPO)
    assert plan.previous is None and plan.version == version_of(bundle_dir)
    names = [a.name for a in plan.assets]
    files = sorted(p.name for p in bundle_dir.iterdir())
    assert names == [*files, f"{bundle_dir.name}.tar.gz"]
    assert "SHA256SUMS" in names and "model.onnx" in names and "model_card.md" in names
    command = plan.command()
    assert command[:4] == ["gh", "release", "create", tag]
    assert "--verify-tag" in command and command[command.index("--repo") + 1] == REPO
    assert command[command.index("--notes-file") + 1] == str(bundle_dir / "model_card.md")
    assert "first release" in plan.describe()


@pytest.mark.parametrize("tag", ["v9.9.9", "0.1.0", "v0.1", "release-1", "v0.1.0-rc1"])
def test_a_tag_that_is_not_the_project_version_is_refused(github, bundle_dir, tag):
    with pytest.raises(ReleaseError, match=r"tag .* (does not match the project version|is not a release tag)"):
        release.plan(bundle_dir, tag, REPO)
    assert github.requests == [], "the tag is checked before the registry is asked anything"


def test_an_existing_release_is_never_overwritten(github, bundle_dir):
    tag = f"v{version_of(bundle_dir)}"
    github.publish(tag, bundle_dir)
    with pytest.raises(ReleaseError, match=rf"already has a release {tag}; releases are never overwritten"):
        release.plan(bundle_dir, tag, REPO)


def test_the_workflow_repository_must_be_the_registry(github, bundle_dir, monkeypatch):
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    with pytest.raises(ReleaseError, match=r"runs in someone/else, but params.yaml registry.github_repo is"):
        release.plan(bundle_dir, f"v{version_of(bundle_dir)}", REPO)


def test_the_bump_is_checked_against_the_latest_release(github, bundle_dir, tmp_path):
    github.publish("v0.0.9", released_as(bundle_dir, "0.0.9", tmp_path))  # same data and signature: a patch is enough
    plan = release.plan(bundle_dir, f"v{version_of(bundle_dir)}", REPO)
    assert (plan.previous, plan.bump) == ("0.0.9", "patch")
    github.publish("v0.2.0", released_as(bundle_dir, "0.2.0", tmp_path))  # the latest release is above this version
    with pytest.raises(ReleaseError, match=r"is not above the previous release 0.2.0"):
        release.plan(bundle_dir, f"v{version_of(bundle_dir)}", REPO)


def test_a_tampered_bundle_is_refused_before_any_check(github, bundle_dir, tmp_path):
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    shutil.copy(bundle_dir.with_name(f"{bundle_dir.name}.tar.gz"), tmp_path)
    (copy / "metrics.json").write_text("{}")
    with pytest.raises(VerificationError, match=r"metrics.json"):
        release.plan(copy, f"v{version_of(bundle_dir)}", REPO)


def test_publish_needs_gh_and_a_token(github, bundle_dir, monkeypatch, tmp_path):
    plan = release.plan(bundle_dir, f"v{version_of(bundle_dir)}", REPO)
    monkeypatch.setenv("PATH", str(tmp_path))  # no gh here
    with pytest.raises(ReleaseError, match=r"`gh` is not on PATH"):
        release.publish(plan)
    fake = tmp_path / "gh"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(ReleaseError, match=r"set GH_TOKEN"):
        release.publish(plan)


def test_preflight_needs_no_bundle_and_refuses_early(github):
    assert isinstance(release.preflight("0.1.0", "v0.1.0", REPO), release.GitHubReleases)
    with pytest.raises(ReleaseError, match=r"tag v0.2.0 does not match the project version 0.1.0"):
        release.preflight("0.1.0", "v0.2.0", REPO)
    github.releases["v0.1.0"] = {}
    with pytest.raises(ReleaseError, match=r"already has a release v0.1.0"):
        release.preflight("0.1.0", "v0.1.0", REPO)
