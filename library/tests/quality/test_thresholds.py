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
    assert chosen["quality.slice_threshold"] == pytest.approx(0.6, abs=0.001)
    auc = bars("classification", labels, "roc_auc", "accuracy")
    assert auc["quality.threshold"] == pytest.approx(0.5 + 0.5 / 3, abs=0.001)


def test_every_choice_says_why():
    for choice in fit_thresholds("regression", pd.Series(np.arange(100.0)), "r2", "mae"):
        assert choice.why and choice.section in ("quality", "retrain")
