"""When to retrain: a champion whose score falls at once, or slides batch after batch beyond its uncertainty."""

import numpy as np
import pandas as pd
import pytest

from modelkeel.loop.decide import champion_trend, reasons_to_retrain
from modelkeel.loop.ingest import Batch
from modelkeel.loop.monitor import Monitoring
from modelkeel.loop.report import trend_markdown
from modelkeel.settings import load_settings

from ..conftest import PARAMS, PROJECT_ROOT

RELEASED_MAE = 1.0


class Champion:
    """A champion whose answers are the frame's `predicted` column, released with an mae of 1.0."""

    classes = None

    def __init__(self) -> None:
        self.metrics = {"test": {"mae": RELEASED_MAE}}

    def run(self, frame: pd.DataFrame) -> dict:
        return {"value": frame["predicted"].to_numpy()}


@pytest.fixture(scope="module")
def mae_settings():
    settings = load_settings(PROJECT_ROOT / PARAMS["regression"])
    quality = settings.quality.model_copy(
        update={"primary_metric": "mae", "slice_metric": "mae", "threshold": 1e9}  # no threshold to miss here
    )
    retrain = settings.retrain.model_copy(update={"promotion_margin": 0.01, "max_metric_drop": 0.05})
    return settings.model_copy(update={"quality": quality, "retrain": retrain})


def batches_with_errors(settings, mean_errors: list[float], rows: int, seed: int = 0):
    """One batch per mean absolute error, in order: normal errors scaled so each batch's mae is exactly that."""
    rng = np.random.default_rng(seed)
    frames, batches = [], []
    for i, mae in enumerate(mean_errors):
        errors = rng.normal(0, 1, rows)
        errors *= mae / np.abs(errors).mean()
        truth = rng.normal(100, 10, rows)
        frames.append(pd.DataFrame({settings.data.target: truth, "predicted": truth + errors}))
        batches.append(Batch(f"data/incoming/{i + 1}.csv", f"{i}" * 64, rows, True))
    return pd.concat(frames, ignore_index=True), tuple(batches)


def decide(settings, frame, batches):
    trend = champion_trend(settings, Champion(), frame, batches)
    monitoring = Monitoring(drift=(), champion_metric=trend.on_new, plots=())
    return trend, reasons_to_retrain(settings, Champion(), monitoring, force=False, trend=trend)


def test_a_champion_sliding_batch_after_batch_is_retrained(mae_settings):
    """Each batch a little worse, none by max_metric_drop: the slide shows batch by batch, and over 20 000 rows
    the interval of the champion's mae lies wholly above its release score."""
    frame, batches = batches_with_errors(mae_settings, [1.0, 1.02, 1.04, 1.06], rows=5_000)
    trend, reasons = decide(mae_settings, frame, batches)
    assert [b.score for b in trend.by_batch] == pytest.approx([1.0, 1.02, 1.04, 1.06])
    assert [b.batch for b in trend.by_batch] == [b.path for b in batches], "in batch order"
    assert trend.drop == pytest.approx(0.03) and not trend.fell
    assert trend.interval[0] > RELEASED_MAE and trend.slid
    (reason,) = reasons
    assert reason.startswith("the champion's mae slid from 1 at release to 1.03 on the 20000 new labelled rows")
    assert "batch by batch: 1, 1.02, 1.04, 1.06" in reason and "retrain.promotion_margin 0.01" in reason
    assert f"[{trend.interval[0]:.4g}, {trend.interval[1]:.4g}] lies wholly above the release score" in reason
    table = "\n".join(trend_markdown(trend))
    assert "| data/incoming/4.csv | 5000 | 1.0600 |" in table and "The champion's score slid." in table


def test_a_noisy_champion_as_good_as_at_release_is_not_retrained(mae_settings):
    """200 rows 0.02 worse than at release, more than the margin: their interval holds the release score."""
    frame, batches = batches_with_errors(mae_settings, [1.02, 1.02], rows=100)
    trend, reasons = decide(mae_settings, frame, batches)
    assert trend.drop == pytest.approx(0.02) and trend.drop >= mae_settings.retrain.promotion_margin
    assert trend.interval[0] < RELEASED_MAE < trend.interval[1] and not trend.slid
    assert reasons == ()


def test_a_fall_beyond_max_metric_drop_retrains_without_an_interval(mae_settings):
    frame, batches = batches_with_errors(mae_settings, [1.1], rows=50)
    trend, reasons = decide(mae_settings, frame, batches)
    assert trend.fell and trend.interval is None, "a fall needs no bootstrap"
    assert reasons == (
        "the champion's mae fell from 1 at release to 1.1 on the new data: 0.1 worse, more than "
        "retrain.max_metric_drop 0.05",
    )


def test_a_drop_smaller_than_the_margin_is_no_slide_and_costs_no_bootstrap(mae_settings):
    frame, batches = batches_with_errors(mae_settings, [1.005] * 4, rows=5_000)
    trend, reasons = decide(mae_settings, frame, batches)
    assert trend.drop == pytest.approx(0.005) and trend.interval is None and not trend.slid and reasons == ()


def test_unlabelled_batches_and_frames_that_are_not_the_batches_still_give_a_trend(mae_settings):
    frame, batches = batches_with_errors(mae_settings, [1.0, 1.0], rows=40)
    frame.loc[40:, mae_settings.data.target] = np.nan  # the second batch has no label yet
    trend = champion_trend(mae_settings, Champion(), frame, batches)
    assert [(b.rows, b.score is None) for b in trend.by_batch] == [(40, False), (0, True)]
    other = champion_trend(mae_settings, Champion(), frame.head(50), batches)
    assert [b.batch for b in other.by_batch] == ["new batches"] and other.rows == 40


def test_drift_reasons_name_the_effect_and_test_and_an_exempt_feature_never_counts(mae_settings):
    from modelkeel.loop.drift import FeatureDrift

    why = "PSI 0.31 >= 0.25, not chance: chi-square p-value 1e-09 < 0.01"
    moved = FeatureDrift("colour", "categorical", 0.31, None, None, True, (why,), chi2_pvalue=1e-9)
    month = FeatureDrift("month", "numeric", 2.5, 0.6, 0.0, False, ("PSI 2.5 >= 0.25",), exempt=True)
    monitoring = Monitoring(drift=(moved, month), champion_metric=None, plots=())
    assert reasons_to_retrain(mae_settings, Champion(), monitoring, force=False) == (
        f"1 feature(s) drifted: colour ({why})",
    )
    only_exempt = Monitoring(drift=(month,), champion_metric=None, plots=())
    assert reasons_to_retrain(mae_settings, Champion(), only_exempt, force=False) == ()
