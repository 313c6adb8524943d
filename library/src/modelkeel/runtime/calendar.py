"""Calendar features: the numbers a model gets from a date/time column, the same way at training and serving.

A consumer passes the raw column (ISO text such as "2024-03-05" or "2024-03-05T14:30", or a
timestamp); `calendar_parts` turns it into one float32 column per part, named `<column>.<part>`,
with NaN where the time is missing. Training (stages/train.py, through runtime/signature.py)
and every load path (bundle/reader.py) call this one function, so the ONNX graph, which takes
the parts as inputs, always sees what scikit-learn saw. Time zones are converted to UTC.
This module imports neither scikit-learn nor skl2onnx, and pandas only when it computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CalendarPart = Literal["year", "month", "day", "day_of_week", "day_of_year", "hour", "minute"]
PARTS: tuple[CalendarPart, ...] = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "minute")
DATE_PARTS: tuple[CalendarPart, ...] = ("year", "month", "day", "day_of_week", "day_of_year")
SEPARATOR = "."


def derived_name(column: str, part: str) -> str:
    return f"{column}{SEPARATOR}{part}"


def derived_names(time: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    return tuple(derived_name(column, part) for column, parts in time.items() for part in parts)


def as_datetime(values: pd.Series, column: str) -> pd.Series:
    """The column as naive UTC datetimes; text must be ISO 8601. Raises ValueError naming the column."""
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise ValueError(f"column {column!r}: numbers are not dates/times; pass ISO 8601 text or timestamps")
    try:
        parsed = pd.to_datetime(values, format="ISO8601", utc=True)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"column {column!r}: not a date/time in ISO 8601 form (e.g. 2024-03-05 or 2024-03-05T14:30): {error}"
        ) from None
    return parsed.dt.tz_localize(None)


def calendar_parts(values: pd.Series, column: str, parts: Sequence[str]) -> dict[str, np.ndarray]:
    """One float32 array per part of the column (NaN where the time is missing), keyed by derived name."""
    import numpy as np

    times = as_datetime(values, column).dt
    computed = {
        "year": lambda: times.year,
        "month": lambda: times.month,
        "day": lambda: times.day,
        "day_of_week": lambda: times.day_of_week,  # Monday = 0
        "day_of_year": lambda: times.day_of_year,
        "hour": lambda: times.hour,
        "minute": lambda: times.minute,
    }
    unknown = [p for p in parts if p not in computed]
    if unknown:
        raise ValueError(f"column {column!r}: unknown calendar part(s) {unknown}; use {', '.join(PARTS)}")
    return {derived_name(column, p): computed[p]().to_numpy(dtype=np.float32, na_value=np.nan) for p in parts}


def parts_for(values: pd.Series) -> tuple[CalendarPart, ...]:
    """The parts worth deriving from these times: the date parts, plus hour and minute where present."""
    times = values.dropna().dt
    parts = list(DATE_PARTS)
    if (times.hour != 0).any() or (times.minute != 0).any():
        parts.append("hour")
    if (times.minute != 0).any():
        parts.append("minute")
    return tuple(parts)
