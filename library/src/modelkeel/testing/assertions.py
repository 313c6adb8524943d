"""Assertions of the project's safeguards, true for any data `infer-schema` accepted (see modelkeel.testing).

The rows that break the contract are derived from the contract itself: a column it requires taken
away, a column it does not know added, text where it expects a number, a value past one of its
bounds, a category it does not list, a gap where it allows none. Only its hard checks count: a value
outside an expectation (a Field's `metadata={"expect": ...}`, what the data happened to hold) is new,
not broken, and the contract accepts it. Whatever the data, at least the first two exist (the contract
is strict), so a test built on them never has nothing to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..settings import Settings
    from ..stages.train import Trained

UNKNOWN_COLUMN = "column_the_contract_does_not_know"


@dataclass(frozen=True)
class BrokenRows:
    """Rows made from the project's own valid rows with one thing broken, and the column that breaks."""

    what: str
    column: str
    frame: pd.DataFrame


def _numeric_bound(checks: dict[str, dict]) -> tuple[str, float] | None:
    """A value past one of a numeric column's bounds: (the check's name, the value)."""
    for name in ("greater_than_or_equal_to", "greater_than"):
        if name in checks and isinstance(checks[name].get("min_value"), int | float):
            low = float(checks[name]["min_value"])
            return name, low - 1000 * (abs(low) + 1)
    for name in ("less_than_or_equal_to", "less_than"):
        if name in checks and isinstance(checks[name].get("max_value"), int | float):
            high = float(checks[name]["max_value"])
            return name, high + 1000 * (abs(high) + 1)
    if "in_range" in checks:
        start, end = checks["in_range"].get("min_value"), checks["in_range"].get("max_value")
        if isinstance(start, int | float):
            return "in_range", float(start) - 1000 * (abs(float(start)) + 1)
        if isinstance(end, int | float):
            return "in_range", float(end) + 1000 * (abs(float(end)) + 1)
    return None


def broken_rows(settings: Settings, valid: Any, rows: int = 3) -> list[BrokenRows]:
    """Every kind of row the contract must refuse, each made from the first `rows` of `valid` (the
    project's validated data, a pandas or a Dask DataFrame: only its first rows are read) with one column broken."""
    from ..data.contract import load_schema_model

    schema = load_schema_model(settings).to_schema()
    good = valid.head(rows).reset_index(drop=True)
    cases: list[BrokenRows] = []
    required = [name for name, column in schema.columns.items() if column.required and name in good.columns]
    if required:
        cases.append(BrokenRows("a required column is missing", required[0], good.drop(columns=[required[0]])))
    cases.append(BrokenRows("a column the contract does not know", UNKNOWN_COLUMN, good.assign(**{UNKNOWN_COLUMN: 1})))
    for name, column in schema.columns.items():
        if name not in good.columns:
            continue
        checks = {check.name: dict(check.statistics or {}) for check in column.checks}
        dtype = str(column.dtype)
        numeric = dtype.startswith(("int", "float", "uint", "Int", "Float", "UInt"))
        frame = good.copy()
        frame[name] = frame[name].astype(object)
        if numeric:
            text = frame.copy()
            text.loc[0, name] = "not a number"
            cases.append(BrokenRows(f"text in the numeric column {name!r}", name, text))
            bound = _numeric_bound(checks)
            if bound is not None:
                outside = frame.copy()
                outside.loc[:, name] = bound[1]
                cases.append(BrokenRows(f"{name!r} past its {bound[0]} bound", name, outside))
        # a bool column's type is its category set (true or false), so no category of it can be new
        if "isin" in checks and not dtype.startswith("bool"):
            allowed = list(checks["isin"].get("allowed_values", []))
            unknown = frame.copy()
            if numeric:  # a number of the column's type the set does not hold, not text (refused for its type)
                unknown.loc[0, name] = max((float(v) for v in allowed), default=0.0) + 1
            else:
                unknown.loc[0, name] = "not-one-of-" + "-".join(map(str, allowed))[:40]
            cases.append(BrokenRows(f"a category {name!r} does not list", name, unknown))
        if not column.nullable:
            gap = frame.copy()
            gap.loc[0, name] = None
            cases.append(BrokenRows(f"a gap in {name!r}, which allows none", name, gap))
    return cases


def assert_refused(settings: Settings, broken: BrokenRows) -> None:
    """The contract refuses `broken`, and its report names the broken column."""
    from ..data.contract import load_schema_model, validate_frame
    from ..errors import DataValidationError

    try:
        validate_frame(broken.frame, load_schema_model(settings), "broken rows")
    except DataValidationError as error:
        failures = error.report["failures"]
        # a column's own failure, or a table-level one (a missing or unknown column) whose failing value names it
        named = {f["column"] for f in failures} | {
            str(example["value"]) for f in failures if f["column"] == "(table)" for example in f["examples"]
        }
        assert broken.column in named, (
            f"{broken.what}: refused, but the report does not name {broken.column!r}:\n{error}"
        )
        return
    raise AssertionError(
        f"{broken.what}: the contract accepted it. Tighten schemas/{settings.data.schema_name}.py "
        f"(column {broken.column!r})."
    )


def _gate_text(metric: str, value: Any, bar: Any) -> str:
    from ..quality.metrics import lower_is_better

    return f"{metric} = {value:.4g} " + (
        f"exceeds the maximum {bar:.4g}" if lower_is_better(metric) else f"misses {bar:.4g}"
    )


def assert_primary_metric_passes(metrics: dict) -> None:
    """The primary metric on the test split reaches quality.threshold."""
    gate = metrics["gates"]["threshold"]
    assert gate["passed"], (
        "test " + _gate_text(gate["metric"], gate["value"], gate["threshold"]) + (" (quality.threshold in params.yaml)")
    )


def assert_every_slice_passes(metrics: dict) -> None:
    """Every slice with at least quality.slice_min_rows test rows reaches quality.slice_threshold, or misses
    it by no more than its uncertainty (its quality.slice_confidence interval reaches the bar): the gate's rule."""
    from ..quality.gates import describe_slice, slice_passes

    failed = [describe_slice(s) for s in metrics["gates"]["slices"] if not slice_passes(s)]
    assert not failed, "slices below quality.slice_threshold in params.yaml:\n  " + "\n  ".join(failed)


def assert_beats_baseline(metrics: dict) -> None:
    """The model beats the trivial baseline (most frequent class, or the mean) by quality.min_improvement."""
    gate = metrics["gates"]["baseline"]
    assert gate["passed"], (
        f"test {gate['metric']} = {gate['value']:.4g} does not beat the trivial baseline {gate['baseline']:.4g} "
        f"by {gate['min_improvement']:.4g} (quality.min_improvement_over_baseline in params.yaml)"
    )


def assert_onnx_parity(settings: Settings, trained: Trained) -> None:
    """The model converted to ONNX predicts like the trained Pipeline on the test split, within parity.*."""
    from ..stages import export

    model = export.convert(settings, trained.model, {"version": settings.version()})
    result = export.parity(settings, trained.model, model.SerializeToString(), trained.parts.X_test)
    assert result.rows == len(trained.parts.X_test)
    assert result.passed, export.describe_failure(result)
