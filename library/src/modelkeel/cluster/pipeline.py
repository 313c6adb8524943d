"""The pipeline on the Dask engine: validate -> split -> train -> evaluate -> export -> bundle -> verify, on a cluster.

Everything that reads the data runs on the workers inside `open_cluster` (the LocalCluster is shut down
whatever happens); the client holds the model, reductions and bounded samples only. What stays on one machine
and is the pandas engine's own code: the ONNX export and its parity gate (`stages/export.py`, on the test
sample, with the tolerance of `parity:` in params.yaml), the plots, and the bundle (`stages/bundle.build`,
given a ValidatedData of a bounded seeded sample of the validated data with the real snapshot, so the
reference statistics and the input example are real rows, and the fingerprint is the whole data's).
reference.json says so under `sampled` (`reference_sample`): the drift tests count the sample's rows, and
the loop's report names the sample.

The validated data is kept in the workers' memory when it is small beside them (`validate.memory_rule`: its
estimated size at most a quarter of the workers' summed memory_limit), so the later passes (split, fit,
scoring, samples) do not read and validate the files again; otherwise every pass streams the files.

Lineage gets a `compute` entry: the engine, the cluster's kind, workers and threads, the partitions of the
data, and `data_in_memory` (kept or streamed, the estimate and the limit it was held against). A failure anywhere (a partition that fails the contract, a gate, a lost worker) leaves no bundle: the
bundle is built last, in a staging folder, and published only once verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bundle import layout
from ..errors import GateError
from ..utils import atomic
from ..utils.console import say, step
from .data import read_data
from .evaluate import evaluate_model
from .session import Cluster, open_cluster
from .split import split_data
from .train import ClusterTrained, check_model_type, train_model, training_riders
from .validate import sampled, sampling, validate_data

if TYPE_CHECKING:
    from ..bundle.verify import Verified
    from ..settings import Settings

BUNDLE_SAMPLE_ROWS = 20_000  # validated rows the bundle's reference statistics and input example are drawn from


def save_trained(settings: Settings, trained: ClusterTrained, snapshot: dict, compute: dict) -> None:
    """artifacts/model.joblib and train.json, as the pandas engine writes them, with the cluster's facts."""
    import joblib

    from ..stages.train import code_fingerprint

    out = settings.artifacts_dir
    out.mkdir(parents=True, exist_ok=True)
    for stale in layout.DOWNSTREAM_OF_TRAINING:
        (out / stale).unlink(missing_ok=True)
    with atomic.atomic_path(out / layout.TRAINED_MODEL) as tmp:
        joblib.dump(trained.model, tmp)
    split = trained.split
    atomic.write_json(
        out / layout.TRAIN_RECORD,
        {
            "params_hash": settings.params_hash(),
            "seed": settings.seed,
            "data": snapshot,
            "rows": {"train": split.train_rows, "test": split.test_rows, "dropped_missing_target": split.dropped},
            "model": settings.model.type,
            "code": code_fingerprint(settings),
            "compute": {**compute, "preprocess_rows": trained.preprocess_rows},
        },
    )


def reference_sample(settings: Settings, sampled_rows: int, snapshot: dict) -> dict:
    """reference.json's `sampled`: the statistics (and their `rows`) are of a seeded sample of the validated data,
    at most BUNDLE_SAMPLE_ROWS of its rows (an optional key: readers of older bundles find none)."""
    return {
        "rows": sampled_rows,
        "of": int(snapshot["rows"]),
        "sample_size": BUNDLE_SAMPLE_ROWS,
        "seed": settings.seed,
        "method": "seeded random sample of the validated data (Dask engine)",
    }


def compute_facts(cluster: Cluster, partitions: int, memory: dict | None = None) -> dict:
    """What lineage records of where the run ran (no credentials: the address as configured), and whether the
    validated data was kept in the workers' memory (`validate.memory_rule`)."""
    facts = {**cluster.facts(), "partitions": partitions}
    if memory is not None:
        facts["data_in_memory"] = memory
    return facts


def _memory_note(memory: dict) -> str:
    mib = 1024**2
    limit = memory.get("workers_memory_limit_bytes")
    of = f"{limit / mib:,.0f} MiB" if limit else "no limit"
    how = "kept in the workers' memory" if memory.get("kept_in_memory") else "streamed from the files by every pass"
    return (
        f"the validated data (about {memory.get('estimated_bytes', 0) / mib:,.0f} MiB in memory; "
        f"{memory.get('share', 0):.0%} of the workers' {of} allowed) is {how}"
    )


def run_on_cluster(settings: Settings, cluster: Cluster) -> Verified:
    """The whole pipeline on an open cluster; the verified bundle."""
    from ..quality.gates import failed_gates
    from ..reports.plots import evaluation_plots
    from ..stages import evaluate as pandas_evaluate
    from ..stages.bundle import BundleInputs, build
    from ..stages.pipeline import _rel, run_export
    from ..stages.train import Trained
    from ..stages.validate import ValidatedData

    check_model_type(settings)  # before any data is read
    with step(f"validate {settings.data.path} against schema {settings.data.schema_name!r} on the cluster"):
        data = read_data(settings, cluster)
        validated = validate_data(settings, cluster, data, keep_in_memory=True)
    snapshot = validated.snapshot
    memory = validated.memory or {}
    kept = bool(memory.get("kept_in_memory"))
    compute = compute_facts(cluster, validated.partitions, memory)
    say(
        f"validate: {snapshot['rows']} rows in {len(snapshot['files'])} file(s), {validated.partitions} partition(s), "
        f"pass schema {validated.schema_name!r} (fingerprint {snapshot['fingerprint'][:12]})"
    )
    say(f"validate: {_memory_note(memory)}")
    riders = training_riders(settings)

    def also_the_bundles_sample(train) -> dict:  # the split's pass reads the data for these too
        return {**riders(train), "pipeline.bundle_sample": sampling(validated.frame, BUNDLE_SAMPLE_ROWS, settings.seed)}

    split = split_data(
        settings, cluster, validated.frame, snapshot, keep_in_memory=kept, riders=also_the_bundles_sample
    )
    if split.dropped:
        say(f"train: skipped {split.dropped} row(s) without a value for {settings.data.target!r}")
    with step(f"fit {settings.model.type} on {split.train_rows} rows on {compute['workers']} worker(s)"):
        trained = train_model(settings, cluster, split)
    save_trained(settings, trained, snapshot, compute)
    say(
        f"train: {settings.model.type} fitted on {split.train_rows} rows (preprocessing on a sample of "
        f"{trained.preprocess_rows}; seed {settings.seed})"
    )
    with step("score train/test and slices by reductions; importance on a test sample"):
        evaluation = evaluate_model(settings, cluster, trained, snapshot["fingerprint"])
    metrics = evaluation.metrics
    with step("plot"):
        plots = evaluation_plots(
            settings,
            evaluation.sample,
            evaluation.test_predictions,
            metrics["feature_importance"],
            settings.artifacts_dir / layout.PLOTS_DIR,
        )
    pandas_evaluate.write(settings, metrics)
    primary = metrics["primary_metric"]
    say(f"evaluate: test {primary} = {metrics['test'][primary]:.4f} over {split.test_rows} rows")
    if not metrics["gates"]["passed"]:
        raise GateError(
            "quality gate failed, so nothing was exported or bundled:\n  - " + "\n  - ".join(failed_gates(metrics))
        )
    bundle_rows = sampled(split.riders["pipeline.bundle_sample"])
    local = ValidatedData(bundle_rows, snapshot, validated.schema_name)
    exported = run_export(
        settings,
        Trained(local, trained.model, evaluation.sample),
        pandas_evaluate.Evaluation(metrics, evaluation.test_predictions),
    )
    extra = {**(settings.lineage_extra or {}), "compute": compute}
    inputs = BundleInputs(
        metrics,
        exported.parity,
        exported.model_bytes,
        tuple(plots),
        reference_sampled=reference_sample(settings, len(bundle_rows), snapshot),
    )
    with step("assemble, checksum and verify the bundle"):
        verified = build(settings.model_copy(update={"lineage_extra": extra}), local, inputs)
    say(f"bundle: {_rel(settings, verified.bundle.folder)}/ and {_rel(settings, verified.bundle.tarball)}")
    say(verified.describe())
    say(f"pipeline: done on the Dask engine. {primary} = {metrics['test'][primary]:.4f}")
    return verified


def run_cluster_validate(settings: Settings) -> None:
    """`validate` on the Dask engine: data.path read and checked against the contract on the cluster."""
    shown = f"validate {settings.data.path} against schema {settings.data.schema_name!r} on the cluster"
    with open_cluster(settings) as cluster, step(shown):
        validated = validate_data(settings, cluster, read_data(settings, cluster))
    snapshot = validated.snapshot
    say(
        f"validate: {snapshot['rows']} rows in {len(snapshot['files'])} file(s), {validated.partitions} partition(s), "
        f"pass schema {validated.schema_name!r} (fingerprint {snapshot['fingerprint'][:12]})"
    )


def run_cluster_pipeline(settings: Settings) -> Verified:
    """The pipeline on the cluster compute.dask names, opened for the run and always closed."""
    check_model_type(settings)  # refused before a cluster is started
    with open_cluster(settings) as cluster:
        return run_on_cluster(settings, cluster)
