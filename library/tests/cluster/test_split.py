"""The split on the cluster: by a seeded hash of the row (whatever the partitioning) or by time, never collected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkeel.cluster import split as split_module
from modelkeel.cluster.data import read_data
from modelkeel.cluster.split import split_data
from modelkeel.cluster.validate import validate_data
from modelkeel.errors import DataError

from .projects import project, rows_frame, with_data, write

ROWS = 4000


@pytest.fixture(scope="module")
def rows_project(tmp_path_factory):
    """4000 rows in four files; 40 of them without a label; a day per 10 rows."""
    root = tmp_path_factory.mktemp("cluster_split")
    for i in range(4):
        part = rows_frame(1000, 1000 * i).astype({"label": object})
        part.loc[part.index[:10], "label"] = None
        write(part, root / "data" / f"part-{i}.csv")
    with project(root, "cluster_split_project", "data") as settings:
        schema = root / "src" / "cluster_split_project" / "schemas" / "rows.py"
        schema.write_text(schema.read_text().replace('isin=["no", "yes"])', 'isin=["no", "yes"], nullable=True)'))
        yield settings


@pytest.fixture(scope="module")
def validated_rows(rows_project, dask_cluster):
    return validate_data(rows_project, dask_cluster, read_data(rows_project, dask_cluster)).frame


def ids(frame) -> set[int]:
    return set(frame["id"].compute())


def test_a_random_split_holds_out_about_test_size_and_ignores_the_partitioning(
    rows_project, validated_rows, dask_cluster
):
    split = split_data(rows_project, dask_cluster, validated_rows)
    assert split.rule == "random" and split.dropped == 40
    assert split.train_rows + split.test_rows == ROWS - 40
    # the share of a seeded hash below a quarter of its range: 3960 rows, a standard deviation of 27 rows
    assert abs(split.test_rows / (ROWS - 40) - 0.25) < 0.05
    test, train = ids(split.test), ids(split.train)
    assert len(test) == split.test_rows and not test & train
    again = split_data(rows_project, dask_cluster, validated_rows.repartition(npartitions=9))
    assert ids(again.test) == test and ids(again.train) == train
    other = split_data(rows_project.model_copy(update={"seed": rows_project.seed + 1}), dask_cluster, validated_rows)
    assert ids(other.test) != test


def test_identical_rows_land_on_the_same_side(rows_project, dask_cluster):
    from modelkeel.cluster.split import test_rows_by_hash

    row = rows_frame(1, 7)
    write(pd.concat([rows_frame(100, 0), *[row] * 30], ignore_index=True), rows_project.root / "twins" / "a.csv")
    frame = read_data(with_data(rows_project, path="twins"), dask_cluster).frame.compute()
    sides = test_rows_by_hash(frame, rows_project.seed, 0.5)
    assert sides[frame["id"] == 7].nunique() == 1


def test_a_time_split_tests_on_the_most_recent_rows(rows_project, validated_rows, dask_cluster):
    settings = with_data(rows_project, split="time", split_column="day")
    split = split_data(settings, dask_cluster, validated_rows)
    train_days, test_days = split.train["day"].compute(), split.test["day"].compute()
    assert train_days.max() <= split.cutoff < test_days.min()
    # 396 days of 10 rows (fewer labelled on the first day of each file): the cut is at most a day off
    assert abs(split.test_rows - 0.25 * (ROWS - 40)) <= 20
    assert split.train_rows + split.test_rows == ROWS - 40


def test_a_time_split_on_a_single_moment_is_refused(rows_project, dask_cluster):
    write(rows_frame(50, 0).assign(day="2024-01-01"), rows_project.root / "moment" / "a.csv")
    settings = with_data(rows_project, path="moment", split="time", split_column="day")
    frame = validate_data(settings, dask_cluster, read_data(settings, dask_cluster)).frame
    with pytest.raises(DataError, match="every row of 'day' has the same time"):
        split_data(settings, dask_cluster, frame)


def test_the_penguins_data_splits_on_the_cluster(settings, dask_cluster):
    frame = validate_data(settings, dask_cluster, read_data(settings, dask_cluster)).frame
    split = split_data(settings, dask_cluster, frame)
    labelled = int(frame[settings.data.target].notnull().sum().compute())
    assert split.train_rows + split.test_rows == labelled
    # 224 labelled penguins: a share within 0.1 of test_size holds 22 rows of slack, 4.5 standard deviations
    assert abs(split.test_rows / labelled - settings.data.test_size) < 0.1


@pytest.fixture(scope="module")
def read_rows(rows_project, dask_cluster):
    data = read_data(rows_project, dask_cluster)
    return validate_data(rows_project, dask_cluster, data).frame, data.snapshot


def test_a_time_split_with_a_test_pool_holds_out_the_most_recent_new_rows_and_old_rows_each_on_their_own(
    rows_project, read_rows, dask_cluster
):
    frame, snapshot = read_rows
    pool = snapshot["files"][1]["path"]  # days 100 to 199: older than the last file, so a plain cut never tests it
    settings = with_data(rows_project, split="time", split_column="day").model_copy(update={"test_pool": (pool,)})
    split = split_data(settings, dask_cluster, frame, snapshot)
    test, train = split.test.compute(), split.train.compute()
    new_test, new_train = test[test["id"].between(1000, 1999)], train[train["id"].between(1000, 1999)]
    old_test, old_train = test[~test["id"].between(1000, 1999)], train[~train["id"].between(1000, 1999)]
    # 990 labelled new rows, 2970 old ones (10 days of 10 rows fall on a cut: at most a day off each)
    assert abs(len(new_test) - 0.25 * 990) <= 10 and abs(len(old_test) - 0.25 * 2970) <= 10
    assert new_train["day"].max() < new_test["day"].min() and old_train["day"].max() < old_test["day"].min()
    assert split.pool_cutoff is not None and split.pool_cutoff < split.cutoff
    assert split.train_rows + split.test_rows == ROWS - 40 == len(test) + len(train)
    plain = split_data(with_data(rows_project, split="time", split_column="day"), dask_cluster, frame, snapshot)
    assert not plain.test["id"].between(1000, 1999).any().compute(), "without the pool, no new row would test"


def test_a_random_split_ignores_the_test_pool(rows_project, read_rows, dask_cluster):
    frame, snapshot = read_rows
    pooled = rows_project.model_copy(update={"test_pool": (snapshot["files"][1]["path"],)})
    assert ids(split_data(pooled, dask_cluster, frame, snapshot).test) == ids(
        split_data(rows_project, dask_cluster, frame).test
    )


def test_a_pool_without_labelled_rows_is_refused(rows_project, read_rows, dask_cluster):
    frame, snapshot = read_rows
    settings = with_data(rows_project, split="time", split_column="day").model_copy(
        update={"test_pool": ("elsewhere.csv",)}
    )
    with pytest.raises(DataError, match="cannot be judged on new rows"):
        split_data(settings, dask_cluster, frame, snapshot)


# ---- the time split's quantile, merged from many partitions ----------------------------------------------------


def full_table_quantile(parts, share):
    """merged_quantile as first written: the merged distribution tabulated at every grid value of every partition
    (P^2 work), the reference the search must give the same cut as."""
    parts = [(n, grid) for n, grid in parts if n]
    total = sum(n for n, _ in parts)
    levels = np.linspace(0, 1, split_module.QUANTILE_GRID)
    candidates = np.unique(np.concatenate([grid for _, grid in parts]))
    below = np.zeros(len(candidates))
    for n, grid in parts:
        below += n * np.interp(candidates, grid, levels, left=0.0, right=1.0)
    at = int(np.searchsorted(below / total, share - 1e-12, side="left"))
    return float(candidates[min(at, len(candidates) - 1)])


def partition_times(count: int, seed: int) -> list[np.ndarray]:
    """`count` partitions of 0 to 400 times: spread, shifted from one partition to the next, some of them ties."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(count):
        times = rng.normal(1.7e9 + i * 3600, 86_400 * rng.uniform(0.1, 5), int(rng.integers(0, 400)))
        if i % 3 == 0:
            times = np.round(times, -4)  # moments shared by many rows
        found.append(times)
    return found


def summaries(times: list[np.ndarray]) -> list[tuple[int, np.ndarray]]:
    return [split_module.time_summary(pd.Series(t, dtype="float64")) for t in times]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_merged_quantile_is_the_full_tables_cut(seed):
    parts = summaries(partition_times(60, seed))
    for share in (0.0, 0.1, 0.5, 0.75, 0.999, 1.0):
        assert split_module.merged_quantile(parts, share)[0] == full_table_quantile(parts, share), share


def test_the_merged_quantile_of_many_partitions_is_within_its_bound_with_little_work(monkeypatch):
    times = partition_times(3000, 7)
    parts = summaries(times)
    every = np.sort(np.concatenate(times))
    total, partitions = len(every), sum(1 for t in times if len(t))
    real, evaluated = np.interp, []

    def counted(x, *args, **kwargs):
        evaluated.append(np.size(x))
        # per merge: a full table evaluates every grid value of every partition on each, 3000 x 3 million; the
        # search 64 values per round on each, in log_64(3 million) rounds
        assert sum(evaluated) <= 400 * len(parts), "the merge evaluates more than O(P log P) values"
        return real(x, *args, **kwargs)

    monkeypatch.setattr(split_module.np, "interp", counted)
    slack = total / (split_module.QUANTILE_GRID - 1) + 2 * partitions  # rows, as merged_quantile states
    for share in (0.05, 0.5, 0.8):
        evaluated.clear()
        cut, latest, earliest, count = split_module.merged_quantile(parts, share)
        assert (count, latest, earliest) == (total, every[-1], every[0])
        below, at_or_below = np.searchsorted(every, cut, "left"), np.searchsorted(every, cut, "right")
        assert below - slack <= share * total <= at_or_below + slack, share


def test_a_regressions_training_mean_comes_with_the_split_and_a_kept_mask_cuts_the_same_rows(
    rows_project, validated_rows, dask_cluster
):
    regression = rows_project.model_copy(
        update={"task": "regression", "data": rows_project.data.model_copy(update={"target": "amount"})}
    )
    split = split_data(regression, dask_cluster, validated_rows)
    train = split.train.compute()
    assert split.train_rows == len(train) and train["amount"].notna().all()
    assert split.train_target_mean == pytest.approx(train["amount"].mean(), rel=1e-12)
    kept = split_data(regression, dask_cluster, validated_rows, keep_in_memory=True)
    assert (kept.train_rows, kept.test_rows, kept.dropped) == (split.train_rows, split.test_rows, split.dropped)
    assert ids(kept.test) == ids(split.test) and ids(kept.train) == ids(split.train)
    # both sides are the labelled rows, cut by the mask evaluation reads them by
    labelled, is_test = kept.labelled.compute(), kept.is_test.compute()
    assert set(labelled["id"][is_test]) == ids(split.test) and set(labelled["id"][~is_test]) == ids(split.train)
    assert split_data(rows_project, dask_cluster, validated_rows).train_target_mean is None  # classification
