"""Training on the cluster: the project's own Pipeline, its preprocessing fitted on a bounded sample, its model
trained by LightGBM's or XGBoost's Dask estimator, then made local and put back as the Pipeline's `model` step.

The preprocessing steps (`pipeline[:-1]`, the project's `build_pipeline`) are fitted on at most
PREPROCESS_SAMPLE_ROWS rows of the training split (`validate.sample`: seeded, the same however the data is
partitioned), then applied partition by partition on the workers. Imputed medians, category codes and the rare
categories' pooling are therefore the sample's: on more rows than that they are estimates, said in train.json
and the metrics (`preprocess_rows`).

The model step is trained on every training row by `lightgbm.dask.DaskLGBM*` or `xgboost.dask.DaskXGB*`, built
from exactly the parameters the pandas engine's estimator has (`get_params()` of the Pipeline's own model step,
so `params.yaml`'s extra keys and the seed reach it), then made local (`to_local()`; XGBoost's booster loaded
into the pandas engine's estimator class) and set as the Pipeline's fitted `model` step as the class the pandas
engine uses, so export, the boosters' ONNX converters and the parity gate work unchanged. Classes are trained
as codes 0..k-1 in the order the pandas engine gives them (sorted) and the local model gets the labels back.

LightGBM's Dask training fits a classifier on each worker with the labels that worker holds: a worker without
some class would train another model silently. Every partition of the training split must therefore hold
every class; when one does not, the split is shuffled once by a seeded hash of its rows (each partition a
random draw of the whole), and if a class is still missing from a partition (a class rarer than the
partitions are many), training is refused with what to do. XGBoost's Dask training codes labels over the whole
data and has no such need.

Only lightgbm and xgboost train here; the scikit-learn models (random_forest, gradient_boosting, linear) have
no distributed fit and are refused.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ClusterError, DataError, SettingsError
from ..runtime.signature import model_frame
from .validate import MAX_CATEGORIES, category_sets, sample

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from ..settings import ModelInputs, Settings
    from .session import Cluster
    from .split import ClusterSplit

PREPROCESS_SAMPLE_ROWS = 100_000  # training rows the preprocessing steps are fitted on, at most
DASK_MODELS = ("lightgbm", "xgboost")


@dataclass(frozen=True)
class ClusterTrained:
    """The fitted Pipeline (local), the split it was trained on, and how."""

    model: Pipeline
    split: ClusterSplit
    classes: list | None  # classification: the labels, in the model's order
    preprocess_rows: int  # training rows the preprocessing was fitted on
    partitions: int  # partitions of the training split the model step was trained on
    shuffled: bool  # the training split was shuffled so that every partition holds every class


def check_model_type(settings: Settings) -> None:
    """A SettingsError for a model type the Dask engine cannot train, naming the two it can."""
    if settings.model.type not in DASK_MODELS:
        raise SettingsError(
            f"model.type {settings.model.type}: the Dask engine (compute.engine: dask) trains lightgbm or xgboost "
            "only, with their own Dask estimators (lightgbm.dask, xgboost.dask); scikit-learn's models have no "
            "distributed fit. Set model.type: lightgbm or model.type: xgboost, or compute.engine: pandas."
        )


def _dask_estimator(settings: Settings, local, cluster: Cluster):
    """The Dask estimator of the same library and task as the Pipeline's model step, with its parameters."""
    import lightgbm
    import xgboost

    from ..stages.boosters import LabelledXGBClassifier

    params = local.get_params(deep=False)
    if isinstance(local, lightgbm.LGBMClassifier | lightgbm.LGBMRegressor):
        import lightgbm.dask as lgb_dask

        cls = lgb_dask.DaskLGBMClassifier if isinstance(local, lightgbm.LGBMClassifier) else lgb_dask.DaskLGBMRegressor
        return cls(client=cluster.client, **params)
    if isinstance(local, LabelledXGBClassifier | xgboost.XGBRegressor):
        import xgboost.dask as xgb_dask

        cls = xgb_dask.DaskXGBClassifier if isinstance(local, xgboost.XGBClassifier) else xgb_dask.DaskXGBRegressor
        estimator = cls(**params)
        estimator.client = cluster.client
        return estimator
    raise SettingsError(
        f"the Pipeline's model step is a {type(local).__name__}; the Dask engine trains the estimator "
        "modelkeel.stages.estimators.build_estimator gives for lightgbm or xgboost: use it in model.py"
    )


def class_labels(values: list) -> list:
    """The classes as the pandas engine's split gives them: sorted; whole numbers read as floats become ints."""
    if values and all(isinstance(v, float) for v in values) and all(float(v).is_integer() for v in values):
        return sorted(int(v) for v in values)
    return list(values)


def labels_array(classes: list) -> np.ndarray:
    """The classes as the array the pandas engine's estimator holds (text as objects, as from a frame)."""
    array = np.asarray(classes)
    return array.astype(object) if array.dtype.kind in "UO" else array


def features_of(frame: pd.DataFrame, preprocess, inputs: ModelInputs, width: int) -> np.ndarray:
    """On a worker: a partition through the fitted preprocessing (an empty partition gives no rows)."""
    if len(frame) == 0:
        return np.zeros((0, width))
    return np.asarray(preprocess.transform(model_frame(frame, inputs)))


def target_of(frame: pd.DataFrame, target: str, classes: list | None) -> np.ndarray:
    """On a worker: the target of a partition, as class codes (classification) or floats (regression)."""
    from ..quality.metrics import codes

    values = frame[target]
    if classes is None:
        return values.to_numpy(dtype="float64")
    coded = codes(values, classes)
    if (coded < 0).any():  # the classes were read from these very rows: a label outside them is a bug
        raise DataError(f"a training label of {target!r} is not one of the classes {classes[:20]}")
    return coded


def classes_present(frame: pd.DataFrame, target: str, classes: list) -> np.ndarray:
    """On a worker: which of the classes a partition holds."""
    return np.bincount(target_of(frame, target, classes), minlength=len(classes)) > 0


def _missing_classes(cluster: Cluster, frame, target: str, classes: list) -> list[tuple[int, list]]:
    """(partition, classes it lacks) for every partition of the training split that lacks some class."""
    import dask
    from dask import delayed

    present = [delayed(classes_present)(part, target, classes) for part in frame.to_delayed()]
    found = cluster.run("checking the classes of each partition", lambda: dask.compute(present)[0])
    return [
        (i, [c for c, has in zip(classes, row, strict=True) if not has]) for i, row in enumerate(found) if not all(row)
    ]


def _shuffled(frame, seed: int):
    """The frame with its rows dealt to partitions by a seeded hash of each row: each partition a random draw."""
    from .validate import _with_hash

    meta = frame._meta.assign(_hash=pd.Series(dtype="u8"))
    hashed = frame.map_partitions(_with_hash, seed, meta=meta)
    return hashed.shuffle(on="_hash", npartitions=frame.npartitions).drop(columns="_hash")


def _every_class_on_every_partition(settings: Settings, cluster: Cluster, frame, classes: list) -> tuple[Any, bool]:
    target = settings.data.target
    if not _missing_classes(cluster, frame, target, classes):
        return frame, False
    shuffled = _shuffled(frame, settings.seed)
    missing = _missing_classes(cluster, shuffled, target, classes)
    if missing:
        part, lacking = missing[0]
        raise DataError(
            f"LightGBM's Dask training needs every class on every partition of the training split, and even "
            f"shuffled, partition {part} of {frame.npartitions} holds no row of class(es) {lacking[:10]}: a class "
            "has fewer training rows than there are partitions. Use model.type: xgboost (its Dask training has no "
            "such need), fewer and larger data files, or more rows of that class."
        )
    return shuffled, True


def _lightgbm_local(fitted, local, labels: np.ndarray | None):
    """The trained booster as the pandas engine's LightGBM estimator, answering with the labels, with the
    pandas engine's parameters (not the ones Dask training added: tree_learner, num_threads, time_out)."""
    model = fitted.to_local()
    if type(model) is not type(local):
        model.__class__ = type(local)  # to_local() gives LightGBM's own class; the same object either way
    params = local.get_params(deep=False)
    for key in set(model.get_params(deep=False)) - set(params):
        model._other_params.pop(key, None)
        if key in model.__dict__:
            delattr(model, key)
    current = model.get_params(deep=False)
    model.set_params(**{k: v for k, v in params.items() if current[k] is not v and current[k] != v})
    if labels is None:
        return model
    from lightgbm.compat import _LGBMLabelEncoder

    if list(model.classes_) != list(range(len(labels))):
        raise ClusterError(
            f"LightGBM's Dask training returned a model of the classes {list(model.classes_)[:20]}, not all "
            f"{len(labels)}: a worker trained without some class. Run again with more rows per partition, or use "
            "model.type: xgboost."
        )
    encoder = _LGBMLabelEncoder().fit(labels)
    model._le = encoder
    model._classes = encoder.classes_
    model._class_map = dict(zip(encoder.classes_, encoder.transform(encoder.classes_), strict=True))
    return model


def _xgboost_local(fitted, local, labels: np.ndarray | None):
    """The trained booster loaded into the pandas engine's XGBoost estimator (a fresh copy of the model step)."""
    from sklearn.base import clone

    model = clone(local)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        fitted.save_model(path)
        model.load_model(path)
    if labels is not None:
        if int(model.n_classes_) != len(labels):
            raise ClusterError(f"XGBoost's Dask training returned {model.n_classes_} classes, not {len(labels)}")
        model.labels_ = labels
    return model


def train_model(settings: Settings, cluster: Cluster, split: ClusterSplit) -> ClusterTrained:
    """The project's Pipeline fitted on the training split: preprocessing on a bounded sample, the model step on
    every row by the Dask estimator, made local. What reaches the client: the sample, the classes, the model."""
    import lightgbm

    from ..project import build_pipeline

    check_model_type(settings)
    data = settings.data
    inputs = data.inputs
    pipeline = build_pipeline(settings)
    local = pipeline.steps[-1][1]
    estimator = _dask_estimator(settings, local, cluster)
    classification = settings.task == "classification"
    classes = None
    frame = split.train
    shuffled = False
    if classification:
        found = category_sets(cluster, frame, [data.target], MAX_CATEGORIES)[data.target]
        if found is None:
            raise DataError(
                f"the target {data.target!r} holds more than {MAX_CATEGORIES} classes in the training split: "
                "is it a regression target (task: regression)?"
            )
        classes = class_labels(found)
        if len(classes) < 2:
            raise DataError(
                f"the target {data.target!r} has a single class ({classes[0]!r}) in the training split; a "
                "classifier needs two or more."
            )
        if isinstance(local, lightgbm.LGBMClassifier):
            frame, shuffled = _every_class_on_every_partition(settings, cluster, frame, classes)

    rows = sample(cluster, frame, PREPROCESS_SAMPLE_ROWS, settings.seed)
    preprocess = pipeline[:-1]
    preprocess.fit(model_frame(rows, inputs), target_of(rows, data.target, classes))
    width = np.asarray(preprocess.transform(model_frame(rows.head(1), inputs))).shape[1]

    features = _features(frame, preprocess, inputs, width)
    target = _target(frame, data.target, classes)

    def fit():
        with warnings.catch_warnings():  # LightGBM: a worker trains with its own threads, whatever n_jobs says
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            return estimator.fit(features, target)

    cluster.run(f"training {settings.model.type} on the cluster", fit)
    labels = labels_array(classes) if classes is not None else None
    if isinstance(local, lightgbm.LGBMModel):
        fitted_local = _lightgbm_local(estimator, local, labels)
    else:
        fitted_local = _xgboost_local(estimator, local, labels)
    pipeline.steps[-1] = ("model", fitted_local)
    return ClusterTrained(pipeline, split, classes, len(rows), frame.npartitions, shuffled)


def _features(frame, preprocess, inputs: ModelInputs, width: int):
    """The preprocessed features as a dask array, one block per partition (rows per block unknown)."""
    import dask.array as da
    from dask import delayed

    shared = delayed(preprocess, pure=True)  # one copy in the graph, not one per partition
    blocks = [
        da.from_delayed(delayed(features_of)(part, shared, inputs, width), shape=(np.nan, width), dtype="f8")
        for part in frame.to_delayed()
    ]
    return da.concatenate(blocks, axis=0, allow_unknown_chunksizes=True)


def _target(frame, target: str, classes: list | None):
    import dask.array as da
    from dask import delayed

    dtype = "i8" if classes is not None else "f8"
    blocks = [
        da.from_delayed(delayed(target_of)(part, target, classes), shape=(np.nan,), dtype=dtype)
        for part in frame.to_delayed()
    ]
    return da.concatenate(blocks, axis=0, allow_unknown_chunksizes=True)
