"""Rows outside the contract's expectations: reported by the loop as drift evidence, never refused.

An expectation is what the training data looked like (a number's observed range, a text column's
categories, the classes), written by `infer-schema` into a Field's `metadata={"expect": ...}` and
copied by the bundle into reference.json under "expectations". A new month, a price past the old
maximum or a new airport is accepted by the contract; this module counts such rows per column, so
the report says what is new. A rule that must refuse a row belongs in the Field's own arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SHOWN_VALUES = 10  # new categories named per column, the most frequent first


@dataclass(frozen=True)
class Breach:
    """One column's rows outside its expectation, among the batch rows that hold a value there."""

    column: str
    expected: str  # the expectation in words: "1..6" or "one of 3 values"
    rows: int  # rows outside
    checked: int  # rows with a value in the column
    below: int = 0  # a range: rows under its low end ...
    above: int = 0  # ... and over its high end
    new_values: tuple[tuple[str, int], ...] = ()  # categories: the new values and their rows, most first
    new_distinct: int = 0  # how many distinct new values (new_values shows SHOWN_VALUES at most)

    @property
    def share(self) -> float:
        return self.rows / self.checked if self.checked else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "expected": self.expected,
            "rows": self.rows,
            "checked": self.checked,
            "share": self.share,
            "below": self.below,
            "above": self.above,
            "new_values": [{"value": v, "rows": n} for v, n in self.new_values],
            "new_distinct": self.new_distinct,
        }


def _key(value: Any) -> str:
    """A value as text, with a whole number read the same as an int or a float (1 and 1.0 are one class)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _range_breach(column: str, expect: dict, values: pd.Series) -> Breach | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    low, high = expect.get("ge"), expect.get("le")
    below = int((numbers < low).sum()) if low is not None else 0
    above = int((numbers > high).sum()) if high is not None else 0
    if not below + above:
        return None
    shown = f"{'' if low is None else f'{low:.6g}'}..{'' if high is None else f'{high:.6g}'}"
    return Breach(column, shown, below + above, len(numbers), below=below, above=above)


def _category_breach(column: str, expect: dict, values: pd.Series) -> Breach | None:
    present = values.dropna()
    allowed = {_key(v) for v in expect["isin"]}
    keys = present.map(_key)
    new = keys[~keys.isin(allowed)]
    if new.empty:
        return None
    counts = new.value_counts()
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))]  # most, then by name
    shown = tuple((str(v), int(n)) for v, n in counts.head(SHOWN_VALUES).items())
    return Breach(
        column,
        f"one of {len(allowed)} values",
        len(new),
        len(present),
        new_values=shown,
        new_distinct=len(counts),
    )


def outside_expectations(expectations: dict[str, dict] | None, frame: pd.DataFrame) -> tuple[Breach, ...]:
    """Per column of `frame` the contract has an expectation for (reference.json's "expectations"), the rows
    outside it: below or above its range, or categories it did not list (with their counts). Columns whose
    rows all meet their expectation are left out; a missing value is never outside."""
    found = []
    for column, expect in (expectations or {}).items():
        if column not in frame.columns:
            continue
        check = _category_breach if "isin" in expect else _range_breach
        breach = check(column, expect, frame[column])
        if breach is not None:
            found.append(breach)
    return tuple(found)


def expectations_markdown(breaches: tuple[Breach, ...]) -> list[str]:
    """The report's table, values from the batch made inert (reports/tables.py `cell`)."""
    from ..reports.tables import cell

    lines = [
        "Accepted by the contract, but beyond what the champion's training data held (the contract's expectations, "
        'schemas/*.py `metadata={"expect": ...}`). New months, prices or categories are not errors; a rule '
        "that must refuse a row belongs in the Field's own arguments (ge=, le=, isin=).",
        "",
        "| column | expected | rows outside | share | what |",
        "|---|---|---|---|---|",
    ]
    for b in breaches:
        if b.new_values:
            what = "new: " + ", ".join(f"{cell(v, 40)} ({n})" for v, n in b.new_values)
            if b.new_distinct > len(b.new_values):
                what += f" and {b.new_distinct - len(b.new_values)} more"
        else:
            what = f"{b.below} below, {b.above} above"
        lines.append(f"| {cell(b.column)} | {b.expected} | {b.rows} of {b.checked} | {b.share:.1%} | {what} |")
    return lines
