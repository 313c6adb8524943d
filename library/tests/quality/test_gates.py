"""Model-quality tests: the thresholds come from params.yaml, so they are tightened in one place."""

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
    assert all("exceeds the maximum 450.0" in line and "reach" not in line for line in lowered)
    raised = failed_gates(gates("accuracy", 0.5, 0.8))
    assert all("does not reach the minimum 0.8" in line for line in raised)
