"""The pytest plugin's fixtures on the Dask engine (compute.engine: dask): what `make test` checks, on the cluster.

The data is never gathered into the test process. `project_data` is data.path read and validated by the
cluster engine (cluster/data.py, cluster/validate.py: every partition against the contract, the checks that span
partitions by reductions, the pandas engine's failure report), handed over as the whole validated data, lazily:
`project_data.frame` is a Dask DataFrame, so what a test asks of it (`len(frame)`, `frame.columns`,
`frame.head(3)`) is true of every row, not of a sample; `.compute()` what else a test needs, or take
`project_data.sample`, a seeded sample of at most SAMPLE_ROWS rows (pandas), which the test report names.

`project_model` and `project_metrics` are the Dask engine's own: the split by a seeded hash of each row
(cluster/split.py), the model in artifacts/ when the Dask engine trained it on exactly these params and data,
else one trained now on the cluster (cluster/train.py; nothing written), and the metrics, slices, baseline and
gates over the whole test split by reductions (cluster/evaluate.py: what `make pipeline` gates on). What needs
rows in one place is its bounded seeded sample, as in the pipeline: the parity test's test rows
(`project_model.parts`, at most cluster/evaluate.EVAL_SAMPLE_ROWS), also named in the test report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..cluster.evaluate import ClusterEvaluation
    from ..cluster.session import Cluster
    from ..cluster.train import ClusterTrained
    from ..settings import Settings

SAMPLE_ROWS = 20_000  # rows of project_data.sample at most (the `modelkeel_sample_rows` ini option changes it)


@dataclass(frozen=True)
class ClusterProjectData:
    """project_data on the Dask engine: the validated data as a lazy Dask DataFrame, with the pandas engine's
    snapshot (files, rows, fingerprint), and a bounded seeded pandas sample of it on demand."""

    frame: Any  # dask DataFrame: every row of data.path, coerced to the contract by whatever computes it
    snapshot: dict
    schema_name: str
    partitions: int
    cluster: Cluster = field(repr=False, compare=False)
    seed: int = 0
    sample_rows: int = SAMPLE_ROWS
    report: list[str] = field(default_factory=list, repr=False, compare=False)  # lines for the test report
    kept_in_memory: bool = False  # the validated data is held on the workers (cluster/validate.memory_rule)

    @property
    def rows(self) -> int:
        return int(self.snapshot["rows"])

    @cached_property
    def sample(self) -> pd.DataFrame:
        """At most `sample_rows` validated rows (pandas), seeded: the same rows for the same data and seed."""
        from ..cluster.validate import sample

        rows = sample(self.cluster, self.frame, self.sample_rows, self.seed)
        whole = "every row" if len(rows) == self.rows else f"a seeded sample of {len(rows):,} of {self.rows:,} rows"
        self.report.append(
            f"project_data.sample: {whole} (seed {self.seed}; at most {self.sample_rows:,}: ini modelkeel_sample_rows)"
        )
        return rows


@dataclass(frozen=True)
class ClusterModel:
    """What project_model and project_metrics share on the Dask engine: the model and its evaluation."""

    trained: ClusterTrained
    evaluation: ClusterEvaluation
    from_artifacts: bool


def validated(settings: Settings, cluster: Cluster, sample_rows: int, report: list[str]) -> ClusterProjectData:
    """data.path read and validated on the cluster (a DataValidationError with the contract's report if not)."""
    from ..cluster.data import read_data
    from ..cluster.validate import validate_data

    checked = validate_data(settings, cluster, read_data(settings, cluster), keep_in_memory=True)
    kept = bool((checked.memory or {}).get("kept_in_memory"))
    report.append(
        f"project_data: {checked.rows:,} rows in {len(checked.snapshot['files'])} file(s), {checked.partitions} "
        "partition(s), validated on the cluster; project_data.frame is every row, as a Dask DataFrame "
        + (
            "kept on the workers"
            if kept
            else "read from the files by each pass (larger than a quarter of their memory)"
        )
    )
    return ClusterProjectData(
        checked.frame, checked.snapshot, checked.schema_name, checked.partitions, cluster, settings.seed,
        sample_rows, report, kept,
    )  # fmt: skip


def _classes(model, settings: Settings) -> list | None:
    """A fitted Pipeline's classes as cluster/train.py's ClusterTrained holds them (plain values, sorted)."""
    from ..cluster.train import class_labels

    if settings.task != "classification":
        return None
    return class_labels([c.item() if hasattr(c, "item") else c for c in model.classes_])


def trained_by_dask(settings: Settings, snapshot: dict) -> tuple[Any, dict] | None:
    """artifacts/' model and train.json when the Dask engine trained it on exactly these params, data and code;
    None otherwise. A model the pandas engine trained is not used: it was trained on another split (the pandas
    engine's), so the Dask engine's test rows would include rows it learned."""
    from ..errors import StageOrderError
    from ..stages import train

    try:
        model, record = train.load(settings, snapshot)
    except StageOrderError:
        return None
    return (model, record) if (record.get("compute") or {}).get("engine") == "dask" else None


def model_and_metrics(settings: Settings, cluster: Cluster, data: ClusterProjectData) -> ClusterModel:
    """The split, the model (artifacts/' when fresh, else trained now, nothing written) and its evaluation."""
    from ..cluster.evaluate import EVAL_SAMPLE_ROWS, evaluate_model
    from ..cluster.split import split_data
    from ..cluster.train import ClusterTrained, check_model_type, train_model, training_riders

    found = trained_by_dask(settings, data.snapshot)
    split = split_data(
        settings,
        cluster,
        data.frame,
        data.snapshot,
        keep_in_memory=data.kept_in_memory,
        riders=training_riders(settings) if found is None else None,
    )
    if found is not None:
        model, record = found
        compute = record.get("compute") or {}
        trained = ClusterTrained(
            model, split, _classes(model, settings), int(compute.get("preprocess_rows", split.train_rows)),
            split.train.npartitions,
        )  # fmt: skip
        how = "project_model: artifacts/' model (trained on the Dask engine on these params and data)"
    else:
        check_model_type(settings)
        trained = train_model(settings, cluster, split)
        how = (
            f"project_model: trained now on the cluster ({split.train_rows:,} training rows; preprocessing on "
            f"{trained.preprocess_rows:,}), in no folder: artifacts/ had none the Dask engine trained on these"
        )
    evaluation = evaluate_model(settings, cluster, trained, data.snapshot["fingerprint"])
    tested = len(evaluation.sample.X_test)
    rows = "every test row" if tested == split.test_rows else f"a seeded sample of {tested:,} of {split.test_rows:,}"
    data.report.extend(
        [
            how,
            f"project_metrics: over all {split.test_rows:,} test rows, by reductions on the cluster",
            f"project_model.parts (the parity test's rows): {rows} (at most {EVAL_SAMPLE_ROWS:,}, seed {settings.seed})",
        ]
    )
    return ClusterModel(trained, evaluation, found is not None)
