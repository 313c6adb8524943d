"""Shared fixtures: the project's own settings and data, and a model trained for them.

Model-quality and parity tests check the model in artifacts/ when it was trained on
the current params and data; otherwise they train one (same code, same seed) in a
temporary folder, so `pytest` never tests a stale model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import StageOrderError
from {{ cookiecutter.package_name }}.settings import (
    PathSettings,
    Settings,
    load_settings,
)
from {{ cookiecutter.package_name }}.stages import evaluate, train
from {{ cookiecutter.package_name }}.stages.train import Trained
from {{ cookiecutter.package_name }}.stages.validate import validate

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def released_as(bundle_dir: Path, version: str, parent: Path) -> Path:
    """A copy of the bundle as if built as `version`: its lineage names that version and SHA256SUMS covers it."""
    import json
    import shutil

    from {{ cookiecutter.package_name }}.bundle.checksums import render

    copy = parent / f"{bundle_dir.name.rsplit('-', 1)[0]}-{version}"
    shutil.copytree(bundle_dir, copy)
    lineage = json.loads((copy / "lineage.json").read_text())
    lineage["version"] = version
    (copy / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n")
    (copy / "SHA256SUMS").write_text(render(copy))
    return copy


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(PROJECT_ROOT / "params.yaml")


@pytest.fixture(scope="session")
def validated(settings):
    return validate(settings)


@pytest.fixture(scope="session")
def trained(settings, validated, tmp_path_factory) -> tuple[Settings, Trained]:
    """(settings, trained model) for the current params and data: from artifacts/ if fresh, else trained now."""
    parts = train.split(settings, validated.frame)
    try:
        model, _ = train.load(settings, validated.snapshot)
        return settings, Trained(validated, model, parts)
    except StageOrderError:
        scratch = settings.model_copy(
            update={"paths": PathSettings(artifacts=str(tmp_path_factory.mktemp("artifacts")))}
        )
        model = train.fit(scratch, parts)
        train.save(scratch, model, parts, validated.snapshot)
        return scratch, Trained(validated, model, parts)


@pytest.fixture(scope="session")
def metrics(trained) -> dict:
    settings, model = trained
    return evaluate.evaluate(settings, model, model.validated.snapshot["fingerprint"]).metrics


@pytest.fixture(scope="session")
def bundle_dir(settings, tmp_path_factory) -> Path:
    """A bundle made by the whole pipeline into a temporary folder (artifacts/ and dist/ are left alone)."""
    from {{ cookiecutter.package_name }}.stages.pipeline import run_pipeline

    scratch = tmp_path_factory.mktemp("pipeline")
    isolated = settings.model_copy(
        update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
    )
    return run_pipeline(isolated).bundle.folder
