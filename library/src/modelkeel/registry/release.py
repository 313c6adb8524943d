"""Publish a verified bundle as a GitHub Release, the model registry.

`preflight` runs the checks that need no bundle (before the pipeline spends minutes on one), and
`plan` runs every check before anything is published, so a refused release leaves no trace:

- the bundle passes `verify` (checksums, ONNX model, schema, example predictions, and its
  signature when params.yaml names a signer);
- the tarball and its `.sha256` file hold exactly the folder's files (`bundle/tarball.py`);
- the tag is `v<version>` of the project version that built the bundle (pyproject.toml);
- the workflow runs in the repository that params.yaml names as the registry;
- no release of that tag exists (releases are never overwritten);
- the tag is above the latest release and does not understate the bump the changes need.

`publish` then runs `gh release create <tag> <every bundle file> <tarball> <tarball>.sha256
[<runtime wheel> requirements.txt] --verify-tag --notes-file model_card.md`, so each file (bundle.sig
too) is its own asset next to the tarball and SHA256SUMS. The runtime wheel (`make wheel`: the package
without scikit-learn, so `pip install <its URL>` gives load_model, predict and serve) and its hashed
requirements come from dist/wheel/, which must hold exactly one wheel of this project and version.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..bundle import layout
from ..bundle.reader import Bundle, read_json
from ..errors import RegistryError, ReleaseError, VerificationError
from ..github import gh
from ..settings import Signer
from . import diff, versions
from .github_releases import GitHubReleases


@dataclass(frozen=True)
class ReleasePlan:
    repo: str
    tag: str
    version: str
    bundle: Path
    assets: tuple[Path, ...]
    previous: str | None
    bump: str | None
    reasons: tuple[str, ...]

    def command(self) -> list[str]:
        title = f"{self.bundle.name.removesuffix('-' + self.version)} {self.tag}"
        return [
            "gh",
            "release",
            "create",
            self.tag,
            *(str(a) for a in self.assets),
            "--repo",
            self.repo,
            "--verify-tag",
            "--title",
            title,
            "--notes-file",
            str(self.bundle / layout.MODEL_CARD),
        ]

    def describe(self) -> str:
        since = f"{self.bump} bump from v{self.previous}" if self.previous else "first release"
        lines = [f"release {self.tag} of {self.repo} ({since}):"]
        lines += [f"  - {r}" for r in self.reasons]
        lines.append(f"  assets ({len(self.assets)}): " + ", ".join(a.name for a in self.assets))
        return "\n".join(lines)

    def shell_command(self) -> str:
        return shlex.join(self.command())


@dataclass(frozen=True)
class NextVersion:
    """The version a new bundle should be released as, and why."""

    version: str
    previous: str | None  # None: the first release
    bump: str | None
    reasons: tuple[str, ...]

    def describe(self) -> str:
        if self.previous is None:
            return f"no release yet; the first release is the project version {self.version}"
        return f"{self.bump} bump from {self.previous}: {'; '.join(self.reasons)}"


def next_version(
    new: Bundle, previous: Bundle | None, check: str | None = None, previous_version: str | None = None
) -> NextVersion:
    """The next version after `previous` (None: no release yet); with `check`, refuse a tag that understates it.

    `previous_version` is the version the registry gives the previous release (default: its bundle's own).
    """
    if previous is None:
        versions.check_first_release(new.version, check)
        return NextVersion(new.version, None, None, ("no earlier release",))
    old = previous_version or previous.version
    kind, reasons = diff.required_bump(diff.diff(previous, new))
    if check is not None:
        versions.check_tag(old, check, kind)
    return NextVersion(versions.bump(old, kind), old, kind, tuple(reasons))


def release_repo(repo: str | None) -> str:
    """The repository whose releases are the registry, or ReleaseError saying how to name it."""
    if not repo:
        raise ReleaseError("no repository to release to: set registry.github_repo in params.yaml or pass --repo")
    return repo


def release_version(bundle_folder: Path, project_version: str) -> str:
    """The version being released: what a bundle made elsewhere (retraining) says, else pyproject.toml's.

    Reads the lineage only: the preflight needs no bundle, and `plan` verifies the bundle in full.
    """
    lineage = bundle_folder / layout.LINEAGE
    return str(read_json(lineage).get("version")) if lineage.is_file() else project_version


def tagged_bundle(dist: Path, root: Path, tag: str) -> Path:
    """dist/<project>-<version of the tag>: the bundle a release of that tag publishes."""
    from ..bundle.lineage import bundle_name

    version = versions.normalize_version(tag) if versions.is_version(tag) else tag  # the checks name a bad tag
    return dist / bundle_name(root, version)


def preflight(version: str, tag: str, repo: str, backend: GitHubReleases | None = None) -> GitHubReleases:
    """The checks that need no bundle: the tag is v<version>, the repository is the registry, no such release yet."""
    if not versions.is_version(tag):
        raise ReleaseError(f"tag {tag!r} is not a release tag: use v<major>.<minor>.<patch>, e.g. v{version}")
    tagged = versions.normalize_version(tag)
    if tag != f"v{tagged}" or tagged != version:
        raise ReleaseError(
            f"tag {tag} does not match the project version {version} (pyproject.toml [project] version): "
            f"tag v{version}, or set the version to {tagged} and tag again"
        )
    running_in = os.environ.get("GITHUB_REPOSITORY")
    if running_in and running_in.lower() != repo.lower():
        raise ReleaseError(
            f"this workflow runs in {running_in}, but params.yaml registry.github_repo is {repo}: "
            "set registry.github_repo to the repository that holds the releases"
        )
    backend = backend or GitHubReleases(repo)
    if backend.has_release(version):
        raise ReleaseError(
            f"{repo} already has a release {tag}; releases are never overwritten: "
            "bump the version in pyproject.toml and tag again"
        )
    return backend


RUNTIME_REQUIREMENTS = "requirements.txt"


def runtime_assets(folder: Path, distribution: str, version: str) -> tuple[Path, Path]:
    """The runtime wheel and its requirements in `folder` (dist/wheel/, `make wheel`); else ReleaseError."""
    import re
    import zipfile

    rebuild = "run `make wheel` (it rebuilds dist/wheel/ from this commit)"
    if not folder.is_dir():
        raise ReleaseError(f"no runtime wheel: {folder} does not exist; {rebuild}")
    wheels = sorted(folder.glob("*.whl"))
    stem = f"{re.sub(r'[-_.]+', '_', distribution).lower()}-{version}-"  # the wheel's file name (PEP 427)
    if len(wheels) != 1 or not wheels[0].name.lower().startswith(stem):
        found = ", ".join(w.name for w in wheels) or "none"
        raise ReleaseError(f"{folder} must hold exactly one wheel {stem}*.whl (found: {found}); {rebuild}")
    requirements = folder / RUNTIME_REQUIREMENTS
    if not requirements.is_file():
        raise ReleaseError(f"{requirements} is missing; {rebuild}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            broken = wheel.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise ReleaseError(f"{wheels[0]}: not a wheel ({error}); {rebuild}") from None
    if broken is not None:
        raise ReleaseError(f"{wheels[0]}: {broken} is corrupt; {rebuild}")
    return wheels[0], requirements


def plan(
    bundle_folder: Path,
    tag: str,
    repo: str,
    backend: GitHubReleases | None = None,
    signer: Signer | None = None,
    runtime: tuple[Path, Path] | None = None,
) -> ReleasePlan:
    """Check everything a release needs; raise ReleaseError naming the first problem. With a `signer`
    (registry.signer), the bundle must carry that signer's bundle.sig (`make sign`); `runtime` (the wheel and
    its requirements, from `runtime_assets`) is published with it."""
    from ..bundle.verify import verify

    if not bundle_folder.is_dir():
        raise ReleaseError(f"no bundle at {bundle_folder}: run `make pipeline` (or `bundle`) first")
    bundle = verify(bundle_folder, signer=signer).bundle
    # the previous release is only compared with (the bump): it is checked as a bundle, but may predate signing
    backend = preflight(bundle.version, tag, repo, backend)
    previous = backend.latest_or_none()
    if previous is None:
        found = next_version(bundle, None)
    else:
        with tempfile.TemporaryDirectory(prefix="release-previous-") as cache:
            try:
                found = next_version(bundle, backend.fetch(previous, Path(cache), compare_only=True), tag, previous)
            except RegistryError as error:
                raise ReleaseError(str(error)) from None
    from ..bundle.tarball import check_tarball

    try:
        tarball = check_tarball(bundle.folder)
    except VerificationError as error:
        raise ReleaseError(str(error)) from None
    listed = sorted(p for p in bundle.folder.iterdir() if p.is_file() and not p.name.startswith("."))
    assets = (*listed, tarball, bundle.tarball_checksum, *(runtime or ()))
    return ReleasePlan(repo, tag, bundle.version, bundle.folder, assets, found.previous, found.bump, found.reasons)


def publish(release: ReleasePlan) -> None:
    """Create the GitHub Release with `gh` (GH_TOKEN must be set, as in the release workflow)."""
    gh.require("write releases", ReleaseError)
    gh.run_visible(release.command()[1:], ReleaseError)


def create_tag(repo: str, tag: str, sha: str | None = None) -> str:
    """Create the tag on GitHub at `sha` ($GITHUB_SHA) unless it exists; `gh release create --verify-tag` needs it."""
    sha = sha or os.environ.get("GITHUB_SHA")
    if not sha:
        raise ReleaseError("set GITHUB_SHA to the commit the tag should point at (Actions sets it)")
    gh.require("create tags", ReleaseError)
    points_at = gh.tag_commit(repo, tag, ReleaseError)
    if points_at is not None:
        if points_at != sha:
            raise ReleaseError(
                f"tag {tag} already exists in {repo} on another commit ({points_at[:12]}, not {sha[:12]}): "
                "delete the stale tag or release the next version"
            )
        return f"tag {tag} already exists in {repo} on {sha[:12]}"
    gh.create_tag(repo, tag, sha, ReleaseError)
    return f"{CREATED} {tag} at {sha[:12]} in {repo}"


CREATED = "created tag"


def on_default_branch(repo: str, sha: str, default_branch: str) -> str:
    """Refuse to release a pushed tag whose commit is not on the default branch (reviewed code only)."""
    if not default_branch or not sha:
        raise ReleaseError("set DEFAULT_BRANCH and GITHUB_SHA (the release workflow passes both) to check a pushed tag")
    gh.require("compare commits", ReleaseError)
    status = gh.compare_status(repo, default_branch, sha, ReleaseError)
    if status not in ("identical", "behind"):
        raise ReleaseError(
            f"the tagged commit {sha[:12]} is not on the default branch {default_branch} ({status}): releases are "
            f"made from commits of {default_branch} only; merge it, then tag the merged commit"
        )
    return f"the tagged commit {sha[:12]} is on {default_branch}"


def remove_tag(repo: str, tag: str, sha: str | None = None) -> str:
    """After a failed release: remove the tag this run created, so the version can be released again.

    Only a tag on this run's commit ($GITHUB_SHA) with no release is removed; any other is left alone."""
    sha = sha or os.environ.get("GITHUB_SHA")
    if not sha:
        raise ReleaseError("set GITHUB_SHA to the commit the tag was created at (Actions sets it)")
    gh.require("delete tags", ReleaseError)
    points_at = gh.tag_commit(repo, tag, ReleaseError)
    if points_at is None:
        return f"no tag {tag} in {repo}: nothing to remove"
    if points_at != sha:
        return f"tag {tag} points at {points_at[:12]}, not this run's {sha[:12]}: left alone"
    if GitHubReleases(repo).has_release(versions.normalize_version(tag)):
        return f"{repo} has a release {tag}: its tag stays"
    gh.delete_tag(repo, tag, ReleaseError)
    return f"removed tag {tag} (no release was made): the version can be released again"
