"""The bundled contract compiled into a fast check of the model's inputs, with pandera's report on failure.

pandera checks a request of one row in milliseconds; the model scores it in a tenth of one. So
`compile_check` reads the contract once per bundle (the pandera schema narrowed to the model's
inputs, as `Bundle.input_schema` deserializes it) and turns each input column into a loop over
plain Python values that checks what pandera would check and builds the onnxruntime input at
the same time: numeric columns as float32 (missing = NaN), categorical ones as strings
(missing = ""), time columns as float32 calendar parts (runtime/signature.py, runtime/calendar.py).

The compiled check never decides alone that input is bad. Its verdict is one of
- ACCEPT: pandera accepts these rows and the model gets exactly the values the pandera path
  (validate, `model_frame`, `onnx_feed`) would give it, so the predictions are identical;
- REJECT: pandera refuses them (a value out of range, an unknown category, a gap where none is
  allowed, a missing column);
- UNSURE: a value it does not model (a number written as text, a bool for a number, a fraction
  in an integer column, a date in another form, a lone surrogate in text...).
Only ACCEPT is used as is. On REJECT or UNSURE the rows go through pandera (`validated`), which
raises DataValidationError with the full report naming every column, or, if it accepts them after
all, scores its own result. The reference semantics for JSON records are pandera's on
`pd.DataFrame.from_records(records)`: a key missing from some records is a missing value there,
a key missing from every record is a missing column, unknown keys are ignored. A small frame
(`Model.predict`, `score_frame`) is checked the same way, column by column, when its model columns
hold numpy numbers or bools, objects or pandas strings (other dtypes go to pandera); the rows it
returns are coerced as pandera coerces them (pandera's own dtype coercion; time text as the
instants `parse_times` reads). A larger frame is checked the same way on whole numpy arrays
(`check_typed_frame`: bounds, sets and gaps per column, each distinct text once) when its model
columns are float64 or int64, pandas strings, numpy bools or naive datetime64[ns]; other dtypes
(object columns too) go to pandera.

What it compiles (anything else in the contract makes every call use pandera, and `fallback`
says why):
- schema options: coerce on (schema or column), no dataframe-level checks, no index, no
  `unique`, `ordered`, `add_missing_columns`, `drop_invalid_rows`, `dtype` or parsers;
- column options: required, not a regex, not unique, no default, no parsers;
- dtypes: float64 and int64 for numeric inputs; pandas strings (`str`, `string[...]`) and bool for
  categorical inputs; timezone-naive `datetime64[ns]` with no checks for time inputs;
- checks (pandera's built-ins, with their default options: ignore_na, no raise_warning, no
  groups): greater_than, greater_than_or_equal_to, less_than, less_than_or_equal_to, in_range
  (finite numeric bounds, exactly representable as float64) and isin / notin (numbers for numeric
  columns, strings for string columns, bools for bool columns).
The values it accepts: for float64 columns float and int (not bool; whole numbers up to 2**53),
for int64 columns int and whole floats such as 3.0 (not bool, not 3.5; up to 2**53 in size), for
string columns str that UTF-8 can encode, for bool columns bool, for time columns ISO 8601 text of the form
`YYYY-MM-DD`, optionally `[T ]HH:MM`, `:SS`, `.fraction` (up to 9 digits) and `Z` or an offset
`+HH:MM`/`+HHMM` (years 1678 to 2261 in UTC, inside pandas' nanosecond range); None (and NaN, and
a key missing from a record) is a missing value. Anything else is UNSURE.

Imports numpy only; pandas and pandera come in for the pandera path, and for `compile_check`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, DataValidationError
from .signature import MISSING_CATEGORY, ModelInputs

if TYPE_CHECKING:
    import pandas as pd

    from ..bundle.reader import Bundle

ACCEPT, REJECT, UNSURE = "accept", "reject", "unsure"
LOG = logging.getLogger(__name__)
FAST_ROWS = 1024  # records up to this many take the compiled check; from about 4 000 pandera (vectorised) is as quick
FAST_FRAME_ROWS = 256  # frames (Model.predict, score_frame): from about 1 000 rows pandera is as quick
# above this many rows a frame of plain dtypes is checked as numpy arrays (`check_typed_frame`): measured on
# the penguins contract, 0.21 ms at any size up to 256 rows against 0.15 ms (64 rows) and 0.38 ms (256) value by value
TYPED_FRAME_ROWS = 64
EXACT = 2**53  # the integers float64 holds exactly: larger ones are left to pandera
NAN = math.nan
NO_VALUE = object()  # a key a record does not have
RANGE_CHECKS = {
    "greater_than": ("min_value",),
    "greater_than_or_equal_to": ("min_value",),
    "less_than": ("max_value",),
    "less_than_or_equal_to": ("max_value",),
    "in_range": ("min_value", "max_value", "include_min", "include_max"),
}
SET_CHECKS = {"isin": "allowed_values", "notin": "forbidden_values"}
BUILTIN_MODULES = ("pandera.backends.base.builtin_checks", "pandera.backends.pandas.builtin_checks")
# ISO 8601 in the forms the check computes itself; digits are ASCII only ([0-9], not \d)
ISO_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(?:Z|([+-])([0-9]{2}):?([0-9]{2}))?)?"
)
FIRST_YEAR, LAST_YEAR = 1678, 2261  # inside datetime64[ns] (1677-09-21 to 2262-04-11), where pandera coerces


class Unsupported(Exception):
    """The contract holds something the compiled check does not model: every call goes to pandera."""


@dataclass(frozen=True)
class Bounds:
    """Every range and set check of one column, merged: the tightest bound on each side wins."""

    low: float | int | None = None
    low_open: bool = False
    high: float | int | None = None
    high_open: bool = False
    allowed: frozenset | None = None
    forbidden: frozenset = frozenset()

    def admits(self, x: Any) -> bool:
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        if self.high is not None and (x > self.high or (self.high_open and x == self.high)):
            return False
        if self.allowed is not None and x not in self.allowed:
            return False
        return x not in self.forbidden

    @property
    def trivial(self) -> bool:
        return self.low is None and self.high is None and self.allowed is None and not self.forbidden


def _is_missing(v: Any) -> bool:
    return v is None or v is NO_VALUE or (type(v) is float and v != v)


@dataclass(frozen=True)
class NumericColumn:
    """A float64 or int64 contract column fed to the model as float32."""

    name: str
    nullable: bool
    integer: bool
    bounds: Bounds

    def convert(self, values: Sequence) -> tuple[str, list[float] | None]:
        out: list[float] = []
        append, bounds, nullable, integer = out.append, self.bounds, self.nullable, self.integer
        trivial = bounds.trivial
        for v in values:
            kind = type(v)
            if kind is float:
                if v != v:  # NaN: a missing value
                    if integer or not nullable:  # an int64 column holds no gap: pandera refuses it
                        return REJECT, None
                    append(NAN)
                    continue
                if integer and not (v.is_integer() and -EXACT <= v <= EXACT):
                    return UNSURE, None  # pandera's int64 coercion truncates 3.5 to 3: it decides
                x = v  # a whole float (3.0) is the int64 3 to pandera, and the same float32 to the model
            elif kind is int:  # compared exactly, as numpy compares the float64 (or int64) it becomes
                if not -EXACT <= v <= EXACT:
                    return UNSURE, None
                if not (trivial or bounds.admits(v)):
                    return REJECT, None
                append(float(v))
                continue
            elif v is None or v is NO_VALUE:
                if integer or not nullable:  # an int64 column holds no gap: pandera refuses it
                    return REJECT, None
                append(NAN)
                continue
            else:
                return UNSURE, None
            if not (trivial or bounds.admits(x)):
                return REJECT, None
            append(x)
        return ACCEPT, out


@dataclass(frozen=True)
class CategoricalColumn:
    """A string or bool contract column fed to the model as text (missing = "")."""

    name: str
    nullable: bool
    boolean: bool
    bounds: Bounds

    def convert(self, values: Sequence) -> tuple[str, list[str] | None]:
        out: list[str] = []
        append, bounds, nullable = out.append, self.bounds, self.nullable
        trivial = bounds.trivial
        if self.boolean:
            for v in values:
                if type(v) is not bool:
                    return UNSURE, None  # a gap in a bool column, 1 for True, "yes": pandera decides
                if not (trivial or bounds.admits(v)):
                    return REJECT, None
                append("True" if v else "False")
            return ACCEPT, out
        for v in values:
            if type(v) is str:
                if not (v.isascii() or _encodable(v)):
                    return UNSURE, None  # pandas' Arrow strings cannot hold a lone surrogate
                if not (trivial or bounds.admits(v)):
                    return REJECT, None
                append(v)
            elif _is_missing(v):
                if not nullable:
                    return REJECT, None
                append(MISSING_CATEGORY)
            else:
                return UNSURE, None
        return ACCEPT, out


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class TimeColumn:
    """A datetime64[ns] contract column fed to the model as float32 calendar parts."""

    name: str
    nullable: bool
    parts: tuple[str, ...]

    def convert(self, values: Sequence) -> tuple[str, list[tuple[float, ...]] | None]:
        out: list[tuple[float, ...]] = []
        append, parts, blank = out.append, self.parts, (NAN,) * len(self.parts)
        for v in values:
            if type(v) is str:
                found = _calendar(v, parts)
                if found is None:
                    return UNSURE, None
                append(found)
            elif _is_missing(v):
                if not self.nullable:
                    return REJECT, None
                append(blank)
            else:
                return UNSURE, None  # a number, a bool: pandera's coercion decides
        return ACCEPT, out


def _moment(text: str) -> tuple[datetime, int] | None:
    """ISO text as a naive UTC datetime (to the second) and its nanoseconds; None for any other text."""
    match = ISO_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:  # 2024-02-30, 24:00, a leap second: pandera decides
        return None
    if sign is not None:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        try:
            moment = moment - offset if sign == "+" else moment + offset
        except OverflowError:
            return None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return moment, int(fraction.ljust(9, "0")) if fraction else 0


def _calendar(text: str, parts: tuple[str, ...]) -> tuple[float, ...] | None:
    """The calendar parts of ISO text, in UTC, as runtime/calendar.py computes them; None for any other text."""
    found = _moment(text)
    if found is None:
        return None
    moment = found[0]
    values = {
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "day_of_week": moment.weekday(),  # Monday = 0, as pandas
        "day_of_year": moment.timetuple().tm_yday,
        "hour": moment.hour,
        "minute": moment.minute,
    }
    return tuple(float(values[p]) for p in parts)


EPOCH = datetime(1970, 1, 1)
NAT = np.iinfo(np.int64).min  # numpy's NaT as an int64


def _instants(values: Sequence) -> np.ndarray | None:
    """Accepted time values as datetime64[ns] (UTC, naive; NaT where missing), as pandera coerces them."""
    out = []
    for v in values:
        if type(v) is not str:
            out.append(NAT)
            continue
        found = _moment(v)
        if found is None:
            return None
        since = found[0] - EPOCH
        out.append((since.days * 86_400 + since.seconds) * 1_000_000_000 + found[1])
    return np.array(out, dtype=np.int64).view("datetime64[ns]")


Column = NumericColumn | CategoricalColumn | TimeColumn


@dataclass(frozen=True)
class CompiledCheck:
    """The model's input columns, each with its compiled contract; `fallback` says why none is compiled."""

    inputs: ModelInputs
    numeric: tuple[NumericColumn, ...] = ()
    categorical: tuple[CategoricalColumn, ...] = ()
    time: tuple[TimeColumn, ...] = ()
    fallback: str | None = None
    coerced: Mapping[str, Any] = field(default_factory=dict)  # column -> the dtype pandera coerces it to

    @property
    def compiled(self) -> bool:
        return self.fallback is None

    def check_columns(self, columns: Mapping[str, Sequence], rows: int) -> tuple[str, dict[str, np.ndarray] | None]:
        """The verdict on the columns (each a sequence of `rows` plain values), and the model's feed if ACCEPT.

        The feed is `onnx_feed`'s: one (rows, 1) array per graph input, numeric and calendar parts
        (float32) first, then the categorical columns (object arrays of str)."""
        if self.fallback is not None:
            return UNSURE, None
        feed: dict[str, np.ndarray] = {}
        for column in self.numeric:
            values = columns.get(column.name)
            if values is None:
                return REJECT, None
            verdict, numbers = column.convert(values)
            if numbers is None:
                return verdict, None
            feed[column.name] = np.array(numbers, dtype=np.float32).reshape(rows, 1)
        for time in self.time:
            values = columns.get(time.name)
            if values is None:
                return REJECT, None
            verdict, moments = time.convert(values)
            if moments is None:
                return verdict, None
            table = np.array(moments, dtype=np.float32).reshape(rows, len(time.parts))
            for i, part in enumerate(time.parts):
                feed[f"{time.name}.{part}"] = np.ascontiguousarray(table[:, i : i + 1])
        for category in self.categorical:
            values = columns.get(category.name)
            if values is None:
                return REJECT, None
            verdict, texts = category.convert(values)
            if texts is None:
                return verdict, None
            strings = np.empty((rows, 1), dtype=object)
            strings[:, 0] = texts
            feed[category.name] = strings
        return ACCEPT, self._ordered(feed)

    def _ordered(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """In `onnx_feed`'s order, which is the graph's: numeric, calendar parts, categorical."""
        return {name: feed[name] for name in (*self.inputs.model_numeric, *self.inputs.categorical)}

    def check_records(self, records: Sequence[Mapping]) -> tuple[str, dict[str, np.ndarray] | None]:
        """The verdict on JSON-like records (already checked to be dicts with str keys), and the feed if ACCEPT."""
        if self.fallback is not None:
            return UNSURE, None
        columns: dict[str, list] = {}
        for name in self.inputs.raw:
            values = [record.get(name, NO_VALUE) for record in records]
            if all(v is NO_VALUE for v in values):
                continue  # a missing column: check_columns says REJECT
            columns[name] = values
        return self.check_columns(columns, len(records))

    def check_frame(self, frame: pd.DataFrame) -> tuple[str, dict[str, np.ndarray] | None]:
        """The verdict on a frame's model columns, and the feed if ACCEPT (UNSURE for dtypes it does not model)."""
        if self.fallback is not None:
            return UNSURE, None
        columns: dict[str, list] = {}
        for name in self.inputs.raw:
            if name not in frame.columns:
                continue
            series = frame[name]
            if not _plain_dtype(series.dtype):
                return UNSURE, None
            columns[name] = series.tolist()
        return self.check_columns(columns, len(frame))

    def check_typed_frame(self, frame: pd.DataFrame) -> tuple[str, dict[str, np.ndarray] | None]:
        """The verdict on a large frame, column by column in numpy, and the feed if ACCEPT.

        The same verdicts as `check_frame`, on whole arrays instead of Python values, for the dtypes
        pandera and `model_frame` treat as plain arrays: float64 and int64 numbers, pandas strings, numpy
        bools and naive datetime64[ns]. Any other dtype (object, categorical, nullable numbers...) is
        UNSURE: pandera decides."""
        if self.fallback is not None:
            return UNSURE, None
        feed: dict[str, np.ndarray] = {}
        for name in self.inputs.raw:
            if name not in frame.columns:
                return REJECT, None
        for column in self.numeric:
            verdict, numbers = _numeric_array(column, frame[column.name])
            if numbers is None:
                return verdict, None
            feed[column.name] = numbers
        for time in self.time:
            verdict, parts = _time_arrays(time, frame[time.name])
            if parts is None:
                return verdict, None
            feed.update(parts)
        for category in self.categorical:
            verdict, texts = _category_array(category, frame[category.name])
            if texts is None:
                return verdict, None
            feed[category.name] = texts
        return ACCEPT, self._ordered(feed)


def _out_of_bounds(bounds: Bounds, values: np.ndarray) -> bool:
    """Some value breaks a range or set check (NaN never does: pandera's checks ignore gaps)."""
    if bounds.trivial:
        return False
    bad = np.zeros(len(values), dtype=bool)
    if bounds.low is not None:
        bad |= (values <= bounds.low) if bounds.low_open else (values < bounds.low)
    if bounds.high is not None:
        bad |= (values >= bounds.high) if bounds.high_open else (values > bounds.high)
    if bounds.allowed is not None:
        bad |= ~np.isin(values, np.array(sorted(bounds.allowed), dtype=np.float64)) & ~np.isnan(values)
    if bounds.forbidden:
        bad |= np.isin(values, np.array(sorted(bounds.forbidden), dtype=np.float64))
    return bool(bad.any())


def _numeric_array(column: NumericColumn, series: pd.Series) -> tuple[str, np.ndarray | None]:
    """A float64 or int64 column checked as pandera checks it after its coercion, and fed as `model_frame` feeds
    it (float32, shape (n, 1)); UNSURE for any other dtype, a fraction or a gap in an integer column, and
    integers beyond 2**53."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) or dtype not in (np.dtype(np.float64), np.dtype(np.int64)):
        return UNSURE, None
    values = series.to_numpy()
    if dtype.kind == "i":
        if len(values) and (values.min() < -EXACT or values.max() > EXACT):
            return UNSURE, None
        checked = values if column.integer else values.astype(np.float64)  # pandera's coercion to float64
    else:
        gaps = np.isnan(values)
        if column.integer:
            if gaps.any():
                return REJECT, None  # an int64 column holds no gap: pandera refuses it
            if not (np.all(np.abs(values) <= EXACT) and np.all(np.trunc(values) == values)):
                return UNSURE, None  # pandera's int64 coercion truncates 3.5 to 3: it decides
            checked = values.astype(np.int64)  # as pandera coerces it (-0.0 becomes 0)
        else:
            if not column.nullable and gaps.any():
                return REJECT, None
            checked = values
    if _out_of_bounds(column.bounds, checked):
        return REJECT, None
    return ACCEPT, checked.astype(np.float32).reshape(-1, 1)


def _category_array(column: CategoricalColumn, series: pd.Series) -> tuple[str, np.ndarray | None]:
    """A pandas string or numpy bool column checked as pandera checks it, and fed as `model_frame` feeds it
    (each distinct text made a Python str once; a gap is the missing category); UNSURE for other dtypes."""
    import pandas as pd

    bounds = column.bounds
    if column.boolean:
        if series.dtype != np.dtype(bool):
            return UNSURE, None  # text, numbers, gaps: read_bools and pandera decide
        values = series.to_numpy()
        present = [v for v, seen in ((False, not values.all()), (True, values.any())) if seen]
        if not bounds.trivial and not all(bounds.admits(v) for v in present):
            return REJECT, None
        return ACCEPT, np.array(["False", "True"], dtype=object)[values.astype(np.intp)].reshape(-1, 1)
    if not isinstance(series.dtype, pd.StringDtype):
        return UNSURE, None
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if not column.nullable and (codes < 0).any():
        return REJECT, None
    texts = np.empty(len(uniques) + 1, dtype=object)
    texts[:-1] = np.asarray(uniques, dtype=object)
    texts[-1] = MISSING_CATEGORY  # a gap's code is -1
    for text in texts[:-1]:
        if not (text.isascii() or _encodable(text)):
            return UNSURE, None  # a lone surrogate in Python-backed strings: pandera's report says so
        if not (bounds.trivial or bounds.admits(text)):
            return REJECT, None
    return ACCEPT, texts[codes].reshape(-1, 1)


def _time_arrays(column: TimeColumn, series: pd.Series) -> tuple[str, dict[str, np.ndarray] | None]:
    """A naive datetime64[ns] column (as the contract coerces it) checked for gaps, fed as its calendar parts;
    UNSURE for text or any other dtype (parse_times and pandera decide)."""
    from .calendar import calendar_parts

    if series.dtype != np.dtype("datetime64[ns]"):
        return UNSURE, None
    if not column.nullable and series.isna().any():
        return REJECT, None
    parts = calendar_parts(series, column.name, column.parts)
    return ACCEPT, {name: np.asarray(values, dtype=np.float32).reshape(-1, 1) for name, values in parts.items()}


def _plain_dtype(dtype: Any) -> bool:
    """numpy numbers and bools, object, and pandas strings: `tolist` gives the values a JSON request would."""
    import pandas as pd

    if isinstance(dtype, pd.StringDtype):
        return True
    return isinstance(dtype, np.dtype) and dtype.kind in "biufO"


# ---- compiling the contract ------------------------------------------------------------------------


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{what} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Unsupported(f"{what} {value!r} is not finite")
    if isinstance(value, int) and not -EXACT <= value <= EXACT:
        raise Unsupported(f"{what} {value!r} is larger than float64 holds exactly")
    return value


def _builtin(check: Any) -> bool:
    """The check is pandera's own built-in of that name (not a custom check registered under it)."""
    try:
        functions = list(check._check_fn._function_registry.values())
    except (AttributeError, TypeError):
        return False
    return bool(functions) and all(f.__module__ in BUILTIN_MODULES and f.__name__ == check.name for f in functions)


def _bounds(column: str, checks: list, kind: str) -> Bounds:
    """The column's checks merged; Unsupported for a check or an option this module does not model."""
    low: float | int | None = None
    high: float | int | None = None
    low_open = high_open = False
    allowed: frozenset | None = None
    forbidden: frozenset = frozenset()
    for check in checks:
        name = check.name
        where = f"column {column!r}, check {name}"
        if (name not in RANGE_CHECKS and name not in SET_CHECKS) or not _builtin(check):
            raise Unsupported(f"{where}: not one of the compiled checks")
        options = (check.ignore_na, check.raise_warning, check.element_wise, check.groupby, check.groups)
        if options != (True, False, False, None, None):
            raise Unsupported(f"{where}: options (ignore_na, raise_warning, element_wise, groupby) not the defaults")
        stats = dict(check.statistics or {})
        if name in SET_CHECKS:
            if set(stats) != {SET_CHECKS[name]}:
                raise Unsupported(f"{where}: statistics {sorted(stats)}")
            values = frozenset(_set_values(column, name, stats[SET_CHECKS[name]], kind))
            if name == "isin":
                allowed = values if allowed is None else allowed & values
            else:
                forbidden = forbidden | values
            continue
        if kind != "numeric":
            raise Unsupported(f"{where}: a range check on a {kind} column")
        expected = set(RANGE_CHECKS[name])
        required = {"min_value", "max_value"} if name == "in_range" else expected
        if not required <= set(stats) <= expected:
            raise Unsupported(f"{where}: statistics {sorted(stats)}")
        lows, highs = [], []
        if name in ("greater_than", "greater_than_or_equal_to"):
            lows.append((_number(stats["min_value"], where), name == "greater_than"))
        elif name in ("less_than", "less_than_or_equal_to"):
            highs.append((_number(stats["max_value"], where), name == "less_than"))
        else:
            include_min, include_max = stats.get("include_min", True), stats.get("include_max", True)
            if not isinstance(include_min, bool) or not isinstance(include_max, bool):
                raise Unsupported(f"{where}: include_min / include_max not true or false")
            lows.append((_number(stats["min_value"], where), not include_min))
            highs.append((_number(stats["max_value"], where), not include_max))
        for value, is_open in lows:
            if low is None or value > low or (value == low and is_open):
                low, low_open = value, is_open
        for value, is_open in highs:
            if high is None or value < high or (value == high and is_open):
                high, high_open = value, is_open
    return Bounds(low, low_open, high, high_open, allowed, forbidden)


def _set_values(column: str, check: str, values: Any, kind: str) -> list:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise Unsupported(f"column {column!r}, check {check}: values {values!r} are not a list")
    wanted = {"numeric": (int, float), "string": (str,), "bool": (bool,)}[kind]
    for value in values:
        if (kind != "bool" and isinstance(value, bool)) or not isinstance(value, wanted):
            raise Unsupported(f"column {column!r}, check {check}: {value!r} is not a {kind} value")
        if kind == "numeric":
            _number(value, f"column {column!r}, check {check}: value")
    if kind == "numeric":
        return [float(v) for v in values]  # what numpy compares a float64 column with
    return list(values)


def _column_options(name: str, column: Any, schema: Any) -> None:
    options: dict[str, tuple[Any, Any]] = {
        "required": (column.required, True),
        "regex": (column.regex, False),
        "unique": (column.unique, False),
        "default": (column.default, None),
        "drop_invalid_rows": (column.drop_invalid_rows, False),
        "parsers": (list(getattr(column, "parsers", None) or []), []),
        "coerce": (bool(column.coerce or schema.coerce), True),
    }
    for option, (value, expected) in options.items():
        if value != expected:
            raise Unsupported(f"column {name!r}: {option}={value!r} (the compiled check models {expected!r})")


def _schema_options(schema: Any) -> None:
    options: dict[str, tuple[Any, Any]] = {
        "checks": (list(schema.checks or []), []),
        "index": (schema.index, None),
        "dtype": (schema.dtype, None),
        "unique": (schema.unique, None),
        "ordered": (schema.ordered, False),
        "add_missing_columns": (schema.add_missing_columns, False),
        "drop_invalid_rows": (schema.drop_invalid_rows, False),
        "strict": (schema.strict, False),  # Bundle.input_schema narrows the contract and lets other columns pass
        "parsers": (list(getattr(schema, "parsers", None) or []), []),
    }
    for option, (value, expected) in options.items():
        if value != expected:
            raise Unsupported(f"schema option {option}={value!r} (the compiled check models {expected!r})")


def _dtype_kind(name: str, dtype: Any) -> str:
    """ "float", "int", "string", "bool" or "time"; Unsupported for any other dtype."""
    import dataclasses

    from pandera.engines import numpy_engine, pandas_engine

    kind = {
        numpy_engine.Float64: "float",
        numpy_engine.Int64: "int",
        pandas_engine.STRING: "string",
        numpy_engine.Bool: "bool",
        pandas_engine.DateTime: "time",
    }.get(type(dtype))
    if kind == "time":
        no_kwargs: dict[str, Any] = {}
        plain: dict[str, Any] = {
            "unit": "ns",
            "tz": None,
            "to_datetime_kwargs": no_kwargs,
            "tz_localize_kwargs": dict(no_kwargs),
        }
        found = {k: getattr(dtype, k, None) for k in plain}
        if found != plain or getattr(dtype, "time_zone_agnostic", False) or not dataclasses.is_dataclass(dtype):
            raise Unsupported(f"column {name!r}: dtype {dtype} with options {found}")
    if kind is None:
        raise Unsupported(f"column {name!r}: dtype {dtype}")
    return kind


def compile_schema(schema: Any, inputs: ModelInputs) -> CompiledCheck:
    """The pandera schema (narrowed to the model's inputs) compiled; a CompiledCheck with `fallback` set
    (every call then goes to pandera) when it holds anything this module does not model."""
    try:
        return _compile(schema, inputs)
    except Unsupported as reason:
        return CompiledCheck(inputs, fallback=str(reason))


def _compile(schema: Any, inputs: ModelInputs) -> CompiledCheck:
    _schema_options(schema)
    extra = [c for c in schema.columns if c not in inputs.raw]
    if extra:
        raise Unsupported(f"the schema checks column(s) {extra} the model does not take")
    columns = {}
    for name in inputs.raw:
        if name not in schema.columns:
            raise Unsupported(f"the schema does not declare the model input {name!r}")
        column = schema.columns[name]
        _column_options(name, column, schema)
        columns[name] = column
    numeric, categorical, time = [], [], []
    for name in inputs.numeric:
        column = columns[name]
        kind = _dtype_kind(name, column.dtype)
        if kind not in ("float", "int"):
            raise Unsupported(f"numeric input {name!r} has dtype {column.dtype}")
        bounds = _bounds(name, column.checks, "numeric")
        numeric.append(NumericColumn(name, bool(column.nullable), kind == "int", bounds))
    for name in inputs.categorical:
        column = columns[name]
        kind = _dtype_kind(name, column.dtype)
        if kind not in ("string", "bool"):
            raise Unsupported(f"categorical input {name!r} has dtype {column.dtype}")
        bounds = _bounds(name, column.checks, kind)
        categorical.append(CategoricalColumn(name, bool(column.nullable), kind == "bool", bounds))
    for name, parts in inputs.time.items():
        column = columns[name]
        if _dtype_kind(name, column.dtype) != "time":
            raise Unsupported(f"time input {name!r} has dtype {column.dtype}")
        if column.checks:
            raise Unsupported(f"time input {name!r} has checks {[c.name for c in column.checks]}")
        unknown = [
            p for p in parts if p not in ("year", "month", "day", "day_of_week", "day_of_year", "hour", "minute")
        ]
        if unknown:
            raise Unsupported(f"time input {name!r}: calendar part(s) {unknown}")
        time.append(TimeColumn(name, bool(column.nullable), tuple(parts)))
    coerced = {name: columns[name].dtype.type for name in inputs.raw}
    return CompiledCheck(inputs, tuple(numeric), tuple(categorical), tuple(time), coerced=coerced)


def compile_check(bundle: Bundle) -> CompiledCheck:
    """The bundle's contract, narrowed to the model's inputs, compiled (see the module's docstring)."""
    return compile_schema(bundle.input_schema, bundle.inputs)


# ---- the pandera path, and scoring with either ----------------------------------------------------------


def check_records(records: Any, source: str) -> list[dict]:
    """The records as a list of dicts with text keys; else DataError saying which record is wrong."""
    if not isinstance(records, list | tuple):
        raise DataError(f"{source}: expected a list of records (JSON objects), not {type(records).__name__}")
    if not records:
        raise DataError(f"{source}: no records to score; send at least one object of column: value")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{source}: record {i} is {type(record).__name__}, not an object of column: value pairs")
        for key in record:
            if type(key) is not str:
                raise DataError(f"{source}: record {i} has the key {key!r}, which is not text; column names are text")
    return list(records)


def validated(bundle: Bundle, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """pandera's verdict on the frame (Bundle.validate_input): the coerced rows, or DataValidationError."""
    try:
        return bundle.validate_input(frame, source=source)
    except UnicodeEncodeError:  # pandas' Arrow strings cannot hold a lone surrogate (e.g. JSON "\ud800")
        columns = {name: frame[name].tolist() for name in bundle.features if name in frame.columns}
        raise DataValidationError(*unencodable_report(columns, source)) from None


def validated_records(bundle: Bundle, records: list[dict], source: str) -> pd.DataFrame:
    """pandera's verdict on `pd.DataFrame.from_records(records)`: the coerced rows, or DataValidationError."""
    import pandas as pd

    try:
        frame = pd.DataFrame.from_records(records)
    except UnicodeEncodeError:  # pandas cannot even build the frame: text with a lone surrogate
        columns = {name: [r.get(name) for r in records] for name in bundle.features}
        raise DataValidationError(*unencodable_report(columns, source)) from None
    return validated(bundle, frame, source)


def unencodable_report(columns: Mapping[str, Sequence], source: str) -> tuple[str, dict]:
    """The message and report of a DataValidationError for text UTF-8 cannot encode (a lone surrogate);
    its rows are positions (0 = the first record)."""
    from ..data.contract import format_report

    failures = []
    for name, values in columns.items():
        rows = [(i, v) for i, v in enumerate(values) if isinstance(v, str) and not _encodable(v)]
        if rows:
            examples = [{"row": i, "value": v.encode("utf-8", "backslashreplace").decode()} for i, v in rows[:5]]
            failures.append(
                {"column": str(name), "check": "valid_unicode_text", "rows": len(rows), "examples": examples}
            )
    if not failures:
        failures.append({"column": "(table)", "check": "valid_unicode_text", "rows": 1, "examples": []})
    return format_report(source, failures), {"source": source, "failures": failures}


def outputs_as_json(bundle: Bundle, outputs: dict) -> dict:
    """The model's outputs as plain Python values: `prediction` (a classifier's classes as the data holds them:
    True/False for a bool target, JSON true/false), and `probabilities` per class for classifiers, keyed by
    the class as text (JSON keys are text: a 0/1 target's classes are "0" and "1", a bool one's "False", "True")."""
    if bundle.task != "classification":
        return {"prediction": np.asarray(outputs["value"]).reshape(-1).tolist()}
    probabilities = np.asarray(outputs["value"])
    classes = bundle.classes or list(range(probabilities.shape[1]))
    return {
        "prediction": np.asarray(outputs["label"]).reshape(-1).tolist(),
        "probabilities": {str(cls): probabilities[:, i].tolist() for i, cls in enumerate(classes)},
    }


def run_feed(bundle: Bundle, feed: dict[str, np.ndarray]) -> dict:
    return bundle.outputs(feed)


def score_records(bundle: Bundle, records: list[dict], source: str) -> dict:
    """The records scored: the compiled check and a direct feed when it accepts them, pandera otherwise."""
    check: CompiledCheck = bundle.precheck
    if len(records) <= FAST_ROWS:
        verdict, feed = check.check_records(records)
        if feed is not None:
            return outputs_as_json(bundle, run_feed(bundle, feed))
    else:
        verdict = UNSURE
    checked = validated_records(bundle, records, source)
    if verdict == REJECT:  # the compiled check refused what pandera accepts: pandera's verdict stands
        LOG.warning("%s: the compiled input check refused rows that pandera accepts; scored pandera's", source)
    return outputs_as_json(bundle, bundle.run(checked))


def checked_and_outputs(bundle: Bundle, frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict]:
    """The frame as pandera returns it (coerced to the contract) and the model's outputs on it.

    Frames the compiled check accepts skip pandera's validation (small ones value by value, larger ones as
    numpy arrays: `check_typed_frame`): the model columns are coerced by pandera's own dtype coercion where
    their dtype differs, and the feed is the compiled one. Anything else is validated by pandera, once."""
    check: CompiledCheck = bundle.precheck
    verdict, feed = UNSURE, None
    if len(frame) and check.compiled:
        if len(frame) > TYPED_FRAME_ROWS:
            verdict, feed = check.check_typed_frame(frame)
        if verdict == UNSURE and len(frame) <= FAST_FRAME_ROWS:  # (object columns, say) value by value
            verdict, feed = check.check_frame(frame)
        if feed is not None:
            return coerced(bundle.input_schema, check, frame), run_feed(bundle, feed)
    checked = validated(bundle, frame, source)
    if verdict == REJECT:
        LOG.warning("%s: the compiled input check refused rows that pandera accepts; scored pandera's", source)
    return checked, bundle.run(checked)


def coerced(schema: Any, check: CompiledCheck, frame: pd.DataFrame) -> pd.DataFrame:
    """What `schema.validate` returns for rows the compiled check accepts: each model column coerced
    to its dtype, by pandera's own coercion, or for time text, its instants as parse_times reads them."""
    import pandas as pd

    result = frame
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
    for name in check.inputs.raw:
        if dtypes[name] == check.coerced[name]:
            continue
        if result is frame:
            result = frame.copy(deep=False)
        series = frame[name]
        if name in check.inputs.time:
            instants = _instants(series.tolist())  # what parse_times and pandera make of the accepted text
            if instants is not None:
                result[name] = pd.Series(instants, index=frame.index, name=name)
                continue
            from .calendar import as_datetime

            series = as_datetime(series, name)  # data/contract.parse_times, before pandera's coercion
        result[name] = schema.columns[name].dtype.try_coerce(series)
    return result
