"""The pipeline on the Dask engine: `run_pipeline` with compute.engine dask gives a bundle `verify` accepts, its ONNX
model through the parity gate, lineage naming the engine and the partitions; a scikit-learn model is refused before
a cluster starts, and a partition that fails the contract leaves no bundle."""

from __future__ import annotations

import json
import shutil

import pytest

from modelkeel.bundle import layout
from modelkeel.bundle.reader import open_bundle
from modelkeel.bundle.verify import verify
from modelkeel.cluster import pipeline as cluster_pipeline
from modelkeel.cluster import validate as validate_module
from modelkeel.cluster.pipeline import run_on_cluster
from modelkeel.errors import DataValidationError, SettingsError
from modelkeel.loop.drift import FeatureDrift
from modelkeel.loop.outcome import Outcome
from modelkeel.loop.report import LoopResult, report_markdown
from modelkeel.settings import LightGBMParams, RandomForestParams, load_settings
from modelkeel.stages.pipeline import run_pipeline

from ..conftest import PROJECT_ROOT
from .conftest import dask_settings
from .modelled import for_target, modelled_frame, modelled_project
from .projects import write


def read(folder, name: str) -> dict:
    return json.loads((folder / name).read_text())


@pytest.fixture
def penguins(tmp_path):
    """A copy of the fixed penguins project, switched to lightgbm on the Dask engine (a LocalCluster of two)."""
    root = tmp_path / "penguins"
    shutil.copytree(PROJECT_ROOT, root, ignore=shutil.ignore_patterns("artifacts", "dist", "__pycache__"))
    settings = load_settings(root / "params.yaml")
    settings = settings.model_copy(update={"model": LightGBMParams(type="lightgbm", n_estimators=50)})
    return dask_settings(settings, n_workers=2, threads_per_worker=1, memory_limit="1GiB")


def test_the_penguins_pipeline_on_the_dask_engine_gives_a_verified_bundle(penguins):
    verified = run_pipeline(penguins)  # dispatches to the Dask engine; starts and closes its own LocalCluster
    folder = verified.bundle.folder
    assert folder.parent == penguins.dist_dir and verified.bundle.tarball.is_file()
    verify(folder)  # what every load path checks, run again on the published folder
    parity = read(folder, layout.PARITY)
    assert parity["passed"] and parity["atol"] == penguins.parity.atol and parity["rtol"] == penguins.parity.rtol
    lineage = read(folder, layout.LINEAGE)
    memory = lineage["compute"].pop("data_in_memory")  # a few hundred rows beside 2 GiB of workers: kept
    assert memory["kept_in_memory"] and memory["workers_memory_limit_bytes"] == 2 * 1024**3
    assert 0 < memory["estimated_bytes"] <= memory["share"] * memory["workers_memory_limit_bytes"]
    assert lineage["compute"] == {
        "engine": "dask",
        "cluster": "local",
        "address": "local",
        "workers": 2,
        "threads": 2,
        "partitions": 1,
    }
    assert "compute" not in lineage["params"]  # where it ran does not change the model's params hash
    metrics = read(folder, layout.METRICS)
    assert metrics["model"] == "lightgbm" and metrics["gates"]["passed"]
    assert metrics["compute"]["engine"] == "dask"
    assert metrics["rows"]["train"] + metrics["rows"]["test"] == lineage["data"]["rows"]
    example = read(folder, layout.INPUT_EXAMPLE)
    assert len(example["rows"]) == 20 and example["rows"][0]["island"] in {"Biscoe", "Dream", "Torgersen"}


@pytest.mark.parametrize(("target", "model", "share"), [("flag", "xgboost", 0.25), ("value", "lightgbm", 0.0)])
def test_several_files_give_a_bundle_whose_lineage_names_the_partitions(
    tmp_path, dask_cluster, target, model, share, monkeypatch
):
    monkeypatch.setattr(cluster_pipeline, "BUNDLE_SAMPLE_ROWS", 1000)  # of 1500 rows: the reference is a sample
    monkeypatch.setattr(validate_module, "MEMORY_SHARE", share)  # 0: no data fits, every pass streams the files
    with modelled_project(tmp_path, f"cluster_pipeline_{target}_project", files=3, rows=500) as settings:
        settings = for_target(settings, target, model)
        folder = run_on_cluster(settings, dask_cluster).bundle.folder
        verify(folder)
        lineage = read(folder, layout.LINEAGE)
        assert lineage["compute"]["partitions"] == 3 and lineage["compute"]["engine"] == "dask"
        assert lineage["compute"]["data_in_memory"]["kept_in_memory"] is (share > 0)
        assert [f["rows"] for f in lineage["data"]["files"]] == [500, 500, 500]
        assert read(folder, layout.PARITY)["passed"]
        reference = read(folder, layout.REFERENCE)
        assert reference["rows"] == 1000  # the statistics' rows: the sample's (what the drift tests count)
        assert reference["sampled"] == {
            "rows": 1000,
            "of": 1500,
            "sample_size": 1000,
            "seed": settings.seed,
            "method": "seeded random sample of the validated data (Dask engine)",
        }
        assert read(folder, layout.SIGNATURE)["task"] == settings.task
        # the loop's drift report says what the reference was computed on
        result = LoopResult(champion="0.1.0", outcome=Outcome.NO_RETRAIN, drift=(DRIFT,),
                            reference_sampled=open_bundle(folder).reference["sampled"])  # fmt: skip
        report = report_markdown(result, "r2")
        assert f"a seeded sample (seed {settings.seed}) of 1,000 of its 1,500 rows" in report
        assert result.as_json()["reference_sampled"] == reference["sampled"]


DRIFT = FeatureDrift("x1", "numeric", psi=0.01, ks_statistic=0.02, ks_pvalue=0.9, drifted=False, reasons=())


def test_a_reference_of_every_row_is_not_called_a_sample_in_the_report():
    every = {"rows": 1500, "of": 1500, "sample_size": 20_000, "seed": 0, "method": "seeded random sample"}
    for sampled in (every, None):  # a bundle of the pandas engine (or older) has no `sampled`
        report = report_markdown(LoopResult(champion="0.1.0", outcome=Outcome.NO_RETRAIN, drift=(DRIFT,),
                                            reference_sampled=sampled), "r2")  # fmt: skip
        assert "seeded sample" not in report and "| x1 | numeric |" in report


def test_a_scikit_learn_model_is_refused_before_a_cluster_starts(penguins, monkeypatch):
    def no_cluster(settings):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(cluster_pipeline, "open_cluster", no_cluster)
    forest = penguins.model_copy(update={"model": RandomForestParams(type="random_forest")})
    with pytest.raises(SettingsError, match="lightgbm or xgboost"):
        run_pipeline(forest)
    assert not penguins.dist_dir.exists() and not penguins.artifacts_dir.exists()


def test_a_partition_that_fails_the_contract_leaves_no_bundle(tmp_path, dask_cluster):
    with modelled_project(tmp_path, "cluster_pipeline_bad_project", files=2, rows=300) as settings:
        bad = modelled_frame(300, 900)
        bad.loc[bad.index[5], "x2"] = 50.0  # the contract's le=10
        write(bad, settings.root / "data" / "part-9.parquet")
        with pytest.raises(DataValidationError, match=r"part-9\.parquet") as error:
            run_on_cluster(settings, dask_cluster)
        assert error.value.report["failures"][0]["column"] == "x2"
        assert not settings.dist_dir.exists() or not any(settings.dist_dir.iterdir())
        assert not (settings.artifacts_dir / layout.MODEL).exists()
