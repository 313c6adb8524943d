"""GitHub Releases as the registry, against a loopback stand-in of the REST API."""

import shutil
from pathlib import Path

import pytest

from modelkeel.errors import (
    NoReleaseYet,
    RefusedURL,
    RegistryError,
    ReleaseNotFound,
    VerificationError,
)
from modelkeel.github import rest
from modelkeel.registry.github_releases import GitHubReleases

from ..conftest import released_as
from ..github_standin import GitHubStandIn, LoopbackServer, answer

REPO = "octo-org/churn-model"


@pytest.fixture()
def bundle_dir(bundle_dir, release_key, tmp_path_factory):
    """The pipeline's bundle as the release workflow publishes it: signed (a copy per test)."""
    copy = tmp_path_factory.mktemp("release") / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    return release_key.sign(copy)


@pytest.fixture(autouse=True)
def signer(release_key, monkeypatch):
    """Every GitHubReleases here reads with the key pair's signer, as registry.signer makes every command do."""
    monkeypatch.setattr(GitHubReleases, "signer", release_key.signer)
    return release_key


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
    monkeypatch.setattr(rest, "BACKOFF_FACTOR", 0.01)  # it retries; quickly, in a test
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(RegistryError, match=r"cannot reach"):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_tags_without_a_v_are_found(github, bundle_dir, tmp_path, signer):
    github.publish("0.2.0", released_as(bundle_dir, "0.2.0", tmp_path / "built", signer.private))
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
    with pytest.raises(
        RegistryError,
        match=r"answer to http://127.0.0.1:\d+/repos/octo-org/churn-model/releases/latest broke off after \d+ bytes",
    ):
        GitHubReleases(REPO).fetch("latest", tmp_path)


def test_checksums_that_are_not_text_are_refused(github, bundle_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundle_dir, broken)
    (broken / "SHA256SUMS").write_bytes(b"\xff\xfe" + (broken / "SHA256SUMS").read_bytes())
    github.publish("v0.4.0", broken)
    with pytest.raises(VerificationError, match="not text"):
        GitHubReleases(REPO).fetch("0.4.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_checksums_listing_only_some_files_are_refused(github, bundle_dir, tmp_path):
    partial = released_as(bundle_dir, "0.5.0", tmp_path / "built")
    sums = partial / "SHA256SUMS"
    sums.write_text(next(line for line in sums.read_text().splitlines(True) if "model.onnx" in line))
    github.publish("v0.5.0", partial)
    cache = tmp_path / "cache"
    with pytest.raises(VerificationError, match=r"github:octo-org/churn-model 0.5.0: \S+: missing from the bundle"):
        GitHubReleases(REPO).fetch("0.5.0", cache)
    assert leftovers(cache) == []
    assert len(github.storage_requests) == 2, "only SHA256SUMS and the one file it lists were downloaded"


def test_the_signature_is_downloaded_beside_the_listed_files(github, bundle_dir, tmp_path, signer):
    signed = released_as(bundle_dir, "0.6.0", tmp_path / "built", signer.private)
    github.publish("v0.6.0", signed)
    folder = GitHubReleases(REPO).fetch("0.6.0", tmp_path / "cache").folder  # SHA256SUMS does not list it
    assert (folder / "bundle.sig").is_file() and same_files(folder, signed)


def test_without_a_signer_nothing_is_fetched(github, tmp_path, monkeypatch):
    monkeypatch.setattr(GitHubReleases, "signer", None)
    with pytest.raises(VerificationError, match=r"no signer is configured.*registry\.signer.*--allow-unsigned"):
        GitHubReleases(REPO).fetch("latest", tmp_path)
    assert github.storage_requests == [] and leftovers(tmp_path) == []


def test_an_unsigned_or_wrongly_signed_release_is_refused(github, bundle_dir, tmp_path):
    from modelkeel.bundle.signing import make_key_pair

    unsigned = released_as(bundle_dir, "0.7.0", tmp_path / "built")  # its checksums are right: only unsigned
    github.publish("v0.7.0", unsigned)
    with pytest.raises(VerificationError, match=r"bundle.sig is missing, but a signer is expected"):
        GitHubReleases(REPO).fetch("0.7.0", tmp_path / "cache")
    other, _ = make_key_pair(tmp_path / "attacker")
    forged = released_as(bundle_dir, "0.8.0", tmp_path / "forged", other)
    github.publish("v0.8.0", forged)
    with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
        GitHubReleases(REPO).fetch("latest", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def _first_asset(edit):
    """A release edit that changes only its first asset."""

    def apply(release):
        first = dict(release["assets"][0])
        edit(first)
        return dict(release, assets=[first, *release["assets"][1:]])

    return apply


MALFORMED_RELEASES = [
    (lambda r: [r], r"GitHub answered a list instead of a release object"),
    (lambda r: "v0.1.0", r"GitHub answered a string instead of a release object"),
    (lambda r: dict(r, tag_name=7), r"the release's tag_name is a number \(7\), not a tag"),
    (lambda r: dict(r, tag_name="v9.9.9"), r"GitHub answered the release tagged 'v9.9.9' instead"),
    (lambda r: dict(r, assets=None), r"the release's assets are null, not a list"),
    (lambda r: dict(r, assets=dict(a=1)), r"the release's assets are an object, not a list"),
    (lambda r: dict(r, assets=[*r["assets"], "x"]), r"asset #\d+ is a string, not an object"),
    (_first_asset(lambda a: a.pop("name")), r"asset #1 has no name \(its name is null\)"),
    (_first_asset(lambda a: a.update(name=["x"])), r"asset #1 has no name \(its name is a list\)"),
    (_first_asset(lambda a: a.pop("url")), r"asset '[^']+' has no url"),
    (_first_asset(lambda a: a.update(size="12")), r"asset '[^']+' has size '12', not a number of bytes"),
    (_first_asset(lambda a: a.update(size=-1)), r"asset '[^']+' has size -1, not a number of bytes"),
    (_first_asset(lambda a: a.update(size=1.5)), r"asset '[^']+' has size 1.5, not a number of bytes"),
    (_first_asset(lambda a: a.update(size=True)), r"asset '[^']+' has size True, not a number of bytes"),
    (lambda r: dict(r, assets=[*r["assets"], r["assets"][0]]), r"two assets are named '[^']+'; refused"),
]


@pytest.mark.parametrize(("edit", "message"), MALFORMED_RELEASES)
def test_a_malformed_release_is_a_clear_error(github, tmp_path, edit, message):
    github.edit_release = edit
    with pytest.raises(RegistryError, match=rf"octo-org/churn-model release v0.1.0: {message}"):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []
    assert github.storage_requests == [], "nothing is downloaded from a malformed release"


def test_a_malformed_latest_release_is_a_clear_error(github, tmp_path):
    github.edit_release = lambda r: dict(r, tag_name=None)
    with pytest.raises(RegistryError, match=r"octo-org/churn-model latest release: the release's tag_name is null"):
        GitHubReleases(REPO).fetch("latest", tmp_path)
    github.edit_release = lambda r: 42
    with pytest.raises(RegistryError, match=r"latest release: GitHub answered a number instead of a release object"):
        GitHubReleases(REPO).latest()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rs: dict(releases=rs), r"answered the list of releases with an object, not a list"),
        (lambda rs: "none", r"answered the list of releases with a string, not a list"),
        (lambda rs: [*rs, None], r"releases, entry #2: GitHub answered null instead of a release object"),
        (lambda rs: [dict(name="x")], r"releases, entry #1: the release's tag_name is null"),
    ],
)
def test_a_malformed_list_of_releases_is_a_clear_error(github, edit, message):
    github.edit_list = edit
    with pytest.raises(RegistryError, match=message):
        GitHubReleases(REPO).versions()


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><title>Unicorn!</title>", b"", b"[" * 50_000, b"\xff\xfe{}"])
def test_an_answer_that_is_not_json_is_a_clear_error(github, tmp_path, body):
    github.raw_body = body
    with pytest.raises(
        RegistryError, match=r"answer to http://127.0.0.1:\d+/repos/octo-org/churn-model/\S+ is not JSON"
    ):
        GitHubReleases(REPO).fetch("latest", tmp_path)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "only https:// URLs are fetched, not file ones"),
        ("ftp://127.0.0.1/model.onnx", "only https:// URLs are fetched, not ftp ones"),
        ("http://example.com/model.onnx", "plain http:// is only allowed to loopback"),
    ],
)
def test_an_asset_url_that_is_not_https_is_refused(github, tmp_path, url, why):
    github.asset_urls["model.onnx"] = url
    with pytest.raises(RefusedURL, match=rf"refusing to fetch '{url}' \(the url of asset 'model.onnx' .*\): {why}"):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []
    assert github.storage_requests == []


def test_an_asset_larger_than_declared_is_refused(github, tmp_path):
    github.oversize["model.onnx"] = b"\0" * 1000
    with pytest.raises(
        RegistryError, match=r"model.onnx: http://localhost:\d+/blob/\d+\?sig=signed announces \d+ bytes"
    ):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []


def test_an_unsized_asset_larger_than_declared_is_refused(github, tmp_path):
    github.unsized = True
    github.oversize["model.onnx"] = b"\0" * 1000
    with pytest.raises(RegistryError, match=r"model.onnx: the download is larger than the \d+ bytes declared"):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []


def test_unsized_assets_of_the_declared_size_are_fine(github, bundle_dir, tmp_path):
    github.unsized = True
    assert same_files(GitHubReleases(REPO).fetch("0.1.0", tmp_path).folder, bundle_dir)


def test_a_next_page_link_back_to_the_first_page_is_refused(github):
    github.next_link = f"{github.api_url}/repos/{REPO}/releases?per_page=100"
    with pytest.raises(RegistryError, match=r"leads back to http://127.0.0.1:\d+/repos/octo-org/churn-model/releases"):
        GitHubReleases(REPO).versions()
    assert len(github.requests) == 1, "the page is not asked for again"


def test_a_next_page_on_another_host_gets_no_token(github, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", "secret-token")
    with LoopbackServer(lambda h: answer(h, body=[dict(tag_name="v0.7.0")])) as elsewhere:
        github.next_link = f"{elsewhere.url}/page/2"
        assert GitHubReleases(REPO).versions() == ["0.1.0", "0.7.0"]
    assert [h.get("Authorization") for _, h in github.requests] == ["Bearer secret-token"]
    assert elsewhere.paths == ["/page/2"] and "Authorization" not in elsewhere.requests[0][1]


def test_a_slow_asset_host_hits_the_deadline(github, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_DEADLINE_SECONDS", "0.5")
    github.slow_storage = 5
    with pytest.raises(RegistryError, match=r"not done within the 0.5 s deadline"):
        GitHubReleases(REPO).fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []


# ---- bounded before read, odd names -----------------------------------------------------------------------


def checked_registry() -> GitHubReleases:
    """The registry with a signer set: what these tests refuse is refused before any signature check."""
    from modelkeel.settings import Signer

    reg = GitHubReleases(REPO)
    reg.signer = Signer(workflow=f"https://github.com/{REPO}/.github/workflows/release.yml")
    return reg


def _declared_size(name, size):
    def apply(release):
        assets = [dict(a, size=size) if a["name"] == name else a for a in release["assets"]]
        return dict(release, assets=assets)

    return apply


def test_a_huge_declared_sha256sums_is_refused_before_it_is_downloaded(github, tmp_path):
    github.edit_release = _declared_size("SHA256SUMS", 300 << 20)
    with pytest.raises(
        RegistryError, match=r"the asset SHA256SUMS declares 314,572,800 bytes, more than the 1.0 MiB .*before down"
    ):
        checked_registry().fetch("0.1.0", tmp_path)
    assert github.storage_requests == [] and leftovers(tmp_path) == []


def test_a_model_declared_over_its_cap_is_refused_before_it_is_downloaded(github, tmp_path):
    github.edit_release = _declared_size("model.onnx", 3 << 30)
    with pytest.raises(RegistryError, match=r"model.onnx declares 3,221,225,472 bytes, more than the 2.0 GiB"):
        checked_registry().fetch("0.1.0", tmp_path)
    assert len(github.storage_requests) == 1, "only SHA256SUMS was downloaded"
    assert leftovers(tmp_path) == []


def test_files_each_within_their_caps_but_too_large_together_are_refused_before_any_is_downloaded(github, tmp_path):
    """A whole bundle is bounded too: a model at its 2 GiB cap and every other file at 256 MiB add up to more
    than a bundle may hold (bundle/layout.py MAX_BUNDLE_BYTES), refused before a byte of them is fetched."""

    def apply(release):
        sizes = {"SHA256SUMS": None, "bundle.sig": None, "model.onnx": 2 << 30}
        assets = [dict(a, size=sizes.get(a["name"], 256 << 20) or a["size"]) for a in release["assets"]]
        return dict(release, assets=assets)

    github.edit_release = apply
    with pytest.raises(RegistryError, match=r"release v0.1.0: its files add up to [\d.]+ GiB, more than the 3.0 GiB"):
        checked_registry().fetch("0.1.0", tmp_path)
    assert len(github.storage_requests) == 1, "only SHA256SUMS was downloaded"
    assert leftovers(tmp_path) == []


def test_a_sha256sums_sent_past_its_declared_size_is_cut_off(github, tmp_path):
    github.unsized = True
    github.oversize["SHA256SUMS"] = b"\0" * (4 << 20)  # declared: its real size; sent: 4 MiB more
    with pytest.raises(RegistryError, match=r"SHA256SUMS: the download is larger than the \d+ bytes declared"):
        checked_registry().fetch("0.1.0", tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("model\0.onnx", "it holds a NUL byte"),
        ("model\n.onnx", "it holds a control character"),
        ("../model.onnx", "it holds a path separator"),
        ("..", r"it starts with a dot \(hidden, or `..`\)"),
    ],
)
def test_an_odd_asset_name_is_a_clear_error(github, tmp_path, name, why):
    github.edit_release = _first_asset(lambda a: a.update(name=name))
    with pytest.raises(RegistryError, match=rf"release v0.1.0: asset #1 is named .*: {why}; refused"):
        checked_registry().fetch("0.1.0", tmp_path)
    assert github.storage_requests == [] and leftovers(tmp_path) == []


def test_a_nul_byte_in_a_name_sha256sums_lists_is_a_clear_error(github, bundle_dir, tmp_path):
    hostile = released_as(bundle_dir, "0.8.0", tmp_path / "built")
    sums = hostile / "SHA256SUMS"
    sums.write_text(sums.read_text() + f"{'0' * 64}  model\0.onnx\n")
    github.publish("v0.8.0", hostile)
    with pytest.raises(VerificationError, match=r"SHA256SUMS line \d+ names the file 'model\\x00.onnx'.*NUL byte"):
        checked_registry().fetch("0.8.0", tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []
