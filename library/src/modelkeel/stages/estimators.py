"""The estimators the model options name (params.yaml's `model.type`), and predicting with a fitted Pipeline.

A project's `model.py` builds its Pipeline from `build_estimator(settings)` and its own preprocessing
(see project.py); this module and its two functions are part of the library's public contract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..errors import SettingsError
from ..quality.metrics import Predictions
from ..settings import (
    GradientBoostingParams,
    LightGBMParams,
    LinearParams,
    RandomForestParams,
    Settings,
    XGBoostParams,
)

# keys modelkeel sets itself so that training is reproducible: params.yaml's model may not change them
FIXED_KEYS = {
    "random_state": "the estimator is seeded from `seed` at the top of params.yaml: set it there",
    "deterministic": "modelkeel sets it (with force_row_wise) so LightGBM grows the same trees on any machine",
    "force_row_wise": "modelkeel sets it (with deterministic) so LightGBM grows the same trees on any machine",
}


def build_estimator(settings: Settings):
    """The estimator `model.type` names, with the option's keys and any other key of params.yaml's `model`
    that the estimator takes (one of its `get_params()`); a key it does not take is refused, naming those it does."""
    estimator = _option_estimator(settings)
    extra = settings.model.estimator_keys
    if not extra:
        return estimator
    fixed = sorted(set(extra) & set(FIXED_KEYS))
    if fixed:
        raise SettingsError("; ".join(f"model.{key}: {FIXED_KEYS[key]}" for key in fixed))
    takes = set(estimator.get_params(deep=False)) | _native_keys(estimator)
    unknown = sorted(set(extra) - takes)
    if unknown:
        accepted = ", ".join(sorted(takes - set(FIXED_KEYS)))
        raise SettingsError(
            f"{', '.join(f'model.{key}' for key in unknown)}: not a parameter of {type(estimator).__name__} "
            f"(model.type {settings.model.type}); params.yaml's model may set: {accepted}"
        )
    return estimator.set_params(**extra)


def _native_keys(estimator) -> set[str]:
    """The booster parameters LightGBM's scikit-learn estimators pass through (`max_cat_to_onehot`,
    `cat_smooth`, `feature_fraction`, ... and their aliases): `get_params()` lists only the wrapper's own.
    Read from LightGBM's own table of parameters and aliases; empty for other estimators, or when a
    LightGBM release no longer offers that table (then only `get_params()` keys are accepted)."""
    if not type(estimator).__module__.startswith("lightgbm"):
        return set()
    try:
        from lightgbm.basic import _ConfigAliases

        table = _ConfigAliases._get_all_param_aliases()
    except (ImportError, AttributeError):
        return set()
    return set(table) | {alias for aliases in table.values() for alias in aliases}


def _option_estimator(settings: Settings):
    params = settings.model
    seed = settings.seed
    classification = settings.task == "classification"
    if isinstance(params, RandomForestParams):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classification else RandomForestRegressor
        return cls(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth,
            min_samples_leaf=params.min_samples_leaf,
            n_jobs=params.n_jobs,
            random_state=seed,
        )
    if isinstance(params, GradientBoostingParams):
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        cls = GradientBoostingClassifier if classification else GradientBoostingRegressor
        return cls(
            n_estimators=params.n_estimators,
            learning_rate=params.learning_rate,
            max_depth=params.max_depth,
            subsample=params.subsample,
            random_state=seed,
        )
    if isinstance(params, LinearParams):
        from sklearn.linear_model import LogisticRegression, Ridge

        if classification:
            return LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=seed)
        return Ridge(alpha=params.alpha)
    if isinstance(params, LightGBMParams):
        from .boosters import lightgbm_estimator

        return lightgbm_estimator(params, seed, classification)
    if isinstance(params, XGBoostParams):
        from .boosters import xgboost_estimator

        return xgboost_estimator(params, seed, classification)
    raise TypeError(f"unsupported model settings: {type(params).__name__}")  # pragma: no cover


def predict(
    settings: Settings,
    model: Pipeline,
    X: pd.DataFrame,
    features: np.ndarray | None = None,
    threads: int | None = None,
) -> Predictions:
    """What `model.predict` (and `model.predict_proba`) return on X, with one pass through the preprocessing.

    Calling both methods of the Pipeline would run the ColumnTransformer twice; on a million
    rows of text categories that transform costs as much as the prediction itself.
    `features` is X already preprocessed by the model's own steps (the training rows, as fitted).
    `threads`: what a LightGBM model predicts with (default: every core this process may use, whatever its
    n_jobs, which keeps its training reproducible, says; a row's prediction does not depend on the threads).
    """
    features = model[:-1].transform(X) if features is None else features
    estimator = model[-1]
    on: dict[str, int] = {"num_threads": threads or _cores()} if _is_lightgbm(estimator) else {}
    if settings.task != "classification":
        return Predictions(np.asarray(estimator.predict(features, **on)).reshape(-1), None)
    proba = estimator.predict_proba(features, **on)
    if _predicts_by_margin(estimator):
        label = estimator.predict(features)  # margin models: scikit-learn's own decision rule
    else:
        label = estimator.classes_.take(proba.argmax(axis=1))  # this is their predict
    return Predictions(label, proba)


def _cores() -> int:
    """The cores this process may use (joblib's count: the CPU affinity and a container's CPU quota)."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def _is_lightgbm(estimator) -> bool:
    import sys

    lightgbm = sys.modules.get("lightgbm")  # a LightGBM model exists only if lightgbm is imported
    return lightgbm is not None and isinstance(estimator, lightgbm.LGBMModel)


def _predicts_by_margin(estimator) -> bool:
    """Whether `predict` decides on the margin rather than as the argmax of `predict_proba`.

    scikit-learn's linear and gradient-boosting classifiers threshold their decision function;
    forests, XGBoost and LightGBM (whose `decision_function` exists but whose `predict` is
    `argmax(predict_proba)`, unless its objective is a callable: then both answer raw scores)
    need only the one call, which halves a booster's scoring.
    """
    if _is_lightgbm(estimator):
        return callable(getattr(estimator, "_objective", None))
    return hasattr(estimator, "decision_function")
