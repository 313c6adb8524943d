"""The one model-health issue: opened once, then commented on (against a `gh` that records its calls)."""

import json


def test_the_issue_is_opened_once_then_commented(tmp_path, monkeypatch):
    from modelkeel.github import issue

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


def test_a_report_longer_than_an_issue_is_cut_at_a_line_with_a_note():
    from modelkeel.github.issue import BODY_LIMIT, fit_body

    short = "## Retraining: refused\n\n| a | b |\n"
    assert fit_body(short) == short
    long = "".join(f"| batch_{i}.csv | column | check | 1 | row {i}: 'x' |\n" for i in range(5_000))
    cut = fit_body(long)
    assert len(cut) <= BODY_LIMIT < len(long)
    body, note = cut.rsplit("\n\n_The report was cut here", 1)
    assert long.startswith(body) and body.endswith("|"), "cut at the end of a line"
    assert f"of {len(long)} characters" in note and "retrain-report" in note


def test_the_body_posted_is_the_cut_report(tmp_path, monkeypatch):
    from modelkeel.github import issue

    posted = tmp_path / "posted.md"
    gh = tmp_path / "gh"
    script = """#!/bin/sh
if [ "$1 $2" = "issue list" ]; then echo '[]'; fi
if [ "$1 $2" = "issue create" ]; then
  while [ $# -gt 0 ]; do if [ "$1" = "--body-file" ]; then cp "$2" POSTED; fi; shift; done
  echo https://github.com/o/r/issues/8
fi
"""
    gh.write_text(script.replace("POSTED", str(posted)))
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("GH_TOKEN", "t")
    report = tmp_path / "report.md"
    report.write_text("x\n" * 40_000)
    issue.report("o/r", "model-health", report)
    assert len(posted.read_text()) <= issue.BODY_LIMIT and "was cut here" in posted.read_text()
