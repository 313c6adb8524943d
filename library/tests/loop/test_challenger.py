"""The promotion rule: a gain of at least the margin, the lower end of its paired-bootstrap interval above zero."""

import numpy as np
import pytest

from modelkeel.loop.challenger import Scores
from modelkeel.loop.evidence import Outputs, paired_bootstrap
from modelkeel.quality.metrics import Predictions
from modelkeel.settings import load_settings

from ..conftest import PARAMS, PROJECT_ROOT


def scores(gain: float, interval: tuple[float, float] | None, rows: int = 500) -> Scores:
    """An auc-like score: the champion at 0.875, the challenger `gain` above it."""
    return Scores("roc_auc", rows, 0.875, 0.875 + gain, margin=0.01, interval=interval, min_rows=30)


def test_a_real_improvement_of_the_margin_wins_though_its_interval_reaches_below_the_margin():
    """The measured case: +0.014 with a 95 % interval of [0.0099, 0.0175]. Demanding that the lower end clear
    the margin kept this champion every time; the lower end above zero is the evidence asked for."""
    won = scores(0.014, (0.0099, 0.0175))
    assert won.challenger_wins and won.not_evidence() == []
    assert won.as_dict()["wins"] is True
    assert "at least retrain.promotion_margin 0.01 and the lower end of the gain's 95 percent" in won.as_dict()["rule"]


def test_a_lucky_win_a_small_gain_and_too_few_rows_do_not_win():
    lucky = scores(0.014, (-0.002, 0.03))
    assert not lucky.challenger_wins
    assert lucky.not_evidence() == [
        "the gain's 95 percent confidence interval [-0.002, 0.03] reaches 0: the win may be luck"
    ]
    small = scores(0.005, (0.001, 0.009))
    assert not small.challenger_wins and small.not_evidence() == [], "sure, but smaller than the margin"
    few = scores(0.05, (0.02, 0.08), rows=12)
    assert not few.challenger_wins and "fewer than retrain.min_new_rows 30" in few.not_evidence()[0]


@pytest.fixture(scope="module")
def mae_settings():
    settings = load_settings(PROJECT_ROOT / PARAMS["regression"])
    quality = settings.quality.model_copy(update={"primary_metric": "mae", "slice_metric": "mae"})
    return settings.model_copy(
        update={"quality": quality, "retrain": settings.retrain.model_copy(update={"promotion_margin": 0.05})}
    )


def outputs(y, predicted) -> Outputs:
    return Outputs(np.asarray(y, dtype=float), Predictions(np.asarray(predicted, dtype=float), None), None)


def compared(settings, champion_noise: float, challenger_noise: float, rows: int, seed: int) -> Scores:
    """Scores of two models whose errors are normal with these spreads, on the same rows, with the paired bootstrap."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, rows)
    old, new = (
        outputs(y, y + rng.normal(0, champion_noise, rows)),
        outputs(y, y + rng.normal(0, challenger_noise, rows)),
    )
    mae = [float(np.abs(o.predicted.label - y).mean()) for o in (old, new)]
    r = settings.retrain
    interval = paired_bootstrap(settings, old, new)
    return Scores("mae", rows, mae[0], mae[1], r.promotion_margin, interval, r.confidence, min_rows=r.min_new_rows)


def test_a_challenger_better_by_more_than_the_margin_is_promoted_and_a_lucky_one_is_not(mae_settings):
    """4000 rows with errors 10 % smaller: a gain of about 0.08 (margin 0.05) whose interval lies above zero.
    40 rows of two equally good models: the challenger looks better by more than the margin, by chance, and the
    interval runs through zero."""
    better = compared(mae_settings, 1.0, 0.9, 4_000, seed=1)
    assert better.gain > mae_settings.retrain.promotion_margin and better.interval[0] > 0
    assert better.challenger_wins
    lucky = compared(mae_settings, 1.0, 1.0, 40, seed=2)
    assert lucky.gain >= mae_settings.retrain.promotion_margin, "by chance, more than the margin"
    assert lucky.interval[0] < 0 < lucky.interval[1]
    assert not lucky.challenger_wins and "the win may be luck" in lucky.not_evidence()[0]
