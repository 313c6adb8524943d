"""Stage 2, train: fit the Pipeline on the training split, deterministically (seed from params)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from ..bundle import layout
from ..errors import DataError, StageOrderError
from ..project import build_pipeline
from ..runtime.calendar import as_datetime
from ..runtime.signature import model_frame
from ..settings import Settings
from ..utils import atomic
from .validate import ValidatedData


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    labelled: pd.DataFrame  # the rows with a target (all columns)
    test_rows: np.ndarray  # positions of the test rows in `labelled`
    dropped_missing_target: int

    @property
    def test_frame(self) -> pd.DataFrame:
        """The raw test rows (all columns)."""
        return self.labelled.iloc[self.test_rows]


@dataclass(frozen=True)
class Trained:
    """What training hands forward: the data it used, the fitted Pipeline and the split."""

    validated: ValidatedData
    model: Pipeline
    parts: Split
    train_features: np.ndarray | None = None  # the preprocessed training rows, when fitted in this process


def test_pool(settings: Settings, snapshot: dict) -> np.ndarray | None:
    """Which rows of the validated frame may be test rows: those of `settings.test_pool`'s files (None: all)."""
    if settings.test_pool is None:
        return None
    pool = set(settings.test_pool)
    return np.concatenate(
        [np.full(entry["rows"], entry["path"] in pool, dtype=bool) for entry in snapshot["files"]]
        or [np.zeros(0, bool)]
    )


def split(settings: Settings, frame: pd.DataFrame, pool: np.ndarray | None = None) -> Split:
    """Drop rows without a target, type the features, and split train/test reproducibly.

    `pool` marks the rows a time split may test on (the new batches when retraining); a random
    split ignores it.
    """
    data = settings.data
    has_target = frame[data.target].notna()
    labelled = frame if has_target.all() else frame[has_target]
    if pool is not None:
        pool = pool[has_target.to_numpy()]
    dropped = len(frame) - len(labelled)
    if len(labelled) < 10:
        raise DataError(
            f"only {len(labelled)} row(s) have a value in the target column {data.target!r}; need at least 10."
        )
    y = labelled[data.target]
    if y.dtype.kind in "biuf" and isinstance(y.dtype, pd.api.extensions.ExtensionDtype):
        # a nullable column ("boolean", "Int64": a contract's nullable bool or int target) without its gaps, as
        # numpy's bool or int64: scikit-learn would read it as float, so True/False would become classes 0.0/1.0
        y = y.astype(y.dtype.numpy_dtype)
    if settings.task == "classification" and y.dtype.kind == "f" and (y == y.round()).all():
        y = y.astype("int64")  # a class column read as float because of missing values: 1.0 -> 1
    stratify = None
    if settings.task == "classification":
        counts = y.value_counts()
        if len(counts) < 2:
            raise DataError(
                f"the target {data.target!r} has a single class ({counts.index[0]!r}); a classifier needs two or more."
            )
        if counts.min() >= 2:
            # integer codes in sorted class order split exactly as the labels do, without sorting strings
            stratify = pd.factorize(y, sort=True)[0]
    X = model_frame(labelled, data.inputs)
    if data.split == "time":
        train_idx, test_idx = time_split(labelled, str(data.split_column), data.test_size, pool)
    else:
        try:
            train_idx, test_idx = train_test_split(
                np.arange(len(labelled)), test_size=data.test_size, random_state=settings.seed, stratify=stratify
            )
        except ValueError as error:
            raise DataError(
                f"cannot split {len(labelled)} labelled rows with data.test_size {data.test_size}: {error}. "
                "Use a test_size that leaves rows on both sides (e.g. 0.2 to 0.3)."
            ) from None
    return Split(
        X.iloc[train_idx],
        X.iloc[test_idx],
        y.iloc[train_idx],
        y.iloc[test_idx],
        labelled,
        test_idx,
        dropped,
    )


def time_split(
    labelled: pd.DataFrame, column: str, test_size: float, pool: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train on the past, test on the most recent rows: the last `test_size` share by `column`.

    With `pool` (the rows of new batches, when retraining), the pool and the other rows are split
    each on their own: the most recent `test_size` of the new rows and of the old ones are tested,
    so the earlier new rows train the model too, and the gates still see a full-size test split.
    Rows sharing the boundary time stay on one side (no moment is split), which may make the test
    side a little smaller. Rows without a time train only.
    """
    times = as_datetime(labelled[column], column)
    known = times.notna().to_numpy()
    if pool is None:
        test = _most_recent(times, known, test_size, column, at_least_one=False)
    else:
        test = _most_recent(times, known & pool, test_size, column, at_least_one=True)
        if (known & ~pool).any():
            test |= _most_recent(times, known & ~pool, test_size, column, at_least_one=False)
    if not (known & ~test).any():
        if times[known].nunique() == 1:
            raise DataError(f"every row of {column!r} has the same time: a time split needs more than one moment")
        raise DataError(f"no row of {column!r} is older than the test rows: a time split needs a past to train on")
    return np.flatnonzero(~test), np.flatnonzero(test)


def _most_recent(times: pd.Series, eligible: np.ndarray, share: float, column: str, at_least_one: bool) -> np.ndarray:
    """The eligible rows among the most recent `share` of them by time (ties kept together)."""
    candidates = np.sort(times.to_numpy()[eligible])
    n_test = round(len(candidates) * share)
    if at_least_one and len(candidates):
        n_test = max(n_test, 1)  # a new batch always leaves at least one row to judge the models on
    if n_test < 1 or (not at_least_one and n_test >= len(candidates)):
        raise DataError(
            f"cannot hold out the most recent {round(share * 100)} percent of {len(candidates)} rows by "
            f"{column!r}: use a test_size that leaves rows on both sides (e.g. 0.2 to 0.3)."
        )
    if n_test >= len(candidates):
        return eligible.copy()
    boundary = candidates[len(candidates) - n_test - 1]  # the time just before the most recent n_test
    test = eligible & (times > boundary).to_numpy()
    if not test.any():  # the most recent moment holds more than n_test rows: it is the test side
        test = eligible & (times >= boundary).to_numpy()
    return test


def fit(settings: Settings, parts: Split) -> Pipeline:
    return fit_with_features(settings, parts)[0]


def fit_with_features(settings: Settings, parts: Split) -> tuple[Pipeline, np.ndarray]:
    """The fitted Pipeline, and the preprocessed training features the model was fitted on.

    Fits step by step as Pipeline.fit does, keeping the features so that evaluation can score
    the training rows without preprocessing them a second time.
    """
    pipeline = build_pipeline(settings)
    features = pipeline[:-1].fit_transform(parts.X_train, parts.y_train)
    pipeline[-1].fit(features, parts.y_train)
    return pipeline, features


def save(settings: Settings, pipeline: Pipeline, parts: Split, snapshot: dict) -> Path:
    import joblib

    out = settings.artifacts_dir
    out.mkdir(parents=True, exist_ok=True)
    for stale in layout.DOWNSTREAM_OF_TRAINING:  # results of the previous model must not pass for this one's
        (out / stale).unlink(missing_ok=True)
    with atomic.atomic_path(out / layout.TRAINED_MODEL) as tmp:
        joblib.dump(pipeline, tmp)
    record = {
        "params_hash": settings.params_hash(),
        "seed": settings.seed,
        "data": snapshot,
        "rows": {
            "train": len(parts.X_train),
            "test": len(parts.X_test),
            "dropped_missing_target": parts.dropped_missing_target,
        },
        "model": settings.model.type,
        "code": code_fingerprint(settings),
    }
    atomic.write_json(out / layout.TRAIN_RECORD, record)
    return out / layout.TRAINED_MODEL


def load(settings: Settings, snapshot: dict) -> tuple[Pipeline, dict]:
    """The trained pipeline, refusing one trained on other data or other params than the current ones, or by the
    other engine: params_hash leaves `compute` out, and the engines split the rows by different rules, so a model
    the other engine trained may have learned the rows this engine tests on."""
    import json

    import joblib

    out = settings.artifacts_dir
    if not (out / layout.TRAINED_MODEL).is_file() or not (out / layout.TRAIN_RECORD).is_file():
        raise StageOrderError(f"no trained model in {out}; run `train` first (or `pipeline`).")
    record = json.loads((out / layout.TRAIN_RECORD).read_text(encoding="utf-8"))
    trained_by = (record.get("compute") or {}).get("engine", "pandas")  # train.json before engines: pandas
    engine = settings.compute.engine
    if trained_by != engine:
        again = "`make pipeline`" if engine == "dask" else "`make train` (or `make pipeline`)"
        raise StageOrderError(
            f"the model in {out} was trained on the {trained_by} engine and compute.engine is {engine}: the engines "
            f"split the rows differently, so its test rows may be rows it trained on. Run {again} on the {engine} "
            f"engine first, or set compute.engine: {trained_by} back."
        )
    if record["params_hash"] != settings.params_hash():
        raise StageOrderError("params.yaml changed since the model was trained; run `train` again.")
    if record["data"]["fingerprint"] != snapshot["fingerprint"]:
        raise StageOrderError("the data changed since the model was trained; run `train` again.")
    if record.get("code") != code_fingerprint(settings):
        raise StageOrderError(
            "the code that builds the model changed since it was trained (model.py, the contract, or the "
            "modelkeel / scikit-learn version); run `train` again."
        )
    return joblib.load(out / layout.TRAINED_MODEL), record


def code_fingerprint(settings: Settings) -> dict:
    """What, besides params and data, decides the fitted model: the project's model.py and contract module
    (their sha256) and the versions of modelkeel and scikit-learn that fitted it."""
    import importlib.util
    from importlib import metadata

    from ..project import MODEL_MODULE, SCHEMAS_PACKAGE, import_module
    from ..utils.hashing import sha256_file

    files = {}
    for name in (MODEL_MODULE, f"{SCHEMAS_PACKAGE}.{settings.data.schema_name}"):
        import_module(settings, name.split(".")[0])
        spec = importlib.util.find_spec(f"{settings.package}.{name}")
        files[name] = sha256_file(Path(spec.origin)) if spec is not None and spec.origin else None
    return {
        "files": files,
        "modelkeel": metadata.version("modelkeel"),
        "scikit-learn": metadata.version("scikit-learn"),
    }
