"""The one model-health issue: opened once, then commented on (against a `gh` that records its calls)."""

import json


def test_the_issue_is_opened_once_then_commented(tmp_path, monkeypatch):
    from {{ cookiecutter.package_name }}.github import issue

    log, state = tmp_path / "calls.txt", tmp_path / "open.txt"
    gh = tmp_path / "gh"
    script = """#!/bin/sh
echo "$*" >> LOG
if [ "$1 $2" = "issue list" ]; then if [ -f STATE ]; then echo '[NUMBER]'; else echo '[]'; fi; fi
if [ "$1 $2" = "issue create" ]; then touch STATE; echo https://github.com/o/r/issues/7; fi
"""
    number = json.dumps(dict(number=7))
    gh.write_text(script.replace("LOG", str(log)).replace("STATE", str(state)).replace("NUMBER", number))
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("GH_TOKEN", "t")
    body = tmp_path / "report.md"
    body.write_text("report")
    assert issue.report("o/r", "model-health", body) == "opened https://github.com/o/r/issues/7"
    assert issue.report("o/r", "model-health", body) == "commented on #7"
    calls = log.read_text().splitlines()
    opened = [["label", "create"], ["issue", "list"], ["issue", "create"]]
    commented = [["label", "create"], ["issue", "list"], ["issue", "comment"]]
    assert [c.split()[:2] for c in calls] == [*opened, *commented]
