"""The pipeline's commands: validate, train, evaluate, export, bundle, pipeline, verify, predict, report,
infer-schema and bench."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..errors import RegistryError, SettingsError, VerificationError
from ..settings import Settings
from ..utils.console import note, say, warn
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> None:
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
    verify.add_argument(
        "--signed",
        action="store_true",
        help="also require bundle.sig to be registry.signer's signature (a folder that is signed is always checked)",
    )
    predict = sub.add_parser("predict", help="score a CSV/Parquet file with a bundle (onnxruntime only)")
    predict.add_argument("--bundle", required=True, type=Path, help="bundle folder")
    predict.add_argument(
        "--input",
        required=True,
        help="CSV or Parquet file with the input columns; --engine dask: a folder, glob or fsspec URL of Parquet files",
    )
    predict.add_argument(
        "--output",
        required=True,
        help="where to write predictions (.csv or .parquet); --engine dask: a folder (or fsspec URL) of Parquet "
        "parts, rows the contract refuses in its _rejected/, _SUCCESS written last",
    )
    predict.add_argument(
        "--engine",
        choices=("pandas", "dask"),
        help="pandas: one file in this process; dask: a folder of Parquet on the cluster compute.dask names "
        "(default: compute.engine in params.yaml when there is one, else pandas)",
    )
    predict.add_argument(
        "--overwrite",
        action="store_true",
        help="--engine dask: replace an existing output folder (refused by default)",
    )
    predict.add_argument(
        "--max-rows",
        type=int,
        metavar="N",
        help="refuse input with more rows than N (default 10,000,000): a guard against exhausting memory",
    )
    predict.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="refuse an input file larger than N bytes (default 2 GiB, 2147483648)",
    )
    predict.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="score with an unsigned bundle folder that is not this checkout's own build in dist/ (or a signed one "
        "with no registry.signer to check it): nobody checked who made it, and stderr says so",
    )
    predict.add_argument(
        "--allow-formulas",
        action="store_true",
        help="write CSV text cells as they are. By default a text cell that starts with = + - @, a tab or a "
        "carriage return gets a leading ' so that a spreadsheet opening the file shows it as text instead of "
        "running it as a formula (CSV injection, OWASP); Parquet output is never changed",
    )
    infer = sub.add_parser("infer-schema", help="write a schema for your own data and point params.yaml at it")
    infer.add_argument("path", type=Path, help="CSV or Parquet file")
    infer.add_argument("--target", required=True, help="column to predict")
    infer.add_argument("--name", help="schema module name (default: from the file name)")
    infer.add_argument("--force", action="store_true", help="replace an existing schema module of that name")
    freeze = sub.add_parser(
        "freeze-trusted", help="set aside a trusted evaluation set from data.path that the loop never trains on"
    )
    freeze.add_argument("--share", type=float, default=0.15, help="share of the labelled rows (default 0.15)")
    freeze.add_argument(
        "--force",
        action="store_true",
        help="replace the trusted set params.yaml names: split again (the file the last split came from, when "
        "data.path is its training part) and overwrite both parts",
    )
    infer.add_argument(
        "--keep-thresholds",
        action="store_true",
        help="leave the quality and retraining bars in params.yaml as they are",
    )
    infer.add_argument(
        "--max-categories",
        type=int,
        default=50,
        metavar="N",
        help="a text column with more distinct values than N is left out as an identifier or free text "
        "(default 50); raise it to keep a high-cardinality column as a category",
    )


def stage(ctx: Context) -> int:
    from ..stages import pipeline

    run: dict[str, Callable[[Settings], object]] = {
        "validate": pipeline.run_validate,
        "train": pipeline.run_train,
        "evaluate": pipeline.run_evaluate,
        "export": pipeline.run_export,
        "bundle": pipeline.run_bundle,
        "pipeline": pipeline.run_pipeline,
    }
    command = ctx.args.command
    if ctx.settings.compute.engine == "dask" and command in ALONE_ON_PANDAS_ONLY:
        raise SettingsError(
            f"`{command}` alone runs on the pandas engine only, and compute.engine is dask: run `pipeline` (make "
            "pipeline), which validates, trains, evaluates, exports and bundles on the cluster in one run (the "
            "model and its splits live on the cluster between those stages), or set compute.engine: pandas"
        )
    if ctx.settings.compute.engine == "dask" and command == "validate":
        from ..cluster.pipeline import run_cluster_validate

        run_cluster_validate(ctx.settings)
        return 0
    run[command](ctx.settings)
    return 0


# the stages that hand the next one what they made through artifacts/, which the Dask engine keeps on the cluster
ALONE_ON_PANDAS_ONLY = ("train", "evaluate", "export", "bundle")


def verify(ctx: Context) -> int:
    from ..bundle.verify import verify as verify_bundle
    from ..errors import SettingsError

    folder = Path(ctx.args.bundle or ctx.default_bundle())
    if ctx.args.signed and ctx.signer is None:
        raise SettingsError("verify --signed: params.yaml names no registry.signer to check the signature against")
    signer = ctx.signer if ctx.args.signed else ctx.signer_for(folder)  # a signed folder is always checked
    say(verify_bundle(folder, signer=signer).describe())
    if ctx.signer is not None and signer is None:
        note(f"verify: {folder} is not signed, so registry.signer was not checked (releases are; --signed requires it)")
    return 0


def predict(ctx: Context) -> int:
    from ..runtime.scoring import predict as score_file

    given = {"max_rows": ctx.args.max_rows, "max_bytes": ctx.args.max_bytes}
    limits = {name: value for name, value in given.items() if value is not None}  # else the defaults
    trusted = ctx.open_local(Path(ctx.args.bundle))  # signed by registry.signer, our own build, or --allow-unsigned
    if trusted.unchecked:
        warn(f"predict: {ctx.args.bundle}: --allow-unsigned: nobody checked who made this model")
    engine = ctx.args.engine or (ctx.settings.compute.engine if ctx.args.params.is_file() else "pandas")
    if engine == "dask":
        return _predict_on_cluster(ctx, trusted, limits)
    rows = score_file(
        trusted.bundle,  # opened and checked once, here: what was checked is what scores
        ctx.args.input,
        ctx.args.output,
        allow_formulas=ctx.args.allow_formulas,
        **limits,
    )
    unchecked = " (--allow-unsigned: its signature was not checked)" if trusted.unchecked else ""
    say(f"predict: scored {rows} rows with {ctx.args.bundle}{unchecked} -> {ctx.args.output}")
    return 0


def _predict_on_cluster(ctx: Context, trusted, limits: dict) -> int:
    """`predict --engine dask`: the bundle opened and checked here, scored on the cluster (cluster/score.py)."""
    from ..cluster.score import check_output, score_dataset
    from ..cluster.session import open_cluster

    check_output(ctx.args.output, ctx.args.overwrite)  # before a cluster is started for nothing
    from ..settings import DaskSettings

    # no params file: a LocalCluster of compute.dask's defaults
    with open_cluster(ctx.settings.compute.dask if ctx.args.params.is_file() else DaskSettings()) as cluster:
        done = score_dataset(
            cluster, trusted.bundle, ctx.args.input, ctx.args.output, overwrite=ctx.args.overwrite, **limits
        )
    unchecked = " (--allow-unsigned: its signature was not checked)" if trusted.unchecked else ""
    rejected = f", {done.rejected} refused by the contract (in {done.output}/_rejected)" if done.rejected else ""
    say(
        f"predict: scored {done.scored} of {done.rows} rows in {done.partitions} partition(s) on the cluster with "
        f"{ctx.args.bundle}{unchecked}{rejected} -> {done.output}"
    )
    return 0


def _comparison(ctx: Context) -> tuple[str, dict] | str:
    """(label, metrics) of the bundle or release to compare with, or a note saying why there is none.

    The report informs and never blocks: a registry that cannot be read becomes a visible note.
    """
    from ..errors import NoReleaseYet

    ref = ctx.args.against
    try:
        other = ctx.bundle(ref)
    except NoReleaseYet:
        return "No published release yet: nothing to compare with."
    except (RegistryError, VerificationError) as error:  # a release that cannot be had or trusted: said, not used
        note(f"report: no comparison: {error}")
        return f"Comparison with {ref} unavailable: {error}"
    label = str(ref) if Path(ref).is_dir() else f"release v{other.version}"
    return label, other.metrics


def report(ctx: Context) -> int:
    from ..github.actions import append_summary
    from ..reports.tables import report_markdown
    from ..stages.pipeline import read_metrics

    metrics = read_metrics(ctx.settings)
    compared = _comparison(ctx) if ctx.args.against else None
    text = report_markdown(metrics, ctx.settings.quality.slice_min_rows, compared)
    say(text)
    if ctx.args.append:
        append_summary(ctx.args.append, text)
    return 0


def infer_schema(ctx: Context) -> int:
    from ..data.infer import describe
    from ..data.infer import infer_schema as infer

    args = ctx.args
    done = infer(
        ctx.settings,
        args.params,
        args.path,
        args.target,
        args.name,
        args.force,
        args.keep_thresholds,
        args.max_categories,
    )
    say(f"infer-schema: wrote {done.module}")
    for p in done.plans:
        say(f"  {describe(p)}")
    say(
        "infer-schema: HARD checks refuse a row: every column's type, a gap in a column not marked (nullable), and "
        "the rules marked HARD. EXPECTED ranges and categories are what the data held: a row outside them is "
        "accepted, and the retraining loop reports it as drift. To promote an expectation to a hard check, move it "
        f'in {done.module.name} out of metadata={{"expect": ...}} into the Field\'s own arguments (ge=, le=, isin=).'
    )
    if done.drift_exempt:
        say(
            f"infer-schema: retrain.drift_exempt: {', '.join(done.drift_exempt)} (calendar parts and years move by "
            "construction: their drift is shown, never a reason to retrain)"
        )
    say(f"infer-schema: {done.split}")
    if done.thresholds:
        say("infer-schema: the bars, fitted to this data (see quality/thresholds.py):")
    for choice in done.thresholds:
        shown = f"{choice.value:g}" if isinstance(choice.value, float | int) else choice.value
        say(f"  {choice.name}: {shown}: {choice.why}")
    for warning in done.warnings:
        warn(f"infer-schema: {warning}")
    say(
        f"infer-schema: updated {args.params} (data.path = {done.data_path}, schema, target, features, split, bars). "
        "Review the schema and the bars, then run `make pipeline`."
    )
    return 0


def freeze_trusted(ctx: Context) -> int:
    from ..data.trusted import freeze, relative_path

    if not 0 < ctx.args.share < 0.5:
        raise SettingsError(f"--share {ctx.args.share}: use a share between 0 and 0.5 (e.g. 0.15)")
    done = freeze(ctx.settings, ctx.args.params, ctx.args.share, ctx.args.force)
    root = ctx.settings.root.resolve()
    source, trusted, training = (relative_path(p, root) for p in (done.source, done.path, done.training))
    say(
        f"freeze-trusted: split {source} (left as it was) into {trusted} ({done.rows} labelled rows, sha256 "
        f"{done.sha256[:12]}) and {training} ({done.left} rows to train on). params.yaml: data.path is now "
        f"{training}; retrain.trusted pins {trusted} and records the split. Commit params.yaml and both files: "
        "from now on the loop promotes only a challenger that holds up on the trusted set."
    )
    return 0


def bench(ctx: Context) -> int:
    from ..bench import format_report, run_bench

    sizes = [int(n) for n in ctx.args.rows.split(",") if n.strip()]
    report = run_bench(ctx.settings, sizes, ctx.args.validation_rows, ctx.args.budget)
    say(format_report(report))
    say(f"bench: results in {ctx.settings.artifacts_dir / 'bench.json'}")
    return 0


COMMANDS = {
    **dict.fromkeys(("validate", "train", "evaluate", "export", "bundle", "pipeline"), stage),
    "verify": verify,
    "predict": predict,
    "report": report,
    "infer-schema": infer_schema,
    "freeze-trusted": freeze_trusted,
    "bench": bench,
}
