"""The contract on the cluster: the pandas engine's failure report, uniqueness across partitions, reductions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from modelkeel.cluster import validate as validate_module
from modelkeel.cluster.data import read_data
from modelkeel.cluster.session import worker_order
from modelkeel.cluster.validate import (
    category_sets,
    collected_classes,
    collecting_classes,
    estimated_bytes,
    measured_row_bytes,
    memory_rule,
    numeric_stats,
    row_count,
    sample,
    validate_data,
)
from modelkeel.data.contract import load_schema_model, validate_frame
from modelkeel.data.files import read_file, read_table, resolve_files
from modelkeel.errors import DataError, DataValidationError
from modelkeel.stages.validate import validate

from .projects import project, rows_frame, with_data, write


@pytest.fixture(scope="module")
def rows_project(tmp_path_factory):
    """Three valid files of 1000 rows; beside them, a file with bad rows and a file repeating a row of the first."""
    root = tmp_path_factory.mktemp("cluster_validate")
    for i in range(3):
        write(rows_frame(1000, 1000 * i), root / "good" / f"part-{i}.csv")
    bad = rows_frame(1000, 3000)
    bad.loc[[10, 20, 30], "amount"] = -5.0
    bad.loc[[40, 41], "colour"] = "purple"
    write(bad, root / "bad" / "part-3.csv")
    repeat = rows_frame(1000, 3000)
    repeat.loc[500] = rows_frame(1000, 0).loc[7]  # row 7 of good/part-0.csv again, in another file
    write(repeat, root / "repeat" / "part-3.csv")
    with project(root, "cluster_validate_project", "good") as settings:
        yield settings


def pandas_report(settings) -> list[dict]:
    with pytest.raises(DataValidationError) as failed:
        validate(settings)
    return failed.value.report["failures"]


def checks(report: list[dict]) -> dict[tuple[str, str], tuple[int, list]]:
    return {(i["column"], i["check"]): (i["rows"], i["examples"]) for i in report}


def test_valid_data_passes_and_reads_as_the_pandas_engine_validates_it(rows_project, dask_cluster):
    data = validate_data(rows_project, dask_cluster, read_data(rows_project, dask_cluster))
    expected = validate(with_data(rows_project, path="good/*.csv")).frame
    assert data.rows == 3000 and data.partitions == 3
    pd.testing.assert_frame_equal(data.frame.compute(), expected)


def test_a_failing_partition_is_reported_as_the_pandas_engine_reports_it_naming_file_and_rows(
    rows_project, dask_cluster
):
    settings = with_data(rows_project, path=("good/part-0.csv", "good/part-1.csv", "bad/part-3.csv"))
    with pytest.raises(DataValidationError) as failed:
        validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    message = str(failed.value)
    assert message.startswith("bad/part-3.csv (rows 2000 to 2999): the data breaks its schema")
    assert "good/part-0.csv" not in message
    assert "column 'amount', check greater_than_or_equal_to(0.0): 3 row(s); e.g. row 2010: -5.0" in message
    # the same columns, checks, counts and example rows as the pandas engine's report on the same files
    assert checks(failed.value.report["failures"]) == checks(pandas_report(settings))


def test_a_row_repeated_in_another_partition_breaks_uniqueness_as_in_the_pandas_engine(rows_project, dask_cluster):
    settings = with_data(rows_project, path=("good/part-0.csv", "repeat/part-3.csv"))
    model = load_schema_model(settings)
    for path in resolve_files(settings.data.path, settings.root):  # each file alone passes the contract
        validate_frame(read_file(path), model, str(path), ["day"])
    with pytest.raises(DataValidationError) as failed:
        validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    found = checks(failed.value.report["failures"])
    assert found[("id", "field_uniqueness")] == (2, [{"row": 7, "value": 7}, {"row": 1500, "value": 7}])
    assert found[("(table)", "multiple_fields_uniqueness")][0] == 4  # two rows, two columns of the key
    assert found == checks(pandas_report(settings))


def test_without_the_reduction_each_partition_passes_so_the_repeat_needs_it(rows_project, dask_cluster, monkeypatch):
    from modelkeel.cluster import validate as cluster_validate

    settings = with_data(rows_project, path=("good/part-0.csv", "repeat/part-3.csv"))
    monkeypatch.setattr(cluster_validate, "uniqueness", lambda cluster, frame, keys: [])
    validated = cluster_validate.validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    assert validated.rows == 2000


def test_a_category_column_gets_the_categories_of_the_whole_data(rows_project, dask_cluster):
    contract = (rows_project.root / "src" / "cluster_validate_project" / "schemas" / "rows.py").read_text()
    (rows_project.root / "src" / "cluster_validate_project" / "schemas" / "kinds.py").write_text(
        contract.replace("colour: Series[str]", "colour: Series[pa.Category]")
    )
    write(rows_frame(50, 0).assign(colour="blue"), rows_project.root / "kinds" / "a.csv")
    write(rows_frame(50, 50).assign(colour="red"), rows_project.root / "kinds" / "b.csv")
    settings = with_data(rows_project, path="kinds/*.csv", schema_name="kinds")
    frame = validate_data(settings, dask_cluster, read_data(settings, dask_cluster)).frame
    assert list(frame.dtypes["colour"].categories) == ["blue", "red"]
    assert list(frame.get_partition(0).compute()["colour"].dtype.categories) == ["blue", "red"]
    expected = validate(settings).frame
    pd.testing.assert_frame_equal(frame.compute(), expected)


def test_a_sample_is_bounded_seeded_and_the_same_however_the_data_is_partitioned(rows_project, dask_cluster):
    frame = read_data(rows_project, dask_cluster).frame
    picked = sample(dask_cluster, frame, 100, seed=3)
    assert len(picked) == 100 and picked.index.is_monotonic_increasing
    assert list(picked.columns) == list(frame.columns)
    assert picked.equals(sample(dask_cluster, frame.repartition(npartitions=7), 100, seed=3))
    assert not picked.index.equals(sample(dask_cluster, frame, 100, seed=4).index)
    assert len(sample(dask_cluster, frame, 10_000, seed=3)) == 3000  # never more than the data


def test_reductions_give_what_the_whole_frame_gives(rows_project, dask_cluster):
    frame = read_data(rows_project, dask_cluster).frame
    whole, _ = read_table(resolve_files("good/*.csv", rows_project.root))
    assert row_count(dask_cluster, frame) == len(whole)
    assert category_sets(dask_cluster, frame, ["colour", "label"]) == {
        "colour": ["blue", "green", "red"],
        "label": ["no", "yes"],
    }
    assert category_sets(dask_cluster, frame, ["id"], limit=10) == {"id": None}  # more than the bound
    # the same sets as a lazy Series, computed with other reductions in one pass (the split's riders)
    for column, limit in (("colour", 1000), ("label", 1000), ("id", 10), ("id", 10_000)):
        values = dask_cluster.client.compute(collecting_classes(frame, column, limit)).result()
        assert len(values) <= (limit + 1) * frame.npartitions
        assert collected_classes(values, limit) == category_sets(dask_cluster, frame, [column], limit)[column]
    stats = numeric_stats(dask_cluster, frame, ["amount"])["amount"]
    assert stats["count"] == whole["amount"].count()
    assert stats["min"] == whole["amount"].min() and stats["max"] == whole["amount"].max()
    assert stats["mean"] == pytest.approx(whole["amount"].mean(), rel=1e-12)


def test_the_penguins_contract_validates_on_the_cluster_as_in_the_pandas_engine(settings, validated, dask_cluster):
    data = validate_data(settings, dask_cluster, read_data(settings, dask_cluster))
    assert data.snapshot == validated.snapshot
    pd.testing.assert_frame_equal(data.frame.compute(), validated.frame)


# kept in the workers' memory or streamed ---------------------------------------------------------------------------


def test_small_data_is_kept_in_memory_so_later_passes_do_not_read_the_files_again(tmp_path, dask_cluster):
    for i in range(2):
        write(rows_frame(500, 500 * i), tmp_path / "data" / f"part-{i}.parquet")
    with project(tmp_path, "cluster_validate_kept_project", "data") as settings:
        data = read_data(settings, dask_cluster)
        kept = validate_data(settings, dask_cluster, data, keep_in_memory=True)
        streamed = validate_data(settings, dask_cluster, data)
        assert streamed.memory is None  # not asked: streamed, as before
        assert kept.memory == {
            "kept_in_memory": True,
            "estimated_bytes": estimated_bytes(kept.frame._meta, 1000),
            "workers_memory_limit_bytes": 2 * 1024**3,  # the dask_cluster fixture: two workers of 1 GiB
            "share": validate_module.MEMORY_SHARE,
        }
        # partition i kept on the i % n-th worker, where training computes its features (no partition moves)
        order = worker_order(dask_cluster.client)
        holders = sorted(dask_cluster.client.who_has(kept.frame).items(), key=lambda item: item[0][1])  # by partition
        assert [list(where) for _, where in holders] == [[order[i % len(order)]] for i in range(2)]
        expected = streamed.frame.compute()
        for file in (tmp_path / "data").iterdir():
            file.unlink()  # a pass that read the files now fails; one from the workers' memory does not
        pd.testing.assert_frame_equal(kept.frame.compute(), expected)
        with pytest.raises(DataError, match="gone"):
            streamed.frame.compute()


def test_data_over_the_memory_share_is_streamed_and_reads_the_same(rows_project, dask_cluster, monkeypatch):
    data = read_data(rows_project, dask_cluster)
    monkeypatch.setattr(validate_module, "MEMORY_SHARE", 1e-6)  # 2 GiB of workers allow 2 KiB: less than the data
    over = validate_data(rows_project, dask_cluster, data, keep_in_memory=True)
    assert over.memory is not None and not over.memory["kept_in_memory"]
    assert over.memory["estimated_bytes"] > 1e-6 * over.memory["workers_memory_limit_bytes"]
    expected = validate(with_data(rows_project, path="good/*.csv")).frame
    pd.testing.assert_frame_equal(over.frame.compute(), expected)


def test_the_estimate_counts_each_column_at_its_width_and_text_at_a_fixed_cost():
    meta = pd.DataFrame(
        {
            "i": pd.Series(dtype="int64"),
            "f": pd.Series(dtype="float32"),
            "b": pd.Series(dtype="bool"),
            "t": pd.Series(dtype="datetime64[ns]"),
            "s": pd.Series(dtype=object),
            "c": pd.Series(dtype="category"),
        }
    )
    width = 8 + 8 + 4 + 1 + 8 + validate_module.OBJECT_CELL_BYTES + 8  # the index, then each column
    assert estimated_bytes(meta, 1000) == 1000 * width


def test_a_worker_without_a_memory_limit_means_the_data_is_streamed():
    def cluster(*limits):
        workers = {f"tcp://w{i}": {"memory_limit": limit} for i, limit in enumerate(limits)}
        return SimpleNamespace(client=SimpleNamespace(scheduler_info=lambda: {"workers": workers}))

    meta = pd.DataFrame({"x": pd.Series(dtype="float64")})  # 16 bytes a row with its index
    assert memory_rule(cluster(1024**3, 1024**3), meta, 1000)["kept_in_memory"]
    unlimited = memory_rule(cluster(1024**3, 0), meta, 1000)
    assert not unlimited["kept_in_memory"] and unlimited["workers_memory_limit_bytes"] is None
    assert not memory_rule(cluster(4000 * 16), meta, 1001)["kept_in_memory"]  # a quarter of 64,000 bytes: 1,000 rows
    assert memory_rule(cluster(4000 * 16), meta, 1000)["kept_in_memory"]
    # rows measured wider than their types say (long text): the measure decides
    assert not memory_rule(cluster(4000 * 16), meta, 1000, row_bytes=17.0)["kept_in_memory"]
    assert memory_rule(cluster(4000 * 16), meta, 1000, row_bytes=3.0)["estimated_bytes"] == 16_000


def test_long_text_is_measured_in_the_estimate_not_taken_for_a_short_cell(dask_cluster, tmp_path):
    import dask.dataframe as dd

    frame = pd.DataFrame({"x": np.arange(400, dtype="float64"), "note": ["n" * 2000] * 400})
    measured = measured_row_bytes(dask_cluster, dd.from_pandas(frame, npartitions=2))
    assert measured > 2000 > validate_module.OBJECT_CELL_BYTES + 16
    assert measured == pytest.approx(frame.head(200).memory_usage(deep=True, index=True).sum() / 200, rel=0.05)
