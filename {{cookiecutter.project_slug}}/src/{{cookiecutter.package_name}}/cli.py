"""Command line: parses arguments and calls one stage. `python -m <package>` and the console script both land here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import PipelineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=__package__,
        description="Validate, train, evaluate, export (with the parity gate), bundle, verify and serve the model.",
    )
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", help="check the data against its pandera schema")
    sub.add_parser("train", help="validate, then fit the model (deterministic, seed from params)")
    sub.add_parser("evaluate", help="metrics.json (train/test, slices, baseline), plots, quality gate")
    sub.add_parser("export", help="convert to ONNX and run the parity gate against scikit-learn")
    sub.add_parser("bundle", help="write the checksummed release bundle to dist/")
    sub.add_parser("pipeline", help="validate -> train -> evaluate -> export -> bundle -> verify")
    sub.add_parser("report", help="print the last metrics and quality gates as markdown tables")
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
    return parser


def _default_bundle(params: Path) -> Path:
    from .provenance import project_version
    from .settings import load_settings

    settings = load_settings(params)
    import tomllib

    name = tomllib.loads((settings.root / "pyproject.toml").read_text())["project"]["name"]
    return settings.dist_dir / f"{name}-{project_version(settings.root)}"


def run(args: argparse.Namespace) -> int:
    from . import pipeline
    from .console import say

    if args.command == "predict":
        from .predict import predict

        rows = predict(args.bundle, args.input, args.output)
        say(f"predict: scored {rows} rows with {args.bundle} -> {args.output}")
        return 0
    if args.command == "verify":
        pipeline.run_verify(args.bundle or _default_bundle(args.params))
        return 0

    from .settings import load_settings

    settings = load_settings(args.params)
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
