"""Model-quality tests: the thresholds come from params.yaml, so they are tightened in one place."""

import re

import numpy as np
import pytest

from modelkeel.quality.metrics import LOWER_IS_BETTER

pytestmark = pytest.mark.quality


def better_or_equal(metric, value, bar):
    return value <= bar if metric in LOWER_IS_BETTER else value >= bar


def test_primary_metric_reaches_threshold(trained, metrics):
    settings, _ = trained
    primary = settings.quality.primary_metric
    assert better_or_equal(primary, metrics["test"][primary], settings.quality.threshold), (
        f"test {primary} {metrics['test'][primary]:.4f} misses quality.threshold {settings.quality.threshold}"
    )


def test_every_slice_reaches_its_floor(trained, metrics):
    settings, _ = trained
    if not settings.data.categorical_features:
        pytest.skip("the data has no categorical feature, so there is no slice to gate")
    metric = settings.quality.slice_metric
    checked = 0
    for column, values in metrics["slices"].items():
        for value, entry in values.items():
            if entry["rows"] < settings.quality.slice_min_rows or entry[metric] is None:
                continue
            checked += 1
            assert better_or_equal(metric, entry[metric], settings.quality.slice_threshold), (
                f"slice {column}={value} ({entry['rows']} rows): {metric} {entry[metric]:.4f} "
                f"misses quality.slice_threshold {settings.quality.slice_threshold}"
            )
    assert checked > 0, "no slice was large enough to check; lower quality.slice_min_rows"


def test_beats_trivial_baseline(trained, metrics):
    settings, _ = trained
    primary = settings.quality.primary_metric
    margin = settings.quality.min_improvement_over_baseline
    baseline = metrics["baseline"]["test"][primary]
    bar = baseline + margin if settings.quality.higher_is_better else baseline - margin
    assert better_or_equal(primary, metrics["test"][primary], bar)


def test_quality_gate_agrees_with_these_tests(metrics):
    assert metrics["gates"]["passed"] is True


def test_a_missed_maximum_says_it_exceeds_the_maximum_and_a_missed_minimum_says_so():
    from modelkeel.quality.gates import failed_gates

    def gates(metric, value, threshold):
        slice_gate = {"column": "c", "value": "v", "rows": 30, "metric": metric, "measured": value}
        return {
            "gates": {
                "threshold": {"metric": metric, "value": value, "threshold": threshold, "passed": False},
                "baseline": {"passed": True},
                "slices": [{**slice_gate, "threshold": threshold, "gated": True, "passed": False}],
            }
        }

    lowered = failed_gates(gates("mae", 681.77, 450.0))
    assert all("exceeds the maximum 450" in line and "reach" not in line for line in lowered)
    raised = failed_gates(gates("accuracy", 0.5, 0.8))
    assert all("does not reach the minimum 0.8" in line for line in raised)


def quality(metric, bar, **more):
    from modelkeel.settings import QualitySettings

    primary = "r2" if metric in ("mae", "rmse", "r2") else "f1_macro"
    return QualitySettings(primary_metric=primary, threshold=0.0, slice_metric=metric, slice_threshold=bar, **more)


def regression_slice(small_error, rows):
    """A heavy-tailed slice: per 20 rows, 19 errors of `small_error` and one of 500."""
    from modelkeel.quality.metrics import Predictions

    errors = np.tile([small_error] * 19 + [500.0], rows // 20)
    return np.zeros(rows), Predictions(errors, None)


def judged(q, y, predicted, classes=None, task="regression"):
    from modelkeel.quality.gates import metric_interval, slice_gate
    from modelkeel.quality.metrics import score

    measured = score(task, y, predicted, classes, q.slice_metric)[q.slice_metric]
    return slice_gate(
        q,
        "carrier",
        "HA",
        len(y),
        measured,
        lambda: metric_interval(task, q.slice_metric, y, predicted, classes, q.slice_confidence, 42),
    )


def test_a_small_heavy_tailed_slice_that_misses_by_less_than_its_uncertainty_passes():
    gate = judged(quality("mae", 25.6), *regression_slice(5.0, 20))
    assert gate["measured"] == pytest.approx(29.75), "19 errors of 5 and one of 500"
    low, high = gate["interval"]
    assert low < 25.6 < gate["measured"] < high, "the t interval of the mean error reaches the bar"
    assert gate["passed"] and gate["confidence"] == 0.95


def test_a_large_slice_that_is_clearly_worse_fails_with_its_interval_in_the_message():
    from modelkeel.quality.gates import failed_gates

    gate = judged(quality("mae", 25.6), *regression_slice(20.0, 2000))
    assert gate["measured"] == pytest.approx(44.0) and gate["interval"][0] > 25.6 and not gate["passed"]
    passing = {"metric": "r2", "value": 0.9, "threshold": 0.0, "passed": True}
    lines = failed_gates({"gates": {"threshold": passing, "baseline": {"passed": True}, "slices": [gate]}})
    low, high = gate["interval"]
    assert lines == [
        f"slice carrier=HA (2000 rows): mae 44 (95 % interval {low:.4g} to {high:.4g}) exceeds the maximum 25.6 "
        "beyond its uncertainty (quality.slice_threshold)"
    ]
    assert all(len(number.split(".")[-1]) <= 4 for number in re.findall(r"\d+\.\d+", lines[0])), "rounded"


def test_an_accuracy_of_5_in_20_against_a_bar_of_0_8_fails_by_its_binomial_interval():
    from scipy.stats import binomtest

    from modelkeel.quality.metrics import Predictions

    y = np.array([1] * 20)
    predicted = Predictions(np.array([1] * 5 + [0] * 15), None)
    gate = judged(quality("accuracy", 0.8), y, predicted, [0, 1], "classification")
    wilson = binomtest(5, 20).proportion_ci(0.95, method="wilson")
    assert gate["measured"] == 0.25 and gate["interval"] == pytest.approx([wilson.low, wilson.high])
    assert gate["interval"][1] < 0.8 and not gate["passed"]


def test_a_metric_without_an_analytic_interval_is_bootstrapped_seeded_and_judged_by_the_same_rule():
    from modelkeel.quality.metrics import Predictions

    right = np.array([0, 1] * 10)
    wrong = right.copy()
    wrong[:6] = 1 - wrong[:6]  # 14 of 20 right in both classes alike: f1_macro 0.7
    q = quality("f1_macro", 0.8)
    small = judged(q, right, Predictions(wrong, None), [0, 1], "classification")
    assert small["measured"] == pytest.approx(0.7) and small["passed"], "20 rows: 0.8 lies inside the interval"
    again = judged(q, right, Predictions(wrong, None), [0, 1], "classification")
    assert again["interval"] == small["interval"], "seeded"
    large = judged(q, np.tile(right, 100), Predictions(np.tile(wrong, 100), None), [0, 1], "classification")
    assert large["measured"] == pytest.approx(0.7) and large["interval"][1] < 0.8 and not large["passed"]


def test_intervals_are_computed_only_for_gated_slices_that_miss_the_bar():
    from modelkeel.quality.gates import quality_gates

    asked = []

    def interval_of(column, value):
        asked.append(value)
        return (0.5, 0.9)

    slices = {
        "c": {
            "good": {"rows": 50, "accuracy": 0.95},
            "bad": {"rows": 50, "accuracy": 0.7},
            "tiny": {"rows": 3, "accuracy": 0.0},
        }
    }
    test = {"f1_macro": 0.9}
    gates = quality_gates(quality("accuracy", 0.8, slice_min_rows=10), test, slices, test, interval_of)
    assert asked == ["bad"], "a passing slice and an ungated one cost nothing"
    by_value = {s["value"]: s for s in gates["slices"]}
    assert by_value["bad"]["interval"] == [0.5, 0.9] and by_value["bad"]["passed"], "0.8 is inside the interval"
    assert by_value["good"]["interval"] is None and by_value["tiny"]["interval"] is None


def test_a_slice_entry_without_an_interval_is_judged_on_its_point_estimate():
    from modelkeel.quality.gates import slice_passes

    old = {"metric": "mae", "measured": 30.0, "threshold": 25.6, "gated": True}
    assert not slice_passes(old), "metrics.json written before intervals"
    assert slice_passes({**old, "interval": [20.0, 40.0]}) and not slice_passes({**old, "interval": [26.0, 34.0]})
