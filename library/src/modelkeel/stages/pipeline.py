"""The stages in order, each reporting what it did and where it wrote it.

Every stage command of the CLI calls one of these. Each stage returns a frozen value that the
next one takes (`ValidatedData` -> `Trained` -> `Evaluation` -> `Exported` -> the verified
bundle); `run_pipeline` chains them in one process without re-reading anything. A stage run
alone (`make evaluate`, `make bundle`) reads its inputs from artifacts/ and refuses stale ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..bundle import layout
from ..bundle.verify import Verified
from ..errors import GateError, StageOrderError
from ..settings import Settings
from ..utils.console import say, step
from .bundle import BundleInputs
from .evaluate import Evaluation
from .export import Exported
from .train import Trained
from .validate import ValidatedData


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
    parts = train.split(settings, validated.frame, train.test_pool(settings, validated.snapshot))
    if parts.dropped_missing_target:
        say(f"train: skipped {parts.dropped_missing_target} row(s) without a value for {settings.data.target!r}")
    with step(f"fit {settings.model.type} on {len(parts.X_train)} rows"):
        model, features = train.fit_with_features(settings, parts)
    path = train.save(settings, model, parts, validated.snapshot)
    say(
        f"train: {settings.model.type} fitted on {len(parts.X_train)} rows (seed {settings.seed}) -> {_rel(settings, path)}"
    )
    return Trained(validated, model, parts, features)


def trained_from_artifacts(settings: Settings) -> Trained:
    """The model in artifacts/, refused when it was trained on other params or data than the current ones."""
    from . import train

    validated = run_validate(settings)
    model, _ = train.load(settings, validated.snapshot)
    return Trained(
        validated, model, train.split(settings, validated.frame, train.test_pool(settings, validated.snapshot))
    )


def run_evaluate(settings: Settings, trained: Trained | None = None) -> tuple[Evaluation, tuple[Path, ...]]:
    """Metrics, plots and the quality gates; returns the evaluation and the plots it drew."""
    from ..quality.gates import failed_gates
    from ..reports.plots import evaluation_plots
    from .evaluate import evaluate, write

    trained = trained or trained_from_artifacts(settings)
    with step("score train/test, slices, baseline and permutation importance"):
        evaluation = evaluate(settings, trained, trained.validated.snapshot["fingerprint"])
    metrics = evaluation.metrics
    with step("plot"):
        plots = evaluation_plots(
            settings,
            trained.parts,
            evaluation.test_predictions,
            metrics["feature_importance"],
            settings.artifacts_dir / layout.PLOTS_DIR,
        )
    path = write(settings, metrics)
    primary = metrics["primary_metric"]
    gate = metrics["gates"]["threshold"]
    baseline = metrics["baseline"]["test"][primary]
    say(
        f"evaluate: test {primary} = {metrics['test'][primary]:.4f} (threshold {gate['threshold']}, "
        f"trivial baseline {'n/a' if baseline is None else format(baseline, '.4f')}) -> {_rel(settings, path)}, "
        f"{len(plots)} plot(s) in {_rel(settings, plots[0].parent)}"
    )
    for line in failed_gates(metrics):
        say(f"evaluate: QUALITY GATE FAILED: {line}")
    return evaluation, tuple(plots)


def export_metadata(settings: Settings, trained: Trained, metrics: dict | None) -> dict[str, str]:
    """The properties model.onnx carries: version, commit, data fingerprint, params hash, metric, classes."""
    from ..bundle.lineage import git_state

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
    return meta  # export.convert adds the classifier's classes


def run_export(settings: Settings, trained: Trained | None = None, evaluation: Evaluation | None = None) -> Exported:
    from . import export

    trained = trained or trained_from_artifacts(settings)
    metrics = evaluation.metrics if evaluation is not None else None
    metrics_path = settings.artifacts_dir / layout.METRICS
    if metrics is None and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    with step(f"convert to ONNX (opset {settings.parity.target_opset}) and run the parity gate"):
        exported = export.export(
            settings,
            trained.model,
            trained.parts.X_test,
            export_metadata(settings, trained, metrics),
            trained.validated.snapshot["fingerprint"],
            evaluation.test_predictions if evaluation is not None else None,
        )
    result = exported.result
    say(
        f"export: parity gate passed on {result.rows} test rows (largest difference {result.max_abs_diff:.2g}, "
        f"atol {result.atol:g}) -> {_rel(settings, settings.artifacts_dir / layout.MODEL)}"
    )
    return exported


def run_bundle(
    settings: Settings, validated: ValidatedData | None = None, inputs: BundleInputs | None = None
) -> Verified:
    """Build the bundle from `inputs` (the earlier stages' results), or from artifacts/ when run alone."""
    from . import bundle

    validated = validated or run_validate(settings)
    inputs = inputs or bundle.inputs_from_artifacts(settings, validated)
    with step("assemble, checksum and verify the bundle"):
        verified = bundle.build(settings, validated, inputs)
    folder = verified.bundle.folder
    say(f"bundle: {_rel(settings, folder)}/ and {_rel(settings, verified.bundle.tarball)}")
    return verified


def read_metrics(settings: Settings) -> dict:
    path = settings.artifacts_dir / layout.METRICS
    if not path.is_file():
        raise StageOrderError(f"no metrics at {_rel(settings, path)}; run `evaluate` first (or `pipeline`).")
    return json.loads(path.read_text(encoding="utf-8"))


def run_pipeline(settings: Settings) -> Verified:
    """validate -> train -> evaluate -> export -> bundle (verified as it is built); the verified bundle.
    On `compute.engine: dask` the same stages run on a Dask cluster (cluster/pipeline.py)."""
    from ..quality.gates import failed_gates

    if settings.compute.engine == "dask":
        from ..cluster.pipeline import run_cluster_pipeline

        return run_cluster_pipeline(settings)

    validated = run_validate(settings)
    trained = run_train(settings, validated)
    evaluation, plots = run_evaluate(settings, trained)
    metrics = evaluation.metrics
    if not metrics["gates"]["passed"]:
        raise GateError(
            "quality gate failed, so nothing was exported or bundled:\n  - " + "\n  - ".join(failed_gates(metrics))
        )
    exported = run_export(settings, trained, evaluation)
    inputs = BundleInputs(metrics, exported.parity, exported.model_bytes, plots)
    verified = run_bundle(settings, validated, inputs)
    say(verified.describe())  # the bundle was verified in its staging folder, before the rename
    primary = metrics["primary_metric"]
    say(f"pipeline: done. {primary} = {metrics['test'][primary]:.4f}; bundle {_rel(settings, verified.bundle.folder)}")
    return verified
