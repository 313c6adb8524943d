"""Drift statistics against numpy and scipy reference values."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelkeel.loop import drift


def test_psi_matches_the_formula_and_floors_empty_buckets():
    ref, new = np.array([0.2, 0.3, 0.5, 0.0]), np.array([0.25, 0.25, 0.4, 0.1])
    r, n = np.maximum(ref, 1e-4), np.maximum(new, 1e-4)
    assert drift.psi(ref, new) == pytest.approx(float(np.sum((n - r) * np.log(n / r))))
    assert drift.psi(ref, ref) == 0.0
    assert np.isfinite(drift.psi([1.0, 0.0], [0.0, 1.0]))


def test_bin_shares_count_each_bin_and_the_missing_values():
    shares = drift.bin_shares(np.array([1.0, 2.0, 2.0, 5.0, np.nan]), [1.5, 3.0])
    assert shares == pytest.approx([0.2, 0.4, 0.2, 0.2])
    assert sum(shares) == pytest.approx(1.0)


def test_edges_are_the_deciles():
    values = np.arange(1, 101, dtype=float)
    assert drift.numeric_edges(values) == pytest.approx(list(np.quantile(values, np.linspace(0, 1, 11)[1:-1])))


def frame(rng, shift=0.0, n=300):
    return pd.DataFrame(
        {
            "x": rng.normal(10 + shift, 2, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_ks_statistic_and_p_value_are_scipys_on_the_stored_sample():
    rng = np.random.default_rng(0)
    reference = drift.reference_stats(frame(rng), ("x",), ("c",), seed=1)
    new = frame(rng, shift=1.0)
    found = {d.feature: d for d in drift.feature_drift(reference, new, 0.25, 0.01)}
    expected = stats.ks_2samp(np.asarray(reference["numeric"]["x"]["sample"]), new["x"].to_numpy())
    assert found["x"].ks_statistic == pytest.approx(expected.statistic)
    assert found["x"].ks_pvalue == pytest.approx(expected.pvalue)
    assert found["x"].drifted and not found["c"].drifted


def test_same_distribution_does_not_drift_and_a_new_category_does():
    rng = np.random.default_rng(3)
    reference = drift.reference_stats(frame(rng), ("x",), ("c",), seed=1)
    same = frame(rng)
    assert not any(d.drifted for d in drift.feature_drift(reference, same, 0.25, 0.01))
    same.loc[: len(same) // 2, "c"] = "z"
    found = {d.feature: d for d in drift.feature_drift(reference, same, 0.25, 0.01)}
    assert found["c"].drifted and "categories not seen in training: ['z']" in found["c"].reasons


def test_the_bundle_carries_reference_statistics(bundle_dir, settings):
    import json

    reference = json.loads((bundle_dir / "reference.json").read_text())
    assert set(reference["numeric"]) == set(settings.data.numeric_features)
    assert set(reference["categorical"]) == set(settings.data.categorical_features)
    for stats_ in reference["numeric"].values():
        assert sum(stats_["shares"]) == pytest.approx(1.0) and len(stats_["shares"]) == len(stats_["edges"]) + 2


def test_category_shares_name_every_value_as_text_with_missing_and_sum_to_one():
    from modelkeel.loop.drift import MISSING, category_shares

    text = pd.Series(["b", "a", None, "a"], dtype="str")
    assert category_shares(text) == {MISSING: 0.25, "a": 0.5, "b": 0.25}
    mixed = pd.Series(["x", 1, "1", None], dtype=object)  # 1 and "1" read alike as text
    assert category_shares(mixed) == {MISSING: 0.25, "1": 0.5, "x": 0.25}
    assert sum(category_shares(pd.Series([1.0, 2.0, np.nan, 2.0])).values()) == pytest.approx(1.0)


def test_category_shares_leave_out_unused_categories_of_a_pandas_categorical():
    from modelkeel.loop.drift import category_shares

    values = pd.Series(pd.Categorical(["a", "a", None], categories=["a", "b", "c"]))
    assert category_shares(values) == {"(missing)": pytest.approx(1 / 3), "a": pytest.approx(2 / 3)}
