"""GitHub Actions: step outputs (`GITHUB_OUTPUT`), job summaries (`GITHUB_STEP_SUMMARY`) and the schedule's keepalive.

The CLI takes the file paths as flags (`--outputs`, `--append`), which the Makefile fills from
the variables Actions sets; the same commands run unchanged on a laptop.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from ..errors import GitHubError

SCHEDULE_PAUSE_DAYS = 60  # GitHub disables scheduled workflows in repositories without activity this long
WARN_DAYS = 45


def write_outputs(path: Path, values: dict[str, str]) -> None:
    """Append `key=value` lines to a step-outputs file; a value holding a line break is refused."""
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise GitHubError(f"step output {key}: a value must be one line, got {value!r}")
    with path.open("a", encoding="utf-8") as outputs:
        outputs.write("".join(f"{key}={value}\n" for key, value in values.items()))


def append_summary(path: Path, markdown: str) -> None:
    """Append markdown to a job summary file (a blank line keeps sections apart)."""
    with path.open("a", encoding="utf-8") as summary:
        summary.write(markdown.rstrip("\n") + "\n\n")


def keepalive(root: Path, now: float | None = None) -> str:
    """A line about the schedule: a GitHub `::warning::` when the last commit is WARN_DAYS old or more."""
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
