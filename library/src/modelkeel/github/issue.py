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
BODY_LIMIT = 65_536  # characters GitHub accepts in an issue body or comment
TRUNCATED = "\n\n_The report was cut here to fit an issue ({shown} of {total} characters): the run's `retrain-report` artifact holds all of it._\n"


def fit_body(text: str, limit: int = BODY_LIMIT) -> str:
    """The report as it fits an issue: whole when short enough, else cut at a line with a note saying so."""
    if len(text) <= limit:
        return text
    room = limit - len(TRUNCATED.format(shown=limit, total=len(text)))
    cut = text.rfind("\n", 0, room)
    kept = text[: cut if cut > 0 else room]
    return kept + TRUNCATED.format(shown=len(kept), total=len(text))


def report(repo: str, label: str, body_file: Path) -> str:
    """Comment on the open issue labelled `label`, or open it; return its URL or number.

    The body is the loop's report.md, cut to GitHub's limit (the values in it are escaped where
    the report is written, loop/report.py)."""
    import tempfile

    gh.require("write issues", IssueError)
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "body.md"
        body.write_text(fit_body(body_file.read_text(encoding="utf-8")), encoding="utf-8")
        return _post(repo, label, body)


def _post(repo: str, label: str, body_file: Path) -> str:
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
