"""pytest11 entry point of modelkeel: markers and the project fixtures (see modelkeel.testing).

Importing this module is cheap and imports no training library: the fixtures import what they need
when a test asks for them, so the plugin is harmless in any pytest run that does not use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..settings import Settings
    from ..stages.train import Trained
    from ..stages.validate import ValidatedData

MARKERS = {
    "data": "data tests: the contract accepts the project's data and refuses rows that break it",
    "quality": "model-quality tests: the gates of params.yaml, overall and on every slice, and the baseline",
    "parity": "ONNX parity tests: the exported model predicts like the trained one",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("modelkeel_params", "the project's params file, relative to the rootdir", default="params.yaml")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.fixture(scope="session")
def project_settings(pytestconfig: pytest.Config) -> Settings:
    """The project's params.yaml (the `modelkeel_params` ini option, default params.yaml at the rootdir)."""
    from ..settings import load_settings

    return load_settings(Path(pytestconfig.rootpath) / str(pytestconfig.getini("modelkeel_params")))


@pytest.fixture(scope="session")
def project_data(project_settings: Settings) -> ValidatedData:
    """data.path read and validated against the contract (the test fails with the contract's report if not)."""
    from ..stages.validate import validate

    return validate(project_settings)


@pytest.fixture(scope="session")
def project_model(project_settings: Settings, project_data: ValidatedData, tmp_path_factory) -> Trained:
    """The model for the current params and data: artifacts/'s when it was trained on exactly these, else
    one trained now (same code, same seed) in a temporary folder, so a test never judges a stale model."""
    from ..errors import StageOrderError
    from ..settings import PathSettings
    from ..stages import train

    parts = train.split(project_settings, project_data.frame)
    try:
        model, _ = train.load(project_settings, project_data.snapshot)
        return train.Trained(project_data, model, parts)
    except StageOrderError:
        scratch = project_settings.model_copy(
            update={"paths": PathSettings(artifacts=str(tmp_path_factory.mktemp("artifacts")))}
        )
        model, features = train.fit_with_features(scratch, parts)
        return train.Trained(project_data, model, parts, features)


@pytest.fixture(scope="session")
def project_metrics(project_settings: Settings, project_model: Trained) -> dict:
    """metrics.json's content for project_model: test metrics, slices, the trivial baseline and the gates."""
    from ..stages import evaluate

    return evaluate.evaluate(project_settings, project_model, project_model.validated.snapshot["fingerprint"]).metrics
