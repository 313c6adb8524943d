"""The loop on the Dask engine: a shifted batch drifts and a challenger is trained on the cluster with the new batch
held out (the batch on S3, read where it lies, and stored from there with the release's data); drift, expectations
and the champion's figures agree with the pandas engine's on the same rows; a batch that breaks the contract ends
`refused` with the pandas engine's quarantine report; batches over retrain's limits behind a URL are refused before
a row is loaded."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from distributed import get_task_stream

from modelkeel.bundle.reader import open_bundle
from modelkeel.cluster import loop as cluster_loop
from modelkeel.cluster.pipeline import run_on_cluster
from modelkeel.errors import DataError
from modelkeel.loop import run
from modelkeel.loop.ingest import ingest, validate_batches
from modelkeel.loop.monitor import monitor
from modelkeel.settings import PathSettings

from .conftest import dask_settings
from .modelled import CONTRACT, for_target, modelled_frame
from .projects import project, write

TIMED = (
    CONTRACT.replace(
        "    value: Series[float] = pa.Field()\n",
        "    value: Series[float] = pa.Field()\n    day: Series[pa.DateTime] = pa.Field()\n",
    )
    .replace(
        "x1: Series[float] = pa.Field(nullable=True)",
        'x1: Series[float] = pa.Field(nullable=True, metadata={"expect": {"le": 3.0}})',
    )
    .replace(
        'isin=["blue", "green", "red"], nullable=True)',
        'isin=["blue", "green", "red"], nullable=True, metadata={"expect": {"isin": ["blue", "green"]}})',
    )
)  # expectations (reported, never refused): x1 at most 3, colour blue or green
ROWS = 600  # per file; a day per 6 rows


def timed(rows: int, start: int, shift: float = 0.0) -> pd.DataFrame:
    """modelled_frame's rows with a day each (later rows, later days); x1 moved by `shift` (its labels follow)."""
    frame = modelled_frame(rows, start)
    if shift:
        moved = modelled_frame(rows, start)
        moved["x1"] = moved["x1"] + shift
        frame = moved.assign(label=np.where(moved["x1"] > 2.5, "high", moved["label"]))
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(start, start + rows) // 6, unit="D")
    return frame.assign(day=days.strftime("%Y-%m-%d"))


@pytest.fixture(scope="module")
def champion_project(tmp_path_factory, dask_cluster):
    """A project of three files and a champion trained on them on the cluster (time split on `day`)."""
    root = tmp_path_factory.mktemp("cluster_loop")
    for i in range(3):
        write(timed(ROWS, ROWS * i), root / "data" / f"part-{i}.parquet")
    with project(
        root,
        "cluster_loop_project",
        "data",
        contract=TIMED,
        target="label",
        numeric_features=["x1", "x2"],
        categorical_features=["colour"],
        split="time",
        split_column="day",
    ) as base:
        settings = dask_settings(for_target(base, "label"), n_workers=2, threads_per_worker=1, memory_limit="1GiB")
        verified = run_on_cluster(settings, dask_cluster)
        yield settings, open_bundle(verified.bundle.folder)


def loop_settings(settings, tmp_path, *batches: tuple[str, pd.DataFrame]):
    incoming = tmp_path / "incoming"
    for name, frame in batches:
        write(frame, incoming / name)
    return settings.model_copy(
        update={
            "paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist")),
            "retrain": settings.retrain.model_copy(update={"source": str(incoming / "*.parquet"), "trusted": None}),
        }
    )


def s3_batches(settings, s3_server, monkeypatch, where, *batches: tuple[str, pd.DataFrame]):
    """`settings` looping over `batches` written to a fresh bucket of the S3 server (retrain.source a URL), its
    credentials in the environment as a project's workflow sets them (so the LocalCluster the loop starts has
    them too), the loop's artifacts under `where`."""
    for key, value in s3_server.environment.items():
        monkeypatch.setenv(key, value)
    bucket, fs = s3_server.new_bucket(), s3_server.filesystem()
    for name, frame in batches:
        with fs.open(f"{bucket}/incoming/{name}", "wb") as handle:
            frame.to_parquet(handle, index=False) if name.endswith(".parquet") else frame.to_csv(handle, index=False)
    return settings.model_copy(
        update={
            "paths": PathSettings(artifacts=str(where / "artifacts"), dist=str(where / "dist")),
            "retrain": settings.retrain.model_copy(update={"source": f"s3://{bucket}/incoming/*", "trusted": None}),
        }
    )


def test_a_shifted_batch_drifts_and_a_challenger_is_trained_on_the_cluster_with_the_new_batch_held_out(
    champion_project, tmp_path, monkeypatch, s3_server
):
    """The batch lies on S3: the workers read it where it lies (no copy), named as the pandas engine names its copy,
    and a release of the challenger streams it from its URL into the data store."""
    from modelkeel.data.manifest import of_bundle, store_release_data
    from modelkeel.data.store import DataStore

    settings, champion = champion_project
    where = settings.root / f"loop-{tmp_path.name}"  # inside the project: a release keeps only the project's data
    s = s3_batches(settings, s3_server, monkeypatch, where, ("b1.parquet", timed(ROWS, 3 * ROWS, shift=3.0)))
    opened, close = [], cluster_loop.ClusterLoop.close

    def closing(self):
        opened.append(self._cluster is not None)
        close(self)

    monkeypatch.setattr(cluster_loop.ClusterLoop, "close", closing)
    loop = run.run_loop(s, champion)  # compute.engine dask: every data step on a LocalCluster the loop starts
    assert opened == [True], "the loop opened its cluster and closed it"
    assert "x1" in [d.feature for d in loop.drift if d.drifted], loop.drift
    assert any("drifted" in r for r in loop.reasons), loop.reasons
    assert loop.challenger_version == "0.2.0" and loop.challenger is not None, (loop.outcome, loop.reasons)
    lineage = loop.challenger.lineage
    assert lineage["compute"]["engine"] == "dask"
    assert [f["rows"] for f in lineage["data"]["files"]] == [ROWS] * 4
    # the time split cut the new batch on its own: its most recent quarter is held out and judges both models
    assert loop.scores is not None and 0.15 * ROWS <= loop.scores.rows <= 0.3 * ROWS, loop.scores
    assert loop.scores.champion is not None and loop.scores.challenger is not None
    assert loop.scores.challenger > loop.scores.champion  # the champion never saw x1 this high
    assert loop.outcome in ("needs-approval", "keep-champion"), loop.reasons  # no trusted set: a person decides
    written = json.loads((run.state_dir(s) / run.LOOP_FILE).read_text())
    assert written["challenger"]["version"] == "0.2.0" and written["outcome"] == loop.outcome

    url = s.retrain.source.replace("*", "b1.parquet")
    snapshot = run.state_dir(s) / "snapshot"
    assert not snapshot.exists(), "the batch was read where it lies, never copied"
    (batch,) = loop.batches
    assert batch.url == url and batch.path.startswith(f"loop-{tmp_path.name}/artifacts/")
    manifest = of_bundle(loop.challenger.folder, lineage)
    assert [(f.role, f.path, f.url) for f in manifest.files if f.role == "batch"] == [("batch", batch.path, url)]
    # its release streams the batch from its URL into the data store (there is no copy to upload)
    store = DataStore(str(tmp_path / "store"))
    store_release_data(s, loop.challenger.folder, lineage, store)
    assert {o.sha256 for o in store.objects()} == {f.sha256 for f in manifest.files} >= {batch.sha256}
    assert store.get(batch.sha256, tmp_path / "back.parquet").bytes == s3_server.filesystem().size(url)
    # named, hashed and counted as the pandas engine does it (which copies the batch into the snapshot folder)
    pandas_settings = s.model_copy(update={"compute": settings.compute.model_copy(update={"engine": "pandas"})})
    assert loop.batches == ingest(pandas_settings, champion, snapshot)


def test_drift_expectations_and_the_champions_figures_agree_with_the_pandas_engine(
    champion_project, tmp_path, dask_cluster, monkeypatch
):
    settings, champion = champion_project
    batch = timed(ROWS, 3 * ROWS, shift=1.0)
    batch.loc[batch.index[:40], "x2"] = 10.0  # the training data's x2 stays below 10: a few rows beyond it
    s = loop_settings(settings, tmp_path, ("b1.parquet", batch), ("b2.parquet", timed(ROWS, 4 * ROWS)))
    pandas_settings = s.model_copy(update={"compute": settings.compute.model_copy(update={"engine": "pandas"})})
    batches = ingest(pandas_settings, champion, tmp_path / "snapshot")
    frame, _ = validate_batches(pandas_settings, batches)
    expected = monitor(pandas_settings, champion, frame, tmp_path / "plots-pandas")

    steps = cluster_loop.ClusterLoop(s)
    steps._cluster = dask_cluster  # the session's cluster, not one of its own
    assert steps.ingest(s, champion, tmp_path / "snapshot", frozenset()) == batches
    new, quarantine = steps.validate_batches(s, batches)
    assert not quarantine and new.rows == len(frame) == 2 * ROWS
    found = steps.monitor(s, champion, new, tmp_path / "plots")
    # PSI and the chi-square tests come from the same counts: equal to float rounding; the KS tests too here,
    # where the sample holds every new row (SAMPLE_ROWS >= 1200)
    assert [d.feature for d in found.drift] == [d.feature for d in expected.drift]
    for got, want in zip([*found.drift, found.target], [*expected.drift, expected.target], strict=True):
        assert got.drifted == want.drifted and got.reasons == want.reasons, (got, want)
        assert got.psi == pytest.approx(want.psi, rel=1e-9, abs=1e-12)
        for name in ("ks_statistic", "ks_pvalue", "chi2_pvalue"):
            if getattr(want, name) is None:  # a category has no KS test
                assert getattr(got, name) is None, name
                continue
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9, abs=1e-12), name
    assert found.expectations == expected.expectations and found.expectations
    # the champion's figures from the cluster's tables: the same as on the rows
    assert found.champion_metric == pytest.approx(expected.champion_metric, rel=1e-9)
    assert [(e.scope, e.rows) for e in found.errors] == [(e.scope, e.rows) for e in expected.errors]
    for got, want in zip(found.errors, expected.errors, strict=True):
        assert got.on_new == pytest.approx(want.on_new, rel=1e-9) and got.at_release == want.at_release
    trend = steps.trend(s, champion, new, batches, found)
    assert [(b.batch, b.rows) for b in trend.by_batch] == [(b.path, ROWS) for b in batches]
    assert trend.by_batch[0].score < trend.by_batch[1].score  # the shifted batch costs the champion
    assert trend.on_new == pytest.approx(expected.champion_metric, rel=1e-9) and trend.rows == 2 * ROWS

    # a KS test on a sample of 300 of the 1200 new values: its distance within 0.2 of the one on every value
    monkeypatch.setattr(cluster_loop, "SAMPLE_ROWS", 300)
    sampled = steps.monitor(s, champion, new, tmp_path / "plots-sampled")
    for got, want in zip(sampled.drift, expected.drift, strict=True):
        assert got.psi == pytest.approx(want.psi, rel=1e-9, abs=1e-12)
        if want.ks_statistic is not None:
            assert abs(got.ks_statistic - want.ks_statistic) < 0.2


def test_a_batch_that_breaks_the_contract_is_refused_with_the_pandas_engines_quarantine_report(
    champion_project, tmp_path
):
    settings, champion = champion_project
    bad = timed(ROWS, 3 * ROWS)
    bad.loc[bad.index[[3, 7]], "colour"] = "purple"
    bad.loc[bad.index[5], "x2"] = 42.0
    s = loop_settings(settings, tmp_path, ("b1.parquet", timed(ROWS, 4 * ROWS)), ("b2.parquet", bad))
    loop = run.run_loop(s, champion)
    assert loop.outcome == "refused" and not loop.challenger_version
    pandas_settings = s.model_copy(update={"compute": settings.compute.model_copy(update={"engine": "pandas"})})
    _, expected = validate_batches(pandas_settings, ingest(pandas_settings, champion, tmp_path / "snapshot"))
    quarantine = json.loads((run.state_dir(s) / run.QUARANTINE_FILE).read_text())
    assert quarantine == json.loads(json.dumps(list(expected))) and quarantine[0]["source"].endswith("b2.parquet")
    assert {f["column"] for f in quarantine[0]["failures"]} == {"colour", "x2"}


@pytest.mark.parametrize(
    ("name", "limit", "complaint"),
    [
        (
            "b1.parquet",
            {"max_batch_rows": ROWS - 1},
            r"\{url\}: 600 rows, .*its Parquet footer says so; nothing was loaded",
        ),
        (
            "b1.csv",
            {"max_batch_rows": ROWS - 1},
            r"\{url\}: 600 rows, .*counted streaming on a worker; nothing was loaded",
        ),
        ("b1.csv", {"max_batch_bytes": 1000}, r"\{url\}: .* bytes\), more than the limit of .*\(1,000 bytes\)"),
    ],
)
def test_a_batch_behind_a_url_over_retrains_limits_is_refused_before_it_is_loaded(
    champion_project, dask_cluster, s3_server, monkeypatch, tmp_path, name, limit, complaint
):
    settings, champion = champion_project
    s = s3_batches(settings, s3_server, monkeypatch, tmp_path, (name, timed(ROWS, 3 * ROWS)))
    s = s.model_copy(update={"retrain": s.retrain.model_copy(update=limit)})
    url = s.retrain.source.replace("*", name)
    with (
        get_task_stream(dask_cluster.client) as ran,
        pytest.raises(DataError, match=complaint.replace(r"\{url\}", re.escape(url))),
    ):
        cluster_loop.ingest_batches(
            s, dask_cluster, champion, tmp_path / "snapshot", storage_options=s3_server.storage_options
        )
    tasks = {str(task["key"]).split("-")[0].strip("('") for task in ran.data}
    assert tasks == (set() if "max_batch_bytes" in limit else {"rows_over"}), "nothing but the row count ran"
    assert not (tmp_path / "snapshot").exists()
    within = s.model_copy(
        update={"retrain": s.retrain.model_copy(update={"max_batch_rows": ROWS, "max_batch_bytes": 10**6})}
    )
    batches, _ = cluster_loop.ingest_batches(
        within, dask_cluster, champion, tmp_path / "snapshot", storage_options=s3_server.storage_options
    )
    assert [(b.url, b.rows, b.new) for b in batches] == [(url, ROWS, True)]
