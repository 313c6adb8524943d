"""The release checks and the `gh release create` call they lead to (against the loopback GitHub API stand-in)."""

import json
import re
import shutil

import pytest

from modelkeel.errors import VerificationError
from modelkeel.registry import release
from modelkeel.registry.release import ReleaseError

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
    assert names == [*files, f"{bundle_dir.name}.tar.gz", f"{bundle_dir.name}.tar.gz.sha256"]
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
    # the previous release is only compared with, never scored: it may predate signing
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


def runtime_folder(tmp_path, name="my_project-1.2.0-py3-none-any.whl"):
    import zipfile

    folder = tmp_path / "wheel"
    folder.mkdir()
    with zipfile.ZipFile(folder / name, "w") as wheel:
        wheel.writestr("my_project/__init__.py", "")
    (folder / "requirements.txt").write_text("numpy==2.0.0 --hash=sha256:00\n")
    return folder


def test_the_runtime_wheel_and_its_requirements_are_published_with_the_bundle(github, bundle_dir, tmp_path):
    runtime = release.runtime_assets(runtime_folder(tmp_path), "my-project", "1.2.0")
    plan = release.plan(bundle_dir, f"v{version_of(bundle_dir)}", REPO, runtime=runtime)
    assert [a.name for a in plan.assets[-2:]] == ["my_project-1.2.0-py3-none-any.whl", "requirements.txt"]
    assert all(str(a) in plan.command() for a in runtime)


def test_a_missing_stray_or_broken_runtime_wheel_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match=r"no runtime wheel: .* does not exist; run `make wheel`"):
        release.runtime_assets(tmp_path / "wheel", "my-project", "1.2.0")
    folder = runtime_folder(tmp_path)
    with pytest.raises(ReleaseError, match=r"exactly one wheel my_project-1.3.0-\*.whl \(found: my_project-1.2.0"):
        release.runtime_assets(folder, "my-project", "1.3.0")  # built from another version
    shutil.copy(folder / "my_project-1.2.0-py3-none-any.whl", folder / "my_project-1.2.0-py2-none-any.whl")
    with pytest.raises(ReleaseError, match=r"exactly one wheel"):
        release.runtime_assets(folder, "my-project", "1.2.0")
    (folder / "my_project-1.2.0-py2-none-any.whl").unlink()
    (folder / "requirements.txt").unlink()
    with pytest.raises(ReleaseError, match=r"requirements.txt is missing"):
        release.runtime_assets(folder, "my-project", "1.2.0")
    (folder / "requirements.txt").write_text("")
    (folder / "my_project-1.2.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ReleaseError, match=r"not a wheel"):
        release.runtime_assets(folder, "my-project", "1.2.0")


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


@pytest.fixture()
def fake_gh(tmp_path, monkeypatch):
    """A `gh` that answers the tag and compare calls from files, and logs every call."""
    log = tmp_path / "gh_calls.txt"
    script = """#!/bin/sh
echo "$*" >> LOG
case "$*" in
  *matching-refs*) cat REFS ;;
  *compare*) cat COMPARE ;;
  "api --method DELETE"*) : ;;
  *) echo "unexpected gh call: $*" >&2; exit 2 ;;
esac
"""
    refs, compare = tmp_path / "refs.json", tmp_path / "compare.json"
    gh = tmp_path / "gh"
    gh.write_text(script.replace("LOG", str(log)).replace("REFS", str(refs)).replace("COMPARE", str(compare)))
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("GH_TOKEN", "t")
    return log, refs, compare


def tag_ref(tag, sha):
    return json.dumps([dict(ref=f"refs/tags/{tag}", object=dict(type="commit", sha=sha))])


def test_a_failed_release_removes_only_its_own_tag_and_only_without_a_release(github, fake_gh):
    log, refs, _ = fake_gh
    ours, other = "a" * 40, "b" * 40
    refs.write_text(tag_ref("v0.2.0", ours))
    assert "removed tag v0.2.0" in release.remove_tag(REPO, "v0.2.0", ours)
    assert f"api --method DELETE repos/{REPO}/git/refs/tags/v0.2.0" in log.read_text()
    log.unlink()
    assert "left alone" in release.remove_tag(REPO, "v0.2.0", other), "a tag on another commit is not ours"
    github.releases["v0.2.0"] = {}
    assert "its tag stays" in release.remove_tag(REPO, "v0.2.0", ours), "a release uses it"
    refs.write_text("[]")
    assert "nothing to remove" in release.remove_tag(REPO, "v0.2.0", ours)
    assert "DELETE" not in log.read_text()


@pytest.mark.parametrize(
    ("status", "allowed"), [("identical", True), ("behind", True), ("ahead", False), ("diverged", False)]
)
def test_a_pushed_tag_releases_only_from_the_default_branch(fake_gh, status, allowed):
    _, _, compare = fake_gh
    compare.write_text(json.dumps(dict(status=status)))
    if allowed:
        assert "is on main" in release.on_default_branch(REPO, "c" * 40, "main")
    else:
        with pytest.raises(ReleaseError, match=re.escape(f"not on the default branch main ({status})")):
            release.on_default_branch(REPO, "c" * 40, "main")
    compare.write_text(json.dumps(dict(status="weird")))
    with pytest.raises(ReleaseError, match="not one of"):
        release.on_default_branch(REPO, "c" * 40, "main")
    with pytest.raises(ReleaseError, match="set DEFAULT_BRANCH"):
        release.on_default_branch(REPO, "c" * 40, "")


def test_a_tarball_of_another_build_is_never_released(github, bundle_dir, tmp_path):
    import shutil

    from modelkeel.bundle.tarball import paths_for, write_tarball
    from modelkeel.errors import ReleaseError

    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    other = tmp_path / "other" / bundle_dir.name
    shutil.copytree(bundle_dir, other)
    (other / "model_card.md").write_text("another build\n")
    write_tarball(other)
    for source, target in zip(paths_for(other), paths_for(copy), strict=True):
        shutil.copy2(source, target)  # the previous build's tarball, with its own (correct) checksum file
    with pytest.raises(ReleaseError, match=r"model_card.md differs from the folder's file"):
        release.plan(copy, f"v{version_of(bundle_dir)}", REPO)
