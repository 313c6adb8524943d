"""The one GitHub issue the retraining loop keeps: found by its label, created once, then commented on.

A refused batch or a challenger that did not win is news a person should read, but a new issue
per scheduled run would bury it, so the loop looks for an open issue with `retrain.issue_label`
and comments on it; only when there is none does it open one. Uses the GitHub CLI (`gh`) with
GH_TOKEN, as the retraining workflow provides them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .errors import PipelineError

TITLE = "Model health: the retraining loop needs attention"


class IssueError(PipelineError):
    """The issue could not be found, opened or commented on."""


def _gh(*args: str) -> str:
    done = subprocess.run(["gh", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise IssueError(f"`gh {' '.join(args[:3])}` failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def report(repo: str, label: str, body_file: Path) -> str:
    """Comment on the open issue labelled `label`, or open it; return its URL or number."""
    if shutil.which("gh") is None:
        raise IssueError("the GitHub CLI `gh` is not on PATH: install it (https://cli.github.com) to report issues")
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        raise IssueError("set GH_TOKEN to a token that can write issues (the retraining workflow passes it)")
    _gh(
        "label",
        "create",
        label,
        "--repo",
        repo,
        "--force",
        "--color",
        "D93F0B",
        "--description",
        "opened and updated by the retraining loop",
    )
    found = json.loads(
        _gh("issue", "list", "--repo", repo, "--label", label, "--state", "open", "--json", "number", "--limit", "1")
        or "[]"
    )
    if found:
        number = str(found[0]["number"])
        _gh("issue", "comment", number, "--repo", repo, "--body-file", str(body_file))
        return f"commented on #{number}"
    url = _gh("issue", "create", "--repo", repo, "--title", TITLE, "--label", label, "--body-file", str(body_file))
    return f"opened {url.strip()}"
