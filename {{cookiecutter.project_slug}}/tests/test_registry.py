"""The registry: GitHub Releases (against a loopback stand-in of the REST API) and fsspec folders (for real)."""

import errno
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.errors import VerificationError
from {{ cookiecutter.package_name }}.registry import (
    FolderRegistry,
    GitHubReleases,
    RegistryError,
)

from .github_standin import GitHubStandIn

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
    folder = GitHubReleases(REPO).fetch("latest", tmp_path)
    assert folder == tmp_path / "0.1.0" and same_files(folder, bundle_dir)
    calls = len(github.requests)
    again = GitHubReleases(REPO).fetch("v0.1.0", tmp_path)
    assert again == folder
    assert len(github.requests) == calls, "a cached, verified version is not downloaded again"


def test_token_is_sent_to_the_api_but_not_to_the_storage_host(github, tmp_path, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", "secret-token")
    GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert all(h.get("Authorization") == "Bearer secret-token" for _, h in github.requests)
    assert github.storage_requests, "assets are fetched through the 302 redirect"
    assert all("Authorization" not in h for _, h in github.storage_requests)


def test_unknown_version_is_a_clear_error(github, tmp_path):
    with pytest.raises(RegistryError, match=r"has no release v9.9.9"):
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
    with pytest.raises(RegistryError, match=r"no published release yet"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_github_lists_versions(github, bundle_dir):
    github.publish("v0.10.0", bundle_dir)
    github.publish("not-a-version", bundle_dir, latest=False)
    assert GitHubReleases(REPO).versions() == ["0.1.0", "0.10.0"]


def test_unreachable_api_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(RegistryError, match=r"cannot reach"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_folder_registry_publish_list_latest_download(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    with pytest.raises(RegistryError, match=r"no published version yet"):
        reg.latest()
    reg.publish(bundle_dir, "0.1.0")
    reg.publish(bundle_dir, "0.2.0")
    assert reg.versions() == ["0.1.0", "0.2.0"] and reg.latest() == "0.2.0"
    with pytest.raises(RegistryError, match=r"already exists"):
        reg.publish(bundle_dir, "0.2.0")
    folder = reg.fetch("latest", tmp_path / "cache")
    assert folder.name == "0.2.0" and same_files(folder, bundle_dir)
    file_url = FolderRegistry(f"file://{tmp_path / 'registry'}")
    assert file_url.versions() == ["0.1.0", "0.2.0"]


def test_folder_registry_refuses_tampering_and_unknown_versions(bundle_dir, tmp_path):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(bundle_dir, "0.1.0")
    with pytest.raises(RegistryError, match=r"no version 0.4.0"):
        reg.fetch("0.4.0", tmp_path / "cache")
    (tmp_path / "registry" / "0.1.0" / "metrics.json").write_text("{}")
    with pytest.raises(VerificationError, match=r"metrics.json: checksum mismatch"):
        reg.fetch("0.1.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_full_disk_in_the_cache_leaves_no_partial_file(bundle_dir, tmp_path, monkeypatch):
    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(bundle_dir, "0.1.0")
    real_copy = registry._copy_stream
    calls = []

    def fill_the_disk(source, target, size, what):
        calls.append(what)
        if len(calls) == 3:
            target.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(source, target, size, what)

    monkeypatch.setattr(registry, "_copy_stream", fill_the_disk)
    with pytest.raises(RegistryError, match=r"is full"):
        reg.fetch("0.1.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("bad", ["1.2", "v1.2.3.4", "latest-ish", ""])
def test_versions_must_be_semantic(bad):
    with pytest.raises(RegistryError, match=r"is not a version"):
        registry.normalize_version(bad)


def test_tags_without_a_v_are_found(github, bundle_dir, tmp_path):
    github.publish("0.2.0", bundle_dir)
    assert GitHubReleases(REPO).fetch("latest", tmp_path).name == "0.2.0"


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


def test_concurrent_downloads_of_one_version_all_succeed(bundle_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    reg = FolderRegistry(str(tmp_path / "registry"))
    reg.publish(bundle_dir, "0.1.0")
    with ThreadPoolExecutor(6) as pool:
        folders = list(pool.map(lambda _: reg.fetch("0.1.0", tmp_path / "cache"), range(6)))
    assert {str(f) for f in folders} == {str(tmp_path / "cache" / "0.1.0")}
    assert leftovers(tmp_path / "cache") == ["0.1.0"]
    assert same_files(folders[0], bundle_dir)


def test_the_cache_keeps_registries_apart(bundle_dir, tmp_path):
    from {{ cookiecutter.package_name }}.serve import load_model

    staging, production = FolderRegistry(str(tmp_path / "staging")), FolderRegistry(str(tmp_path / "production"))
    staging.publish(bundle_dir, "0.1.0")
    other = tmp_path / "other"
    shutil.copytree(bundle_dir, other)
    (other / "model_card.md").write_text("another model\n")
    from {{ cookiecutter.package_name }}.checksums import render

    (other / "SHA256SUMS").write_text(render(other))
    production.publish(other, "0.1.0")
    assert staging.cache_key != production.cache_key
    cache = tmp_path / "cache"
    a = staging.fetch("0.1.0", cache / staging.cache_key)
    b = production.fetch("0.1.0", cache / production.cache_key)
    assert (a / "model_card.md").read_text() != (b / "model_card.md").read_text()
    assert load_model("0.1.0", url=str(tmp_path / "production"), cache_dir=None).version == "0.1.0"


def test_concurrent_publishes_leave_one_complete_version(bundle_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    reg = FolderRegistry(str(tmp_path / "registry"))

    def attempt(_):
        try:
            reg.publish(bundle_dir, "0.5.0")
            return "published"
        except RegistryError:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert outcomes.count("published") == 1
    assert reg.versions() == ["0.5.0"]
    assert same_files(reg.fetch("0.5.0", tmp_path / "cache"), bundle_dir)


def test_publishing_somewhere_unwritable_is_a_clear_error(bundle_dir):
    with pytest.raises(RegistryError, match="cannot publish to /dev/null/registry"):
        FolderRegistry("/dev/null/registry").publish(bundle_dir, "0.1.0")
