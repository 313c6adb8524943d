"""Validating data against its contract and reporting every failure readably.

The contract is a pandera DataFrameModel (see schemas/). Validation is lazy, so
one run reports every broken column and check at once, with row counts and examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..errors import DataValidationError, SettingsError

if TYPE_CHECKING:
    from ..settings import Settings

MAX_EXAMPLES = 5
MAX_QUOTED_CHARS = 80  # characters of a bad value (or a column name) an error report quotes


def load_schema_model(settings: Settings) -> type[pa.DataFrameModel]:
    """The `Schema` class of the project's module `schemas/<data.schema>.py` (see project.py)."""
    from ..project import SCHEMAS_PACKAGE, import_module, schemas_dir

    name = settings.data.schema_name
    module_name = f"{settings.package}.{SCHEMAS_PACKAGE}.{name}"
    try:
        module = import_module(settings, f"{SCHEMAS_PACKAGE}.{name}")
    except ModuleNotFoundError as error:
        if error.name not in (module_name, f"{settings.package}.{SCHEMAS_PACKAGE}"):
            raise
        folder = schemas_dir(settings)
        available = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
        raise SettingsError(
            f"data.schema {name!r}: no module schemas/{name}.py in package {settings.package!r} "
            f"(available: {', '.join(available) or 'none'}). Run `infer-schema PATH --target COLUMN` to write one."
        ) from None
    model = getattr(module, "Schema", None)
    if not (isinstance(model, type) and issubclass(model, pa.DataFrameModel)):
        raise SettingsError(f"schemas/{name}.py must define `class Schema(pa.DataFrameModel)`.")
    return model


def failure_report(failure_cases: pd.DataFrame) -> list[dict[str, Any]]:
    """Failure cases grouped by column and check: how many rows, and a few examples."""
    report = []
    cases = failure_cases.copy()
    cases["column"] = cases["column"].where(cases["schema_context"] == "Column", "(table)")
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        examples = []
        for _, row in group.head(MAX_EXAMPLES).iterrows():
            index = row["index"]
            examples.append({"row": None if pd.isna(index) else int(index), "value": _plain(row["failure_case"])})
        report.append({"column": str(column), "check": str(check), "rows": len(group), "examples": examples})
    return report


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, int | float | bool) else quoted_prefix(str(value))


def quoted_prefix(value: Any, limit: int = MAX_QUOTED_CHARS) -> Any:
    """Text as a report quotes it: at most `limit` characters, then `… (N chars)`, so a bad value of
    megabytes makes an error of a few lines, never one that carries the value (twice). Other values as they are."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value):,} chars)"
    return value


def format_report(source: str, report: list[dict[str, Any]]) -> str:
    lines = [f"{source}: the data breaks its schema ({len(report)} problem(s)):"]
    for item in report:
        shown = ", ".join(
            f"{item_value!r}" if example["row"] is None else f"row {example['row']}: {item_value!r}"
            for example in item["examples"]
            for item_value in [
                quoted_prefix(example["value"], MAX_QUOTED_CHARS + 32)
            ]  # room for a cut one's `… (N chars)`
        )
        where = (
            "table"
            if item["column"] == "(table)"
            else f"column {quoted_prefix(item['column'], MAX_QUOTED_CHARS + 32)!r}"
        )
        lines.append(f"  - {where}, check {item['check']}: {item['rows']} row(s); e.g. {shown}")
    lines.append("Fix the data, or loosen the contract in the schema module if the data is right.")
    return "\n".join(lines)


def parse_times(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Text in the date/time `columns` read as ISO 8601 times (any mix of forms, offsets to UTC).

    pandera's own coercion reads a column in the form of its first value only; times that cannot
    be read are left as they are, for the contract to report with their rows.
    """
    from ..runtime.calendar import as_datetime

    todo = [c for c in columns if c in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[c].dtype)]
    if not todo:
        return frame
    frame = frame.copy()
    for column in todo:
        try:
            frame[column] = as_datetime(frame[column], column)
        except ValueError:
            continue
    return frame


def validate_frame(
    frame: pd.DataFrame,
    schema: type[pa.DataFrameModel] | pa.DataFrameSchema,
    source: str,
    times: Iterable[str] = (),
) -> pd.DataFrame:
    """The frame coerced to the contract, or DataValidationError listing every failure.

    `times` names the date/time columns, read as ISO 8601 first (`parse_times`)."""
    frame = parse_times(frame, times)
    frame, wrong_bools = read_bools(frame, schema if isinstance(schema, pa.DataFrameSchema) else schema.to_schema())
    try:
        validated = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = (
            pd.concat([wrong_bools, error.failure_cases], ignore_index=True)
            if len(wrong_bools)
            else error.failure_cases
        )
        report = failure_report(cases)
        raise DataValidationError(format_report(source, report), {"source": source, "failures": report}) from None
    if len(wrong_bools):
        report = failure_report(wrong_bools)
        raise DataValidationError(format_report(source, report), {"source": source, "failures": report})
    return validated


TRUE_TEXT, FALSE_TEXT = frozenset({"true", "1", "1.0"}), frozenset({"false", "0", "0.0"})


def read_bools(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contract's bool columns read as True/False before pandera coerces them, and the values that are not.

    pandera coerces with `astype(bool)`: a gap becomes False and any text True ("False" too), so a missing or
    mistyped label would pass as a real one. Here true/false/1/0 (as bools, numbers or text in any case) are
    read as such; a gap stays a gap (the column's `nullable` judges it) and anything else is a failure case
    in pandera's own form, reported with the rest.
    """
    columns = [name for name, column in schema.columns.items() if name in frame.columns and _is_bool(column.dtype)]
    todo = [name for name in columns if not pd.api.types.is_bool_dtype(frame[name].dtype)]
    cases: list[dict[str, Any]] = []
    if not todo:
        return frame, pd.DataFrame(cases)
    frame = frame.copy()
    for name in todo:
        values = frame[name].astype(object)
        read = values.map(_as_bool)
        gaps = values.isna()
        wrong = ~gaps & read.isna()
        refused_gaps = gaps & (not schema.columns[name].nullable)
        for check, rows in (("bool: true or false", wrong), ("not_nullable", refused_gaps)):
            cases += [
                {"schema_context": "Column", "column": name, "check": check, "index": i, "failure_case": v}
                for i, v in values[rows].items()
            ]
        # gaps left in a nullable column stay None for pandera (whose bool coercion still makes them False)
        frame[name] = read.astype(bool) if not gaps.any() and not wrong.any() else read.astype(object)
        frame = frame.drop(index=values[wrong | refused_gaps].index)
    return frame, pd.DataFrame(cases)


def _is_bool(dtype: Any) -> bool:
    return str(dtype).lower() in ("bool", "boolean")


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in TRUE_TEXT else False if text in FALSE_TEXT else None
    return None


EXPECT = "expect"  # the key of a Field's metadata that holds its expectations (see data/infer.py)


def contract_expectations(model: type[pa.DataFrameModel] | pa.DataFrameSchema, where: str = "the contract") -> dict:
    """Column (as in the data) -> its expectations, from each Field's `metadata={"expect": ...}`:
    {"ge": low, "le": high} (either may be left out) or {"isin": [values]}.

    Expectations are what the data looked like, not rules: pandera checks none of them and its YAML drops
    them, so the bundle keeps them in reference.json for the loop to report rows outside them."""
    schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
    found: dict[str, dict] = {}
    for name, column in schema.columns.items():
        expect = (column.metadata or {}).get(EXPECT) if isinstance(column.metadata, dict) else None
        if expect is None:
            continue
        found[str(name)] = _checked_expectation(str(name), expect, where)
    return found


def _checked_expectation(column: str, expect: Any, where: str) -> dict:
    def wrong(why: str) -> SettingsError:
        return SettingsError(
            f"{where}, column {column!r}: metadata {{'expect': {expect!r}}} {why}. Write "
            '{"expect": {"ge": LOW, "le": HIGH}} (numbers; either may be left out) or {"expect": {"isin": [VALUES]}}.'
        )

    if not isinstance(expect, dict) or not expect:
        raise wrong("is not a mapping of ge/le or isin")
    unknown = sorted(set(map(str, expect)) - {"ge", "le", "isin"})
    if unknown:
        raise wrong(f"has unknown key(s) {unknown}")
    if "isin" in expect:
        values = expect["isin"]
        if len(expect) > 1 or not isinstance(values, list | tuple) or not values:
            raise wrong("needs isin alone, with a non-empty list")
        if not all(isinstance(v, str | int | float | bool) for v in values):
            raise wrong("lists a value that is not text, a number or true/false")
        return {"isin": [_plain(v) for v in values]}
    bounds = {key: expect[key] for key in ("ge", "le") if key in expect}
    for key, value in bounds.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise wrong(f"has {key} {value!r}, not a number")
        if not np.isfinite(value):
            raise wrong(f"has {key} {value!r}, not a finite number")
    if "ge" in bounds and "le" in bounds and bounds["ge"] > bounds["le"]:
        raise wrong("has ge above le")
    return {key: _plain(value) for key, value in bounds.items()}


def schema_yaml(model: type[pa.DataFrameModel]) -> str:
    """The contract serialized for the bundle, readable by pandera without this package."""
    return str(model.to_schema().to_yaml())


def schema_from_yaml(text: str) -> pa.DataFrameSchema:
    return pa.DataFrameSchema.from_yaml(text)
