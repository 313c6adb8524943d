"""The data contract on the cluster, and the reductions later stages need (a sample, counts, categories, ranges).

Every partition is checked by the pandas engine's own `validate_frame` (coercion, bools, times, every Field
check), on its workers; only its failure report (grouped, capped at a few examples) comes back, naming rows
by their position in the whole data, so the report is the pandas engine's. What a partition cannot see is
checked across the cluster by reductions: uniqueness (`Field(unique=True)`, and the model's `Config.unique`),
by a 64-bit hash of the key counted over all partitions (so two rows in different files clash as they do in
one frame), and the categories of a `Category` column, the union over all partitions, so every partition has
the type the pandas engine gives the whole column. Failures raise DataValidationError with the report in the
pandas engine's form; its source names the files and rows that failed.

Nothing here collects the data to the client: reports, counts and the bounded `sample` do.

Kept in memory or streamed (`keep_in_memory`, what `pipeline` asks for): every later stage reads the validated
frame several times (the split's counts, the classes, the preprocessing sample, the fit, the scoring, the
bundle's sample). When the validated data is small beside the cluster (its estimated size in memory,
`estimated_bytes`, at most MEMORY_SHARE of the workers' summed memory_limit), the validation pass keeps each
validated partition on its worker (`persist`) and every later pass reads it from there; otherwise, and when a
worker has no memory limit, each pass reads and validates the files again, partition by partition, so data
larger than the cluster's memory still runs. `ValidatedClusterData.memory` says which, and why (lineage).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..data.contract import (
    MAX_EXAMPLES,
    _plain,
    contract_expectations,
    format_report,
    load_schema_model,
    validate_frame,
)
from ..errors import DataError, DataValidationError
from ..stages.validate import check_columns_declared, time_columns
from .data import ClusterData

if TYPE_CHECKING:
    from ..settings import Settings
    from .session import Cluster

MAX_CATEGORIES = 1000  # distinct values `category_sets` collects for a column, at most
MAX_FAILED_PARTS = 5  # failing partitions a report's source names
MEMORY_SHARE = 0.25  # of the workers' summed memory_limit the validated data may take to be kept in memory
OBJECT_CELL_BYTES = 64  # a text (object) cell's estimated size in memory: a short Python str and its pointer
MEASURED_ROWS = 1000  # rows of the first partition whose size in memory the estimate also measures


@dataclass(frozen=True)
class ValidatedClusterData:
    """The validated lazy frame (coerced to the contract, per partition, when computed) and what it came from."""

    frame: Any  # dask DataFrame
    snapshot: dict
    partitions: int
    schema_name: str
    rows: int
    memory: dict | None = None  # kept in memory or streamed, and why (`memory_rule`); None: not asked


def estimated_bytes(meta: pd.DataFrame, rows: int) -> int:
    """The validated data's size in memory, estimated from its types: fixed-width columns at their width, a text
    or object cell at OBJECT_CELL_BYTES, a category at its codes' width, plus the 8-byte row index."""
    width = 8
    for dtype in meta.dtypes:
        if isinstance(dtype, pd.CategoricalDtype):
            width += 8
        elif dtype.kind in "biufcmM" and getattr(dtype, "itemsize", None):
            width += int(dtype.itemsize)
        else:
            width += OBJECT_CELL_BYTES
    return width * rows


def measured_row_bytes(cluster: Cluster, frame) -> float | None:
    """The bytes a row of the data takes in memory (pandas' deep count) over the first MEASURED_ROWS rows of its
    first partition, or None when it has none: text cells take what their text does, not OBJECT_CELL_BYTES."""
    import warnings

    def first_rows():
        with warnings.catch_warnings():  # a first partition shorter than MEASURED_ROWS: its rows, as wanted
            warnings.filterwarnings("ignore", message="Insufficient elements for `head`")
            return frame.head(MEASURED_ROWS, npartitions=1)

    head = cluster.run("measuring the data's rows in memory", first_rows)
    if not len(head):
        return None
    return float(head.memory_usage(deep=True, index=True).sum()) / len(head)


def memory_rule(cluster: Cluster, meta: pd.DataFrame, rows: int, row_bytes: float | None = None) -> dict:
    """Whether to keep the validated data in the workers' memory: when its estimate (from its types, or from
    `row_bytes` measured on its first rows when that is more) is at most MEMORY_SHARE of their summed
    memory_limit (a worker without a limit: unknown, so streamed)."""
    from .session import all_workers

    estimate = max(estimated_bytes(meta, rows), int((row_bytes or 0) * rows))
    limits = [int(w.get("memory_limit") or 0) for w in all_workers(cluster.client).values()]
    total = sum(limits) if limits and all(limits) else None
    kept = total is not None and estimate <= MEMORY_SHARE * total
    return {
        "kept_in_memory": kept,
        "estimated_bytes": estimate,
        "workers_memory_limit_bytes": total,
        "share": MEMORY_SHARE,
    }


def contract_schema(settings: Settings) -> pa.DataFrameSchema:
    """The project's contract as a schema the workers can unpickle without the project installed: the project's
    package is pickled by value (its checks travel with it)."""
    import sys

    import cloudpickle

    model = load_schema_model(settings)
    package = sys.modules.get(settings.package)
    if package is not None:
        cloudpickle.register_pickle_by_value(package)
    return model.to_schema()


def partition_schema(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The contract without its uniqueness checks, which only the whole data can judge (`uniqueness`)."""
    import copy

    unique = [str(name) for name, column in schema.columns.items() if column.unique]
    stripped = copy.deepcopy(schema.update_columns({name: {"unique": False} for name in unique}))
    stripped.unique = None
    return stripped


def unique_keys(schema: pa.DataFrameSchema) -> list[tuple[str, tuple[str, ...]]]:
    """The contract's uniqueness rules: (the check's name as pandera reports it, the key's columns)."""
    keys: list[tuple[str, tuple[str, ...]]] = []
    if schema.unique:
        columns = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        keys.append(("multiple_fields_uniqueness", tuple(columns)))
    keys += [("field_uniqueness", (str(name),)) for name, column in schema.columns.items() if column.unique]
    return keys


def check_partition(frame: pd.DataFrame, schema: pa.DataFrameSchema, times: list[str]) -> tuple:
    """On a worker: (the validated partition or None, its failure report or None)."""
    try:
        return validate_frame(frame, schema, "partition", times), None
    except DataValidationError as error:
        return None, error.report["failures"]


def _validated_or_empty(checked: tuple, meta: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    frame = checked[0] if checked[0] is not None else meta
    return _with_categories(frame, categories)


def coerce_partition(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, times: list[str], categories: dict[str, list]
) -> pd.DataFrame:
    """On a worker: a partition coerced to the contract (validated once already, so it passes)."""
    return _with_categories(validate_frame(frame, schema, "partition", times), categories)


def _with_categories(frame: pd.DataFrame, categories: dict[str, list]) -> pd.DataFrame:
    if not categories:
        return frame
    frame = frame.copy()
    for column, values in categories.items():
        frame[column] = frame[column].cat.set_categories(values)
    return frame


def _categories_of(checked: tuple, columns: list[str]) -> dict[str, list]:
    frame = checked[0]
    return {} if frame is None else {c: list(frame[c].cat.categories) for c in columns}


def _key_hash(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(frame[columns], index=False).rename("key")


def merge_reports(reports: list[list[dict] | None]) -> list[dict]:
    """Partition reports as one: rows added up per column and check, the first examples by row kept; a case of
    the whole table (no row: a missing or extra column) counted once however many partitions saw it."""
    merged: dict[tuple[str, str], dict] = {}
    for report in reports:
        for item in report or []:
            entry = merged.setdefault((item["column"], item["check"]), {**item, "rows": 0, "examples": []})
            if item["examples"] and all(e["row"] is None for e in item["examples"]):
                known = {repr(e["value"]) for e in entry["examples"]}
                fresh = [e for e in item["examples"] if repr(e["value"]) not in known]
                entry["examples"] += fresh
                entry["rows"] += len(fresh)
            else:
                entry["examples"] += item["examples"]
                entry["rows"] += item["rows"]
    for entry in merged.values():
        entry["examples"] = sorted(entry["examples"], key=lambda e: (e["row"] is None, e["row"] or 0))[:MAX_EXAMPLES]
    return list(merged.values())


def validate_data(
    settings: Settings, cluster: Cluster, data: ClusterData, keep_in_memory: bool = False
) -> ValidatedClusterData:
    """data.path checked against the contract on the cluster, or DataValidationError with the pandas engine's
    report (one pass over the data). The frame returned is coerced again, lazily, by whatever computes it; with
    `keep_in_memory`, when `memory_rule` allows, it is the validation pass's own partitions, kept on the workers."""
    import dask
    import dask.dataframe as dd
    from dask import delayed

    schema = contract_schema(settings)
    check_columns_declared(settings, list(schema.columns))
    contract_expectations(schema, f"schemas/{settings.data.schema_name}.py")
    keys = unique_keys(schema)
    per_partition = partition_schema(schema) if keys else schema
    times = time_columns(settings)
    meta = _validated_meta(data.frame._meta, per_partition, times)
    category_columns = [c for c in meta.columns if isinstance(meta[c].dtype, pd.CategoricalDtype)]

    checked = [delayed(check_partition)(part, per_partition, times) for part in data.frame.to_delayed()]
    memory = None
    if keep_in_memory:
        memory = memory_rule(cluster, meta, data.snapshot["rows"], measured_row_bytes(cluster, data.frame))
    if memory is not None and memory["kept_in_memory"]:  # validated once, kept where it was validated
        checked = _kept_in_place(cluster, checked)
    reports = [delayed(operator.itemgetter(1))(c) for c in checked]
    found_categories = [delayed(_categories_of)(c, category_columns) for c in checked]

    def first_pass():
        return dask.compute(reports, found_categories)

    reports_done, categories_done = cluster.run("validating data.path", first_pass)
    categories = _union(category_columns, categories_done)
    meta = _with_categories(meta, categories)
    report = merge_reports(reports_done)
    failed = [part.label for part, r in zip(data.parts, reports_done, strict=True) if r]
    if keys:
        good = dd.from_delayed(
            [delayed(_validated_or_empty)(c, meta, categories) for c in checked],
            meta=meta,
            divisions=data.frame.divisions,
            verify_meta=False,
        )
        report = uniqueness(cluster, good, keys) + report
    if report:
        source = ", ".join(failed[:MAX_FAILED_PARTS]) + (
            f" and {len(failed) - MAX_FAILED_PARTS} more" if len(failed) > MAX_FAILED_PARTS else ""
        )
        source = source or ", ".join(f["url"] if "url" in f else f["path"] for f in data.snapshot["files"])
        raise DataValidationError(format_report(source, report), {"source": source, "failures": report})
    if memory is not None and memory["kept_in_memory"]:
        frame = dd.from_delayed(
            [delayed(_validated_or_empty)(c, meta, categories) for c in checked],
            meta=meta,
            divisions=data.frame.divisions,
            verify_meta=False,
        )
        frame = cluster.run("keeping the validated data in memory", partial(_persisted, cluster, frame))
    else:
        frame = data.frame.map_partitions(coerce_partition, per_partition, times, categories, meta=meta)
    return ValidatedClusterData(
        frame, data.snapshot, data.partitions, settings.data.schema_name, data.snapshot["rows"], memory
    )


def _kept_in_place(cluster: Cluster, checked: list) -> list:
    """The validation tasks, kept on the workers as they finish: partition i on the i % n-th worker of
    `session.worker_order`, where training computes its features (train.py), so no kept partition moves then.
    Loosely: a busy or lost worker's partitions may be kept elsewhere (they move when trained, no more)."""
    from .session import worker_order

    workers = worker_order(cluster.client)
    kept: list = [None] * len(checked)
    for w, worker in enumerate(workers):
        mine = list(range(w, len(checked), len(workers)))
        if mine:
            done = cluster.client.persist([checked[i] for i in mine], workers=[worker], allow_other_workers=True)
            for i, one in zip(mine, done, strict=True):
                kept[i] = one
    return kept


def _persisted(cluster: Cluster, frame):
    """The frame computed and kept on the workers (its partitions are the validation pass's, already there)."""
    from distributed import wait

    kept = cluster.client.persist(frame)
    wait(kept)
    return kept


def _validated_meta(empty: pd.DataFrame, schema: pa.DataFrameSchema, times: list[str]) -> pd.DataFrame:
    try:
        return validate_frame(empty, schema, "the columns", times)
    except DataValidationError:  # a missing or extra column: the partitions report it
        return empty


def _union(columns: list[str], found: list[dict[str, list]]) -> dict[str, list]:
    union: dict[str, list] = {}
    for column in columns:
        values = {v for part in found for v in part.get(column, [])}
        try:
            union[column] = sorted(values)
        except TypeError:  # values of mixed types: in order of appearance
            union[column] = list(dict.fromkeys(v for part in found for v in part.get(column, [])))
    return union


def uniqueness(cluster: Cluster, frame, keys: list[tuple[str, tuple[str, ...]]]) -> list[dict]:
    """The uniqueness rules checked over every partition: report items as pandera's (every row of a repeated key,
    the first examples by row), counted by a reduction of key hashes; no row comes to the client but examples."""
    import dask

    pending = []
    for check, columns in keys:
        hashes = frame.map_partitions(_key_hash, list(columns), meta=("key", "u8"))
        counts = hashes.value_counts(split_out=max(1, frame.npartitions // 8))
        repeated = counts[counts > 1]
        positions = hashes.to_frame().reset_index().merge(repeated.to_frame(), left_on="key", right_index=True)
        first = positions[positions.columns[0]].nsmallest(MAX_EXAMPLES)
        pending.append((check, columns, repeated.sum(), first))
    totals = cluster.run("checking uniqueness", lambda: dask.compute([(p[2], p[3]) for p in pending]))[0]
    report = []
    for (check, columns, _, _), (rows, first) in zip(pending, totals, strict=True):
        if not rows:
            continue
        rows_at = sorted(int(r) for r in first)
        values = cluster.run("reading examples", partial(_rows_at, frame, rows_at, list(columns)))
        values = values[values.index.isin(rows_at)]
        if check == "field_uniqueness":
            column = columns[0]
            examples = [{"row": int(i), "value": _plain(v)} for i, v in values[column].items()]
            report.append({"column": column, "check": check, "rows": int(rows), "examples": examples[:MAX_EXAMPLES]})
        else:  # pandera lists every cell of the repeated rows, column by column
            examples = [{"row": int(i), "value": _plain(v)} for c in columns for i, v in values[c].items()]
            report.append(
                {
                    "column": "(table)",
                    "check": check,
                    "rows": int(rows) * len(columns),
                    "examples": examples[:MAX_EXAMPLES],
                }
            )
    return report


def _rows_at(frame, rows: list[int], columns: list[str]) -> pd.DataFrame:
    """A few rows, by their position in the data (the frame's known divisions find their partitions)."""
    return frame.loc[rows][columns].compute()


# reductions the later stages use ---------------------------------------------------------------------------------


def _seeded(hashes: np.ndarray, seed: int) -> np.ndarray:
    """64-bit hashes mixed with the seed (splitmix64's finalizer): uniform, and another seed orders them anew."""
    with np.errstate(over="ignore"):
        x = hashes.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def row_hash(frame: pd.DataFrame, seed: int, index: bool) -> pd.Series:
    """A seeded 64-bit hash of each row (its values, and its position when `index`)."""
    hashed = pd.util.hash_pandas_object(frame, index=index).to_numpy()
    return pd.Series(_seeded(hashed, seed), index=frame.index, name="_hash")


def _with_hash(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.assign(_hash=row_hash(frame, seed, index=True))


def sample(cluster: Cluster, frame, rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows, the same for the same data and seed however it is partitioned (the rows of smallest
    seeded hash of their values and position), in their order in the data; a tree reduction: at most `rows` rows
    per partition ever move, and `rows` reach the client."""
    lazy = sampling(frame, rows, seed)
    return sampled(cluster.run("sampling the data", lambda: lazy.compute()))


def sampling(frame, rows: int, seed: int):
    """`sample`'s pass, not yet computed (to compute with others in one pass over the data): `sampled` of its
    result is the sample."""
    if rows < 1:
        raise DataError(f"a sample needs at least one row, not {rows}")
    meta = frame._meta.assign(_hash=pd.Series(dtype="u8"))
    return frame.map_partitions(_with_hash, seed, meta=meta).nsmallest(rows, "_hash")


def sampled(picked: pd.DataFrame) -> pd.DataFrame:
    """The sample, from its computed pass (`sampling`)."""
    return picked.sort_index().drop(columns="_hash")


def row_count(cluster: Cluster, frame) -> int:
    return int(cluster.run("counting rows", lambda: frame.map_partitions(len).compute().sum()))


def category_sets(cluster: Cluster, frame, columns: list[str], limit: int = MAX_CATEGORIES) -> dict[str, list | None]:
    """Each column's distinct values over the whole data, sorted (gaps left out), or None when it holds more
    than `limit`: `collecting_classes` of each column, in one pass."""
    import dask

    lazy = {column: collecting_classes(frame, column, limit) for column in columns}
    found = cluster.run("collecting categories", lambda: dask.compute(lazy)[0])
    return {column: collected_classes(values, limit) for column, values in found.items()}


def collecting_classes(frame, column: str, limit: int = MAX_CATEGORIES):
    """A column's distinct values as a lazy Series (to compute with other reductions in one pass over the
    data): each partition's, at most `limit` + 1 of them, so at most (`limit` + 1) x partitions values reach
    the client. `collected_classes` of its result is the set."""
    return frame[column].map_partitions(_distinct_values, limit, meta=(column, object))


def collected_classes(values: pd.Series, limit: int = MAX_CATEGORIES) -> list | None:
    """The sorted distinct values from `collecting_classes`' result, or None when there are more than `limit`."""
    distinct = list(dict.fromkeys(values.tolist()))
    return None if len(distinct) > limit else _sorted_values(distinct)


def _distinct_values(values: pd.Series, limit: int) -> pd.Series:
    found = values.dropna().unique()[: limit + 1]
    return pd.Series(np.asarray(found, dtype=object), name=values.name, dtype=object)


def _sorted_values(values: list) -> list:
    try:
        return sorted(_plain_value(v) for v in values)
    except TypeError:
        return [_plain_value(v) for v in values]


def _plain_value(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def numeric_stats(cluster: Cluster, frame, columns: list[str]) -> dict[str, dict[str, float | int | None]]:
    """min, max, mean and count (gaps left out) of each numeric column over the whole data, by one reduction."""
    import dask

    parts = frame[list(columns)]
    low, high, total, count = parts.min(), parts.max(), parts.sum(), parts.count()
    low, high, total, count = cluster.run("summarising columns", lambda: dask.compute(low, high, total, count))
    stats: dict[str, dict[str, float | int | None]] = {}
    for column in columns:
        n = int(count[column])
        stats[column] = {
            "min": None if n == 0 else float(low[column]),
            "max": None if n == 0 else float(high[column]),
            "mean": None if n == 0 else float(total[column]) / n,
            "count": n,
        }
    return stats
