"""Command line: parses arguments and calls one stage. `python -m <package>` and the console script both land here."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from .errors import PipelineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=__package__,
        description="Validate, train, evaluate, export (with the parity gate), bundle, verify, release and serve the model.",
    )
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", help="check the data against its pandera schema")
    sub.add_parser("train", help="validate, then fit the model (deterministic, seed from params)")
    sub.add_parser("evaluate", help="metrics.json (train/test, slices, baseline), plots, quality gate")
    sub.add_parser("export", help="convert to ONNX and run the parity gate against scikit-learn")
    sub.add_parser("bundle", help="write the checksummed release bundle to dist/")
    sub.add_parser("pipeline", help="validate -> train -> evaluate -> export -> bundle -> verify")
    report = sub.add_parser("report", help="print the last metrics and quality gates as markdown tables")
    report.add_argument(
        "--against", metavar="REF", help="also compare with a bundle folder or release (latest, vX.Y.Z)"
    )
    report.add_argument("--append", metavar="PATH", type=Path, help="append the report to PATH (a CI job summary)")
    bench = sub.add_parser(
        "bench", help="serving speed (onnxruntime vs scikit-learn), validation and hashing throughput"
    )
    bench.add_argument("--rows", default="1,100,10000,100000", help="batch sizes, comma-separated")
    bench.add_argument(
        "--validation-rows", type=int, default=1_000_000, help="rows for the validation and hashing runs"
    )
    bench.add_argument("--budget", type=float, default=3.0, help="seconds spent timing each figure (default 3)")
    verify = sub.add_parser("verify", help="re-check a bundle's checksums, model, schema and example predictions")
    verify.add_argument("bundle", nargs="?", type=Path, help="bundle folder (default: this version's bundle in dist/)")
    predict = sub.add_parser("predict", help="score a CSV/Parquet file with a bundle (onnxruntime only)")
    predict.add_argument("--bundle", required=True, type=Path, help="bundle folder")
    predict.add_argument("--input", required=True, type=Path, help="CSV or Parquet file with the input columns")
    predict.add_argument("--output", required=True, type=Path, help="where to write predictions (.csv or .parquet)")
    infer = sub.add_parser("infer-schema", help="write a schema for your own data and point params.yaml at it")
    infer.add_argument("path", type=Path, help="CSV or Parquet file")
    infer.add_argument("--target", required=True, help="column to predict")
    infer.add_argument("--name", help="schema module name (default: from the file name)")
    infer.add_argument("--force", action="store_true", help="replace an existing schema module of that name")

    lineage = sub.add_parser("lineage", help="print which code, data, params and environment made a bundle")
    lineage.add_argument("bundle", nargs="?", help="bundle folder or released version (default: this version's bundle)")
    lineage.add_argument("--json", action="store_true", help="print lineage.json as is")
    diff = sub.add_parser("diff", help="compare two bundles or releases: params, data, metrics, signature")
    diff.add_argument("old", help="bundle folder or released version (vX.Y.Z, latest)")
    diff.add_argument("new", help="bundle folder or released version")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    nxt = sub.add_parser("next-version", help="the next semantic version for a bundle, from the previous release")
    nxt.add_argument("--bundle", help="the new bundle folder (default: this version's bundle in dist/)")
    nxt.add_argument("--previous", help="previous bundle folder or version (default: the latest release)")
    nxt.add_argument("--check", metavar="TAG", help="exit 1 if TAG understates the required bump")
    download = sub.add_parser("download", help="fetch a released bundle, verify SHA256SUMS, cache it by version")
    download.add_argument("--version", default="latest", help="latest (default) or X.Y.Z / vX.Y.Z")
    download.add_argument("--dest", type=Path, help="cache folder (default: ~/.cache/<package>/registry)")
    listing = sub.add_parser("list", help="the released versions, oldest first")
    publish = sub.add_parser("publish", help="copy a verified bundle into an fsspec registry as <url>/<version>/")
    publish.add_argument("bundle", nargs="?", help="bundle folder (default: this version's bundle in dist/)")
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
    sub.add_parser("retrain-demo", help="play data/batches/ through the loop against a local registry")
    sub.add_parser("keepalive", help="warn when GitHub is about to pause the schedule (60 days without a commit)")
    release = sub.add_parser("release", help="check, then publish this bundle as a GitHub Release with `gh`")
    release.add_argument("--tag", required=True, help="the git tag to release, v<project version>")
    release.add_argument("--bundle", type=Path, help="bundle folder (default: dist/<project>-<version of the tag>)")
    release.add_argument("--dry-run", action="store_true", help="run every check and print the plan; publish nothing")
    release.add_argument(
        "--preflight",
        action="store_true",
        help="only the checks that need no bundle (tag, repository, existing release)",
    )
    release.add_argument(
        "--create-tag",
        action="store_true",
        help="create the tag on GitHub at $GITHUB_SHA if it does not exist (gh api)",
    )
    for command in (lineage, diff, nxt, download, listing, publish, report, release, retrain, retrain_issue):
        command.add_argument("--repo", help="GitHub OWNER/NAME (default: registry.github_repo in params.yaml)")
        command.add_argument("--url", help="fsspec registry URL (default: registry.url in params.yaml)")
    return parser


def _settings(args: argparse.Namespace):
    from .settings import load_settings

    return load_settings(args.params)


def _default_bundle(args: argparse.Namespace) -> Path:
    from .provenance import bundle_name

    settings = _settings(args)
    return settings.dist_dir / bundle_name(settings.root)


def _backend(args: argparse.Namespace):
    from .registry import backend_for

    repo, url = getattr(args, "repo", None), getattr(args, "url", None)
    if not repo and not url and args.params.is_file():
        registry = _settings(args).registry
        repo, url = registry.github_repo, registry.url
    return backend_for(repo, url)


def _tagged_bundle(settings, tag: str) -> Path:
    """dist/<project>-<version of the tag>: the bundle a release of that tag publishes."""
    from .provenance import bundle_name
    from .registry import RegistryError, normalize_version

    try:
        version = normalize_version(tag)
    except RegistryError:
        version = tag  # the release checks name the bad tag
    return settings.dist_dir / bundle_name(settings.root, version)


def _fetch(args: argparse.Namespace, version: str) -> Path:
    """A released version, verified, from the cache (--dest, or one folder per registry in ~/.cache)."""
    from .registry import default_cache_dir

    backend = _backend(args)
    cache = getattr(args, "dest", None) or default_cache_dir(__package__) / backend.cache_key
    return backend.fetch(version, cache)


def _bundle_or_release(args: argparse.Namespace, ref: str | None) -> Path:
    """A bundle folder given as a path, or a released version fetched (and verified) from the registry."""
    if ref is None:
        return _default_bundle(args)
    if Path(ref).is_dir():
        return Path(ref)
    return _fetch(args, ref)


def _comparison(args: argparse.Namespace) -> tuple[str, dict] | str:
    """(label, metrics) of the bundle or release to compare with, or a note saying why there is none.

    The report informs and never blocks: a registry that cannot be read becomes a visible note.
    """
    from .registry import RegistryError

    try:
        folder = _bundle_or_release(args, args.against)
        lineage = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except RegistryError as error:
        if "no published release" in str(error):
            return "No published release yet: nothing to compare with."
        print(f"report: no comparison: {error}", file=sys.stderr)
        return f"Comparison with {args.against} unavailable: {error}"
    label = f"release v{lineage['version']}" if not Path(args.against).is_dir() else str(args.against)
    return label, metrics


def run_retrain(args: argparse.Namespace, settings) -> int:
    from . import retrain
    from .console import say
    from .registry import FolderRegistry, RegistryError

    backend = _backend(args)
    try:
        version = backend.latest()
    except RegistryError as error:
        if "no published release" not in str(error):
            raise
        champion = version = None
    else:
        champion = _fetch(args, version)
    loop = retrain.run_loop(settings, champion, version, force=args.force)
    text = (retrain.state_dir(settings) / retrain.REPORT_FILE).read_text(encoding="utf-8")
    say(text)
    bundle = loop.challenger.get("bundle", "")
    if args.outputs:
        with args.outputs.open("a", encoding="utf-8") as outputs:
            shown = os.path.relpath(bundle, settings.root) if bundle else ""
            outputs.write(f"outcome={loop.outcome}\nversion={loop.challenger.get('version', '')}\nbundle={shown}\n")
    if args.append:
        with args.append.open("a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    if loop.outcome == "promote" and args.publish:
        if not isinstance(backend, FolderRegistry):
            raise RegistryError("--publish writes to an fsspec registry (--url); on GitHub the workflow releases it")
        say(f"retrain: published {backend.publish(Path(bundle), loop.challenger['version'])}")
    if loop.outcome == "refused":
        print("error: new data breaks the schema; rows are listed in the quarantine report above", file=sys.stderr)
        return 1
    return 0


def run_retrain_issue(args: argparse.Namespace, settings) -> int:
    from . import issues, retrain
    from .console import say

    state = retrain.state_dir(settings)
    loop_file = state / retrain.LOOP_FILE
    if not loop_file.is_file():
        say("retrain-issue: no loop has run here (no artifacts/retrain/loop.json): nothing to report")
        return 0
    outcome = json.loads(loop_file.read_text(encoding="utf-8"))["outcome"]
    if outcome not in ("refused", "keep-champion", "error", ""):
        say(f"retrain-issue: outcome {outcome!r} needs no one's attention: no issue touched")
        return 0
    repo = args.repo or settings.registry.github_repo
    if not repo:
        raise issues.IssueError("no repository for the issue: set registry.github_repo in params.yaml or pass --repo")
    say(f"retrain-issue: {issues.report(repo, settings.retrain.issue_label, state / retrain.REPORT_FILE)}")
    return 0


def run_registry_command(args: argparse.Namespace) -> int:
    from . import versioning
    from .console import say
    from .registry import FolderRegistry, RegistryError

    if args.command == "lineage":
        folder = _bundle_or_release(args, args.bundle)
        say((folder / "lineage.json").read_text().rstrip() if args.json else versioning.format_lineage(folder))
    elif args.command == "diff":
        changes = versioning.diff(
            versioning.read_bundle(_bundle_or_release(args, args.old)),
            versioning.read_bundle(_bundle_or_release(args, args.new)),
        )
        say(json.dumps(changes, indent=2) if args.json else versioning.format_diff(changes))
    elif args.command == "next-version":
        new = versioning.read_bundle(_bundle_or_release(args, args.bundle))
        try:
            previous_folder = _bundle_or_release(args, args.previous or "latest")
        except RegistryError as error:
            if args.previous or "no published" not in str(error):
                raise
            version = new["lineage"]["version"]
            if args.check and versioning.normalize_version(args.check) != version:
                raise RegistryError(
                    f"{args.check} is not the project version {version} of this first release"
                ) from None
            say(version)
            print(f"next-version: no release yet; the first release is the project version {version}", file=sys.stderr)
            return 0
        previous = versioning.read_bundle(previous_folder)
        kind, reasons = versioning.required_bump(versioning.diff(previous, new))
        old_version = previous["lineage"]["version"]
        if args.check:
            versioning.check_tag(old_version, args.check, kind)
        say(versioning.bump(old_version, kind))
        print(f"next-version: {kind} bump from {old_version}: {'; '.join(reasons)}", file=sys.stderr)
    elif args.command == "download":
        folder = _fetch(args, args.version)
        say(f"download: verified {folder}")
    elif args.command == "list":
        for version in _backend(args).versions():
            say(version)
    elif args.command == "publish":
        backend = _backend(args)
        if not isinstance(backend, FolderRegistry):
            raise RegistryError(
                "publish writes to an fsspec registry (--url); GitHub releases are made by the release workflow"
            )
        from .pipeline import run_verify

        folder = _bundle_or_release(args, args.bundle)
        run_verify(folder)
        version = json.loads((folder / "lineage.json").read_text())["version"]
        say(f"publish: {folder} -> {backend.publish(folder, version)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from . import pipeline
    from .console import say

    if args.command == "predict":
        from .predict import predict

        rows = predict(args.bundle, args.input, args.output)
        say(f"predict: scored {rows} rows with {args.bundle} -> {args.output}")
        return 0
    if args.command == "verify":
        pipeline.run_verify(args.bundle or _default_bundle(args))
        return 0
    if args.command in ("lineage", "diff", "next-version", "download", "list", "publish"):
        return run_registry_command(args)

    settings = _settings(args)
    if args.command == "report":
        compared = _comparison(args) if args.against else None
        pipeline.run_report(settings, compared, args.append)
        return 0
    if args.command == "retrain":
        return run_retrain(args, settings)
    if args.command == "retrain-issue":
        return run_retrain_issue(args, settings)
    if args.command == "retrain-demo":
        from .demo import run_demo

        run_demo(settings)
        return 0
    if args.command == "keepalive":
        from .provenance import keepalive

        say(keepalive(settings.root))
        return 0
    if args.command == "release":
        from . import release

        repo = args.repo or settings.registry.github_repo
        bundle = args.bundle or _tagged_bundle(settings, args.tag)
        if args.preflight:
            from .provenance import project_version

            # the version being released: a bundle made elsewhere (retraining) says it; else pyproject.toml
            lineage = bundle / "lineage.json"
            version = (
                json.loads(lineage.read_text())["version"] if lineage.is_file() else project_version(settings.root)
            )
            release.preflight(version, args.tag, repo)
            say(f"release: {args.tag} can be released to {repo} (version {version}, no release of it yet)")
            return 0
        if args.create_tag:  # every check of the release first, so a refused release leaves no tag behind
            say(release.plan(bundle, args.tag, repo).describe())
            say(f"release: {release.create_tag(repo, args.tag)}")
            return 0
        plan = release.plan(bundle, args.tag, repo)
        say(plan.describe())
        if args.dry_run:
            say("release: dry run, nothing published. Would run: " + shlex.join(plan.command()))
            return 0
        release.publish(plan)
        say(f"release: published {plan.tag} to {plan.repo}")
        return 0
    if args.command == "bench":
        from .bench import format_report, run_bench
        from .data import read_table, resolve_files

        sizes = [int(n) for n in args.rows.split(",") if n.strip()]
        raw, _ = read_table(resolve_files(settings.data.path, settings.root))  # as a consumer's data arrives
        report = run_bench(settings, raw, sizes, args.validation_rows, args.budget)
        say(format_report(report))
        say(f"bench: results in {settings.artifacts_dir / 'bench.json'}")
        return 0
    if args.command == "infer-schema":
        from .infer_schema import infer_schema

        module, plans = infer_schema(settings, args.params, args.path, args.target, args.name, args.force)
        say(f"infer-schema: wrote {module}")
        for p in plans:
            say(
                f"  {p.name}: {p.dtype}{' (nullable)' if p.nullable else ''} -> {p.role}{': ' + p.reason if p.reason else ''}"
            )
        say(
            f"infer-schema: updated {args.params} (data.path, data.schema, data.target, features). "
            "Review the schema and the quality thresholds, then run `make pipeline`."
        )
        return 0
    stage = {
        "validate": pipeline.run_validate,
        "train": pipeline.run_train,
        "evaluate": pipeline.run_evaluate,
        "export": pipeline.run_export,
        "bundle": pipeline.run_bundle,
        "pipeline": pipeline.run_pipeline,
        "report": pipeline.run_report,
    }[args.command]
    stage(settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind", file=sys.stderr)
        return 130
