"""Drift statistics against numpy and scipy reference values, and the drift rule: an effect size at its bar,
backed by a test, on batches of any size."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelkeel.loop import drift
from modelkeel.settings import RetrainSettings

BARS = RetrainSettings()  # psi_threshold 0.25, ks_distance 0.1, ks_pvalue 0.01


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
    found = {d.feature: d for d in drift.feature_drift(reference, new, BARS)}
    expected = stats.ks_2samp(np.asarray(reference["numeric"]["x"]["sample"]), new["x"].to_numpy())
    assert found["x"].ks_statistic == pytest.approx(expected.statistic)
    assert found["x"].ks_pvalue == pytest.approx(expected.pvalue)
    assert found["x"].drifted and not found["c"].drifted


def test_same_distribution_does_not_drift_and_a_new_category_does():
    rng = np.random.default_rng(3)
    reference = drift.reference_stats(frame(rng), ("x",), ("c",), seed=1)
    same = frame(rng)
    assert not any(d.drifted for d in drift.feature_drift(reference, same, BARS))
    same.loc[: len(same) // 2, "c"] = "z"
    found = {d.feature: d for d in drift.feature_drift(reference, same, BARS)}
    assert found["c"].drifted and "categories not seen in training: ['z']" in found["c"].reasons
    assert found["c"].chi2_pvalue is not None and found["c"].chi2_pvalue < BARS.ks_pvalue


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


def population(rng, n, shift=0.0, shares=(0.5, 0.3, 0.2)):
    """x ~ N(10 + shift, 2) and a category of three, n rows."""
    return pd.DataFrame({"x": rng.normal(10 + shift, 2, n), "c": rng.choice(["a", "b", "c"], n, p=list(shares))})


@pytest.fixture(scope="module")
def large_reference():
    return drift.reference_stats(population(np.random.default_rng(11), 50_000), ("x",), ("c",), seed=1)


def by_feature(reference, frame, bars=BARS):
    return {d.feature: d for d in drift.feature_drift(reference, frame, bars)}


def test_a_large_batch_from_the_same_population_does_not_drift(large_reference):
    found = by_feature(large_reference, population(np.random.default_rng(12), 50_000))
    assert not any(d.drifted for d in found.values()), found
    assert found["x"].psi < 0.01 and found["x"].ks_statistic < 0.05, "50 000 rows measure a tiny effect as tiny"


def test_a_small_real_shift_in_a_large_batch_is_significant_but_not_material(large_reference):
    """A tenth of a standard deviation and two points of category share: every test sees it at 50 000 rows
    (a p-value alone would retrain on every batch), no effect size reaches its bar."""
    found = by_feature(large_reference, population(np.random.default_rng(13), 50_000, 0.2, (0.47, 0.31, 0.22)))
    x, c = found["x"], found["c"]
    assert 0.005 < x.psi < 0.02 and x.ks_statistic < BARS.ks_distance
    assert x.ks_pvalue < BARS.ks_pvalue and c.chi2_pvalue < BARS.ks_pvalue, "the tests alone would call it drift"
    assert c.psi < BARS.psi_threshold
    assert not x.drifted and not c.drifted and not x.notes and not c.notes


def test_a_large_shift_drifts_and_says_which_effect_and_test_decided(large_reference):
    found = by_feature(large_reference, population(np.random.default_rng(14), 50_000, 2.0, (0.2, 0.3, 0.5)))
    x, c = found["x"], found["c"]
    assert x.drifted and c.drifted
    assert re.fullmatch(
        r"PSI [0-9.]{1,5} >= 0\.25 and KS distance 0\.\d{1,3} >= 0\.1, not chance: KS p-value \S+ < 0\.01 "
        r"and chi-square p-value \S+ < 0\.01",
        x.reasons[0],
    ), x.reasons
    assert re.fullmatch(r"PSI [0-9.]{1,5} >= 0\.25, not chance: chi-square p-value \S+ < 0\.01", c.reasons[0])
    table = "\n".join(drift.drift_table(list(found.values())))
    assert "**yes**" in table and not re.search(r"\d\.\d{5,}", table), "numbers in the table are rounded"


def test_an_exempt_column_is_measured_and_shown_but_never_counted(large_reference):
    moved = population(np.random.default_rng(15), 5_000, 3.0)
    found = by_feature(large_reference, moved, RetrainSettings(drift_exempt=("x",)))
    assert found["x"].exempt and not found["x"].drifted and found["x"].reasons, "it would drift: the reason shows"
    assert not by_feature(large_reference, moved)["x"].exempt and by_feature(large_reference, moved)["x"].drifted
    row = next(line for line in drift.drift_table([found["x"]]) if line.startswith("| x "))
    assert f"no ({drift.EXEMPT}: would drift (PSI" in row


def test_a_small_batch_whose_psi_is_large_by_chance_does_not_drift():
    """Ten values spread evenly over the middle of the reference: three empty deciles make the PSI large, but
    neither the KS test nor the chi-square test can tell ten such rows from the reference."""
    rng = np.random.default_rng(16)
    reference = drift.reference_stats(population(rng, 5_000), ("x",), ("c",), seed=1)
    sample = np.asarray(reference["numeric"]["x"]["sample"])
    few = pd.DataFrame({"x": np.quantile(sample, np.linspace(0.2, 0.8, 10)), "c": ["a"] * 5 + ["b"] * 3 + ["c"] * 2})
    x = by_feature(reference, few)["x"]
    assert x.psi >= BARS.psi_threshold and x.ks_pvalue > 0.5 and x.chi2_pvalue > 0.5
    assert not x.drifted and "but no test rules out chance" in x.notes[0], x.notes


def test_a_numeric_column_that_goes_missing_drifts_by_the_chi_square_test_of_its_bins(large_reference):
    """KS compares the values there are; the bins' chi-square test also counts the missing ones."""
    half_missing = population(np.random.default_rng(17), 20_000)
    half_missing.loc[::2, "x"] = np.nan
    x = by_feature(large_reference, half_missing)["x"]
    assert x.ks_statistic < BARS.ks_distance and x.ks_pvalue > BARS.ks_pvalue / 100
    assert x.drifted and "chi-square p-value" in x.reasons[0] and "KS p-value" not in x.reasons[0]


def test_a_reference_written_before_row_counts_were_kept_is_still_monitored(large_reference):
    """Old bundles' reference.json has no row counts: the chi-square test then takes the reference shares as the
    population (goodness of fit) and decides alike."""
    old = {k: v for k, v in large_reference.items() if k != "rows"}
    same, moved = (
        population(np.random.default_rng(18), 5_000),
        population(np.random.default_rng(19), 5_000, 2.0, (0.2, 0.3, 0.5)),
    )
    assert not any(d.drifted for d in drift.feature_drift(old, same, BARS))
    found = by_feature(old, moved)
    assert found["x"].drifted and found["c"].drifted
    shares = old["categorical"]["c"]["shares"]
    counts = moved["c"].value_counts().reindex(sorted(shares)).to_numpy()
    fit = stats.chisquare(counts, np.asarray([shares[k] for k in sorted(shares)]) * len(moved))
    assert found["c"].chi2_pvalue == pytest.approx(fit.pvalue)


def test_a_class_the_training_labels_never_had_is_target_drift():
    rng = np.random.default_rng(20)
    frame = population(rng, 2_000)
    reference = drift.reference_stats(frame, ("x",), (), seed=1, target=("c", "categorical"))
    assert reference["target"]["rows"] == 2_000
    labels = population(rng, 2_000)
    assert not drift.target_drift(reference, labels, BARS).drifted
    labels.loc[:4, "c"] = "new"  # five rows: a class the champion cannot predict at all
    found = drift.target_drift(reference, labels, BARS)
    assert found.drifted and found.kind == "target" and "classes not seen in training: ['new']" in found.reasons
