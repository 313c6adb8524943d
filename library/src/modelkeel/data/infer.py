"""`infer-schema`: make the project ready for a new CSV or Parquet file.

Writes a starting pandera DataFrameModel for the file into schemas/<name>.py and
points params.yaml at the file, its target and its feature columns (keeping the
comments in params.yaml). The module separates what is wrong from what is new:

- hard checks (pandera Field arguments) refuse a row: its type, a gap where the data had
  none, a calendar column outside its domain (a month 1..12), a true/false target that is neither;
- expectations (the Field's `metadata={"expect": ...}`) record what the data looked like: a
  number's observed range, a text column's categories, the classes. A row outside them is
  accepted; the bundle copies them into reference.json and the loop reports such rows as drift.

Calendar and year-like columns move by construction: params.yaml's retrain.drift_exempt lists them.
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
from .contract import EXPECT
from .files import read_file

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
MAX_CATEGORIES = 50  # default of --max-categories: a text column with more distinct values is left out
# calendar columns, by name: (what they hold, their names, the domains of the conventions in use)
CALENDAR: tuple[tuple[str, frozenset[str], tuple[tuple[int, int], ...]], ...] = (
    ("a month", frozenset({"month"}), ((1, 12),)),
    ("a day of the month", frozenset({"day", "mday", "dayofmonth", "day_of_month"}), ((1, 31),)),
    ("an hour", frozenset({"hour"}), ((0, 23),)),
    ("a minute", frozenset({"minute"}), ((0, 59),)),
    ("a second", frozenset({"second"}), ((0, 59),)),
    ("a day of the week", frozenset({"weekday", "wday", "dow", "day_of_week", "dayofweek"}), ((0, 6), (1, 7))),
    ("a day of the year", frozenset({"day_of_year", "dayofyear", "yday", "doy"}), ((1, 366),)),
    ("a week", frozenset({"week", "weekofyear", "week_of_year"}), ((1, 53), (0, 53))),
    ("a quarter", frozenset({"quarter", "qtr"}), ((1, 4),)),
)
# names that also count after a prefix (`dep_hour`, `sale_month`): short ones (`min`, `day`) would catch `temp_min`
CALENDAR_SUFFIXES = frozenset(
    {"month", "hour", "minute", "weekday", "day_of_week", "dayofweek", "day_of_month", "dayofmonth"}
    | {"day_of_year", "dayofyear", "quarter"}
)
YEAR_NAMES, YEAR_RANGE = frozenset({"year", "yr"}), (1800, 2200)
# names that are calendar parts only beside another calendar column (a year, a month): alone, `day` may count
# the days of a trial and `hour` the hours of a shift, which a calendar domain would refuse past 31 or 23
AMBIGUOUS = frozenset({"day", "hour", "minute", "second", "week"})
LINE_LENGTH = 120  # the generated project's ruff line length
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# attribute names a DataFrameModel field must not take (they would hide the model's own methods)
RESERVED = frozenset(dir(pa.DataFrameModel)) | {"Config", "Schema"}


@dataclass
class ColumnPlan:
    name: str
    dtype: str  # "float", "int", "str", "bool", "datetime"
    nullable: bool
    checks: dict = field(default_factory=dict)  # hard checks: a row that breaks one is refused
    role: str = "feature"  # "target", "numeric", "categorical", "time", "ignored"
    reason: str = ""
    parts: tuple[str, ...] = ()  # a time column's calendar parts
    expect: dict = field(default_factory=dict)  # expectations: a row outside them is reported, not refused
    moves: str = ""  # what moves by construction ("a month", "a year"): the column is drift-exempt


def _range(series: pd.Series, integral: bool) -> tuple[float, float]:
    """The observed range; a float one rounded outwards to three significant digits of its span."""
    low, high = float(series.min()), float(series.max())
    if integral:
        return math.floor(low), math.ceil(high)
    span = high - low or abs(high) or 1.0
    exponent = math.floor(math.log10(span)) - 2
    step, digits = 10.0**exponent, max(0, -exponent)
    return round(math.floor(low / step) * step, digits), round(math.ceil(high / step) * step, digits)


def _normal_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def calendar_domain(name: str, present: pd.Series) -> tuple[str, int, int] | None:
    """(what the column holds, low, high) when it is named as a calendar part and every value is a whole number
    of that part's domain; the union of the domains that fit when conventions differ (a weekday 0..6 or 1..7)."""
    if not (present == present.round()).all():
        return None
    normal = _normal_name(name)
    low, high = float(present.min()), float(present.max())
    for what, names, domains in CALENDAR:
        named = normal in names or any(normal.endswith(f"_{n}") for n in names & CALENDAR_SUFFIXES)
        fitting = [d for d in domains if d[0] <= low and high <= d[1]]
        if named and fitting:
            return what, min(d[0] for d in fitting), max(d[1] for d in fitting)
    return None


def year_like(name: str, present: pd.Series) -> bool:
    """A year column (`year`, `model_year`) of whole numbers between 1800 and 2200."""
    normal = _normal_name(name)
    named = normal in YEAR_NAMES or any(normal.endswith(f"_{n}") for n in YEAR_NAMES)
    inside = YEAR_RANGE[0] <= float(present.min()) and float(present.max()) <= YEAR_RANGE[1]
    return named and inside and bool((present == present.round()).all())


def plan_column(
    name: str, series: pd.Series, target: str, task: str, max_categories: int = MAX_CATEGORIES
) -> ColumnPlan:
    """The column's role, type and checks: hard ones for what makes a row unusable, expectations for what
    the data looked like (its observed range or categories)."""
    is_target = name == target
    gaps = bool(series.isna().any())
    # a target may always miss: a batch's rows arrive before their labels, and the loop scores only labelled rows
    nullable = gaps or is_target
    present = series.dropna()
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
        checks = {"isin": [False, True]} if is_target else {}  # a true/false label is one or the other
        return ColumnPlan(name, "bool", nullable, checks, role="target" if is_target else "categorical")
    if pd.api.types.is_numeric_dtype(series):
        if not np.isfinite(present.to_numpy(dtype=float)).all():
            raise DataError(f"column {name!r} holds infinite values; replace them (or drop the column) first")
        integral = bool((present == present.round()).all())
        if is_target:  # classes stay whole numbers; a regression label may be fractional in a later batch
            dtype = "int" if integral and task == "classification" else "float"
        else:  # a gap in a feature makes it float
            dtype = "int" if integral and not gaps else "float"
        if is_target and task == "classification":
            if not integral or present.nunique() > max_categories:
                raise DataError(
                    f"target {name!r} looks continuous ({present.nunique()} distinct values), but this project's "
                    "task is classification. Pick a class column, or set `task: regression` (and a regression "
                    "primary_metric such as r2) in params.yaml first."
                )
            values = sorted(int(v) for v in present.unique())
            return ColumnPlan(name, dtype, nullable, role="target", expect={"isin": values})
        low, high = _range(present, dtype == "int")
        column = ColumnPlan(
            name, dtype, nullable, role="target" if is_target else "numeric", expect={"ge": low, "le": high}
        )
        calendar = None if is_target else calendar_domain(name, present)
        if calendar is not None:
            what, first, last = calendar
            column.checks = {"ge": first, "le": last}
            column.moves = what
        elif not is_target and year_like(name, present):
            column.moves = "a year"
        return column
    text = present.astype(str)
    if is_target:
        if task == "regression":
            raise DataError(
                f"target {name!r} holds text, but this project's task is regression. Pick a numeric column, "
                "or set `task: classification` (and a classification primary_metric) in params.yaml first."
            )
        return ColumnPlan(name, "str", nullable, role="target", expect={"isin": sorted(text.unique())})
    distinct = text.nunique()
    if distinct > max_categories:
        return ColumnPlan(
            name,
            "str",
            nullable,
            role="ignored",
            reason=f"{distinct} distinct text values, more than --max-categories {max_categories}: taken for an "
            f"identifier or free text. To keep it as a category, run infer-schema again with --max-categories "
            f"{distinct}",
        )
    return ColumnPlan(name, "str", nullable, role="categorical", expect={"isin": sorted(text.unique())})


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


def plan(frame: pd.DataFrame, target: str, task: str, max_categories: int = MAX_CATEGORIES) -> list[ColumnPlan]:
    if target not in frame.columns:
        raise DataError(f"--target {target!r} is not a column of the file; columns: {list(frame.columns)}")
    if max_categories < 1:
        raise SettingsError(f"--max-categories {max_categories}: use a whole number of 1 or more (default 50)")
    plans = [plan_column(str(c), frame[c], target, task, max_categories) for c in frame.columns]
    calendar = [p for p in plans if p.moves]
    for p in calendar:  # `day` alone is a count of days, not a day of the month: only an expectation
        if _normal_name(p.name) in AMBIGUOUS and not any(q is not p for q in calendar):
            p.checks, p.moves = {}, ""
    if task == "classification" and frame[target].dropna().nunique() < 2:
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
    if isinstance(value, float):
        return repr(value).replace("e+", "e")  # 1e+20 is written 1e20
    return repr(value)


def _value_lines(key: str | None, value: object, indent: str) -> list[str]:
    """`key=value,` (or `"key": value,` inside a dict, key None: a list item), exploded one item per line
    with trailing commas wherever it holds a list or a dict, so ruff format leaves it as it is."""
    head = "" if key is None else f"{key}="
    inline = f"{indent}{head}{_inline(value)},"
    if not _holds_list(value) and len(inline) <= LINE_LENGTH:
        return [inline]
    if isinstance(value, list):
        inner = [line for v in value for line in _value_lines(None, v, indent + "    ")]
        return [f"{indent}{head}[", *inner, f"{indent}],"]
    if isinstance(value, dict):
        inner = []
        for k, v in value.items():
            item = _value_lines(None, v, indent + "    ")
            inner += [f"{indent}    {_literal(k)}: {item[0].lstrip()}", *item[1:]]
        return [f"{indent}{head}{{", *inner, f"{indent}}},"]
    return [f"{indent}{head}{_literal(value)},"]


def _holds_list(value: object) -> bool:
    return isinstance(value, list) or (isinstance(value, dict) and any(map(_holds_list, value.values())))


def _inline(value: object) -> str:
    """A literal on one line, as ruff format writes it: `{"expect": {"ge": 1, "le": 6}}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_inline, value)) + "]"
    return _literal(value)


def _field_lines(attr: str, annotation: str, args: list[tuple[str, object]]) -> list[str]:
    """One field, exploded one argument per line with trailing commas, so ruff format leaves it as is."""
    if not args:
        return [f"    {attr}: Series[{annotation}] = pa.Field()"]
    lines = [f"    {attr}: Series[{annotation}] = pa.Field("]
    for key, value in args:
        lines += _value_lines(key, value, "        ")
    lines.append("    )")
    return lines


def _values(values: list) -> str:
    shown = ", ".join(map(str, values[:5])) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    return f"one of {len(values)} values ({shown})"


def _rule(rule: dict) -> str:
    if "isin" in rule:
        return _values(list(rule["isin"]))
    return f"{rule['ge']:.6g}..{rule['le']:.6g}"


def describe_rules(p: ColumnPlan) -> str:
    """A column's rules in words: HARD (a row that breaks it is refused) and EXPECTED (a row outside is
    reported as drift, never refused); beyond its type and gaps, which every column's contract checks."""
    said = []
    if p.checks:
        said.append(f"HARD {_rule(p.checks)}" + (f" ({p.moves})" if p.moves else ""))
    if p.expect:
        said.append(f"EXPECTED {_rule(p.expect)}")
    if p.moves:
        said.append(f"drift-exempt: {p.moves} moves by construction")
    return "; ".join(said)


def describe(p: ColumnPlan) -> str:
    """One line for a column: its type, role, why, and its rules (`describe_rules`)."""
    line = f"{p.name}: {p.dtype}{' (nullable)' if p.nullable else ''} -> {p.role}{': ' + p.reason if p.reason else ''}"
    rules = describe_rules(p)
    return " ".join((f"{line}; {rules}" if rules else line).split())  # one line, whatever the data's text holds


def render_module(plans: list[ColumnPlan], source: str) -> str:
    lines = [
        f'"""Data contract inferred by `infer-schema` from {_literal(source)[1:-1]}.',
        "",
        "Each column has two kinds of rule:",
        "",
        "- hard checks, the Field's own arguments (its type, nullable=, ge=, le=, isin=): a row that breaks",
        "  one is refused (validation, scoring, serving, the loop's quarantine). infer-schema writes them only",
        "  for what makes a row unusable: its type, a gap where the data had none, a calendar column outside",
        "  its domain (a month 1..12), a true/false target that is neither;",
        "- expectations, in the Field's metadata={\"expect\": {...}}: what the data looked like (a number's",
        "  observed range, a text column's categories, the classes). A row outside them is accepted; the",
        "  retraining loop reports it as drift (its report's 'Outside expectations' section).",
        "",
        "The comment above each field says which is which (HARD, EXPECTED); a drift-exempt column (a calendar",
        "part, a year) moves by construction and is listed under retrain.drift_exempt in params.yaml.",
        "",
        "To promote an expectation to a hard check, move it out of metadata into the Field's arguments:",
        'metadata={"expect": {"ge": 0.0, "le": 9.5}} becomes ge=0.0, le=9.5 (and {"isin": [...]} becomes',
        "isin=[...]). Promote only what no valid row can ever exceed: a hard check refuses the future too.",
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
        if p.expect:
            args.append(("metadata", {EXPECT: p.expect}))
        rules = describe_rules(p)
        said = p.role + (f": {p.reason}" if p.reason else "") + (f"; {rules}" if rules else "")
        lines.append(f"    # {' '.join(said.split())}")
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
    # retrain.drift_exempt: the features that move by construction (calendar parts, years)
    drift_exempt: list[str] = field(default_factory=list)


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
    drift_exempt: list[str] | None = None,
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
    exempt = _flow(list(drift_exempt or []))
    retrain = document["retrain"]
    if "drift_exempt" in retrain:  # the old data's columns are not this data's
        retrain["drift_exempt"] = exempt
    elif drift_exempt:
        anchor = next((k for k in ("ks_pvalue", "psi_threshold", "source") if k in retrain), None)
        if anchor is None:  # a retrain section that lists none of them: the key goes last
            retrain["drift_exempt"] = exempt
        else:
            _set(retrain, "drift_exempt", exempt, after=anchor)
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
    max_categories: int = MAX_CATEGORIES,
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
    plans = plan(frame, target, settings.task, max_categories)
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
    exempt = [p.name for p in plans if p.moves and p.role == "numeric"]
    atomic.write_text(module_path, render_module(plans, path.name))
    update_params(params_path, data_path, name, target, plans, thresholds, split_column, exempt)
    return Inferred(module_path, plans, data_path, thresholds, split, warnings, exempt)
