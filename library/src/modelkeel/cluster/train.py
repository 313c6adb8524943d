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

Every worker trains on a random share of the whole training split: each partition's features and target are
computed once (one read of it, as float32: what LightGBM and XGBoost train on anyway, and what the ONNX graph
computes in) on the worker its index names (partition i on the i % n-th worker, sorted by name), then its rows
are dealt to the n workers by a draw seeded by the seed and the partition's index, and each worker joins the
rows dealt to it, in partition order. Two reasons. LightGBM's data-parallel training finds each feature's bins
on one worker from the rows that worker holds, and fits each worker's classifier on the labels it holds: with
whole partitions per worker, data split into files by time (a file a month) gave one worker January and the
other March, bins that fit one part of the data, and models that differed by 14 points of F1 from run to run
on real flights data. And the rows each worker holds, and so LightGBM's machine ranks (the order of `machines`
is the order its parts first appear) and XGBoost's (by worker name), are the same on every run: with
LightGBM's `deterministic` and `force_row_wise` (the pandas engine's parameters), the model is the same byte
for byte on a cluster of the same shape. A cluster whose workers have other names or another count trains
another (equally good) model: data-parallel training depends on how the rows are divided. A class with too
few training rows to reach every worker is refused for LightGBM (XGBoost codes labels over the whole data).

Only lightgbm and xgboost train here; the scikit-learn models (random_forest, gradient_boosting, linear) have
no distributed fit and are refused.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ClusterError, DataError, SettingsError
from ..runtime.signature import model_frame
from .validate import MAX_CATEGORIES, collected_classes, collecting_classes, sampled, sampling

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


def check_model_type(settings: Settings) -> None:
    """A SettingsError for a model type the Dask engine cannot train, naming the two it can."""
    if settings.model.type not in DASK_MODELS:
        raise SettingsError(
            f"model.type {settings.model.type}: the Dask engine (compute.engine: dask) trains lightgbm or xgboost "
            "only, with their own Dask estimators (lightgbm.dask, xgboost.dask); scikit-learn's models have no "
            "distributed fit. Set model.type: lightgbm or model.type: xgboost, or compute.engine: pandas."
        )


class OrderedWhoHas:
    """The Dask client for LightGBM's Dask training, except that `who_has` answers in the order it was asked.

    LightGBM orders its machines, and so their ranks (which worker finds the bins of which features, the order
    histograms are summed in), by the order `who_has` lists the training parts' keys; Dask's client lists them
    in the order of a set of their keys, which changes from run to run (string hashing is seeded per process, and
    the keys are new each run). Answered in the parts' order, the ranks follow the placement (`place`)."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def who_has(self, futures=None, **kwargs):
        found = self._client.who_has(futures, **kwargs)
        if not isinstance(futures, list | tuple):
            return found
        return {key: found[key] for key in dict.fromkeys(f.key for f in futures)}


def _dask_estimator(settings: Settings, local, cluster: Cluster):
    """The Dask estimator of the same library and task as the Pipeline's model step, with its parameters."""
    import lightgbm
    import xgboost

    from ..stages.boosters import LabelledXGBClassifier

    params = local.get_params(deep=False)
    if isinstance(local, lightgbm.LGBMClassifier | lightgbm.LGBMRegressor):
        import lightgbm.dask as lgb_dask

        cls = lgb_dask.DaskLGBMClassifier if isinstance(local, lightgbm.LGBMClassifier) else lgb_dask.DaskLGBMRegressor
        client: Any = OrderedWhoHas(cluster.client)  # stands in for the Client: the same but for who_has
        return cls(client=client, **params)
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


def training_block(
    frame: pd.DataFrame, preprocess, inputs: ModelInputs, width: int, target: str, classes: list | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, np.ndarray | None]]:
    """On a worker: a partition's features (float32) and target from one read of it, with its rows and
    (classification) which classes it holds. An empty partition gives no rows."""
    y = target_of(frame, target, classes)
    present = None if classes is None else np.bincount(y, minlength=len(classes)) > 0
    if len(frame) == 0:
        return np.zeros((0, width), dtype=np.float32), y, (0, present)
    features = np.asarray(preprocess.transform(model_frame(frame, inputs)), dtype=np.float32)
    return features, y, (len(y), present)


def target_of(frame: pd.DataFrame, target: str, classes: list | None) -> np.ndarray:
    """On a worker: the target of a partition, as class codes (classification) or floats (regression)."""
    from ..quality.metrics import codes

    values = frame[target]
    if classes is None:  # float32: the boosters hold labels as float32 whatever they are given
        return values.to_numpy(dtype="float32")
    coded = codes(values, classes)
    if (coded < 0).any():  # the classes were read from these very rows: a label outside them is a bug
        raise DataError(f"a training label of {target!r} is not one of the classes {classes[:20]}")
    return coded.astype(np.int32)


@dataclass
class Placed:
    """The training split's features and target, one block per worker held there (futures), in worker order, and
    what each block holds."""

    features: list  # per worker: a future of its float32 (rows, width) array
    target: list  # per worker: a future of its target (float32; classification: int32 codes)
    rows: list[int]  # per worker
    present: list  # per worker: which classes its rows hold (classification), else None
    workers: list[str]  # the workers' addresses, in worker order: where the blocks are, and so the training

    def missing(self, classes: list) -> list[tuple[int, list]]:
        """(worker, classes it lacks) for every worker whose rows lack some class."""
        return [
            (w, [c for c, has in zip(classes, present, strict=True) if not has])
            for w, present in enumerate(self.present)
            if present is not None and not all(present)
        ]

    def arrays(self, width: int, classification: bool):
        """(features, target) as dask arrays, a chunk per worker that holds rows, in worker order."""
        import dask.array as da

        kept = [w for w, n in enumerate(self.rows) if n > 0]
        if not kept:
            raise DataError("the training split has no rows")
        dtype = np.int32 if classification else np.float32
        features = [da.from_delayed(self.features[w], shape=(self.rows[w], width), dtype=np.float32) for w in kept]
        target = [da.from_delayed(self.target[w], shape=(self.rows[w],), dtype=dtype) for w in kept]
        return da.concatenate(features), da.concatenate(target)

    def release(self) -> None:
        """Let the workers drop the blocks."""
        self.features, self.target = [], []


def dealt(block: tuple, workers: int, seed: int, index: int) -> tuple:
    """On a worker: a partition's (features, target) dealt to `workers` workers, each row to one drawn with a
    generator seeded by the seed and the partition's index (the same on every run), in row order."""
    features, y, _ = block
    draw = np.random.default_rng([seed, index]).integers(0, workers, len(y))
    return tuple((features[draw == w], y[draw == w]) for w in range(workers))


def joined(classes: int, *pieces: tuple) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """On a worker: the pieces dealt to it, in partition order, as one (features, target), its rows, and
    (classification, `classes` > 0) which classes they hold."""
    features = np.concatenate([p[0] for p in pieces])
    y = np.concatenate([p[1] for p in pieces])
    present = np.bincount(y, minlength=classes) > 0 if classes else None
    return features, y, len(y), present


def _getitem(value, index: int):
    return value[index]


def place(
    cluster: Cluster, frame, preprocess, inputs: ModelInputs, width: int, target: str, classes: list | None, seed: int
) -> Placed:
    """Every partition's features and target computed once, partition i on the i % n-th worker of
    `worker_order` with its whole graph (its read too: no partition moves), its rows dealt to the n workers
    (`dealt`), and each worker's rows joined there (`joined`): what each worker trains on is a random share of
    every partition, the same on every run of the same cluster shape.

    The restrictions are strict (a loose one lets Dask's work stealing move a task to an idle worker), so a task
    whose worker is lost would wait for it for ever: a lost worker ends the wait with a ClusterError (`run`'s
    `pinned_to`), here and in the fit."""
    from dask import delayed
    from distributed import wait

    from .session import worker_order

    client = cluster.client
    workers = worker_order(client)
    n = len(workers)
    parts = frame.to_delayed()
    shared = delayed(preprocess, pure=True)  # one copy in each worker's graph, not one per partition
    pieces: list[list] = [[] for _ in workers]  # per receiving worker: futures of the pieces dealt to it
    for w, worker in enumerate(workers):
        mine = list(range(w, len(parts), n))
        if not mine:
            continue
        dealing = []
        for i in mine:
            block = delayed(training_block, nout=3)(parts[i], shared, inputs, width, target, classes)
            dealing.append(delayed(dealt, nout=n)(block, n, seed, i))
        futures = client.compute([d[v] for d in dealing for v in range(n)], workers=[worker], allow_other_workers=False)
        for j in range(len(mine)):
            for v in range(n):
                pieces[v].append(futures[j * n + v])
    # each worker's pieces, back in partition order (they were made worker by worker)
    order = [i for w in range(n) for i in range(w, len(parts), n)]
    blocks = []
    for v, worker in enumerate(workers):
        ordered = [piece for _, piece in sorted(zip(order, pieces[v], strict=True), key=lambda pair: pair[0])]
        blocks.append(
            client.submit(joined, len(classes or []), *ordered, workers=[worker], allow_other_workers=False, pure=False)
        )
    try:
        cluster.run("computing the training features on the workers", lambda: wait(blocks), pinned_to=workers)
    except BaseException:
        client.cancel(blocks)  # what a lost worker left of them would otherwise wait for it
        raise
    del pieces  # the joined blocks hold the rows now
    summaries = client.gather(
        [
            client.submit(_getitem, b, slice(2, 4), workers=[w], allow_other_workers=False)
            for b, w in zip(blocks, workers, strict=True)
        ]
    )
    features = [
        client.submit(_getitem, b, 0, workers=[w], allow_other_workers=False)
        for b, w in zip(blocks, workers, strict=True)
    ]
    target_ = [
        client.submit(_getitem, b, 1, workers=[w], allow_other_workers=False)
        for b, w in zip(blocks, workers, strict=True)
    ]
    return Placed(features, target_, [int(s[0]) for s in summaries], [s[1] for s in summaries], workers)


def _placed_with_every_class(
    settings: Settings, cluster: Cluster, frame, preprocess, width: int, classes: list
) -> Placed:
    """LightGBM's classifier: the placed rows, each worker's holding every class; a DataError when one does not
    (a class with about as few training rows as there are workers)."""
    inputs, target = settings.data.inputs, settings.data.target
    placed = place(cluster, frame, preprocess, inputs, width, target, classes, settings.seed)
    missing = placed.missing(classes)
    if missing:
        placed.release()
        worker, lacking = missing[0]
        raise DataError(
            f"LightGBM's Dask training needs every class among the training rows of every worker, and worker "
            f"{worker} of {len(placed.rows)} was dealt no row of class(es) {lacking[:10]}: a class has too few "
            "training rows. Use model.type: xgboost (its Dask training has no such need), fewer workers, or more "
            "rows of that class."
        )
    return placed


def without_network(model: str) -> str:
    """A LightGBM model string without what only this run's network was: the booster records the `machines`
    (host:port of each worker) and `local_listen_port` it trained with, ports picked free for the run, so two
    runs of one cluster shape would differ there alone. Both are set to LightGBM's defaults."""
    model = re.sub(r"^\[machines: [^\]\n]*\]$", "[machines: ]", model, flags=re.MULTILINE)
    return re.sub(r"^\[local_listen_port: \d+\]$", "[local_listen_port: 12400]", model, flags=re.MULTILINE)


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
    # the network's parameters, which LightGBM drops from the parameters but leaves as attributes
    for key in [k for k in vars(model) if not k.startswith("_") and not k.endswith("_") and k not in params]:
        delattr(model, key)
    current = model.get_params(deep=False)
    model.set_params(**{k: v for k, v in params.items() if current[k] is not v and current[k] != v})
    booster = model.booster_
    booster.model_from_string(without_network(booster.model_to_string()))
    for key in ("machines", "local_listen_port"):  # the parameters it trained with, kept by the booster too
        booster.params.pop(key, None)
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


def training_riders(settings: Settings):
    """What training needs of the training split before it places the rows, as reductions `split_data` computes
    in its own pass (its `riders`): the classes (classification) and the preprocessing sample, of the model's
    columns only (not the ones it ignores, such as wide text)."""
    data = settings.data

    def riders(train) -> dict[str, Any]:
        used = list(dict.fromkeys([*data.inputs.raw, data.target]))
        found = {"train.sample": sampling(train[used], PREPROCESS_SAMPLE_ROWS, settings.seed)}
        if settings.task == "classification":
            found["train.classes"] = collecting_classes(train, data.target, MAX_CATEGORIES)
        return found

    return riders


def _computed(cluster: Cluster, lazy: dict[str, Any]) -> dict[str, Any]:
    import dask

    return cluster.run("sampling the training split", lambda: dask.compute(lazy)[0])


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
    needed = {"train.sample", "train.classes"} if classification else {"train.sample"}  # `training_riders`' names
    rode = split.riders if needed <= split.riders.keys() else _computed(cluster, training_riders(settings)(frame))
    if classification:
        found = collected_classes(rode["train.classes"], MAX_CATEGORIES)
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

    rows = sampled(rode["train.sample"])  # the same rows however the data is partitioned
    preprocess = pipeline[:-1]
    preprocess.fit(model_frame(rows, inputs), target_of(rows, data.target, classes))
    width = np.asarray(preprocess.transform(model_frame(rows.head(1), inputs))).shape[1]

    if classes is not None and isinstance(local, lightgbm.LGBMClassifier):
        placed = _placed_with_every_class(settings, cluster, frame, preprocess, width, classes)
    else:
        placed = place(cluster, frame, preprocess, inputs, width, data.target, classes, settings.seed)

    def fit():
        features, target = placed.arrays(width, classes is not None)
        return estimator.fit(features, target)

    if isinstance(local, lightgbm.LGBMModel):
        from .quiet import quiet_remote_sockets

        quiet_remote_sockets(cluster.client)
    # here, not in `fit`'s thread (which may outlive a lost worker's ClusterError, and would then put back
    # the filters it found): LightGBM's workers train with their own threads, whatever n_jobs says
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        try:
            cluster.run(f"training {settings.model.type} on the cluster", fit, pinned_to=placed.workers)
        finally:
            placed.release()
    labels = labels_array(classes) if classes is not None else None
    if isinstance(local, lightgbm.LGBMModel):
        fitted_local = _lightgbm_local(estimator, local, labels)
    else:
        fitted_local = _xgboost_local(estimator, local, labels)
    pipeline.steps[-1] = ("model", fitted_local)
    return ClusterTrained(pipeline, split, classes, len(rows), frame.npartitions)
