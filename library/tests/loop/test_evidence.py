"""Evidence for a promotion: copies dropped, a paired bootstrap interval, the trusted set's pinned bytes."""

import numpy as np
import pandas as pd
import pytest

from modelkeel.loop.evidence import (
    Outputs,
    distinct_held_out,
    paired_bootstrap,
    trusted_rows,
)
from modelkeel.quality.metrics import Predictions
from modelkeel.runtime.signature import ModelInputs


def test_held_out_copies_of_training_rows_and_of_each_other_are_dropped():
    training = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    held_out = pd.DataFrame({"x": [1.0000000001, 2.0, 9.0, 9.0, 4.0], "c": ["a", "a", "b", "b", None]})
    kept, dropped = distinct_held_out(held_out, training, ModelInputs(("x",), ("c",)))
    assert dropped == 2, "a row equal to six digits, and the second of two equal rows"
    stamped = held_out.assign(t=pd.Timestamp("2024-01-01 10:00"))
    later = training.assign(t=pd.Timestamp("2025-06-03 10:00"))  # another date, the same calendar part
    _, dropped = distinct_held_out(stamped, later, ModelInputs(("x",), ("c",), dict(t=("hour",))))
    assert dropped == 2, "copies are judged by what the model sees"
    assert kept["x"].tolist() == [2.0, 9.0, 4.0]


def regression_outputs(y, predicted):
    return Outputs(np.asarray(y, dtype=float), Predictions(np.asarray(predicted, dtype=float), None), None)


@pytest.fixture()
def mae_settings(settings):
    quality = settings.quality.model_copy(update={"primary_metric": "mae", "slice_metric": "mae"})
    return settings.model_copy(update={"task": "regression", "quality": quality})


def test_a_clear_win_has_an_interval_above_zero_and_a_tie_has_one_around_it(mae_settings):
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 400)
    noisy = y + rng.normal(0, 1.0, 400)
    close = y + rng.normal(0, 0.1, 400)
    low, high = paired_bootstrap(mae_settings, regression_outputs(y, noisy), regression_outputs(y, close))
    assert 0 < low < high, "the challenger's errors are far smaller"
    other = y + rng.normal(0, 1.0, 400)
    low, high = paired_bootstrap(mae_settings, regression_outputs(y, noisy), regression_outputs(y, other))
    assert low < 0 < high, "two equally noisy models: no evidence either way"


def test_the_interval_is_seeded(mae_settings):
    y = np.arange(50.0)
    first = paired_bootstrap(mae_settings, regression_outputs(y, y + 1), regression_outputs(y, y + 0.5))
    assert paired_bootstrap(mae_settings, regression_outputs(y, y + 1), regression_outputs(y, y + 0.5)) == first


def test_the_trusted_set_is_read_only_with_its_pinned_bytes_and_never_as_training_data(settings, validated, tmp_path):
    from modelkeel.errors import TrustedSetError
    from modelkeel.settings import TrustedSet
    from modelkeel.utils.hashing import sha256_file

    path = tmp_path / "trusted.csv"
    validated.frame.head(40).to_csv(path, index=False)

    def with_trusted(trusted):
        return settings.model_copy(update={"retrain": settings.retrain.model_copy(update={"trusted": trusted})})

    pinned = TrustedSet(path=str(path), sha256=sha256_file(path))
    assert len(trusted_rows(with_trusted(pinned))) == validated.frame.head(40)[settings.data.target].notna().sum()
    path.write_text(path.read_text() + path.read_text().splitlines()[1] + "\n")  # one row more
    with pytest.raises(TrustedSetError, match="the trusted set changed"):
        trusted_rows(with_trusted(pinned))
    with pytest.raises(TrustedSetError, match="no trusted evaluation set"):
        trusted_rows(with_trusted(None))
    from modelkeel.data.files import resolve_files

    training = resolve_files(settings.data.path, settings.root)[0]
    with pytest.raises(TrustedSetError, match="also training data"):
        trusted_rows(with_trusted(TrustedSet(path=str(training), sha256=sha256_file(training))))


def test_the_trusted_check_refuses_a_model_that_misses_the_bar_on_trusted_labels(
    settings, validated, bundle_dir, tmp_path
):
    """Any model, judged on rows whose labels are all wrong, misses quality.threshold; judged against itself on
    true labels, it is no worse (the loop's tests need a winning challenger; this needs none)."""
    from modelkeel.bundle.reader import open_bundle
    from modelkeel.loop.evidence import trusted_check
    from modelkeel.settings import TrustedSet

    target = settings.data.target
    rows = validated.frame[validated.frame[target].notna()].head(300).reset_index(drop=True)
    wrong = rows.copy()
    if settings.task == "classification":
        classes = sorted(rows[target].unique(), key=str)
        wrong[target] = rows[target].map(dict(zip(classes, [*classes[1:], classes[0]], strict=True)))
    else:  # mirrored within the observed range: far from every prediction
        wrong[target] = rows[target].min() + rows[target].max() - rows[target]
    pinned = TrustedSet(path=str(tmp_path / "trusted.csv"), sha256="0" * 64)
    s = settings.model_copy(update={"retrain": settings.retrain.model_copy(update={"trusted": pinned})})
    model = open_bundle(bundle_dir)

    same = trusted_check(s, model, model, rows)
    assert same.drop == 0 and not any("worse, more than" in p for p in same.problems())
    judged = trusted_check(s, model, model, wrong)
    assert any(f"misses quality.threshold {settings.quality.threshold}" in p for p in judged.problems()), judged
    assert not same.failed_slices
    assert judged.failed_slices and all("interval" in s and "beyond its uncertainty" in s for s in judged.failed_slices)
    assert judged.as_dict()["rows"] == len(wrong)


def test_the_trusted_set_scores_a_target_of_any_kind_as_scikit_learn_does(typed):
    """Given a trusted set of a bool, 0/1, 1/2/3 or text target (read from CSV, as the loop reads it); when the
    champion is checked there; then its metric is scikit-learn's on the labels as they are written."""
    from sklearn.metrics import f1_score

    from modelkeel.loop.evidence import trusted_check

    rows = trusted_rows(typed.settings)
    checked = trusted_check(typed.settings, typed.bundle, typed.bundle, rows)
    expected = f1_score(rows["target"].tolist(), typed.sklearn_predict(rows), average="macro")
    assert typed.settings.quality.primary_metric == "f1_macro"
    assert checked.champion == checked.challenger == pytest.approx(expected, abs=1e-9)


def population(rng, n, distinct: int | None = None) -> pd.DataFrame:
    """Rows of x and c; with `distinct`, x takes only that many values, so rows repeat by nature."""
    x = rng.integers(0, distinct, n).astype(float) if distinct else rng.normal(0, 1, n)
    return pd.DataFrame({"x": x, "c": rng.choice(["a", "b"], n)})


INPUTS = ModelInputs(("x",), ("c",))


def test_a_batch_from_a_population_with_natural_duplicates_is_not_flagged():
    """400 possible rows: half the training rows repeat a trusted row, and so do about half a new batch's."""
    from modelkeel.loop.evidence import copies_of_trusted_rows, copy_check

    rng = np.random.default_rng(1)
    training, trusted, batch = population(rng, 3_000, 200), population(rng, 300, 200), population(rng, 1_000, 200)
    copies = copies_of_trusted_rows(batch, trusted, INPUTS)
    check = copy_check(batch, trusted, training, INPUTS, copies)
    assert 0.4 < check.natural < 0.7 and 0.4 < check.rate < 0.7, "copies at the natural rate"
    assert not check.flagged and "no more than the data's own duplicates explain" in check.reason()


def test_a_batch_with_trusted_rows_pasted_in_is_flagged_and_one_chance_copy_is_not():
    from modelkeel.loop.evidence import copies_of_trusted_rows, copy_check

    rng = np.random.default_rng(2)
    training, trusted, fresh = population(rng, 3_000), population(rng, 300), population(rng, 1_000)
    pasted = pd.concat([fresh, trusted.head(30)], ignore_index=True)
    check = copy_check(pasted, trusted, training, INPUTS, copies_of_trusted_rows(pasted, trusted, INPUTS))
    assert check.natural == 0 and check.copies == 30 and check.flagged
    assert check.reason().startswith(
        "30 of 1030 new row(s) copy rows of the trusted evaluation set (a rate of 0.02913), against a natural "
        "rate of 0 at which the 3000 training rows repeat trusted rows (one-sided binomial test p-value"
    )
    one = pd.concat([fresh, trusted.head(1)], ignore_index=True)
    assert not copy_check(one, trusted, training, INPUTS, 1).flagged, "one row in 1001 can be chance"


def test_held_out_copies_at_the_natural_rate_are_kept_and_pasted_copies_dropped():
    from modelkeel.loop.evidence import held_out_copies, natural_copy_rate

    rng = np.random.default_rng(3)
    old, training, held_out = population(rng, 2_000, 200), population(rng, 2_000, 200), population(rng, 200, 200)
    natural = natural_copy_rate(old, INPUTS)
    assert natural > 0.9, "400 possible rows in 2000: nearly every row has a twin"
    kept, dropped, copies_kept = held_out_copies(held_out, training, INPUTS, natural, len(old))
    assert len(kept) == 200 and dropped == 0 and copies_kept > 180, "dropping them would leave nothing to judge on"
    rare = population(rng, 2_000)
    few = population(rng, 15)
    pasted = pd.concat([few] * 20, ignore_index=True)
    kept, dropped, copies_kept = held_out_copies(pasted, rare, INPUTS, natural_copy_rate(rare, INPUTS), len(rare))
    assert (len(kept), dropped, copies_kept) == (15, 285, 0)
    kept, dropped, _ = held_out_copies(held_out, training, INPUTS, None, 0)
    assert dropped > 180, "without a natural rate every copy is dropped"


def test_the_champion_metric_interval_is_seeded_and_brackets_the_metric(mae_settings):
    from modelkeel.loop.evidence import metric_bootstrap

    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, 500)
    out = regression_outputs(y, y + rng.normal(0, 1, 500))
    low, high = metric_bootstrap(mae_settings, out)
    assert low < float(np.abs(out.y - out.predicted.label).mean()) < high
    assert metric_bootstrap(mae_settings, out) == (low, high)
    assert metric_bootstrap(mae_settings, regression_outputs([1.0], [2.0])) is None


def test_a_trusted_drop_counts_only_beyond_the_tolerance_and_beyond_the_noise_of_the_set():
    from modelkeel.loop.evidence import TrustedCheck

    def check(challenger, interval):
        return TrustedCheck(
            path="t.csv",
            sha256="0" * 64,
            rows=120,
            champion=0.993,
            challenger=challenger,
            max_drop=0.02,
            metric_name="f1_macro",
            interval=interval,
        )

    two_rows = check(0.9723, (-0.05, 0.012))  # two rows of 120 answered otherwise: the set cannot tell
    assert two_rows.drop > two_rows.max_drop and two_rows.within_noise and two_rows.passed
    assert two_rows.problems() == [] and two_rows.as_dict()["interval"] == [-0.05, 0.012]
    sure = check(0.9, (-0.14, -0.05))
    assert not sure.passed
    assert sure.problems() == [
        "on the trusted set the challenger's f1_macro is 0.9000 against the champion's 0.9930: 0.093 worse, more "
        "than retrain.max_trusted_drop 0.02, and beyond the set's noise (the gain's 95 percent interval "
        "[-0.14, -0.05] lies below 0)"
    ]
    assert not check(0.9, None).passed, "no interval (too few rows to resample): the drop alone decides"
    assert check(0.985, None).passed, "within the tolerance: no interval needed"
