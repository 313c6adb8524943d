"""The retraining loop's commands: retrain, retrain-issue, retrain-demo and keepalive."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import IssueError
from ..loop.outcome import Outcome
from ..utils.console import note, say
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    retrain = sub.add_parser(
        "retrain", help="the loop: ingest new batches, validate, monitor drift, decide, retrain, champion vs challenger"
    )
    retrain.add_argument("--force", action="store_true", help="train a challenger even without drift")
    retrain.add_argument(
        "--publish", action="store_true", help="publish a winning challenger to the fsspec registry (--url)"
    )
    retrain.add_argument(
        "--outputs", type=Path, metavar="PATH", help="append outcome=, version=, bundle= (GITHUB_OUTPUT)"
    )
    retrain.add_argument("--append", type=Path, metavar="PATH", help="append the report to PATH (a CI job summary)")
    retrain_issue = sub.add_parser(
        "retrain-issue",
        help="open or comment on the one labelled issue when the last loop refused or kept the champion",
    )
    sub.add_parser(
        "retrain-demo", help="three batches made from your data (unchanged, shifted, corrupted) through the loop"
    )
    sub.add_parser("keepalive", help="warn when GitHub is about to pause the schedule (60 days without a commit)")
    return [retrain, retrain_issue]


def retrain(ctx: Context) -> int:
    from ..github.actions import append_summary, write_outputs
    from ..loop.report import report_markdown
    from ..loop.run import publish_winner, step_outputs
    from ..loop.run import retrain as run
    from ..registry.folder import publishing_registry

    settings = ctx.settings
    registry = publishing_registry(ctx.backend, "--publish") if ctx.args.publish else None
    result = run(settings, ctx.backend, force=ctx.args.force)
    text = report_markdown(result, settings.quality.primary_metric)
    say(text)
    if ctx.args.outputs:
        write_outputs(ctx.args.outputs, step_outputs(settings, result))
    if ctx.args.append:
        append_summary(ctx.args.append, text)
    if registry is not None and (published := publish_winner(result, registry)):
        say(f"retrain: published {published}")
    if result.outcome is Outcome.NO_CHAMPION:  # a new repository: green, with the next step in the run's summary
        say(
            "::notice title=No model released yet::the retraining loop needs a champion: release v0.1.0 first "
            "(push the tag v0.1.0, see the README); this run changed nothing"
        )
    if result.outcome.fails_the_run:
        note("error: new data breaks the schema; rows are listed in the quarantine report above")
        return 1
    return 0


def retrain_issue(ctx: Context) -> int:
    from ..github import issue
    from ..loop.run import REPORT_FILE, last_outcome, state_dir

    settings = ctx.settings
    outcome = last_outcome(settings)
    if outcome is None:
        say("retrain-issue: no loop has run here (no artifacts/retrain/loop.json): nothing to report")
        return 0
    if not outcome.needs_attention:
        say(f"retrain-issue: outcome {str(outcome)!r} needs no one's attention: no issue touched")
        return 0
    repo = ctx.args.repo or settings.registry.github_repo
    if not repo:
        raise IssueError("no repository for the issue: set registry.github_repo in params.yaml or pass --repo")
    say(f"retrain-issue: {issue.report(repo, settings.retrain.issue_label, state_dir(settings) / REPORT_FILE)}")
    return 0


def retrain_demo(ctx: Context) -> int:
    from ..loop.demo import run_demo

    run_demo(ctx.settings)
    return 0


def keepalive(ctx: Context) -> int:
    from ..github.actions import keepalive as check

    say(check(ctx.settings.root))
    return 0


COMMANDS = {"retrain": retrain, "retrain-issue": retrain_issue, "retrain-demo": retrain_demo, "keepalive": keepalive}
