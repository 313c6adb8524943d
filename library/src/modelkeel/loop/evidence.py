"""Evidence for a promotion that whoever writes the batches cannot fake.

The held-out new rows are written by the same hand as the rows the challenger learns from, so
winning on them is not enough:

- `copy_check`: new rows that copy a trusted row stop the loop only when they are more than the
  data's natural duplicate rate explains (the share of training rows that repeat a trusted row; a
  one-sided binomial test at p < COPY_PVALUE): a population with repeated rows is not leakage;
- `distinct_held_out`: held-out rows whose features repeat a training row of the challenger (or
  an earlier held-out row) are dropped, unless there are no more of them than the data's own
  duplicates explain (`natural_copy_rate`): copies on both sides of the split cannot inflate a score;
- `paired_bootstrap`: the gain over the champion, resampled row by row on the same rows for both
  models (scipy.stats.bootstrap); the lower bound of its interval must be above zero;
- `metric_bootstrap`: the same interval of one model's metric (the champion's slide since its release);
- `trusted_check`: both models on the frozen trusted evaluation set (`retrain.trusted`, pinned by
  its sha256, which the loop never trains on and no batch can write): the challenger must not fall
  behind the champion there by more than `retrain.max_trusted_drop` beyond the set's noise (the paired
  bootstrap of the gain there lies below 0), must reach quality.threshold, and must pass every slice gate
  (evaluate's rule, quality/gates.py: a slice fails only when its interval lies wholly beyond the bar).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle
from ..errors import TrustedSetError
from ..quality.gates import BOOTSTRAP_BATCH, describe_slice, metric_interval, slice_gate
from ..quality.metrics import Predictions, coded, gain, reaches, score
from ..runtime.signature import ModelInputs, model_frame
from ..settings import Settings
from ..utils.hashing import sha256_file

SIGNIFICANT_DIGITS = 6  # numbers equal to this many significant digits are the same value


def _row_keys(frame: pd.DataFrame, inputs: ModelInputs) -> pd.Series:
    """One hash per row of what the model sees (numbers, calendar parts rounded to SIGNIFICANT_DIGITS digits).

    This catches copies and near-copies (a row with a new timestamp but the same calendar parts is
    the same to the model); a row nudged beyond six digits is new data, which the trusted set judges."""
    typed = model_frame(frame, inputs)
    shown = {}
    for column in typed.columns:
        values = typed[column]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
            numbers = values.to_numpy(dtype=float)
            shown[column] = [f"{v:.{SIGNIFICANT_DIGITS}g}" for v in numbers]
        else:
            shown[column] = values.astype(str).where(values.notna(), "").to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(shown, index=frame.index), index=False)


COPY_PVALUE = 0.001  # copies beyond the natural rate at this p-value are not chance


def copies_of_trusted_rows(new_rows: pd.DataFrame, trusted: pd.DataFrame, inputs: ModelInputs) -> int:
    """How many new rows copy a trusted row: a batch that has seen the trusted set could teach it to the challenger."""
    if new_rows.empty or trusted.empty:
        return 0
    return int(_row_keys(new_rows, inputs).isin(set(_row_keys(trusted, inputs))).sum())


def copies_beyond_chance(copies: int, rows: int, natural: float, reference_rows: int) -> float:
    """p-value of a one-sided binomial test that `copies` of `rows` are more than the natural rate explains.

    The rate is floored at 1 / (reference_rows + 1): data with no duplicate among its rows has still
    only shown that its rate is below about that."""
    from scipy.stats import binomtest

    if rows <= 0:
        return 1.0
    rate = min(max(natural, 1 / (reference_rows + 1)), 1.0)
    return float(binomtest(copies, rows, p=rate, alternative="greater").pvalue)


@dataclass(frozen=True)
class CopyCheck:
    """New rows that copy a trusted row, against the natural rate at which the training rows do."""

    copies: int
    rows: int  # the new rows
    natural: float  # the share of training rows that copy a trusted row
    training_rows: int
    pvalue: float

    @property
    def rate(self) -> float:
        return self.copies / self.rows if self.rows else 0.0

    @property
    def flagged(self) -> bool:
        return self.pvalue < COPY_PVALUE

    def reason(self) -> str:
        found = (
            f"{self.copies} of {self.rows} new row(s) copy rows of the trusted evaluation set (a rate of "
            f"{self.rate:.4g}), against a natural rate of {self.natural:.4g} at which the {self.training_rows} "
            f"training rows repeat trusted rows (one-sided binomial test p-value {self.pvalue:.2g}"
        )
        if self.flagged:
            return (
                f"{found} < {COPY_PVALUE:g}): a batch that has seen the trusted set could teach it to a challenger, "
                "so nothing was trained; a person decides where these rows came from"
            )
        return f"{found} >= {COPY_PVALUE:g}): no more than the data's own duplicates explain"

    def as_dict(self) -> dict:
        return {
            "copies": self.copies,
            "rows": self.rows,
            "rate": self.rate,
            "natural_rate": self.natural,
            "training_rows": self.training_rows,
            "pvalue": self.pvalue,
            "flagged": self.flagged,
            "rule": f"flagged when a one-sided binomial test says the rate exceeds the natural rate at p < {COPY_PVALUE:g}",
        }


def copy_check(
    new_rows: pd.DataFrame, trusted: pd.DataFrame, training: pd.DataFrame, inputs: ModelInputs, copies: int
) -> CopyCheck:
    """`copies` new rows copy a trusted row: are they more than the natural rate (training rows copying a
    trusted row, the same population seen before any batch) explains?"""
    trusted_keys = set(_row_keys(trusted, inputs)) if len(trusted) else set()
    natural = float(_row_keys(training, inputs).isin(trusted_keys).mean()) if len(training) else 0.0
    pvalue = copies_beyond_chance(copies, len(new_rows), natural, len(training))
    return CopyCheck(copies, len(new_rows), natural, len(training), pvalue)


def natural_copy_rate(rows: pd.DataFrame, inputs: ModelInputs) -> float:
    """The share of rows whose inputs another row repeats: how often the population repeats itself."""
    if rows.empty:
        return 0.0
    return float(_row_keys(rows, inputs).duplicated(keep=False).mean())


def _copies(held_out: pd.DataFrame, training: pd.DataFrame, inputs: ModelInputs) -> np.ndarray:
    """Which held-out rows repeat the inputs of a training row or of an earlier held-out row."""
    seen = set(_row_keys(training, inputs)) if len(training) else set()
    keys = _row_keys(held_out, inputs)
    return keys.isin(seen).to_numpy() | keys.duplicated().to_numpy()


def distinct_held_out(held_out: pd.DataFrame, training: pd.DataFrame, inputs: ModelInputs) -> tuple[pd.DataFrame, int]:
    """The held-out rows whose inputs appear neither in `training` nor earlier in `held_out`; and how many were dropped."""
    if held_out.empty:
        return held_out, 0
    copied = _copies(held_out, training, inputs)
    return held_out[~copied], int(copied.sum())


def held_out_copies(
    held_out: pd.DataFrame, training: pd.DataFrame, inputs: ModelInputs, natural: float | None, reference_rows: int
) -> tuple[pd.DataFrame, int, int]:
    """The held-out rows to judge on, the copies dropped, and the copies kept.

    Copies are kept when they are no more than the data's natural duplicate rate (`natural`, over
    `reference_rows` rows) explains at p < COPY_PVALUE: in a population with repeated rows they are
    what new data looks like, and dropping them could leave no row to judge on. More copies than
    that are dropped, all of them; so are any copies when the natural rate is unknown (None)."""
    if held_out.empty:
        return held_out, 0, 0
    copied = _copies(held_out, training, inputs)
    count = int(copied.sum())
    if (
        count
        and natural is not None
        and copies_beyond_chance(count, len(held_out), natural, reference_rows) >= COPY_PVALUE
    ):
        return held_out, 0, count
    return held_out[~copied], count, 0


@dataclass(frozen=True)
class Outputs:
    """One model's answers on some rows, coded once so that many resamples score quickly."""

    y: np.ndarray
    predicted: Predictions
    classes: list | None


def outputs(settings: Settings, model: Bundle, frame: pd.DataFrame) -> Outputs:
    y = frame[settings.data.target].to_numpy()
    raw = model.run(frame)
    if settings.task == "classification":
        classes = model.classes or sorted(set(y))
        predicted = Predictions(np.asarray(raw["label"]), np.asarray(raw["value"]))
        y_codes, predicted, codes = coded(settings.task, y, predicted, classes)
        return Outputs(y_codes, predicted, codes)
    return Outputs(np.asarray(y, dtype=float), Predictions(np.asarray(raw["value"]).ravel(), None), None)


def metric_of(settings: Settings, out: Outputs, rows: np.ndarray) -> float | None:
    """The primary metric of one model's answers on some of the rows (positions in `out`)."""
    metric = settings.quality.primary_metric
    return score(settings.task, out.y[rows], out.predicted.take(rows), out.classes, metric)[metric]


def _bootstrap(settings: Settings, n: int, statistic) -> tuple[float, float] | None:
    """The `retrain.confidence` percentile-bootstrap interval of `statistic(rows)` over n rows, seeded by `seed`."""
    from scipy.stats import bootstrap

    r = settings.retrain
    result = bootstrap(
        (np.arange(n),),
        lambda rows: statistic(rows.astype(np.int64)),
        vectorized=False,
        n_resamples=r.bootstrap_resamples,
        batch=BOOTSTRAP_BATCH,  # resamples of row indexes made 50 at a time, not all at once
        confidence_level=r.confidence,
        method="percentile",
        random_state=np.random.default_rng(settings.seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return None if np.isnan(low) or np.isnan(high) else (low, high)


def metric_bootstrap(settings: Settings, out: Outputs) -> tuple[float, float] | None:
    """The `retrain.confidence` interval of one model's primary metric on these rows (None: undefined)."""
    if len(out.y) < 2:
        return None

    def metric_on(rows: np.ndarray) -> float:
        found = metric_of(settings, out, rows)
        return np.nan if found is None else found

    return _bootstrap(settings, len(out.y), metric_on)


def paired_bootstrap(settings: Settings, champion: Outputs, challenger: Outputs) -> tuple[float, float] | None:
    """The `retrain.confidence` interval of the challenger's gain over the champion, both on the same resampled rows.

    None when the gain is undefined on too many resamples (a class missing from tiny samples)."""
    n = len(champion.y)
    if n < 2:
        return None
    metric = settings.quality.primary_metric

    def gain_on(rows: np.ndarray) -> float:
        found = gain(metric, metric_of(settings, challenger, rows), metric_of(settings, champion, rows))
        return np.nan if found is None else found

    return _bootstrap(settings, n, gain_on)


@dataclass(frozen=True)
class TrustedCheck:
    """Champion and challenger on the trusted evaluation set, and what the challenger failed there."""

    path: str
    sha256: str
    rows: int
    champion: float | None
    challenger: float | None
    max_drop: float
    failed_slices: tuple[str, ...] = field(default=())
    floor: float | None = None  # quality.threshold: the challenger must reach it there too (no slow decline)
    # the challenger's gain over the champion there (paired bootstrap, retrain.confidence), measured only when
    # the drop passes max_drop: a drop counts when it is beyond the tolerance AND beyond the noise of the set
    interval: tuple[float, float] | None = None
    confidence: float = 0.95

    @property
    def drop(self) -> float | None:
        """How much worse the challenger is than the champion (negative: better)."""
        found = gain(self.metric_name, self.challenger, self.champion)
        return None if found is None else -found

    metric_name: str = ""

    @property
    def reaches_floor(self) -> bool:
        return self.floor is None or reaches(self.metric_name, self.challenger, self.floor)

    @property
    def within_noise(self) -> bool:
        """Whether the gain's interval reaches 0: the trusted set cannot tell the two models apart."""
        return self.interval is not None and self.interval[1] >= 0

    @property
    def fell_behind(self) -> bool:
        return self.drop is None or (self.drop > self.max_drop and not self.within_noise)

    @property
    def passed(self) -> bool:
        return not self.fell_behind and not self.failed_slices and self.reaches_floor

    def problems(self) -> list[str]:
        lines = []
        if self.drop is None:
            lines.append(f"the {self.metric_name} on the trusted set is undefined")
        elif self.fell_behind:
            beyond = (
                ""
                if self.interval is None
                else f", and beyond the set's noise (the gain's {round(self.confidence * 100)} percent interval "
                f"[{self.interval[0]:.4g}, {self.interval[1]:.4g}] lies below 0)"
            )
            lines.append(
                f"on the trusted set the challenger's {self.metric_name} is {self.challenger:.4f} against the "
                f"champion's {self.champion:.4f}: {self.drop:.4g} worse, more than retrain.max_trusted_drop "
                f"{self.max_drop:.4g}{beyond}"
            )
        if self.drop is not None and not self.reaches_floor:
            lines.append(
                f"on the trusted set the challenger's {self.metric_name} {self.challenger:.4f} misses quality.threshold "
                f"{self.floor}: small losses must not add up release after release"
            )
        lines += [f"on the trusted set the challenger fails the slice gate {s}" for s in self.failed_slices]
        return lines

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "rows": self.rows,
            "metric": self.metric_name,
            "champion": self.champion,
            "challenger": self.challenger,
            "drop": self.drop,
            "max_drop": self.max_drop,
            "failed_slices": list(self.failed_slices),
            "floor": self.floor,
            "interval": list(self.interval) if self.interval else None,
            "confidence": self.confidence,
            "passed": self.passed,
        }


def trusted_rows(settings: Settings) -> pd.DataFrame:
    """The trusted evaluation set, read only after its bytes match the pinned sha256, and checked by the contract."""
    from ..data.contract import load_schema_model, validate_frame
    from ..data.files import read_file, resolve_files
    from ..stages.validate import time_columns

    trusted = settings.retrain.trusted
    if trusted is None:
        raise TrustedSetError("no trusted evaluation set: set retrain.trusted in params.yaml (`make freeze-trusted`)")
    path = settings.resolve(trusted.path)
    if not path.is_file():
        raise TrustedSetError(f"retrain.trusted.path {trusted.path!r}: file not found at {path}")
    training = {f.resolve() for f in resolve_files(settings.data.path, settings.root, settings.data_snapshot_dir)}
    if path in training:
        raise TrustedSetError(f"retrain.trusted.path {trusted.path!r} is also training data (data.path): keep it apart")
    digest = sha256_file(path)
    if digest != trusted.sha256:
        raise TrustedSetError(
            f"retrain.trusted.path {trusted.path!r} has sha256 {digest}, but params.yaml pins {trusted.sha256}: "
            "the trusted set changed. If the change is reviewed and right, pin the new sha256 in a commit."
        )
    frame = validate_frame(read_file(path), load_schema_model(settings), trusted.path, time_columns(settings))
    labelled = frame[frame[settings.data.target].notna()]
    if labelled.empty:
        raise TrustedSetError(f"retrain.trusted.path {trusted.path!r} has no labelled row")
    return labelled


def trusted_check(settings: Settings, champion: Bundle, challenger: Bundle, rows: pd.DataFrame) -> TrustedCheck:
    """Both models on the same trusted rows; the challenger's slice gates there."""
    trusted = settings.retrain.trusted
    assert trusted is not None  # trusted_rows refused a missing one
    q = settings.quality
    old, new = outputs(settings, champion, rows), outputs(settings, challenger, rows)
    everything = np.arange(len(rows))
    failed = []
    for column in settings.data.categorical_features:
        values = rows[column].astype(str).where(rows[column].notna(), "(missing)").to_numpy()
        for value in sorted(set(values)):
            where = np.flatnonzero(values == value)
            if len(where) < q.slice_min_rows:
                continue
            y, predicted = new.y[where], new.predicted.take(where)
            measured = score(settings.task, y, predicted, new.classes, q.slice_metric)[q.slice_metric]
            # the rule of evaluate's slice gates: a slice fails only beyond its metric's uncertainty
            interval_of = partial(
                metric_interval,
                settings.task,
                q.slice_metric,
                y,
                predicted,
                new.classes,
                q.slice_confidence,
                settings.seed,
            )
            gate = slice_gate(q, column, value, len(where), measured, interval_of)
            if not gate["passed"]:
                failed.append(describe_slice(gate))
    check = TrustedCheck(
        path=trusted.path,
        sha256=trusted.sha256,
        rows=len(rows),
        champion=metric_of(settings, old, everything),
        challenger=metric_of(settings, new, everything),
        max_drop=settings.retrain.trusted_tolerance,
        failed_slices=tuple(failed),
        metric_name=q.primary_metric,
        floor=q.threshold,
        confidence=settings.retrain.confidence,
    )
    if check.drop is not None and check.drop > check.max_drop:  # the bootstrap only where it can change the verdict
        check = dataclasses.replace(check, interval=paired_bootstrap(settings, old, new))
    return check
