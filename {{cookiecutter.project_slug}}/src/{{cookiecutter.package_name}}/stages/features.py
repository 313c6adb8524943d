"""The scikit-learn Pipeline: a ColumnTransformer over the raw columns, then the model; and predicting with it.

Keeping preprocessing inside one Pipeline means the exported ONNX graph takes the
raw columns a consumer has, not preprocessed arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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


def build_pipeline(settings: Settings) -> Pipeline:
    data = settings.data
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if isinstance(settings.model, LinearParams):
        numeric_steps.append(("scale", StandardScaler()))
    # A missing category arrives as MISSING_CATEGORY (see runtime/signature.py) and is a category of its
    # own: no imputer needed, which also spares the ONNX graph two string `Where` nodes per column.
    categorical_steps = [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]
    transformers = []
    if data.inputs.model_numeric:  # numeric columns and the calendar parts of time columns
        transformers.append(("numeric", Pipeline(numeric_steps), list(data.inputs.model_numeric)))
    if data.categorical_features:
        transformers.append(("categorical", Pipeline(categorical_steps), list(data.categorical_features)))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("model", build_estimator(settings))])


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
