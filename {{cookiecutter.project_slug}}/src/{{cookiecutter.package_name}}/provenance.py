"""Where a model came from: project version, git state and library versions."""

from __future__ import annotations

import platform
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "pandera", "pandas", "numpy")


def project_version(root: Path) -> str:
    """The version in pyproject.toml: the one number the bundle, the tag and the release share."""
    pyproject = root / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        from . import __version__

        return __version__


def project_name(root: Path) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def bundle_name(root: Path, version: str | None = None) -> str:
    """`<project name>-<version>` (default: pyproject's version): the bundle folder in dist/ and the tarball's stem."""
    return f"{project_name(root)}-{version or project_version(root)}"


def git_state(root: Path) -> dict:
    """The commit and whether the work tree had uncommitted changes; unknown outside a git repository."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown", "dirty": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def environment() -> dict:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


SCHEDULE_PAUSE_DAYS = 60  # GitHub disables scheduled workflows in repositories without activity this long
WARN_DAYS = 45


def keepalive(root: Path, now: float | None = None) -> str:
    """A line about the schedule: a GitHub `::warning::` when the last commit is WARN_DAYS old or more."""
    import subprocess
    import time

    done = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return "keepalive: not a git repository with commits: nothing to check"
    days = int(((now or time.time()) - int(done.stdout.strip())) // 86400)
    left = SCHEDULE_PAUSE_DAYS - days
    if days >= WARN_DAYS:
        return (
            f"::warning title=Schedule about to pause::the last commit is {days} days old; GitHub pauses scheduled "
            f"workflows after {SCHEDULE_PAUSE_DAYS} days without activity (about {max(left, 0)} days left). "
            "Push a commit, or re-enable the retrain workflow in the Actions tab once it is paused."
        )
    return f"keepalive: last commit {days} days ago; the schedule stays active for about {left} more days"
