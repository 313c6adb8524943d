"""Batch scoring on a LocalCluster: the pandas engine's predictions, refused rows set aside with their reasons,
and never a partial output (an existing output, a failing partition, a killed worker, an unreachable scheduler,
other versions on the cluster)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudpickle
import fsspec.core
import pandas as pd
import pytest

from modelkeel.cluster import score, session
from modelkeel.cluster.session import open_cluster
from modelkeel.data.contract import load_schema_model
from modelkeel.data.files import read_file
from modelkeel.errors import ClusterError, DataError, DataValidationError
from modelkeel.runtime.scoring import predict
from modelkeel.settings import load_settings

from ..conftest import PROJECT_ROOT, bounded_column
from .conftest import dask_settings

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the blocker below runs on workers
PARTS = 4
BLOCKED = "part-blocked.parquet"  # the partition the killed-worker test holds on its worker


@pytest.fixture(scope="module")
def inputs(settings, tmp_path_factory) -> Path:
    """The project's rows (features only, as a consumer has them) in PARTS Parquet files, plus what a folder
    reader skips (a marker, a hidden file, a CSV)."""
    frame = read_file(PROJECT_ROOT / settings.data.path)[list(settings.data.features)]
    folder = tmp_path_factory.mktemp("inputs") / "batch"
    folder.mkdir()
    size = -(-len(frame) // PARTS)
    for i in range(PARTS):
        frame.iloc[i * size : (i + 1) * size].to_parquet(folder / f"in-{i}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    frame.head(3).to_parquet(folder / ".hidden.parquet", index=False)
    frame.head(3).to_csv(folder / "notes.csv", index=False)
    return folder


def pandas_engine(bundle_dir: Path, source: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / f"pandas-{source.stem}.parquet"
    predict(bundle_dir, source, out)
    return pd.read_parquet(out)


def only(folder: Path, *names: str) -> None:
    """Nothing but `names` in `folder`: no staging or partial output left beside them."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_scores_agree_with_the_pandas_engine_and_each_worker_builds_the_session_once(
    dask_cluster, bundle_dir, inputs, tmp_path
):
    from modelkeel.bundle.reader import open_bundle

    bundle = open_bundle(bundle_dir)
    out = tmp_path / "scores"
    done = score.score_dataset(dask_cluster, bundle, inputs, out)

    files = sorted(inputs.glob("in-*.parquet"))
    assert (done.partitions, done.rejected) == (PARTS, 0)
    assert done.rows == done.scored == sum(len(pd.read_parquet(f)) for f in files)
    for n, source in enumerate(files):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / score.part_name(n)), pandas_engine(bundle_dir, source, tmp_path)
        )
    only(out, *(score.part_name(n) for n in range(PARTS)), score.SUCCESS)
    summary = json.loads((out / score.SUCCESS).read_text())
    assert summary["model_sha256"] == done.model_sha256 and len(summary["partitions"]) == PARTS
    # what came back to the client is counts per partition, not rows
    assert all(set(p) == {"n", "source", "rows", "scored", "rejected", "worker"} for p in summary["partitions"])
    assert len(pd.read_parquet(out)) == done.rows  # a reader of the folder gets every scored row, once

    ran = pd.Series([p["worker"] for p in summary["partitions"]]).value_counts()
    assert ran.max() >= 2  # some worker scored more than one partition ...
    builds = dask_cluster.client.run(score.session_builds)
    assert {worker: builds[worker].get(done.model_sha256) for worker in ran.index} == dict.fromkeys(ran.index, 1)
    # each session's thread pools are the worker's threads (one here), not onnxruntime's one per core
    threads = dask_cluster.client.run(score.session_threads)
    nthreads = dask_cluster.client.run(score.worker_threads)
    for worker in ran.index:
        assert (
            threads[worker][done.model_sha256]
            == {"intra_op": nthreads[worker], "inter_op": nthreads[worker]}
            == {
                "intra_op": 1,
                "inter_op": 1,
            }
        )
    assert summary["files"] == [*(score.part_name(n) for n in range(PARTS))]
    only(tmp_path, "scores", *(f"pandas-{f.stem}.parquet" for f in files))  # ... and built the session once


def test_rows_the_contract_refuses_are_set_aside_with_their_reasons_and_the_rest_scored(
    dask_cluster, bundle_dir, settings, tmp_path
):
    from modelkeel.bundle.reader import open_bundle

    frame = read_file(PROJECT_ROOT / settings.data.path)[list(settings.data.features)].head(60)
    column, wrong = bounded_column(load_schema_model(settings), settings.data.numeric_features)
    bad_rows = [3, 17, 41]
    frame.loc[bad_rows, column] = wrong
    folder = tmp_path / "in"
    folder.mkdir()
    frame.head(30).to_parquet(folder / "a.parquet", index=False)
    frame.iloc[30:].to_parquet(folder / "b.parquet", index=False)

    done = score.score_dataset(dask_cluster, open_bundle(bundle_dir), folder, tmp_path / "out")

    assert (done.rows, done.scored, done.rejected) == (60, 57, 3)
    rejected = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "out" / score.REJECTED).iterdir()))
    assert rejected[score.ROW].tolist() == [3, 17, 11]  # positions in their own files
    assert rejected[column].tolist() == [wrong] * 3
    assert all(f"column {column!r}, check greater_than_or_equal_to" in r for r in rejected[score.REASON])
    good = frame.drop(index=bad_rows)
    for name, rows in (("a", good[good.index < 30]), ("b", good[good.index >= 30])):
        rows.to_parquet(tmp_path / f"good-{name}.parquet", index=False)
        expected = pandas_engine(bundle_dir, tmp_path / f"good-{name}.parquet", tmp_path)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / score.part_name("ab".index(name))), expected)
    assert len(pd.read_parquet(tmp_path / "out")) == 57  # readers of the folder skip _rejected/


def refused_inputs(settings, folder: Path) -> Path:
    """Two Parquet files of 30 rows each, every row with a value the contract refuses."""
    frame = read_file(PROJECT_ROOT / settings.data.path)[list(settings.data.features)].head(60)
    column, wrong = bounded_column(load_schema_model(settings), settings.data.numeric_features)
    frame[column] = wrong
    folder.mkdir()
    frame.head(30).to_parquet(folder / "a.parquet", index=False)
    frame.iloc[30:].to_parquet(folder / "b.parquet", index=False)
    return folder


def test_a_run_of_which_the_contract_refuses_every_row_fails_as_the_pandas_engine_does(
    dask_cluster, bundle_dir, settings, tmp_path
):
    from modelkeel.bundle.reader import open_bundle

    folder = refused_inputs(settings, tmp_path / "in")
    with pytest.raises(DataValidationError) as pandas_refusal:
        predict(bundle_dir, folder / "a.parquet", tmp_path / "pandas.parquet")
    with pytest.raises(DataValidationError, match="the contract refuses every one of its 60 rows") as refusal:
        score.score_dataset(dask_cluster, open_bundle(bundle_dir), folder, tmp_path / "out")
    assert str(pandas_refusal.value) in str(refusal.value)  # the pandas engine's report of the first partition
    assert refusal.value.report["failures"] == pandas_refusal.value.report["failures"]
    only(tmp_path, "in")  # no output, no staging


def test_a_partition_that_fails_as_a_whole_fails_the_run_and_leaves_nothing(
    dask_cluster, bundle_dir, settings, inputs, tmp_path
):
    from modelkeel.bundle.reader import open_bundle

    folder = tmp_path / "in"
    folder.mkdir()
    for source in sorted(inputs.glob("in-*.parquet")):
        (folder / source.name).write_bytes(source.read_bytes())
    missing = settings.data.features[0]
    pd.read_parquet(folder / "in-2.parquet").drop(columns=[missing]).to_parquet(folder / "in-2.parquet")

    with pytest.raises(DataValidationError, match=rf"in-2.parquet: the data breaks its schema(.|\n)*{missing}"):
        score.score_dataset(dask_cluster, open_bundle(bundle_dir), folder, tmp_path / "out")
    only(tmp_path, "in")


def test_partition_files_are_held_to_predicts_limits(dask_cluster, bundle_dir, inputs, tmp_path):
    from modelkeel.bundle.reader import open_bundle

    with pytest.raises(DataError, match=r"in-0.parquet: \d+ rows, more than the limit of 5 rows in one file"):
        score.score_dataset(
            dask_cluster, open_bundle(bundle_dir), inputs / "in-0.parquet", tmp_path / "out", max_rows=5
        )
    only(tmp_path)


def test_an_output_that_exists_is_refused_unless_overwrite(dask_cluster, bundle_dir, inputs, tmp_path):
    from modelkeel.bundle.reader import open_bundle

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.parquet").write_text("yesterday's scores")
    with pytest.raises(DataError, match="already exists; choose another folder, or pass --overwrite"):
        score.score_dataset(dask_cluster, open_bundle(bundle_dir), inputs, out)
    only(out, "old.parquet")
    done = score.score_dataset(dask_cluster, open_bundle(bundle_dir), inputs, out, overwrite=True)
    only(out, *(score.part_name(n) for n in range(done.partitions)), score.SUCCESS)
    only(tmp_path, "out")


def test_an_overwrite_that_cannot_be_moved_into_place_leaves_the_old_output(
    dask_cluster, bundle_dir, inputs, tmp_path, monkeypatch
):
    from modelkeel.bundle.reader import open_bundle

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.parquet").write_text("yesterday's scores")
    real = os.replace

    def no_staging(source, target, *args, **kwargs):  # the staging folder cannot take the output's place
        if Path(source).name.endswith(".tmp") and Path(source).is_dir():
            raise OSError(28, "No space left on device (the test's)")
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", no_staging)  # in this process only: the client's publish
    with pytest.raises(DataError, match="could not be moved into place") as error:
        score.score_dataset(dask_cluster, open_bundle(bundle_dir), inputs, out, overwrite=True)
    only(tmp_path, "out")  # the old output in its place, nothing beside it
    only(out, "old.parquet")
    assert (out / "old.parquet").read_text() == "yesterday's scores"
    assert "the output there before is as it was" in str(error.value)


def test_an_fsspec_url_is_read_and_written_with_success_last(dask_cluster, bundle_dir, inputs, tmp_path):
    from modelkeel.bundle.reader import open_bundle

    done = score.score_dataset(dask_cluster, open_bundle(bundle_dir), f"file://{inputs}", f"file://{tmp_path}/out")
    assert done.partitions == PARTS
    only(tmp_path / "out", *(score.part_name(n) for n in range(PARTS)), score.SUCCESS)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out" / score.part_name(1)),
        pandas_engine(bundle_dir, inputs / "in-1.parquet", tmp_path),
    )


def test_on_an_object_store_the_output_appears_with_success_last_and_an_overwrite_keeps_the_old_until_whole(
    bundle_dir, settings, inputs, s3_server, monkeypatch, tmp_path
):
    from modelkeel.bundle.reader import open_bundle

    for name, value in s3_server.environment.items():  # as a cluster's workers get credentials: the environment
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    store = s3_server.filesystem()
    for source in sorted(inputs.glob("in-*.parquet")):
        store.put_file(str(source), f"{bucket}/in/{source.name}")
    source, out = f"s3://{bucket}/in", f"s3://{bucket}/out"

    def published() -> tuple[dict, list[str]]:
        """(_SUCCESS, the output's files): what a reader finds."""
        store.invalidate_cache()
        files = sorted(key[len(f"{bucket}/out/") :] for key in store.find(f"{bucket}/out"))
        return json.loads(store.cat(f"{bucket}/out/{score.SUCCESS}")), files

    with open_cluster(dask_settings(settings, n_workers=2, memory_limit="1GiB")) as cluster:
        done = score.score_dataset(cluster, open_bundle(bundle_dir), source, out)
        with pytest.raises(DataError, match="already exists"):
            score.score_dataset(cluster, open_bundle(bundle_dir), source, out)
        first, first_files = published()
        with monkeypatch.context() as patch:  # the client's copies fail after the first: a publish cut short
            real = fsspec.core.url_to_fs
            patch.setattr(fsspec.core, "url_to_fs", lambda url, **kw: CopiesThenFail.around(real(url, **kw)))
            with pytest.raises(DataError, match="could not be moved into place") as error:
                score.score_dataset(cluster, open_bundle(bundle_dir), source, out, overwrite=True)
        assert published() == (first, first_files)  # the old output, whole, its _SUCCESS naming it
        assert "the output there before is as it was" in str(error.value)
        again = score.score_dataset(cluster, open_bundle(bundle_dir), source, out, overwrite=True)
    second, second_files = published()  # the new output alone: the old parts went after its _SUCCESS
    assert not set(first_files) & set(second_files) - {score.SUCCESS}
    assert done.partitions == again.partitions == PARTS
    # no object left under the staging prefix (keys, not the folders SeaweedFS's filer keeps for them)
    assert {key.split("/")[1] for key in store.find(bucket)} == {"in", "out"}
    for marker, files in ((first, first_files), (second, second_files)):
        assert files == sorted([*marker["files"], score.SUCCESS])  # _SUCCESS lists the output's files
        # on an object store the parts are named by the run that wrote them
        assert sorted(marker["files"]) == sorted(f"part-{n:05d}-{marker_run(marker)}.parquet" for n in range(PARTS))
        assert marker["model_sha256"] == done.model_sha256
    pd.testing.assert_frame_equal(
        pd.read_parquet(f"s3://{bucket}/out/{second['files'][1]}"),
        pandas_engine(bundle_dir, inputs / "in-1.parquet", tmp_path),
    )


def marker_run(marker: dict) -> str:
    """The run a _SUCCESS's parts are named by (`part-00000-<run>.parquet`)."""
    return marker["files"][0].rsplit("-", 1)[1].removesuffix(".parquet")


class CopiesThenFail:
    """An object store whose copies fail after the first (a connection lost while publishing), in this process."""

    def __init__(self, fs) -> None:
        self._fs, self._copies = fs, 0

    @classmethod
    def around(cls, found: tuple) -> tuple:
        fs, path = found
        return (cls(fs), path) if "s3" in fs.protocol else found

    def __getattr__(self, name: str):
        return getattr(self._fs, name)

    def copy(self, *args, **kwargs):
        self._copies += 1
        if self._copies > 1:
            raise OSError("connection reset by peer (the test's)")
        return self._fs.copy(*args, **kwargs)


def test_a_remote_file_of_unknown_size_is_copied_no_further_than_the_byte_limit(tmp_path, monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    frame = pd.DataFrame({"x": range(50_000)})
    frame.to_parquet(tmp_path / "big.parquet", index=False)
    size = (tmp_path / "big.parquet").stat().st_size
    store = MemoryFileSystem()
    store.pipe("/unsized/big.parquet", (tmp_path / "big.parquet").read_bytes())
    read = []
    real_open = MemoryFileSystem._open

    def counted_open(self, path, mode="rb", **kwargs):
        handle = real_open(self, path, mode, **kwargs)
        real_read = handle.read
        handle.read = lambda n=-1: read.append(len(chunk := real_read(n))) or chunk
        return handle

    monkeypatch.setattr(MemoryFileSystem, "size", lambda self, path: None)  # as an HTTP server without a length
    monkeypatch.setattr(MemoryFileSystem, "_open", counted_open)
    limit = size // 10
    with pytest.raises(DataError) as error:
        score.read_partition("memory://unsized/big.parquet", score.Limits(max_bytes=limit))
    assert limit < sum(read) <= limit + 1  # stopped at the limit, not the whole file
    assert f"big.parquet: more than the limit of {limit:,} bytes for one file (its size was not known" in str(
        error.value
    )
    found = score.read_partition("memory://unsized/big.parquet", score.Limits(max_bytes=size))  # under the limit
    pd.testing.assert_frame_equal(found, frame)


def test_listing_refuses_what_is_not_parquet(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    with pytest.raises(DataError, match="not a Parquet file"):
        score.list_partitions(str(tmp_path / "a.csv"))
    with pytest.raises(DataError, match="no Parquet file"):
        score.list_partitions(str(tmp_path))
    with pytest.raises(DataError, match="no such file or folder"):
        score.list_partitions(str(tmp_path / "nothing"))


# ---- a worker killed mid-run ------------------------------------------------------------------------------


def install_blocker() -> None:
    """On a worker: reading the BLOCKED partition tells the test where it runs, then waits for its release."""
    real = score.read_partition

    def blocking(source, limits):
        if source.endswith(BLOCKED):
            from distributed import Event, Variable, get_worker

            Variable("blocked-on").set(get_worker().address)
            Event("release").wait(timeout=120)
        return real(source, limits)

    score.read_partition = blocking


def test_a_worker_killed_mid_run_ends_complete_or_in_a_cluster_error_never_partial(
    bundle_dir, settings, inputs, tmp_path
):
    from distributed import Event, Variable

    from modelkeel.bundle.reader import open_bundle

    folder = tmp_path / "in"
    folder.mkdir()
    for source in sorted(inputs.glob("in-*.parquet")):
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / BLOCKED).write_bytes((inputs / "in-0.parquet").read_bytes())
    out = tmp_path / "out"
    with (
        open_cluster(dask_settings(settings, n_workers=2, memory_limit="1GiB")) as cluster,
        ThreadPoolExecutor(1) as pool,
    ):
        client = cluster.client
        client.run(install_blocker)
        running = pool.submit(score.score_dataset, cluster, open_bundle(bundle_dir), folder, out)
        victim = Variable("blocked-on", client=client).get(timeout=120)  # the blocked task is under way there
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        Event("release", client=client).set()
        try:
            done = running.result(timeout=300)
        except ClusterError as error:
            assert "nothing was written" in str(error)
            only(tmp_path, "in")
            return
    assert done.partitions == PARTS + 1  # Dask ran the lost task again on a worker alive
    only(out, *(score.part_name(n) for n in range(PARTS + 1)), score.SUCCESS)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / score.part_name(PARTS)), pandas_engine(bundle_dir, inputs / "in-0.parquet", tmp_path)
    )


# ---- the command line --------------------------------------------------------------------------------------


def params_with(tmp_path: Path, settings, compute: str) -> Path:
    """The fixed project's params for this task with a compute section, in tmp_path (beside no pyproject)."""
    source = PROJECT_ROOT / ("params.yaml" if settings.task == "classification" else "params.regression.yaml")
    params = tmp_path / "params.yaml"
    params.write_text(source.read_text() + "\ncompute:\n" + compute)
    load_settings(params)  # the test's params are valid
    return params


def run_main(*args) -> int:
    from modelkeel.cli.main import main

    return main([str(a) for a in args])


def test_predict_scores_on_the_cluster_when_params_say_dask(bundle_dir, settings, inputs, tmp_path, capsys):
    params = params_with(tmp_path, settings, "  engine: dask\n  dask: {n_workers: 1, memory_limit: 1GiB}\n")
    out = tmp_path / "out"
    args = ("--params", params, "predict", "--bundle", bundle_dir, "--input", inputs, "--output", out)
    assert run_main(*args, "--allow-unsigned") == 0, capsys.readouterr().err
    assert f"in {PARTS} partition(s) on the cluster" in capsys.readouterr().out
    only(out, *(score.part_name(n) for n in range(PARTS)), score.SUCCESS)
    assert run_main(*args, "--allow-unsigned") == 1 and "already exists" in capsys.readouterr().err
    # every row refused by the contract: a failure, as on the pandas engine, and no output
    refused = refused_inputs(settings, tmp_path / "refused")
    cluster_args = ("--params", params, "predict", "--bundle", bundle_dir, "--allow-unsigned", "--input", refused)
    assert run_main(*cluster_args, "--output", tmp_path / "none") == 1
    assert "the contract refuses every one of its 60 rows" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    # --engine pandas still scores one file in this process
    single = ("--params", params, "predict", "--bundle", bundle_dir, "--engine", "pandas", "--allow-unsigned")
    assert run_main(*single, "--input", inputs / "in-0.parquet", "--output", tmp_path / "one.parquet") == 0
    assert (tmp_path / "one.parquet").is_file()


def test_predict_with_an_unreachable_scheduler_leaves_no_output(bundle_dir, settings, inputs, tmp_path, capsys):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = params_with(tmp_path, settings, f"  dask: {{address: 'tcp://127.0.0.1:{port}', connect_timeout: 2}}\n")
    args = ("--params", params, "predict", "--engine", "dask", "--bundle", bundle_dir, "--allow-unsigned")
    assert run_main(*args, "--input", inputs, "--output", tmp_path / "out") == 1
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in capsys.readouterr().err
    only(tmp_path, "params.yaml")


def test_predict_on_a_cluster_of_other_versions_leaves_no_output(
    bundle_dir, settings, inputs, tmp_path, capsys, monkeypatch
):
    real = session._local_versions()
    monkeypatch.setattr(session, "_local_versions", lambda: {**real, "onnxruntime": "0.0.1"})
    params = params_with(tmp_path, settings, "  dask: {n_workers: 1, memory_limit: 1GiB}\n")
    args = ("--params", params, "predict", "--engine", "dask", "--bundle", bundle_dir, "--allow-unsigned")
    assert run_main(*args, "--input", inputs, "--output", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "the cluster's workers run other versions than this client" in err and "0.0.1 here" in err
    only(tmp_path, "params.yaml")
