"""Evidence for a promotion that whoever writes the batches cannot fake.

The held-out new rows are written by the same hand as the rows the challenger learns from, so
winning on them is not enough:

- `distinct_held_out`: held-out rows whose features repeat a training row of the challenger (or
  an earlier held-out row) are dropped: copies on both sides of the split cannot inflate a score;
- `paired_bootstrap`: the gain over the champion, resampled row by row on the same rows for both
  models (scipy.stats.bootstrap); the lower bound of its interval must reach the margin;
- `trusted_check`: both models on the frozen trusted evaluation set (`retrain.trusted`, pinned by
  its sha256, which the loop never trains on and no batch can write): the challenger must not fall
  behind the champion there by more than `retrain.max_trusted_drop`, and must pass every slice gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle
from ..errors import TrustedSetError
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


def copies_of_trusted_rows(new_rows: pd.DataFrame, trusted: pd.DataFrame, inputs: ModelInputs) -> int:
    """How many new rows copy a trusted row: a batch that has seen the trusted set could teach it to the challenger."""
    if new_rows.empty or trusted.empty:
        return 0
    return int(_row_keys(new_rows, inputs).isin(set(_row_keys(trusted, inputs))).sum())


def distinct_held_out(held_out: pd.DataFrame, training: pd.DataFrame, inputs: ModelInputs) -> tuple[pd.DataFrame, int]:
    """The held-out rows whose inputs appear neither in `training` nor earlier in `held_out`; and how many were dropped."""
    if held_out.empty:
        return held_out, 0
    seen = set(_row_keys(training, inputs)) if len(training) else set()
    keys = _row_keys(held_out, inputs)
    keep = ~keys.isin(seen).to_numpy() & ~keys.duplicated().to_numpy()
    return held_out[keep], int((~keep).sum())


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


def _metric(settings: Settings, out: Outputs, rows: np.ndarray) -> float | None:
    metric = settings.quality.primary_metric
    return score(settings.task, out.y[rows], out.predicted.take(rows), out.classes, metric)[metric]


def paired_bootstrap(settings: Settings, champion: Outputs, challenger: Outputs) -> tuple[float, float] | None:
    """The `retrain.confidence` interval of the challenger's gain over the champion, both on the same resampled rows.

    None when the gain is undefined on too many resamples (a class missing from tiny samples)."""
    from scipy.stats import bootstrap

    n = len(champion.y)
    if n < 2:
        return None
    r = settings.retrain
    metric = settings.quality.primary_metric

    def gain_on(rows: np.ndarray) -> float:
        rows = rows.astype(np.int64)
        found = gain(metric, _metric(settings, challenger, rows), _metric(settings, champion, rows))
        return np.nan if found is None else found

    result = bootstrap(
        (np.arange(n),),
        gain_on,
        vectorized=False,
        n_resamples=r.bootstrap_resamples,
        confidence_level=r.confidence,
        method="percentile",
        random_state=np.random.default_rng(settings.seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return None if np.isnan(low) or np.isnan(high) else (low, high)


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
    def passed(self) -> bool:
        return self.drop is not None and self.drop <= self.max_drop and not self.failed_slices and self.reaches_floor

    def problems(self) -> list[str]:
        lines = []
        if self.drop is None:
            lines.append(f"the {self.metric_name} on the trusted set is undefined")
        elif self.drop > self.max_drop:
            lines.append(
                f"on the trusted set the challenger's {self.metric_name} is {self.challenger:.4f} against the "
                f"champion's {self.champion:.4f}: {self.drop:.4g} worse, more than retrain.max_trusted_drop "
                f"{self.max_drop}"
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
            measured = score(settings.task, new.y[where], new.predicted.take(where), new.classes, q.slice_metric)
            if measured[q.slice_metric] is not None and not reaches(
                q.slice_metric, measured[q.slice_metric], q.slice_threshold
            ):
                failed.append(f"{column}={value}: {q.slice_metric} {measured[q.slice_metric]:.4f} ({len(where)} rows)")
    return TrustedCheck(
        path=trusted.path,
        sha256=trusted.sha256,
        rows=len(rows),
        champion=_metric(settings, old, everything),
        challenger=_metric(settings, new, everything),
        max_drop=settings.retrain.trusted_tolerance,
        failed_slices=tuple(failed),
        metric_name=q.primary_metric,
        floor=q.threshold,
    )
