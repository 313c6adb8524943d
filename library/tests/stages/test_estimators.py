"""The estimators: the other keys of params.yaml's `model` reach the estimator when it takes them."""

import pytest
from ruamel.yaml import YAML

from modelkeel.errors import SettingsError
from modelkeel.settings import load_settings
from modelkeel.stages.estimators import build_estimator

from ..conftest import PROJECT_ROOT


def settings_with_model(tmp_path, task, model: dict):
    """The fixed project's params for `task` with `model:` replaced, loaded from a params.yaml as a user writes it."""
    yaml = YAML(typ="safe")
    name = "params.yaml" if task == "classification" else "params.regression.yaml"
    raw = yaml.load((PROJECT_ROOT / name).read_text())
    raw["model"] = model
    path = tmp_path / "params.yaml"
    with path.open("w") as handle:
        yaml.dump(raw, handle)
    return load_settings(path)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize(
    ("model", "key", "value"),
    [
        ({"type": "lightgbm", "max_depth": 5}, "max_depth", 5),
        ({"type": "gradient_boosting", "max_depth": 5, "max_features": 0.5}, "max_features", 0.5),
        ({"type": "xgboost", "colsample_bytree": 0.7}, "colsample_bytree", 0.7),
        ({"type": "random_forest", "max_features": 0.5}, "max_features", 0.5),
    ],
)
def test_a_key_the_estimator_takes_reaches_it(tmp_path, task, model, key, value):
    settings = settings_with_model(tmp_path, task, model)
    estimator = build_estimator(settings)
    assert estimator.get_params()[key] == value
    assert estimator.get_params()["random_state"] == settings.seed, "still seeded from params.yaml's seed"
    assert settings.as_params()["model"][key] == value, "recorded with the params (and in their hash)"
    if model["type"] == "gradient_boosting":
        assert estimator.get_params()["max_depth"] == 5


def test_a_key_the_estimator_does_not_take_is_refused_naming_the_ones_it_does(tmp_path):
    settings = settings_with_model(tmp_path, "classification", {"type": "lightgbm", "nonsense": 1})
    with pytest.raises(SettingsError, match=r"model\.nonsense: not a parameter of LGBMClassifier") as refused:
        build_estimator(settings)
    accepted = str(refused.value).split("may set: ")[1].split(", ")
    assert {"max_depth", "colsample_bytree", "reg_lambda", "num_leaves"} <= set(accepted)
    assert not {"random_state", "deterministic", "force_row_wise"} & set(accepted), "modelkeel sets those"


def test_a_misspelt_option_key_is_refused_when_the_estimator_is_built(tmp_path):
    settings = settings_with_model(tmp_path, "classification", {"type": "random_forest", "n_estimator": 3})
    with pytest.raises(
        SettingsError, match=r"model\.n_estimator: not a parameter of RandomForestClassifier.*n_estimators"
    ):
        build_estimator(settings)


def test_keys_that_would_make_training_irreproducible_are_refused(tmp_path):
    for key in ("random_state", "seed"):
        with pytest.raises(SettingsError, match=rf"model\.{key}: the estimator is seeded from `seed`"):
            settings_with_model(tmp_path, "regression", {"type": "xgboost", key: 7})
    settings = settings_with_model(tmp_path, "regression", {"type": "lightgbm", "deterministic": False})
    with pytest.raises(SettingsError, match=r"model\.deterministic: modelkeel sets it"):
        build_estimator(settings)


def test_a_key_holds_a_plain_value_or_a_list_of_them(tmp_path):
    settings = settings_with_model(tmp_path, "classification", {"type": "xgboost", "monotone_constraints": [1, 0]})
    assert settings.model.estimator_keys == {"monotone_constraints": [1, 0]}
    with pytest.raises(SettingsError, match=r"model\.objective: give a number, text"):
        settings_with_model(tmp_path, "classification", {"type": "xgboost", "objective": {"name": "x"}})


def test_lightgbm_takes_its_own_booster_parameters_which_get_params_does_not_list(tmp_path):
    """LightGBM's categorical handling (max_cat_to_onehot, cat_smooth) and its aliases pass through to the booster."""
    model = {"type": "lightgbm", "max_cat_to_onehot": 8, "cat_smooth": 5.0, "feature_fraction": 0.8}
    estimator = build_estimator(settings_with_model(tmp_path, "classification", model))
    assert "max_cat_to_onehot" not in type(estimator)().get_params()
    assert {k: estimator.get_params()[k] for k in ("max_cat_to_onehot", "cat_smooth", "feature_fraction")} == {
        "max_cat_to_onehot": 8,
        "cat_smooth": 5.0,
        "feature_fraction": 0.8,
    }
    with pytest.raises(SettingsError, match=r"model\.cat_smoothing: not a parameter of LGBMClassifier"):
        build_estimator(settings_with_model(tmp_path, "classification", {"type": "lightgbm", "cat_smoothing": 5}))


@pytest.mark.parametrize(
    "model",
    [
        {"type": "lightgbm", "n_estimators": 20},
        {"type": "xgboost", "n_estimators": 20},
        {"type": "random_forest", "n_estimators": 10},
        {"type": "gradient_boosting", "n_estimators": 20},
        {"type": "linear"},
    ],
    ids=lambda model: model["type"],
)
def test_predict_gives_the_pipelines_own_labels_and_asks_a_booster_only_for_probabilities(tmp_path, model):
    """`predict` equals Pipeline.predict and predict_proba; a tree ensemble whose label is the argmax of its
    probabilities is scored once (LightGBM has a decision_function, yet its predict is that argmax)."""
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from modelkeel.stages.estimators import predict

    settings = settings_with_model(tmp_path, "classification", model)
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=list("abcd"))
    y = np.where(X["a"] + rng.normal(scale=0.8, size=600) > 0, "yes", "no")
    pipeline = Pipeline([("scale", StandardScaler()), ("model", build_estimator(settings))]).fit(X, y)
    calls: list[str] = []
    estimator = pipeline[-1]
    for method in ("predict", "predict_proba"):
        original = getattr(estimator, method)
        setattr(estimator, method, lambda f, _o=original, _m=method, **kw: calls.append(_m) or _o(f, **kw))
    got = predict(settings, pipeline, X)
    del estimator.predict, estimator.predict_proba
    margin = model["type"] in {"gradient_boosting", "linear"}
    assert calls == (["predict_proba", "predict"] if margin else ["predict_proba"])
    np.testing.assert_array_equal(got.label, pipeline.predict(X))
    np.testing.assert_allclose(got.proba, pipeline.predict_proba(X))
