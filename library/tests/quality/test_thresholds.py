"""The bars infer-schema fits: relative to the trivial baseline on the data, in the data's own units."""

import numpy as np
import pandas as pd
import pytest

from modelkeel.quality.thresholds import (
    fit_thresholds,
    trivial_baseline,
)


def bars(task, y, primary, slice_metric):
    return {c.name: c.value for c in fit_thresholds(task, pd.Series(y), primary, slice_metric)}


def test_bars_for_an_error_scale_with_the_units_of_the_target():
    rng = np.random.default_rng(0)
    grams = rng.normal(4_000, 800, 500)
    small, large = bars("regression", grams, "mae", "mae"), bars("regression", grams * 1000, "mae", "mae")
    for key in small:
        assert large[key] == pytest.approx(small[key] * 1000, rel=0.01), key
    baseline = trivial_baseline("regression", pd.Series(grams))["mae"]
    assert small["quality.threshold"] == pytest.approx(baseline * 2 / 3, rel=0.01)
    assert small["quality.slice_threshold"] >= baseline * 0.999
    assert 0 < small["retrain.promotion_margin"] < small["retrain.max_metric_drop"] < small["quality.threshold"]


def test_bars_for_a_score_sit_between_the_baseline_and_perfect():
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    chosen = bars("classification", labels, "accuracy", "accuracy")
    assert chosen["quality.threshold"] == pytest.approx(0.6 + 0.4 / 3, abs=0.001)
    assert chosen["quality.min_improvement_over_baseline"] == pytest.approx(0.04, abs=0.001)
    # slices are judged by balanced accuracy: doing nothing clever scores 1/3 in every slice, whatever its balance
    assert chosen["quality.slice_metric"] == "balanced_accuracy"
    assert chosen["quality.slice_threshold"] == pytest.approx(1 / 3, abs=0.001)
    auc = bars("classification", labels, "roc_auc", "accuracy")
    assert auc["quality.threshold"] == pytest.approx(0.5 + 0.5 / 3, abs=0.001)


def test_every_choice_says_why():
    for choice in fit_thresholds("regression", pd.Series(np.arange(100.0)), "r2", "mae"):
        assert choice.why and choice.section in ("quality", "retrain")


def test_a_slice_whose_classes_are_balanced_otherwise_meets_the_bar_by_balanced_accuracy_not_by_accuracy():
    """The whole data is 75 % on time; one airline's flights are 60 % late. A model that finds 60 % of that
    airline's late flights and 80 % of its punctual ones scores 0.68 accuracy there: below the whole data's
    majority share (0.75), though far better than doing nothing clever, as balanced accuracy says (0.7 > 0.5)."""
    from modelkeel.quality.metrics import Predictions, score

    y = np.array([True] * 60 + [False] * 40)
    predicted = np.array([True] * 36 + [False] * 24 + [False] * 32 + [True] * 8)
    measured = score("classification", y, Predictions(predicted, None), [False, True])
    whole = pd.Series([False] * 75 + [True] * 25)
    old_bar = trivial_baseline("classification", whole)["accuracy"]
    assert measured["accuracy"] == pytest.approx(0.68) and old_bar == pytest.approx(0.75)
    chosen = bars("classification", whole, "f1_macro", "accuracy")
    assert chosen["quality.slice_metric"] == "balanced_accuracy"
    assert chosen["quality.slice_threshold"] == 0.5 and measured["balanced_accuracy"] == pytest.approx(0.7)


def test_every_choice_says_why_and_a_regression_keeps_its_slice_metric():
    chosen = fit_thresholds("regression", pd.Series(np.arange(100.0)), "r2", "mae")
    assert "quality.slice_metric" not in {c.name for c in chosen}
