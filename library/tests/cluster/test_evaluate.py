"""Evaluation on the cluster: the pandas engine's metrics.json, computed by reductions over the whole splits.

Given the model the cluster trained and the rows of its split, the pandas engine's `evaluate` (run here on
the collected rows) and the cluster's agree: every metric, slice, baseline, class recall and gate to 1e-9, the
ROC AUC within the error bound the cluster reports, and permutation importance exactly when the test sample
holds every test row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from modelkeel.cluster import evaluate as cluster_evaluate
from modelkeel.cluster.data import read_data
from modelkeel.cluster.split import split_data
from modelkeel.cluster.train import train_model
from modelkeel.cluster.validate import row_hash, sample, validate_data
from modelkeel.quality.metrics import Predictions
from modelkeel.runtime.signature import model_frame
from modelkeel.stages import evaluate as pandas_evaluate
from modelkeel.stages.estimators import predict
from modelkeel.stages.train import Split, Trained
from modelkeel.stages.validate import ValidatedData

from .modelled import for_target, modelled_frame, modelled_project

TOLERANCE = 1e-9
# (target, model, quality): slice bars that some slices miss, so the gates compute their intervals
CASES = {
    "text-lightgbm": ("label", "lightgbm", {"slice_threshold": 0.9}),
    "bool-xgboost": ("flag", "xgboost", {"slice_metric": "f1_macro", "slice_threshold": 0.95}),
    "regression-xgboost": ("value", "xgboost", {"slice_threshold": 0.5}),
    "regression-rmse-lightgbm": ("value", "lightgbm", {"slice_metric": "rmse", "slice_threshold": 0.5}),
}


@pytest.fixture(scope="module")
def modelled(tmp_path_factory):
    with modelled_project(tmp_path_factory.mktemp("cluster_evaluate"), "cluster_evaluate_project") as settings:
        yield settings


@pytest.fixture(scope="module")
def validated(modelled, dask_cluster):
    return validate_data(modelled, dask_cluster, read_data(modelled, dask_cluster))


@pytest.fixture(scope="module", params=list(CASES))
def case(request, modelled, validated, dask_cluster):
    target, model, quality = CASES[request.param]
    settings = for_target(modelled, target, model, **quality)
    trained = train_model(settings, dask_cluster, split_data(settings, dask_cluster, validated.frame))
    return settings, trained


def pandas_engine_metrics(settings, trained, validated) -> dict:
    """The pandas engine's evaluate on the same model and the same rows (collected: the test data is small)."""
    train, test = trained.split.train.compute(), trained.split.test.compute()
    target, inputs = settings.data.target, settings.data.inputs
    parts = Split(
        model_frame(train, inputs),
        model_frame(test, inputs),
        train[target],
        test[target],
        pd.concat([train, test]),
        np.arange(len(train), len(train) + len(test)),
        0,
    )
    local = ValidatedData(pd.concat([train, test]), validated.snapshot, validated.schema_name)
    return pandas_evaluate.evaluate(settings, Trained(local, trained.model, parts), "fp").metrics


def assert_close(found, expected, bound: float, where: str = "") -> None:
    if isinstance(expected, dict):
        assert set(found) == set(expected), where
        for key in expected:
            # the workers' scores can differ from this process's in the last bits (LightGBM after onnxruntime was
            # imported there), which reorders exact ties: ROC AUC agrees to its bound plus 1e-3 (a slice of a few rows moves most), the rest exactly
            tolerance = bound + 1e-3 if key == "roc_auc" else 0.0
            assert_close(found[key], expected[key], tolerance, f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(found) == len(expected), where
        for i, (f, e) in enumerate(zip(found, expected, strict=True)):
            assert_close(f, e, bound, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(found, bool):
        assert found is not None and math.isclose(found, expected, rel_tol=TOLERANCE, abs_tol=bound + TOLERANCE), (
            f"{where}: {found} != {expected}"
        )
    else:
        assert found == expected, f"{where}: {found!r} != {expected!r}"


def test_the_metrics_are_the_pandas_engines_on_the_same_model_and_rows(case, validated, dask_cluster):
    settings, trained = case
    found = cluster_evaluate.evaluate_model(settings, dask_cluster, trained, "fp").metrics
    expected = pandas_engine_metrics(settings, trained, validated)
    compute = found.pop("compute")
    bounds = compute["roc_auc_max_error"] or {"train": 0.0, "test": 0.0, "slices": 0.0}
    assert compute["sampled"]["rows"] == compute["sampled"]["of"] == trained.split.test_rows  # the whole test split
    for key in ("train", "test"):
        assert_close(found[key], expected[key], bounds[key], key)
    assert_close(found["slices"], expected["slices"], bounds["slices"], "slices")
    assert_close(found["baseline"], expected["baseline"], 0.0, "baseline")
    assert_close(found["classes"], expected["classes"], 0.0, "classes")
    assert_close(found["gates"], expected["gates"], max(bounds.values()), "gates")
    assert any(gate["interval"] is not None for gate in found["gates"]["slices"])  # intervals were compared too
    assert_close(found["feature_importance"], expected["feature_importance"], 0.0, "importance")
    assert found["rows"] == expected["rows"]
    assert {k: found[k] for k in ("task", "model", "primary_metric", "higher_is_better", "params_hash")} == {
        k: expected[k] for k in ("task", "model", "primary_metric", "higher_is_better", "params_hash")
    }


def test_what_needs_rows_uses_a_bounded_sample_and_says_so(modelled, validated, dask_cluster, monkeypatch):
    settings = for_target(modelled, "label")
    trained = train_model(settings, dask_cluster, split_data(settings, dask_cluster, validated.frame))
    monkeypatch.setattr(cluster_evaluate, "EVAL_SAMPLE_ROWS", 100)
    evaluation = cluster_evaluate.evaluate_model(settings, dask_cluster, trained, "fp")
    sampled = evaluation.metrics["compute"]["sampled"]
    assert sampled["rows"] == len(evaluation.sample.X_test) == len(evaluation.test_predictions.label) == 100
    assert sampled["of"] == trained.split.test_rows > 100
    # the metrics still cover the whole test split: the class recalls count every test row
    assert sum(c["rows"] for c in evaluation.metrics["classes"].values()) == trained.split.test_rows


def test_the_tables_that_reach_the_client_do_not_grow_with_the_rows(modelled, validated, dask_cluster):
    settings = for_target(modelled, "label")
    trained = train_model(settings, dask_cluster, split_data(settings, dask_cluster, validated.frame))
    summary = cluster_evaluate.summary_of(
        dask_cluster, "scoring", trained.split.test, settings, trained.model, trained.classes, True, None
    )
    groups = 1 + 4  # the whole split, and three colours and the gap
    k = len(trained.classes)
    assert len(summary["confusion"]) <= groups * k * k
    whole = summary["roc"].index.get_level_values("group") == ""
    assert whole.sum() <= k * 2 * cluster_evaluate.ROC_BINS
    assert (~whole).sum() <= (groups - 1) * k * 2 * cluster_evaluate.SLICE_ROC_BINS
    # every test row is counted once for the whole split and once in its colour's slice (a gap is a slice too)
    assert summary["confusion"]["count"].sum() == 2 * trained.split.test_rows


def test_a_slices_roc_table_is_bounded_whatever_its_rows_and_its_auc_within_the_bound_recorded(modelled, monkeypatch):
    """Scores of many distinct values (as a large test split gives): the whole split's histogram keeps fine bins,
    each slice value's at most 2 * 1024 rows per class scored, and a slice's AUC is within its bound."""
    settings = for_target(modelled, "flag")  # two classes: class 1's scores
    rows = 12_000
    rng = np.random.default_rng(5)
    frame = modelled_frame(rows, seed=5)
    frame["colour"] = rng.choice(["blue", "red"], rows)  # two slice values of about 6,000 rows each
    truth = rng.random(rows) < 0.4
    frame["flag"] = truth
    proba = np.clip(0.3 * truth + rng.uniform(0, 0.7, rows), 0, 1)
    predicted = Predictions(np.where(proba > 0.5, 1, 0), np.column_stack([1 - proba, proba]))
    monkeypatch.setattr(cluster_evaluate, "model_predictions", lambda *args: predicted)  # runs here, not on a worker
    classes = [False, True]
    summary = cluster_evaluate.merge([cluster_evaluate.summarise(frame, settings, None, classes, True, None)])
    roc = summary["roc"]
    groups = roc.index.get_level_values("group")
    assert (groups == "").sum() > 2 * 1024  # the whole split: fine bins, many of them filled
    for value in ("blue", "red"):
        in_slice = (groups == "colour") & (roc.index.get_level_values("value") == value)
        assert 0 < in_slice.sum() <= 2 * 1024  # one class scored, positives and negatives: 1024 bins each
        auc, bound, _ = cluster_evaluate.classification_scores(summary, ("colour", value), 2)
        rows_of = frame["colour"].to_numpy() == value
        exact = roc_auc_score(truth[rows_of], proba[rows_of])
        assert 0 < bound < 5e-3 and abs(auc["roc_auc"] - exact) <= bound + 1e-12
    whole_auc, whole_bound, _ = cluster_evaluate.classification_scores(summary, cluster_evaluate.WHOLE, 2)
    assert whole_bound < bound and abs(whole_auc["roc_auc"] - roc_auc_score(truth, proba)) <= whole_bound + 1e-12


def test_the_histogram_auc_is_within_its_bound_and_exact_on_tied_or_separated_scores():
    rng = np.random.default_rng(3)
    truth = rng.random(5000) < 0.4
    scores = np.clip(0.5 * truth + rng.normal(0.25, 0.2, 5000), 0, 1)

    def table(scores: np.ndarray, bins: int) -> pd.DataFrame:
        frame = pd.DataFrame({"pos": truth, "bin": np.minimum((scores * bins).astype(int), bins - 1), "s": scores})
        found = frame.groupby(["pos", "bin"])["s"].agg(["size", "min", "max"])
        return found.rename(columns={"size": "count"})

    exact = roc_auc_score(truth, scores)
    for bins in (16, 256, cluster_evaluate.ROC_BINS):
        auc, bound = cluster_evaluate.histogram_auc(table(scores, bins))
        assert abs(auc - exact) <= bound + 1e-12
    assert bound < 1e-3  # 65 536 bins: few pairs share one
    coarse = np.round(scores, 1)  # ties only: exactly scikit-learn's, whatever the bins
    auc, bound = cluster_evaluate.histogram_auc(table(coarse, 4))
    assert bound > 0 and abs(auc - roc_auc_score(truth, coarse)) <= bound
    auc, bound = cluster_evaluate.histogram_auc(table(coarse, cluster_evaluate.ROC_BINS))
    assert bound == 0.0 and auc == pytest.approx(roc_auc_score(truth, coarse), abs=1e-12)


def test_one_pass_scores_both_sides_and_draws_the_sample_validate_would(modelled, validated, dask_cluster):
    settings = for_target(modelled, "label")
    split = split_data(settings, dask_cluster, validated.frame)
    trained = train_model(settings, dask_cluster, split)
    sides = cluster_evaluate.sides_of(dask_cluster, split, settings, trained.model, trained.classes, None, 150, 1.0)
    expected = sample(dask_cluster, split.test, 150, settings.seed)
    pd.testing.assert_frame_equal(sides["sample"], expected)
    # every training row is scored once, and counted for the baseline
    assert sides["train"]["confusion"]["count"].sum() == split.train_rows == sides["train_counts"].sum()
    train = split.train.compute()
    expected_counts = train["label"].value_counts().reindex(trained.classes).to_numpy()
    assert list(sides["train_counts"]) == list(expected_counts)


def test_train_metrics_on_a_large_training_split_are_scored_on_a_seeded_share_and_say_so(
    modelled, validated, dask_cluster, monkeypatch
):
    settings = for_target(modelled, "label")
    trained = train_model(settings, dask_cluster, split_data(settings, dask_cluster, validated.frame))
    monkeypatch.setattr(cluster_evaluate, "TRAIN_METRICS_ROWS", 500)
    metrics = cluster_evaluate.evaluate_model(settings, dask_cluster, trained, "fp").metrics
    scored = metrics["compute"]["train_scored"]
    share = 500 / trained.split.train_rows
    assert scored["share"] == share and scored["of"] == trained.split.train_rows and scored["seed"] == settings.seed
    assert metrics["compute"]["metrics"].endswith("train metrics on a seeded share of the training rows")
    # exactly the training rows whose seeded hash is in the lowest `share` of its range, scored as pandas would
    train = trained.split.train.compute()
    picked = train[row_hash(train, settings.seed, index=True).to_numpy() < np.uint64(int(share * 2**64))]
    assert scored["rows"] == len(picked) and 350 < len(picked) < 650
    predicted = predict(settings, trained.model, model_frame(picked, settings.data.inputs))
    accuracy = float(np.mean(predicted.label == picked["label"].to_numpy()))
    assert metrics["train"]["accuracy"] == pytest.approx(accuracy, rel=TOLERANCE)
    # what gates read stays whole: the baseline's most frequent class counts every training row, the test every row
    expected = pandas_engine_metrics(settings, trained, validated)
    assert_close(metrics["baseline"], expected["baseline"], 0.0, "baseline")
    assert_close(metrics["test"], expected["test"], metrics["compute"]["roc_auc_max_error"]["test"], "test")
    assert metrics["gates"]["passed"] == expected["gates"]["passed"]
