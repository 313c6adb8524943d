"""The estimators the model options name (params.yaml's `model.type`), and predicting with a fitted Pipeline.

A project's `model.py` builds its Pipeline from `build_estimator(settings)` and its own preprocessing
(see project.py); this module and its two functions are part of the library's public contract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..quality.metrics import Predictions
from ..settings import (
    GradientBoostingParams,
    LightGBMParams,
    LinearParams,
    RandomForestParams,
    Settings,
    XGBoostParams,
)


def build_estimator(settings: Settings):
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


def predict(settings: Settings, model: Pipeline, X: pd.DataFrame, features: np.ndarray | None = None) -> Predictions:
    """What `model.predict` (and `model.predict_proba`) return on X, with one pass through the preprocessing.

    Calling both methods of the Pipeline would run the ColumnTransformer twice; on a million
    rows of text categories that transform costs as much as the prediction itself.
    `features` is X already preprocessed by the model's own steps (the training rows, as fitted).
    """
    features = model[:-1].transform(X) if features is None else features
    estimator = model[-1]
    if settings.task != "classification":
        return Predictions(np.asarray(estimator.predict(features)).reshape(-1), None)
    proba = estimator.predict_proba(features)
    if hasattr(estimator, "decision_function"):
        label = estimator.predict(features)  # margin models: scikit-learn's own decision rule
    else:
        label = estimator.classes_.take(proba.argmax(axis=1))  # forests: this is their predict
    return Predictions(label, proba)
