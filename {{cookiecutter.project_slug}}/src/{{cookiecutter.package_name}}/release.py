"""Stage 7: publish a verified bundle as a GitHub Release, the model registry.

`preflight` runs the checks that need no bundle (before the pipeline spends minutes on one), and
`plan` runs every check before anything is published, so a refused release leaves no trace:

- the bundle passes `verify` (checksums, ONNX model, schema, example predictions);
- the tag is `v<version>` of the project version that built the bundle (pyproject.toml);
- the workflow runs in the repository that params.yaml names as the registry;
- no release of that tag exists (releases are never overwritten);
- the tag is above the latest release and does not understate the bump the changes need.

`publish` then runs `gh release create <tag> <every bundle file> <tarball> --verify-tag
--notes-file model_card.md`, so each file is its own asset next to the tarball and SHA256SUMS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import versioning
from .errors import PipelineError
from .registry import GitHubReleases, RegistryError, normalize_version


class ReleaseError(PipelineError):
    """The release was refused before anything was published."""


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
            str(self.bundle / "model_card.md"),
        ]

    def describe(self) -> str:
        since = f"{self.bump} bump from v{self.previous}" if self.previous else "first release"
        lines = [f"release {self.tag} of {self.repo} ({since}):"]
        lines += [f"  - {r}" for r in self.reasons]
        lines.append(f"  assets ({len(self.assets)}): " + ", ".join(a.name for a in self.assets))
        return "\n".join(lines)


def preflight(version: str, tag: str, repo: str, backend: GitHubReleases | None = None) -> GitHubReleases:
    """The checks that need no bundle: the tag is v<version>, the repository is the registry, no such release yet."""
    try:
        tagged = normalize_version(tag)
    except RegistryError:
        raise ReleaseError(f"tag {tag!r} is not a release tag: use v<major>.<minor>.<patch>, e.g. v{version}") from None
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


def plan(bundle: Path, tag: str, repo: str, backend: GitHubReleases | None = None) -> ReleasePlan:
    """Check everything a release needs; raise ReleaseError naming the first problem."""
    from .pipeline import run_verify

    if not bundle.is_dir():
        raise ReleaseError(f"no bundle at {bundle}: run `make pipeline` (or `bundle`) first")
    run_verify(bundle)
    version = json.loads((bundle / "lineage.json").read_text(encoding="utf-8"))["version"]
    backend = preflight(version, tag, repo, backend)
    try:
        previous = backend.latest()
    except RegistryError as error:
        if "no published release" not in str(error):
            raise
        previous, bump, reasons = None, None, ("no earlier release",)
    else:
        with tempfile.TemporaryDirectory(prefix="release-previous-") as cache:
            old = versioning.read_bundle(backend.fetch(previous, Path(cache)))
        bump, why = versioning.required_bump(versioning.diff(old, versioning.read_bundle(bundle)))
        try:
            versioning.check_tag(previous, tag, bump)
        except RegistryError as error:
            raise ReleaseError(str(error)) from None
        reasons = tuple(why)
    assets = (*sorted(p for p in bundle.iterdir() if p.is_file()), _tarball(bundle))
    return ReleasePlan(repo, tag, version, bundle, assets, previous, bump, reasons)


def publish(release: ReleasePlan) -> None:
    """Create the GitHub Release with `gh` (GH_TOKEN must be set, as in the release workflow)."""
    if shutil.which("gh") is None:
        raise ReleaseError("the GitHub CLI `gh` is not on PATH: install it (https://cli.github.com) to publish")
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        raise ReleaseError("set GH_TOKEN to a token that can write releases (the release workflow passes it)")
    result = subprocess.run(release.command(), check=False)
    if result.returncode != 0:
        raise ReleaseError(
            f"`gh release create {release.tag}` failed (exit {result.returncode}); see its message above"
        )


def create_tag(repo: str, tag: str, sha: str | None = None) -> str:
    """Create the tag on GitHub at `sha` ($GITHUB_SHA) unless it exists; `gh release create --verify-tag` needs it."""
    sha = sha or os.environ.get("GITHUB_SHA")
    if not sha:
        raise ReleaseError("set GITHUB_SHA to the commit the tag should point at (Actions sets it)")
    if shutil.which("gh") is None:
        raise ReleaseError("the GitHub CLI `gh` is not on PATH: install it (https://cli.github.com) to create tags")
    found = subprocess.run(["gh", "api", f"repos/{repo}/git/ref/tags/{tag}"], capture_output=True, text=True)
    if found.returncode == 0:
        points_at = json.loads(found.stdout or "{}").get("object", {}).get("sha")
        if points_at != sha:
            raise ReleaseError(
                f"tag {tag} already exists in {repo} on another commit ({str(points_at)[:12]}, not {sha[:12]}): "
                "delete the stale tag or release the next version"
            )
        return f"tag {tag} already exists in {repo} on {sha[:12]}"
    if "HTTP 404" not in found.stderr:
        raise ReleaseError(f"cannot look up the tag {tag} in {repo}: {found.stderr.strip()}")
    made = subprocess.run(
        ["gh", "api", "--method", "POST", f"repos/{repo}/git/refs", "-f", f"ref=refs/tags/{tag}", "-f", f"sha={sha}"],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise ReleaseError(f"cannot create the tag {tag} in {repo}: {made.stderr.strip()}")
    return f"created tag {tag} at {sha[:12]} in {repo}"


def _tarball(bundle: Path) -> Path:
    tarball = bundle.with_name(f"{bundle.name}.tar.gz")
    if not tarball.is_file():
        raise ReleaseError(f"{tarball} is missing: rebuild the bundle with `make bundle`")
    return tarball
