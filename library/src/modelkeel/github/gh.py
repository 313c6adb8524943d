"""The GitHub CLI (`gh`), as the workflows provide it with GH_TOKEN: releases, tags and issues are made through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ..errors import GitHubError


def require(purpose: str, error: type[GitHubError] | type[Exception] = GitHubError) -> None:
    """`gh` is on PATH and a token is set, or `error` saying how to get there."""
    if shutil.which("gh") is None:
        raise error(f"the GitHub CLI `gh` is not on PATH: install it (https://cli.github.com) to {purpose}")
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        raise error(f"set GH_TOKEN to a token that can {purpose} (the workflow passes it)")


def run(*args: str, error: type[Exception] = GitHubError) -> str:
    """Run `gh ARGS`; its standard output, or `error` with gh's own message."""
    done = subprocess.run(["gh", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise error(f"`gh {' '.join(args[:3])}` failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def run_visible(args: list[str], error: type[Exception] = GitHubError) -> None:
    """Run `gh ARGS` with its output shown to the user (long uploads report their progress)."""
    done = subprocess.run(["gh", *args], check=False)
    if done.returncode != 0:
        raise error(f"`gh {' '.join(args[:3])}` failed (exit {done.returncode}); see its message above")


def tag_commit(repo: str, tag: str, error: type[Exception] = GitHubError) -> str | None:
    """The commit the tag points at in the repository on GitHub, or None when there is no such tag.

    Asks for the refs matching the tag (always a list, empty when there is none) rather than the
    one ref, whose absence gh reports only as an error message.
    """
    refs = json.loads(run("api", f"repos/{repo}/git/matching-refs/tags/{tag}", error=error) or "[]")
    if not isinstance(refs, list):
        raise error(f"GitHub answered the tags of {repo} with {type(refs).__name__}, not a list")
    for ref in refs:
        if isinstance(ref, dict) and ref.get("ref") == f"refs/tags/{tag}":
            target = ref.get("object") or {}
            return str(target.get("sha")) if isinstance(target, dict) else None
    return None


def create_tag(repo: str, tag: str, sha: str, error: type[Exception] = GitHubError) -> None:
    run(
        "api",
        "--method",
        "POST",
        f"repos/{repo}/git/refs",
        "-f",
        f"ref=refs/tags/{tag}",
        "-f",
        f"sha={sha}",
        error=error,
    )


def delete_tag(repo: str, tag: str, error: type[Exception] = GitHubError) -> None:
    run("api", "--method", "DELETE", f"repos/{repo}/git/refs/tags/{tag}", error=error)


COMPARE_STATUSES = ("identical", "behind", "ahead", "diverged")


def compare_status(repo: str, base: str, head: str, error: type[Exception] = GitHubError) -> str:
    """How `head` relates to `base` on GitHub: identical, behind (an ancestor of base), ahead or diverged."""
    answer = json.loads(run("api", f"repos/{repo}/compare/{base}...{head}", error=error) or "{}")
    status = answer.get("status") if isinstance(answer, dict) else None
    if status not in COMPARE_STATUSES:
        raise error(f"GitHub compared {base}...{head} in {repo} with status {status!r}, not one of {COMPARE_STATUSES}")
    return str(status)
