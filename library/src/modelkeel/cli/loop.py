"""The retraining loop's commands: retrain, retrain-issue, retrain-demo, keepalive, and `challenger` (the
challengers kept for a person: list, fetch, reject, released, comment)."""

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
    add_challenger_parser(sub)
    return [retrain, retrain_issue]


def add_challenger_parser(sub: argparse._SubParsersAction) -> None:
    challenger = sub.add_parser(
        "challenger", help="the challengers that wait for a person, kept in the data store: list, fetch, reject"
    )
    actions = challenger.add_subparsers(dest="challenger_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="the challengers that wait for a person")
    ref = "the challenger's version (0.2.0 or v0.2.0) or the id of the retraining run that kept it"
    outputs = {"type": Path, "metavar": "PATH", "help": "append version=, tag=, run= (GITHUB_OUTPUT)"}
    fetch = actions.add_parser("fetch", help="the kept challenger into dist/<name>-<version>/, checked and verified")
    fetch.add_argument("ref", help=ref)
    fetch.add_argument("--dest", type=Path, help="folder for the bundle (default: paths.dist)")
    fetch.add_argument(
        "--digest",
        help="the SHA256SUMS sha256 the loop reported for it (the one a person reviewed): any other bundle is refused",
    )
    fetch.add_argument("--outputs", **outputs)
    reject = actions.add_parser("reject", help="a person rejects it: its batches are recorded as judged")
    reject.add_argument("ref", help=ref)
    reject.add_argument("--outputs", **outputs)
    released = actions.add_parser("released", help="after its release: its batches are recorded as judged (approved)")
    released.add_argument("ref", help=ref)
    comment = actions.add_parser("comment", help="tell the model-health issue it was released (linked) or rejected")
    comment.add_argument("--decision", required=True, choices=["approved", "rejected"])
    comment.add_argument("--version", required=True, help="the challenger's version")
    comment.add_argument("--repo", help="GitHub OWNER/NAME (default: registry.github_repo in params.yaml)")


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
    if registry is not None and (published := publish_winner(ctx.settings, result, registry)):
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


def challenger(ctx: Context) -> int:
    from ..data.store import DataStore
    from ..github.actions import write_outputs
    from ..loop import approval

    args, settings = ctx.args, ctx.settings
    action = args.challenger_command
    if action == "comment":
        repo = args.repo or settings.registry.github_repo
        if not repo:
            raise IssueError("no repository for the issue: set registry.github_repo in params.yaml or pass --repo")
        version = approval.normalize_version(args.version)
        say(f"challenger: {approval.comment(repo, settings.retrain.issue_label, args.decision, version)}")
        return 0
    store = DataStore(settings.data_store_url)
    if action == "list":
        unreadable: list[str] = []
        say(approval.listing(approval.pending(store, unreadable), unreadable))
        return 1 if unreadable else 0  # the others are listed; a broken record still needs a person
    if action == "fetch":
        record, bundle = approval.fetch_challenger(store, args.ref, args.dest or settings.dist_dir, args.digest)
        say(f"challenger: {record['version']} fetched from {store.url} into {bundle.folder}, verified")
    elif action == "reject":
        record = approval.reject(store, args.ref)
    else:
        record = approval.released(store, args.ref)
    if getattr(args, "outputs", None):
        values = {"version": record["version"], "tag": f"v{record['version']}", "run": record.get("run") or ""}
        write_outputs(args.outputs, values)
    return 0


COMMANDS = {
    "retrain": retrain,
    "retrain-issue": retrain_issue,
    "retrain-demo": retrain_demo,
    "keepalive": keepalive,
    "challenger": challenger,
}
