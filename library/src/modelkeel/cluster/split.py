"""The train/test split on the cluster, deterministic and without collecting the data.

`data.split: random`: a row is a test row when a seeded 64-bit hash of its values (`hash_pandas_object`, mixed
with `seed`) falls in the lowest `test_size` share of the hash range. It depends on the row alone, so the same
row lands on the same side however the data is partitioned, and identical rows land together (a copy of a
training row never tests the model). Not stratified: each class is split at about the same share.

`data.split: time`: the most recent rows by `data.split_column` are the test rows: those after the quantile
1 - test_size of the column's times (approximate: merged from a grid of each partition's quantiles, its rank
off by at most 1/(QUANTILE_GRID - 1) of the rows plus two rows per partition: `merged_quantile`); when the
latest moment alone holds more than that share, it is the test side. Rows without a time train only, as in the
pandas engine.

With `settings.test_pool` (the new batches, when the loop trains a challenger: loop/challenger.py), a time
split cuts the pool's rows and the other rows each on their own, as the pandas engine's `stages/train.time_split`
does: the most recent `test_size` of the new rows and of the old ones test, so the challenger is judged on new
rows and the earlier new rows train it too. The pool's rows are named by their position in the whole data (the
snapshot's files in order: cluster/data.py indexes every row so). A random split ignores the pool, as the pandas
engine's does.

Rows without a target are left out of both sides and counted, as the pandas engine does.

The split keeps the labelled rows and the mask that cuts them (`labelled`, `is_test`), so evaluation scores both
sides in one pass (one prediction per row); with `keep_in_memory` (the validated frame is in the workers'
memory) the mask is kept there too, so later passes do not hash every row again. A regression's training mean
(the baseline's prediction) is summed in the same reduction as the split's counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .validate import row_hash

if TYPE_CHECKING:
    from ..settings import Settings
    from .session import Cluster

HASH_RANGE = 2**64
MIN_LABELLED = 10


@dataclass(frozen=True)
class ClusterSplit:
    """Both sides as lazy frames (rows with a target only), their sizes, and the rule that cut them."""

    train: Any  # dask DataFrame
    test: Any  # dask DataFrame
    train_rows: int
    test_rows: int
    dropped: int  # rows without a target
    rule: str  # random | time
    cutoff: pd.Timestamp | None  # time split: the test rows are after it (with a pool: the old rows' cut)
    pool_cutoff: pd.Timestamp | None = None  # a time split with settings.test_pool: the new rows' cut
    labelled: Any = None  # dask DataFrame: the rows with a target, both sides
    is_test: Any = None  # dask Series of bools, aligned with `labelled`: True on the test side
    train_target_mean: float | None = None  # regression: the training target's mean (the baseline's prediction)
    riders: dict = field(default_factory=dict)  # what `split_data`'s `riders` asked for, computed in its pass


def test_rows_by_hash(frame: pd.DataFrame, seed: int, test_size: float) -> pd.Series:
    """On a worker: True for the rows of a partition that test, by their seeded hash."""
    bound = np.uint64(min(int(test_size * HASH_RANGE), HASH_RANGE - 1))
    return pd.Series(row_hash(frame, seed, index=False).to_numpy() < bound, index=frame.index)


def test_rows_by_time(frame: pd.DataFrame, column: str, cutoff: pd.Timestamp, inclusive: bool) -> pd.Series:
    """On a worker: True for the rows after the cut-off (at it too, when `inclusive`); a row without a time trains."""
    times = _times(frame[column], column)
    return (times >= cutoff) if inclusive else (times > cutoff)


def pool_ranges(snapshot: dict, pool: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """(first row, end) of each file of the snapshot that `pool` names, by position in the whole data."""
    ranges, start = [], 0
    for entry in snapshot["files"]:
        if entry["path"] in pool:
            ranges.append((start, start + int(entry["rows"])))
        start += int(entry["rows"])
    return tuple(ranges)


def in_pool(frame: pd.DataFrame, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """On a worker: which rows of a partition lie in the pool's ranges (by their position in the whole data)."""
    positions = frame.index.to_numpy()
    found = np.zeros(len(frame), dtype=bool)
    for start, end in ranges:
        found |= (positions >= start) & (positions < end)
    return found


Cut = tuple[pd.Timestamp, bool] | None  # (cut-off, inclusive), or None: no row of that side tests


def test_rows_by_time_pooled(
    frame: pd.DataFrame, column: str, ranges: tuple[tuple[int, int], ...], pool_cut: Cut, other_cut: Cut
) -> pd.Series:
    """On a worker: True for the rows after their side's cut-off, the pool's rows and the others each by theirs."""
    pooled = in_pool(frame, ranges)
    test = np.zeros(len(frame), dtype=bool)
    for side, cut in ((pooled, pool_cut), (~pooled, other_cut)):
        if cut is not None and side.any():
            test[side] = test_rows_by_time(frame[side], column, cut[0], cut[1]).fillna(False).to_numpy(dtype=bool)
    return pd.Series(test, index=frame.index)


def _times(values: pd.Series, column: str) -> pd.Series:
    from ..runtime.calendar import as_datetime

    return values if pd.api.types.is_datetime64_any_dtype(values.dtype) else as_datetime(values, column)


def _as_numbers(values: pd.Series, column: str) -> pd.Series:
    """Times as float seconds since the epoch, gaps dropped (what a quantile reduces)."""
    times = _times(values, column).dropna()
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.Series(times.astype("datetime64[ns]").astype("int64") / 1e9, index=times.index, dtype="float64")


QUANTILE_GRID = 1001  # quantiles of each partition's times the client merges (see `time_summary`)
SEARCH_PROBES = 64  # candidate cuts evaluated at once by `merged_quantile`'s search


def time_summary(times: pd.Series) -> tuple[int, np.ndarray]:
    """On a worker: a partition's count of times and their quantiles on an even grid (empty: none)."""
    values = times.to_numpy(dtype="float64")
    values = values[~np.isnan(values)]
    if not values.size:
        return 0, np.zeros(0)
    return int(values.size), np.quantile(values, np.linspace(0, 1, QUANTILE_GRID))


def merged_quantile(parts: list[tuple[int, np.ndarray]], share: float) -> tuple[float, float, float, int]:
    """(the `share` quantile, latest, earliest, count) of the times of every partition, from their grids: the
    first of the partitions' grid values where their interpolated distributions, weighted by their rows, reach
    `share`; NaN for no times. Empty partitions weigh nothing, unlike dask's own quantile, which they pull off by
    tens of percent.

    How far off: a partition's interpolated distribution is within 1/(QUANTILE_GRID - 1) of its share of rows
    between grid points, and within one row's share (of its own rows) at its rows, so the cut's rank among all
    times is off by at most total / (QUANTILE_GRID - 1) rows plus two rows per partition.

    The merged distribution is never tabulated over every grid value of every partition (P partitions, P times
    the grid's values: P^2 work): it rises with the value, so the first value that reaches `share` is found by a
    search over the sorted values, each round evaluating SEARCH_PROBES of them on every partition, so
    O(P log P) work in all. At each value evaluated the sum is the same as a full table's, term by term, so the
    cut is the one the full table gave."""
    parts = [(n, grid) for n, grid in parts if n]
    if not parts:
        return float("nan"), float("nan"), float("nan"), 0
    total = sum(n for n, _ in parts)
    levels = np.linspace(0, 1, QUANTILE_GRID)
    candidates = np.unique(np.concatenate([grid for _, grid in parts]))

    def reached(at: np.ndarray) -> np.ndarray:
        """Whether the merged distribution reaches `share` at candidates[at] (the rows at or below, weighted)."""
        below = np.zeros(len(at))
        for n, grid in parts:  # in the partitions' order: the same sum as a full table's, to the last bit
            below += n * np.interp(candidates[at], grid, levels, left=0.0, right=1.0)
        return below / total >= share - 1e-12

    low, high = 0, len(candidates)  # the first candidate that reaches share lies in [low, high]; high: none does
    while low < high:
        probes = np.unique(np.linspace(low, high - 1, min(SEARCH_PROBES, high - low)).round().astype(np.int64))
        found = reached(probes)
        if found.any():
            first = int(np.argmax(found))
            low, high = (int(probes[first - 1]) + 1 if first else low), int(probes[first])
        else:
            low = int(probes[-1]) + 1
    quantile = float(candidates[min(low, len(candidates) - 1)])
    return quantile, max(float(g[-1]) for _, g in parts), min(float(g[0]) for _, g in parts), total


def _quantiles(cluster: Cluster, sides: dict, share: float) -> dict[str, tuple[float, float, float, int]]:
    """merged_quantile of each named series of times (float seconds), by one reduction."""
    import dask
    from dask import delayed

    tasks = {name: [delayed(time_summary)(part) for part in series.to_delayed()] for name, series in sides.items()}
    found = cluster.run("cutting the time split", lambda: dask.compute(tasks)[0])
    return {name: merged_quantile(parts, share) for name, parts in found.items()}


def _cut(frame, column: str, quantile: float, latest: float) -> tuple[pd.Timestamp, bool]:
    """(cut-off, inclusive) from a side's quantile and latest time (float seconds): when the latest moment holds
    more than test_size of the rows, it is the test side."""
    inclusive = bool(quantile >= latest)
    cutoff = pd.Timestamp(round(min(quantile, latest) * 1e9), unit="ns")
    if frame[column].dtype.kind == "M" and getattr(frame[column].dtype, "tz", None) is not None:
        cutoff = cutoff.tz_localize("UTC").tz_convert(frame[column].dtype.tz)
    return cutoff, inclusive


def _pooled_time_split(settings: Settings, cluster: Cluster, frame, labelled, ranges: tuple[tuple[int, int], ...]):
    """(is_test, the old rows' cut-off, the pool's cut-off) of a time split that cuts the pool on its own."""
    data = settings.data
    column = str(data.split_column)
    pooled = labelled.map_partitions(in_pool, ranges, meta=(None, "bool"))
    numbers = labelled[column].map_partitions(_as_numbers, column, meta=(column, "f8"))
    found = _quantiles(cluster, {"pool": numbers[pooled], "other": numbers[~pooled]}, 1 - data.test_size)
    pool_quantile, pool_latest, _, pool_rows = found["pool"]
    if not pool_rows:
        raise DataError(
            f"no labelled row of the new batches ({', '.join(settings.test_pool or ())}) has a time in {column!r}: "
            "the challenger cannot be judged on new rows; the batches need labels and times"
        )
    pool_cut = _cut(frame, column, pool_quantile, pool_latest)
    other_quantile, other_latest, _, other_rows = found["other"]
    other_cut = _cut(frame, column, other_quantile, other_latest) if other_rows else None
    is_test = labelled.map_partitions(
        test_rows_by_time_pooled, column, ranges, pool_cut, other_cut, meta=(None, "bool")
    )
    return is_test, None if other_cut is None else other_cut[0], pool_cut[0]


def target_sum(frame: pd.DataFrame, target: str) -> float:
    """On a worker: the sum of a partition's (numeric) target."""
    return float(frame[target].to_numpy(dtype="float64").sum())


def split_data(
    settings: Settings,
    cluster: Cluster,
    frame,
    snapshot: dict | None = None,
    keep_in_memory: bool = False,
    riders: Callable[[Any], dict[str, Any]] | None = None,
) -> ClusterSplit:
    """data.split applied to the validated frame: lazy train and test frames, their sizes by one reduction.
    `snapshot` (the data's, cluster/data.py) names the files of `settings.test_pool` for a time split;
    `keep_in_memory`: the frame is kept in the workers' memory, and so is the split's mask.

    `riders`: given the lazy training frame, other reductions (dask DataFrame or Series expressions, by name)
    to compute in the same pass as the split's counts, so data streamed from its files is read and validated
    once for all of them (train.training_riders: the classes and the preprocessing sample). Not a Delayed: it
    is optimised apart from the frames and would read the data again. `ClusterSplit.riders` holds their
    results. A time split reads the data once more before, for its cut-off."""
    import dask

    data = settings.data
    target = data.target
    labelled = frame[frame[target].notnull()]
    cutoff = pool_cutoff = None
    if data.split == "time" and settings.test_pool is not None:
        if snapshot is None:
            raise DataError("settings.test_pool names the files to test on, but split_data was given no snapshot")
        ranges = pool_ranges(snapshot, settings.test_pool)
        is_test, cutoff, pool_cutoff = _pooled_time_split(settings, cluster, frame, labelled, ranges)
    elif data.split == "time":
        column = str(data.split_column)
        numbers = labelled[column].map_partitions(_as_numbers, column, meta=(column, "f8"))
        quantile, latest, earliest, _ = _quantiles(cluster, {"all": numbers}, 1 - data.test_size)["all"]
        if pd.isna(quantile):
            raise DataError(f"no labelled row has a time in {column!r}: a time split needs times")
        if latest == earliest:
            raise DataError(f"every row of {column!r} has the same time: a time split needs more than one moment")
        cutoff, inclusive = _cut(frame, column, quantile, latest)
        is_test = labelled.map_partitions(test_rows_by_time, column, cutoff, inclusive, meta=(None, "bool"))
    else:
        is_test = labelled.map_partitions(test_rows_by_hash, settings.seed, data.test_size, meta=(None, "bool"))
    if keep_in_memory:
        is_test = cluster.run("cutting the split", lambda: _persisted(cluster, is_test))
    train, test = labelled[~is_test], labelled[is_test]
    regression = settings.task == "regression"
    train_sum = train.map_partitions(target_sum, target, meta=(None, "f8")).sum() if regression else 0.0
    extra = riders(train) if riders is not None else {}
    total, labelled_rows, test_rows, train_sum, rode = cluster.run(
        "counting the split",
        lambda: dask.compute(
            frame.map_partitions(len).sum(), labelled.map_partitions(len).sum(), is_test.sum(), train_sum, extra
        ),
    )
    total, labelled_rows, test_rows = int(total), int(labelled_rows), int(test_rows)
    if labelled_rows < MIN_LABELLED:
        raise DataError(
            f"only {labelled_rows} row(s) have a value in the target column {target!r}; need at least {MIN_LABELLED}."
        )
    if test_rows == 0 or test_rows == labelled_rows:
        side = "no" if test_rows == 0 else "every"
        raise DataError(
            f"the {data.split} split with data.test_size {data.test_size} leaves {side} row of {labelled_rows} "
            "labelled rows for testing: use a test_size that leaves rows on both sides (e.g. 0.2 to 0.3)"
        )
    train_rows = labelled_rows - test_rows
    return ClusterSplit(
        train,
        test,
        train_rows,
        test_rows,
        total - labelled_rows,
        data.split,
        cutoff,
        pool_cutoff,
        labelled,
        is_test,
        float(train_sum) / train_rows if regression else None,
        rode,
    )


def _persisted(cluster: Cluster, collection):
    """`collection` computed and kept on the workers."""
    from distributed import wait

    kept = cluster.client.persist(collection)
    wait(kept)
    return kept
