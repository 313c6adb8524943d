"""GitHub Releases as the registry, against a loopback stand-in of the REST API."""

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import (
    NoReleaseYet,
    RegistryError,
    ReleaseNotFound,
    VerificationError,
)
from {{ cookiecutter.package_name }}.registry.github_releases import GitHubReleases

from ..conftest import released_as
from ..github_standin import GitHubStandIn

REPO = "octo-org/churn-model"


@pytest.fixture()
def github(bundle_dir, monkeypatch):
    standin = GitHubStandIn(REPO)
    standin.publish("v0.1.0", bundle_dir)
    monkeypatch.setenv("GITHUB_API_URL", standin.api_url)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    yield standin
    standin.close()
    assert standin.unexpected == [], "the client made requests the GitHub API does not document"


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def same_files(a: Path, b: Path) -> bool:
    return {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}


def test_github_latest_download_is_verified_and_cached(github, bundle_dir, tmp_path):
    folder = GitHubReleases(REPO).fetch("latest", tmp_path).folder
    assert folder == tmp_path / "0.1.0" and same_files(folder, bundle_dir)
    calls = len(github.requests)
    again = GitHubReleases(REPO).fetch("v0.1.0", tmp_path).folder
    assert again == folder
    assert len(github.requests) == calls, "a cached, verified version is not downloaded again"


def test_token_is_sent_to_the_api_but_not_to_the_storage_host(github, tmp_path, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", "secret-token")
    GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert all(h.get("Authorization") == "Bearer secret-token" for _, h in github.requests)
    assert github.storage_requests, "assets are fetched through the 302 redirect"
    assert all("Authorization" not in h for _, h in github.storage_requests)


def test_unknown_version_is_a_clear_error(github, tmp_path):
    with pytest.raises(ReleaseNotFound, match=r"has no release v9.9.9"):
        GitHubReleases(REPO).fetch("9.9.9", tmp_path)
    assert leftovers(tmp_path) == []


def test_rate_limit_names_the_remedy(github, tmp_path):
    github.rate_limited = True
    with pytest.raises(RegistryError, match=r"rate limit exceeded .*Set GH_TOKEN or GITHUB_TOKEN"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_truncated_download_leaves_nothing_in_the_cache(github, tmp_path):
    github.truncate.add("model.onnx")
    with pytest.raises(RegistryError, match=r"model.onnx: the download (is truncated|broke off)"):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []


def test_release_without_checksums_is_refused(github, bundle_dir, tmp_path):
    github.publish("v0.2.0", bundle_dir, skip=("SHA256SUMS",))
    with pytest.raises(RegistryError, match=r"no SHA256SUMS"):
        GitHubReleases(REPO).fetch("0.2.0", tmp_path)
    assert leftovers(tmp_path) == []


def test_tampered_asset_is_named_and_deleted(github, bundle_dir, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle_dir, tampered)
    (tampered / "model.onnx").write_bytes((tampered / "model.onnx").read_bytes() + b"\0")
    github.publish("v0.3.0", tampered)
    cache = tmp_path / "cache"
    with pytest.raises(VerificationError, match=r"model.onnx: checksum mismatch"):
        GitHubReleases(REPO).fetch("0.3.0", cache)
    assert leftovers(cache) == []


def test_no_release_yet(github, tmp_path):
    github.latest = None
    with pytest.raises(NoReleaseYet, match=r"no published release yet"):
        GitHubReleases(REPO).fetch("latest", tmp_path)
    assert GitHubReleases(REPO).latest_or_none() is None


def test_github_lists_versions(github, bundle_dir):
    github.publish("v0.10.0", bundle_dir)
    github.publish("not-a-version", bundle_dir, latest=False)
    assert GitHubReleases(REPO).versions() == ["0.1.0", "0.10.0"]


def test_unreachable_api_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(RegistryError, match=r"cannot reach"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_tags_without_a_v_are_found(github, bundle_dir, tmp_path):
    github.publish("0.2.0", released_as(bundle_dir, "0.2.0", tmp_path / "built"))
    assert GitHubReleases(REPO).fetch("latest", tmp_path / "cache").folder.name == "0.2.0"


def test_a_release_carrying_another_versions_bundle_is_refused(github, bundle_dir, tmp_path):
    github.publish("v0.3.0", bundle_dir)  # the 0.1.0 bundle, uploaded under the tag v0.3.0
    with pytest.raises(VerificationError, match=r"0.3.0: the bundle inside is version 0.1.0"):
        GitHubReleases(REPO).fetch("latest", tmp_path)
    assert leftovers(tmp_path) == []


def test_a_wrong_repository_is_not_mistaken_for_no_release(github, tmp_path):
    with pytest.raises(RegistryError, match=r"repository octo-org/typo not found, or not readable"):
        GitHubReleases("octo-org/typo").fetch("latest", tmp_path)


def test_versions_follow_every_page(github, bundle_dir):
    for minor in range(2, 152):  # v0.1.0 is already there: 151 releases, two pages of 100
        github.publish(f"v0.{minor}.0", bundle_dir)
    versions = GitHubReleases(REPO).versions()
    assert len(versions) == 151 and versions[-1] == "0.151.0"


def test_an_api_answer_that_breaks_off_is_a_clear_error(github, tmp_path):
    github.break_json = True
    with pytest.raises(RegistryError, match="broke off or is not JSON"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_checksums_that_are_not_text_are_refused(github, bundle_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundle_dir, broken)
    (broken / "SHA256SUMS").write_bytes(b"\xff\xfe" + (broken / "SHA256SUMS").read_bytes())
    github.publish("v0.4.0", broken)
    with pytest.raises(VerificationError, match="not text"):
        GitHubReleases(REPO).fetch("0.4.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []
