"""The one GitHub issue the retraining loop keeps: found by its label, created once, then commented on.

A refused batch or a challenger that did not win is news a person should read, but a new issue
per scheduled run would bury it, so the loop looks for an open issue with `retrain.issue_label`
and comments on it; only when there is none does it open one. Uses the GitHub CLI (`gh`) with
GH_TOKEN, as the retraining workflow provides them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import IssueError
from . import gh

TITLE = "Model health: the retraining loop needs attention"


def report(repo: str, label: str, body_file: Path) -> str:
    """Comment on the open issue labelled `label`, or open it; return its URL or number."""
    gh.require("write issues", IssueError)
    gh.run(
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
        error=IssueError,
    )
    listed = gh.run(
        "issue",
        "list",
        "--repo",
        repo,
        "--label",
        label,
        "--state",
        "open",
        "--json",
        "number",
        "--limit",
        "1",
        error=IssueError,
    )
    found = json.loads(listed or "[]")
    if found:
        number = str(found[0]["number"])
        gh.run("issue", "comment", number, "--repo", repo, "--body-file", str(body_file), error=IssueError)
        return f"commented on #{number}"
    url = gh.run(
        "issue",
        "create",
        "--repo",
        repo,
        "--title",
        TITLE,
        "--label",
        label,
        "--body-file",
        str(body_file),
        error=IssueError,
    )
    return f"opened {url.strip()}"
