"""The model: how the raw columns become features, and which estimator learns from them. Yours to edit.

The library calls `build_pipeline(settings)` (found by `package` in params.yaml) for every training run:
the pipeline, the loop's challengers and the tests. Keep the preprocessing inside the one Pipeline, so the
exported ONNX graph takes the raw columns a consumer has; skl2onnx must be able to convert every step
(the export's parity gate proves it did).
"""

from __future__ import annotations

from modelkeel.settings import LinearParams, Settings
from modelkeel.stages.estimators import build_estimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

# Categories: one column each, but a category seen in fewer training rows than MIN_CATEGORY_ROWS shares
# one column with the other rare ones, and a text column gets at most MAX_CATEGORY_COLUMNS columns (its
# most frequent categories, then the shared one). A text column with hundreds of values (airports,
# products; `infer-schema --max-categories`) stays small and learnable. A category training never saw
# gets no column (all zeros) and the model still answers.
MIN_CATEGORY_ROWS = 10
MAX_CATEGORY_COLUMNS = 100


def build_pipeline(settings: Settings) -> Pipeline:
    """Preprocessing (imputed numbers, one-hot categories) then the estimator params.yaml's `model` names."""
    data = settings.data
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if isinstance(settings.model, LinearParams):
        numeric_steps.append(("scale", StandardScaler()))
    # A missing category arrives as its own category (the runtime fills it in), so no imputer is needed.
    # Codes first (rare categories share one, unseen ones get -1), then one column per code: the pair
    # converts to ONNX for any number of columns (skl2onnx cannot convert a OneHotEncoder's own rare-category
    # pooling when it encodes a single column) and passes the parity gate.
    codes = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        min_frequency=MIN_CATEGORY_ROWS,
        max_categories=MAX_CATEGORY_COLUMNS,
    )
    categorical = Pipeline([("codes", codes), ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))])
    transformers = []
    if data.inputs.model_numeric:  # numeric columns and the calendar parts of time columns
        transformers.append(("numeric", Pipeline(numeric_steps), list(data.inputs.model_numeric)))
    if data.categorical_features:
        transformers.append(("categorical", categorical, list(data.categorical_features)))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("model", build_estimator(settings))])
