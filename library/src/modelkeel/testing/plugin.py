"""pytest11 entry point of modelkeel: markers and the project fixtures (see modelkeel.testing).

Importing this module is cheap and imports no training library: the fixtures import what they need
when a test asks for them, so the plugin is harmless in any pytest run that does not use it.

On `compute.engine: dask` the fixtures run on the cluster compute.dask names (testing/cluster.py): opened once
for the session when a fixture first needs it, and closed after; the test report's `modelkeel` section says
what ran there and which fixtures hand over a sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..cluster.session import Cluster
    from ..settings import Settings
    from ..stages.train import Trained
    from ..stages.validate import ValidatedData
    from .cluster import ClusterModel, ClusterProjectData

REPORT = pytest.StashKey[list[str]]()  # what the Dask engine's fixtures did, for the test report

MARKERS = {
    "data": "data tests: the contract accepts the project's data and refuses rows that break it",
    "quality": "model-quality tests: the gates of params.yaml, overall and on every slice, and the baseline",
    "parity": "ONNX parity tests: the exported model predicts like the trained one",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("modelkeel_params", "the project's params file, relative to the rootdir", default="params.yaml")
    parser.addini(
        "modelkeel_sample_rows",
        "compute.engine dask: rows of project_data.sample at most (a seeded sample of the validated data)",
        default="20000",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[REPORT] = []


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The Dask engine's fixtures say what ran on the cluster and what a test was handed a sample of."""
    lines = config.stash.get(REPORT, [])
    if lines:
        terminalreporter.section("modelkeel: compute.engine dask")
        for line in lines:
            terminalreporter.write_line(line)


def _on_dask(settings: Settings) -> bool:
    return settings.compute.engine == "dask"


@pytest.fixture(scope="session")
def project_settings(pytestconfig: pytest.Config) -> Settings:
    """The project's params.yaml (the `modelkeel_params` ini option, default params.yaml at the rootdir)."""
    from ..settings import load_settings

    return load_settings(Path(pytestconfig.rootpath) / str(pytestconfig.getini("modelkeel_params")))


@pytest.fixture(scope="session")
def modelkeel_cluster(project_settings: Settings) -> Iterator[Cluster]:
    """compute.engine dask: the cluster compute.dask names (a LocalCluster when its address is null), opened for
    the session's fixtures and closed after."""
    from ..cluster.session import open_cluster

    with open_cluster(project_settings) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def project_data(project_settings: Settings, request: pytest.FixtureRequest) -> ValidatedData | ClusterProjectData:
    """data.path read and validated against the contract (the test fails with the contract's report if not).

    On compute.engine dask: validated on the cluster, and `frame` is every row as a lazy Dask DataFrame (see
    modelkeel.testing.cluster); `sample` is a seeded pandas sample of at most `modelkeel_sample_rows` rows."""
    if _on_dask(project_settings):
        from .cluster import validated

        cluster = request.getfixturevalue("modelkeel_cluster")
        rows = int(str(request.config.getini("modelkeel_sample_rows")))
        return validated(project_settings, cluster, rows, request.config.stash[REPORT])
    from ..stages.validate import validate

    return validate(project_settings)


@pytest.fixture(scope="session")
def _modelkeel_cluster_model(project_settings: Settings, project_data: ClusterProjectData, request) -> ClusterModel:
    """compute.engine dask: the model and its metrics, computed once for project_model and project_metrics."""
    from .cluster import model_and_metrics

    return model_and_metrics(project_settings, request.getfixturevalue("modelkeel_cluster"), project_data)


@pytest.fixture(scope="session")
def project_model(project_settings: Settings, project_data, tmp_path_factory, request) -> Trained:
    """The model for the current params and data: artifacts/'s when it was trained on exactly these (by this
    engine), else one trained now (same code, same seed) in a temporary folder, so a test never judges a stale
    model. On compute.engine dask: trained on the cluster, and `parts` is a seeded sample of the test split."""
    from ..settings import PathSettings
    from ..stages import train

    if _on_dask(project_settings):
        found: ClusterModel = request.getfixturevalue("_modelkeel_cluster_model")
        return train.Trained(project_data, found.trained.model, found.evaluation.sample)
    parts = train.split(project_settings, project_data.frame)
    loaded = _trained_by_pandas(project_settings, project_data.snapshot)
    if loaded is not None:
        return train.Trained(project_data, loaded, parts)
    scratch = project_settings.model_copy(
        update={"paths": PathSettings(artifacts=str(tmp_path_factory.mktemp("artifacts")))}
    )
    model, features = train.fit_with_features(scratch, parts)
    return train.Trained(project_data, model, parts, features)


def _trained_by_pandas(settings: Settings, snapshot: dict):
    """artifacts/' model when the pandas engine trained it on exactly these params, data and code; else None (a
    model the Dask engine trained was split by another rule: the pandas engine's test rows may be its training
    rows)."""
    from ..errors import StageOrderError
    from ..stages import train

    try:
        model, record = train.load(settings, snapshot)
    except StageOrderError:
        return None
    return model if (record.get("compute") or {}).get("engine", "pandas") == "pandas" else None


@pytest.fixture(scope="session")
def project_metrics(project_settings: Settings, project_model: Trained, request: pytest.FixtureRequest) -> dict:
    """metrics.json's content for project_model: test metrics, slices, the trivial baseline and the gates
    (on compute.engine dask: over the whole test split, by reductions on the cluster)."""
    if _on_dask(project_settings):
        found: ClusterModel = request.getfixturevalue("_modelkeel_cluster_model")
        return found.evaluation.metrics
    from ..stages import evaluate

    return evaluate.evaluate(project_settings, project_model, project_model.validated.snapshot["fingerprint"]).metrics
