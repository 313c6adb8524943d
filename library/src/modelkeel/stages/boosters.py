"""LightGBM and XGBoost as the Pipeline's model step, and their ONNX converters (onnxmltools, inside skl2onnx).

Imported only when params.yaml's `model.type` is lightgbm or xgboost. `register_converters`
teaches skl2onnx the four estimators, so the whole Pipeline (ColumnTransformer + model) still
converts in one `to_onnx` call and its outputs keep their names (`label` / `probabilities`,
`variable`). Two differences from scikit-learn's own estimators are handled here:

- XGBoost's classifier takes only the labels 0..n-1. `LabelledXGBClassifier` codes any labels
  (text, or integers of any values) when fitting and gives them back from `predict` and
  `classes_`, as a scikit-learn classifier does; the ONNX graph then returns the labels themselves.
- LightGBM keeps its split thresholds in float64, ONNX's TreeEnsemble in float32. Rounding a
  threshold to the nearest float32 can cross a value: between 16.6 and 16.8 (as float32) LightGBM
  splits at 16.69999981, which rounds to 16.70000076, the float32 of 16.7, so a row with 16.7 would
  take the other branch in ONNX. The numeric inputs are float32 end to end (runtime/signature.py),
  and for a float32 x, `x <= t` holds exactly when x <= the largest float32 not above t: the
  converter gets those thresholds, so the graph makes LightGBM's decisions exactly. (XGBoost's
  thresholds are float32 already, as are scikit-learn's trees'.)
"""

from __future__ import annotations

from typing import Any

import lightgbm
import numpy as np
import xgboost

from ..settings import LightGBMParams, XGBoostParams


class LabelledXGBClassifier(xgboost.XGBClassifier):
    """XGBoost's classifier for any class labels: coded 0..n-1 (in sorted order) to fit, decoded on the way out."""

    def fit(self, X, y, **kwargs):
        self.__dict__.pop("labels_", None)  # refitting: XGBoost checks the codes against classes_
        labels, codes = np.unique(np.asarray(y), return_inverse=True)
        super().fit(X, codes.reshape(-1), **kwargs)
        self.labels_ = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = self.__dict__.get("labels_")
        return super().classes_ if labels is None else labels

    def predict(self, X, **kwargs):
        return self.classes_.take(np.asarray(super().predict(X, **kwargs), dtype=np.int64))


def lightgbm_estimator(params: LightGBMParams, seed: int, classification: bool):
    cls = lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor
    return cls(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        n_jobs=params.n_jobs,
        random_state=seed,
        deterministic=True,  # with force_row_wise: the same trees for the same data and seed
        force_row_wise=True,
        verbose=-1,
    )


def xgboost_estimator(params: XGBoostParams, seed: int, classification: bool):
    cls = LabelledXGBClassifier if classification else xgboost.XGBRegressor
    return cls(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        max_depth=params.max_depth,
        subsample=params.subsample,
        n_jobs=params.n_jobs,
        random_state=seed,
        tree_method="hist",
    )


def float32_floor(value: float) -> float:
    """The largest float32 not above `value` (as a Python float, exactly a float32 value)."""
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, then stepped back to the largest finite
        low = np.float32(value)
    if float(low) > value:
        low = np.nextafter(low, np.float32(-np.inf))
    return float(low)


def floor_thresholds(tree: dict) -> None:
    """Replace every numeric `<=` threshold of a LightGBM tree dump by its float32 floor, in place."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if "left_child" not in node:
            continue  # a leaf
        if node.get("decision_type") == "<=" and isinstance(node.get("threshold"), int | float):
            node["threshold"] = float32_floor(node["threshold"])
        stack += [node["left_child"], node["right_child"]]


class _Float32Booster:
    """The booster as onnxmltools reads it: its dump, with float32-floored thresholds.

    onnxmltools takes the dump of a booster marked `is_mock` from its `dump_model()`.
    """

    is_mock = True

    def __init__(self, booster: lightgbm.Booster):
        self._booster = booster

    def dump_model(self) -> dict:
        dump = self._booster.dump_model()
        for tree in dump["tree_info"]:
            floor_thresholds(tree["tree_structure"])
        return dump


class _Float32LightGBM:
    """A fitted LightGBM estimator whose booster onnxmltools sees through `_Float32Booster`."""

    def __init__(self, model: lightgbm.LGBMModel):
        self._model = model
        self.booster_ = _Float32Booster(model.booster_)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def convert_lightgbm(scope, operator, container) -> None:
    """onnxmltools' LightGBM converter, given float32-floored thresholds."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm as convert

    model = operator.raw_operator
    operator.raw_operator = _Float32LightGBM(model)
    try:
        convert(scope, operator, container)
    finally:
        operator.raw_operator = model


def register_converters() -> None:
    """Register the LightGBM and XGBoost converters with skl2onnx (idempotent)."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for model, alias, shapes, converter, options in (
        (
            lightgbm.LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            classifier_options,
        ),
        (
            lightgbm.LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            None,
        ),
        (
            LabelledXGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            classifier_options,
        ),
        (xgboost.XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost, None),
    ):
        update_registered_converter(model, alias, shapes, converter, options=options)
