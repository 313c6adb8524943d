"""The stages in order, each reporting what it did and where it wrote it.

Every CLI subcommand calls one of these; `run_pipeline` calls them all in one
process, passing results along instead of re-reading them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .console import say, step
from .settings import Settings
from .validate import ValidatedData


@dataclass
class Trained:
    validated: ValidatedData
    model: object  # sklearn Pipeline
    parts: object  # train.Split
    train_features: object = None  # the preprocessed training rows, when fitted in this process
    test_predictions: object = None  # evaluate.Predictions on the test split, once evaluated


def _rel(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.root))
    except ValueError:
        return str(path)


def run_validate(settings: Settings) -> ValidatedData:
    from .validate import validate

    path = settings.data.path
    shown = path if isinstance(path, str) else ", ".join(path)
    with step(f"validate {shown} against schema {settings.data.schema_name!r}"):
        validated = validate(settings)
    snap = validated.snapshot
    say(
        f"validate: {snap['rows']} rows in {len(snap['files'])} file(s) pass schema {validated.schema_name!r} "
        f"(fingerprint {snap['fingerprint'][:12]})"
    )
    return validated


def run_train(settings: Settings, validated: ValidatedData | None = None) -> Trained:
    from . import train

    validated = validated or run_validate(settings)
    parts = train.split(settings, validated.frame)
    if parts.dropped_missing_target:
        say(f"train: skipped {parts.dropped_missing_target} row(s) without a value for {settings.data.target!r}")
    with step(f"fit {settings.model.type} on {len(parts.X_train)} rows"):
        model, features = train.fit_with_features(settings, parts)
    path = train.save(settings, model, parts, validated.snapshot)
    say(
        f"train: {settings.model.type} fitted on {len(parts.X_train)} rows (seed {settings.seed}) -> {_rel(settings, path)}"
    )
    return Trained(validated, model, parts, features)


def _trained_from_disk(settings: Settings) -> Trained:
    from . import train

    validated = run_validate(settings)
    model, _ = train.load(settings, validated.snapshot)
    return Trained(validated, model, train.split(settings, validated.frame))


def run_evaluate(settings: Settings, trained: Trained | None = None) -> dict:
    from . import evaluate

    trained = trained or _trained_from_disk(settings)
    with step("score train/test, slices, baseline and permutation importance"):
        test = evaluate.predict(settings, trained.model, trained.parts.X_test)
        metrics = evaluate.evaluate(settings, trained.model, trained.parts, test, trained.train_features)
        trained.test_predictions = test
    metrics["params_hash"] = settings.params_hash()
    metrics["data"] = {"fingerprint": trained.validated.snapshot["fingerprint"]}
    with step("plot"):
        plots = evaluate.plot(
            settings, trained.parts, test, metrics["feature_importance"], settings.artifacts_dir / evaluate.PLOTS_DIR
        )
    path = evaluate.write(settings, metrics)
    primary = metrics["primary_metric"]
    gate = metrics["gates"]["threshold"]
    baseline = metrics["baseline"]["test"][primary]
    say(
        f"evaluate: test {primary} = {metrics['test'][primary]:.4f} (threshold {gate['threshold']}, "
        f"trivial baseline {'n/a' if baseline is None else format(baseline, '.4f')}) -> {_rel(settings, path)}, "
        f"{len(plots)} plot(s) in {_rel(settings, plots[0].parent)}"
    )
    failed = evaluate.failed_gates(metrics)
    for line in failed:
        say(f"evaluate: QUALITY GATE FAILED: {line}")
    return metrics


def export_metadata(settings: Settings, trained: Trained, metrics: dict | None) -> dict[str, str]:
    from .provenance import git_state

    git = git_state(settings.root)
    meta = {
        "version": settings.version(),
        "git_commit": git["commit"],
        "git_dirty": str(git["dirty"]).lower(),
        "data_fingerprint": trained.validated.snapshot["fingerprint"],
        "params_hash": settings.params_hash(),
        "task": settings.task,
        "target": settings.data.target,
        "primary_metric": settings.quality.primary_metric,
    }
    if metrics is not None:
        meta["primary_metric_value"] = repr(metrics["test"][settings.quality.primary_metric])
    model = trained.model.named_steps["model"]
    if settings.task == "classification":
        meta["classes"] = json.dumps([c.item() if hasattr(c, "item") else c for c in model.classes_])
    return meta


def run_export(settings: Settings, trained: Trained | None = None, metrics: dict | None = None):
    from . import evaluate, export

    trained = trained or _trained_from_disk(settings)
    if metrics is None and (settings.artifacts_dir / evaluate.METRICS_FILE).is_file():
        metrics = json.loads((settings.artifacts_dir / evaluate.METRICS_FILE).read_text())
    with step(f"convert to ONNX (opset {settings.parity.target_opset}) and run the parity gate"):
        result = export.export(
            settings,
            trained.model,
            trained.parts.X_test,
            export_metadata(settings, trained, metrics),
            trained.validated.snapshot["fingerprint"],
            trained.test_predictions,
        )
    say(
        f"export: parity gate passed on {result.rows} test rows (largest difference {result.max_abs_diff:.2g}, "
        f"atol {result.atol:g}) -> {_rel(settings, settings.artifacts_dir / export.ONNX_FILE)}"
    )
    return result


def run_bundle(settings: Settings, validated: ValidatedData | None = None) -> Path:
    from . import bundle

    validated = validated or run_validate(settings)
    with step("assemble, checksum and verify the bundle"):
        folder = bundle.build(settings, validated)
    say(f"bundle: {_rel(settings, folder)}/ and {_rel(settings, folder.with_name(folder.name + '.tar.gz'))}")
    return folder


def run_verify(folder: Path) -> dict:
    from . import bundle

    report = bundle.verify(folder)
    say(
        f"verify: {folder}: {report['files']} checksums, ONNX model, schema and "
        f"{report['example_rows']} example predictions OK"
    )
    return report


def run_report(settings: Settings, compared: tuple[str, dict] | str | None = None, append: Path | None = None) -> str:
    """The last evaluation as markdown tables (metrics and quality gates), for terminals and CI job summaries.

    `compared` is (label, metrics of another bundle) to add a comparison table, or a note saying
    why there is none; `append` also appends the report to that file ($GITHUB_STEP_SUMMARY).
    """
    from . import evaluate
    from .model_card import comparison_table, metrics_table

    path = settings.artifacts_dir / evaluate.METRICS_FILE
    if not path.is_file():
        from .errors import StageOrderError

        raise StageOrderError(f"no metrics at {_rel(settings, path)}; run `evaluate` first (or `pipeline`).")
    metrics = json.loads(path.read_text())
    lines = [
        f"### {metrics['model']} ({metrics['task']})",
        "",
        *metrics_table(metrics, settings.quality.slice_min_rows),
    ]
    if isinstance(compared, tuple):
        label, other = compared
        lines += ["", f"#### Compared with {label}", "", *comparison_table(metrics, other, label)]
    elif compared:
        lines += ["", compared]
    text = "\n".join(lines)
    say(text)
    if append is not None:
        with append.open("a", encoding="utf-8") as summary:
            summary.write(text + "\n\n")
    return text


def run_pipeline(settings: Settings) -> Path:
    validated = run_validate(settings)
    trained = run_train(settings, validated)
    metrics = run_evaluate(settings, trained)
    if not metrics["gates"]["passed"]:
        from . import evaluate
        from .errors import GateError

        raise GateError(
            "quality gate failed, so nothing was exported or bundled:\n  - "
            + "\n  - ".join(evaluate.failed_gates(metrics))
        )
    run_export(settings, trained, metrics)
    folder = run_bundle(settings, validated)
    run_verify(folder)
    primary = metrics["primary_metric"]
    say(f"pipeline: done. {primary} = {metrics['test'][primary]:.4f}; bundle {_rel(settings, folder)}")
    return folder
