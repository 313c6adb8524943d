"""GitHub Actions: step outputs, job summaries and the schedule's keepalive."""

import pytest

from modelkeel.errors import GitHubError
from modelkeel.github.actions import (
    append_summary,
    write_outputs,
)


def test_step_outputs_are_key_value_lines_and_refuse_a_line_break(tmp_path):
    path = tmp_path / "GITHUB_OUTPUT"
    write_outputs(path, {"outcome": "promote", "version": "0.2.0"})
    write_outputs(path, {"bundle": ""})
    assert path.read_text() == "outcome=promote\nversion=0.2.0\nbundle=\n"
    with pytest.raises(GitHubError, match="one line"):
        write_outputs(path, {"outcome": "promote\nversion=9.9.9"})
    assert path.read_text().count("\n") == 3, "a refused value writes nothing"


def test_summaries_are_appended_as_sections(tmp_path):
    path = tmp_path / "GITHUB_STEP_SUMMARY"
    append_summary(path, "## one")
    append_summary(path, "## two\n")
    assert path.read_text() == "## one\n\n## two\n\n"


def test_keepalive_warns_before_github_pauses_the_schedule(tmp_path):
    import os
    import subprocess
    import time

    from modelkeel.github.actions import keepalive

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.x"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.x"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True, env=env)
    now = time.time()
    assert "stays active for about 60 more days" in keepalive(tmp_path, now)
    warning = keepalive(tmp_path, now + 50 * 86400)
    assert warning.startswith("::warning") and "50 days old" in warning and "about 10 days left" in warning
