"""`infer-schema`: make the project ready for a new CSV or Parquet file.

Writes a starting pandera DataFrameModel for the file into schemas/<name>.py and
points params.yaml at the file, its target and its feature columns (keeping the
comments in params.yaml). Review the generated module: it encodes what the data
looked like, which is a starting point for what the data must look like.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..errors import DataError, SettingsError
from ..quality.thresholds import Choice, fit_thresholds
from ..runtime.calendar import as_datetime, parts_for
from ..settings import Settings
from ..utils import atomic
from .files import read_file

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
MAX_CATEGORIES = 50  # a text column with more distinct values is treated as an identifier, not a feature
RANGE_MARGIN = 0.1  # numeric bounds are the observed range widened by this share of its span
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# attribute names a DataFrameModel field must not take (they would hide the model's own methods)
RESERVED = frozenset(dir(pa.DataFrameModel)) | {"Config", "Schema"}


@dataclass
class ColumnPlan:
    name: str
    dtype: str  # "float", "int", "str", "bool", "datetime"
    nullable: bool
    checks: dict = field(default_factory=dict)
    role: str = "feature"  # "target", "numeric", "categorical", "time", "ignored"
    reason: str = ""
    parts: tuple[str, ...] = ()  # a time column's calendar parts


def _bounds(series: pd.Series) -> tuple[float, float]:
    """The observed range widened by RANGE_MARGIN of its span, rounded outwards to three significant digits."""
    low, high = float(series.min()), float(series.max())
    margin = (high - low) * RANGE_MARGIN or max(abs(high) * RANGE_MARGIN, 1.0)
    low_b = 0.0 if low >= 0 and low - margin < 0 else low - margin
    high_b = high + margin
    exponent = math.floor(math.log10(high_b - low_b)) - 2
    step, digits = 10.0**exponent, max(0, -exponent)
    return round(math.floor(low_b / step) * step, digits), round(math.ceil(high_b / step) * step, digits)


def plan_column(name: str, series: pd.Series, target: str, task: str) -> ColumnPlan:
    nullable = bool(series.isna().any())
    present = series.dropna()
    is_target = name == target
    if present.empty:
        if is_target:
            raise DataError(f"target {name!r} has no values: every row is missing it")
        return ColumnPlan(name, "str", True, role="ignored", reason="every value is missing")
    times = _as_times(series, present)
    if isinstance(times, str):
        return ColumnPlan(name, "str", nullable, role="ignored", reason=times)
    if times is not None:
        if is_target:
            raise DataError(f"target {name!r} holds dates/times; pick the column to predict, not a time column")
        parts = parts_for(times)
        return ColumnPlan(
            name, "datetime", nullable, role="time", reason=f"calendar parts {', '.join(parts)}", parts=parts
        )
    if pd.api.types.is_bool_dtype(series):
        if is_target and task == "regression":
            raise DataError(f"target {name!r} is true/false, but this project's task is regression.")
        checks = {"isin": sorted({bool(v) for v in present})} if is_target else {}
        return ColumnPlan(name, "bool", nullable, checks, role="target" if is_target else "categorical")
    if pd.api.types.is_numeric_dtype(series):
        if not np.isfinite(present.to_numpy(dtype=float)).all():
            raise DataError(f"column {name!r} holds infinite values; replace them (or drop the column) first")
        integral = bool((present == present.round()).all())
        dtype = "int" if integral and not nullable else "float"
        low, high = _bounds(present)
        if dtype == "int":
            low, high = math.floor(low), math.ceil(high)
        if is_target and task == "classification":
            if not integral or present.nunique() > MAX_CATEGORIES:
                raise DataError(
                    f"target {name!r} looks continuous ({present.nunique()} distinct values), but this project's "
                    "task is classification. Pick a class column, or set `task: regression` (and a regression "
                    "primary_metric such as r2) in params.yaml first."
                )
            values = sorted(int(v) for v in present.unique())
            return ColumnPlan(name, dtype, nullable, {"isin": values}, role="target")
        return ColumnPlan(name, dtype, nullable, {"ge": low, "le": high}, role="target" if is_target else "numeric")
    text = present.astype(str)
    if is_target:
        if task == "regression":
            raise DataError(
                f"target {name!r} holds text, but this project's task is regression. Pick a numeric column, "
                "or set `task: classification` (and a classification primary_metric) in params.yaml first."
            )
        return ColumnPlan(name, "str", nullable, {"isin": sorted(text.unique())}, role="target")
    distinct = text.nunique()
    if distinct > MAX_CATEGORIES:
        return ColumnPlan(
            name,
            "str",
            nullable,
            role="ignored",
            reason=f"{distinct} distinct text values: an identifier or free text, not a category",
        )
    return ColumnPlan(name, "str", nullable, {"isin": sorted(text.unique())}, role="categorical")


def _as_times(series: pd.Series, present: pd.Series) -> pd.Series | str | None:
    """The column as datetimes if it is a time column (a timestamp, or text that is all ISO 8601 times);
    a reason (str) when it is ISO text the contract cannot read as one column of times."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return as_datetime(series, str(series.name))
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    text = present.astype(str)
    if not text.str.fullmatch(ISO_TIME.pattern).all():
        return None
    try:
        return as_datetime(series, str(series.name))  # as every validation reads it (data/contract.parse_times)
    except ValueError:
        return "text that looks like ISO 8601 dates but does not read as them (e.g. a 13th month)"


def plan(frame: pd.DataFrame, target: str, task: str) -> list[ColumnPlan]:
    if target not in frame.columns:
        raise DataError(f"--target {target!r} is not a column of the file; columns: {list(frame.columns)}")
    plans = [plan_column(str(c), frame[c], target, task) for c in frame.columns]
    target_plan = next(p for p in plans if p.role == "target")
    if task == "classification" and len(target_plan.checks.get("isin", [])) < 2:
        raise DataError(f"target {target!r} has fewer than two classes; a classifier needs two or more.")
    if task == "regression" and frame[target].nunique() < 2:
        raise DataError(f"target {target!r} holds one value only: there is nothing for a model to predict.")
    if not any(p.role in ("numeric", "categorical", "time") for p in plans):
        raise DataError("no column can serve as a feature (numeric, dates, or text with few distinct values).")
    return plans


def _attribute(name: str, taken: set[str]) -> str:
    kept = "".join(ch if f"a{ch}".isidentifier() else "_" for ch in name.strip().lower())  # not ², not -
    base = re.sub(r"_+", "_", kept).strip("_") or "column"
    if base[0].isdigit():
        base = f"col_{base}"
    if keyword.iskeyword(base) or base in RESERVED or base.startswith("_"):
        base = f"{base}_"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _literal(value) -> str:
    """A Python literal in the formatter's style (double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _field_lines(attr: str, annotation: str, args: list[tuple[str, object]]) -> list[str]:
    """One field, exploded one argument per line with trailing commas, so ruff format leaves it as is."""
    if not args:
        return [f"    {attr}: Series[{annotation}] = pa.Field()"]
    lines = [f"    {attr}: Series[{annotation}] = pa.Field("]
    for key, value in args:
        if isinstance(value, list):
            lines.append(f"        {key}=[")
            lines += [f"            {_literal(v)}," for v in value]
            lines.append("        ],")
        else:
            lines.append(f"        {key}={_literal(value)},")
    lines.append("    )")
    return lines


def render_module(plans: list[ColumnPlan], source: str) -> str:
    lines = [
        f'"""Data contract inferred by `infer-schema` from {_literal(source)[1:-1]}.',
        "",
        "A starting point: review the ranges and categories, tighten what you know,",
        "and widen what valid data may exceed. Numeric ranges are the observed range",
        f"widened by {round(RANGE_MARGIN * 100)} percent of its span.",
        '"""',
        "",
        "import pandera.pandas as pa",
        "from pandera.typing import Series",
        "",
        "",
        "class Schema(pa.DataFrameModel):",
    ]
    taken: set[str] = set()
    for p in plans:
        attr = _attribute(p.name, taken)
        args: list[tuple[str, object]] = list(p.checks.items())
        if p.nullable:
            args.append(("nullable", True))
        if attr != p.name:
            args.append(("alias", p.name))
        lines.append(f"    # {p.role}" + (f": {p.reason}" if p.reason else ""))
        lines += _field_lines(attr, "pa.DateTime" if p.dtype == "datetime" else p.dtype, args)
    lines += ["", "    class Config:", "        strict = True", "        coerce = True", ""]
    return "\n".join(lines)


def schema_name_for(path: Path) -> str:
    name = re.sub(r"\W+", "_", path.stem.lower()).strip("_") or "data"
    if name[0].isdigit() or keyword.iskeyword(name) or name == "__init__":
        name = f"data_{name}"
    return name


@dataclass(frozen=True)
class Inferred:
    """What `infer-schema` wrote and chose, to say it: the module, every column's plan, the bars and the split."""

    module: Path
    plans: list[ColumnPlan]
    data_path: str
    thresholds: list[Choice]
    split: str  # how the rows are split, in words
    warnings: list[str]


def _flow(items: list) -> object:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def update_params(
    params_path: Path,
    data_path: str,
    name: str,
    target: str,
    plans: list[ColumnPlan],
    thresholds: list[Choice],
    split_column: str | None,
) -> None:
    """Point params.yaml at the data, its features, its split and its bars; comments and key order are kept."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML()  # round-trip: comments and key order are kept
    yaml.preserve_quotes = True
    yaml.width = 100_000  # one line per list: a wrapped line starting with `#` would read as a comment to people
    text = params_path.read_text(encoding="utf-8")
    document = yaml.load(text)
    data = document["data"]
    old_schema = data.get("schema")
    data["path"] = data_path
    data["schema"] = name
    data["target"] = target
    data["numeric_features"] = _flow([p.name for p in plans if p.role == "numeric"])
    data["categorical_features"] = _flow([p.name for p in plans if p.role == "categorical"])
    times = CommentedMap((p.name, _flow(list(p.parts))) for p in plans if p.role == "time")
    times.fa.set_flow_style()
    _set(data, "time_features", times, after="categorical_features")
    _set(data, "split", "time" if split_column else "random", after="test_size")
    _set(data, "split_column", split_column, after="split")
    for choice in thresholds:
        document[choice.section][choice.key] = choice.value
    if document["retrain"].get("trusted") is not None:  # the old data's trusted set does not judge the new data
        document["retrain"]["trusted"] = None
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    written = buffer.getvalue()
    if old_schema and old_schema != name:  # the comment that names the contract's file follows it
        written = written.replace(f"schemas/{old_schema}.py", f"schemas/{name}.py")
    atomic.write_text(params_path, written)


def _set(mapping, key: str, value: object, after: str) -> None:
    if key in mapping:
        mapping[key] = value
    else:
        mapping.insert(list(mapping).index(after) + 1, key, value)


def infer_schema(
    settings: Settings,
    params_path: Path,
    path: Path,
    target: str,
    name: str | None,
    force: bool,
    keep_thresholds: bool = False,
) -> Inferred:
    warnings: list[str] = []
    path = path.resolve()
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported file type; use .csv or .parquet")
    name = name or schema_name_for(path)
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise SettingsError(f"--name {name!r}: use lowercase letters, digits and underscores, starting with a letter")
    frame = read_file(path)
    plans = plan(frame, target, settings.task)
    from ..project import schemas_dir

    module_path = schemas_dir(settings) / f"{name}.py"
    if module_path.exists() and not force:
        raise SettingsError(
            f"{module_path} already exists; pass --force to replace it or --name to choose another name"
        )
    root = settings.root.resolve()
    if path.is_relative_to(root):
        data_path = path.relative_to(root).as_posix()
    else:
        data_path = str(path)
        warnings.append(
            f"{path} is outside the repository ({root}): params.yaml names it by its absolute path, which "
            "no other machine (and no CI run) has. Copy the file into data/raw/ and run infer-schema on the copy."
        )
    if settings.retrain.trusted is not None:
        warnings.append(
            f"retrain.trusted ({settings.retrain.trusted.path}) belongs to the old data and is reset: until "
            "`make freeze-trusted` sets aside a trusted set from this data, every promotion waits for a person"
        )
    thresholds: list[Choice] = []
    if keep_thresholds:
        warnings.append("--keep-thresholds: the quality and retraining bars in params.yaml were left as they were")
    else:
        q = settings.quality
        thresholds = fit_thresholds(settings.task, frame[target], q.primary_metric, q.slice_metric)
    time_columns = [p.name for p in plans if p.role == "time"]
    split_column = time_columns[0] if time_columns else None
    if split_column:
        split = (
            f"data.split: time: train on the past, test on the most recent {settings.data.test_size * 100:g}% of rows "
            f"by {split_column!r} (a random split would let the model learn from the future it is tested on)"
        )
    else:
        split = f"data.split: random: {settings.data.test_size * 100:g}% of rows held out (no date/time column)"
    atomic.write_text(module_path, render_module(plans, path.name))
    update_params(params_path, data_path, name, target, plans, thresholds, split_column)
    return Inferred(module_path, plans, data_path, thresholds, split, warnings)
