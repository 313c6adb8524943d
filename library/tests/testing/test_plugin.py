"""The pytest plugin, as a generated project uses it: its markers and fixtures in a project's own test run."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ..conftest import PROJECT_ROOT

pytest_plugins = ["pytester"]

PROJECT_TESTS = """
import pytest
from modelkeel.testing import assert_beats_baseline, assert_onnx_parity, assert_refused, broken_rows


@pytest.mark.data
def test_data(project_settings, project_data):
    for broken in broken_rows(project_settings, project_data.frame):
        assert_refused(project_settings, broken)


@pytest.mark.quality
def test_quality(project_metrics):
    assert_beats_baseline(project_metrics)
    assert project_metrics["rows"]["test"] > 0


@pytest.mark.parity
def test_parity(project_settings, project_model):
    assert_onnx_parity(project_settings, project_model)
"""


@pytest.fixture()
def project(pytester):
    for item in ("params.yaml", "pyproject.toml", "data", "src"):
        source = PROJECT_ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, pytester.path / item)
    pytester.makepyfile(test_project=PROJECT_TESTS)
    return pytester


def test_a_projects_tests_get_the_fixtures_and_markers_from_the_installed_plugin(project):
    result = project.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=3)
    assert not (project.path / "artifacts").exists(), "a model trained for the tests goes to a temporary folder"


def test_the_markers_select_the_data_tests_alone(project):
    result = project.runpytest_subprocess("-m", "data")
    result.assert_outcomes(passed=1, deselected=2)


def test_a_missing_params_file_fails_the_fixture_with_the_settings_message(pytester):
    pytester.makepyfile(test_nothing="def test_it(project_settings):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*params file not found*"])


# the generated project's own tests (the template's tests/test_data.py and tests/test_model.py), and what the
# Dask engine's fixtures hand them
TEMPLATE_TESTS = """
import pytest
from modelkeel.testing import (
    assert_beats_baseline,
    assert_every_slice_passes,
    assert_onnx_parity,
    assert_primary_metric_passes,
    assert_refused,
    broken_rows,
)


@pytest.mark.data
def test_the_contract_accepts_the_training_data(project_settings, project_data):
    assert project_data.snapshot["rows"] == len(project_data.frame) > 0
    assert set(project_settings.data.features) <= set(project_data.frame.columns)


@pytest.mark.data
def test_the_contract_refuses_rows_that_break_it(project_settings, project_data):
    for broken in broken_rows(project_settings, project_data.frame):
        assert_refused(project_settings, broken)


@pytest.mark.quality
def test_the_model_reaches_its_quality_threshold(project_metrics):
    assert_primary_metric_passes(project_metrics)


@pytest.mark.quality
def test_every_slice_reaches_its_threshold(project_metrics):
    assert_every_slice_passes(project_metrics)


@pytest.mark.quality
def test_the_model_beats_the_trivial_baseline(project_metrics):
    assert_beats_baseline(project_metrics)


@pytest.mark.parity
def test_the_onnx_export_predicts_like_the_trained_model(project_settings, project_model):
    assert_onnx_parity(project_settings, project_model)


def test_the_fixtures_ran_on_the_cluster(project_data, project_model, project_metrics):
    import dask.dataframe as dd
    import pandas as pd

    assert isinstance(project_data.frame, dd.DataFrame)  # every row, never gathered
    assert project_metrics["compute"]["engine"] == "dask"
    assert project_metrics["rows"]["train"] + project_metrics["rows"]["test"] == project_data.snapshot["rows"]
    assert project_model.validated is project_data
    assert len(project_model.parts.X_test) == project_metrics["compute"]["sampled"]["rows"]
    sample = project_data.sample
    assert isinstance(sample, pd.DataFrame) and len(sample) == 50  # modelkeel_sample_rows
    assert sample.index.is_unique and sample.index.max() < project_data.snapshot["rows"]
"""


@pytest.fixture()
def dask_project(project):
    """The fixed project switched to lightgbm on the Dask engine (a LocalCluster of one worker), its data a folder
    of two files (two partitions), running the template's own tests, with project_data.sample bounded at 50 rows."""
    raw = project.path / "data" / "raw"
    lines = (raw / "penguins.csv").read_text().splitlines(keepends=True)
    (raw / "penguins.csv").unlink()
    (raw / "part-1.csv").write_text("".join(lines[:101]))
    (raw / "part-2.csv").write_text("".join(lines[:1] + lines[101:]))
    params = yaml.safe_load((project.path / "params.yaml").read_text())
    params["data"]["path"] = "data/raw"
    params["model"] = {"type": "lightgbm", "n_estimators": 50}
    params["compute"] = {"engine": "dask", "dask": {"n_workers": 1, "threads_per_worker": 1, "memory_limit": "1GiB"}}
    (project.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project.path / "test_project.py").unlink()
    project.makepyfile(test_template=TEMPLATE_TESTS)
    project.makeini("[pytest]\nmodelkeel_sample_rows = 50\n")
    return project


def test_on_the_dask_engine_the_template_tests_hold_on_the_cluster_and_the_report_names_the_samples(dask_project):
    result = dask_project.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    rows = 224  # the fixed project's data
    result.stdout.fnmatch_lines(
        [
            "*modelkeel: compute.engine dask*",
            f"project_data: {rows} rows in 2 file(s), 2 partition(s), validated on the cluster; *every row*",
            "project_model: trained now on the cluster*",
            "project_metrics: over all * test rows, by reductions on the cluster",
            "project_model.parts (the parity test's rows): every test row (at most 20,000, seed 42)",
            f"project_data.sample: a seeded sample of 50 of {rows} rows (seed 42; at most 50*",
        ]
    )
    assert not (dask_project.path / "artifacts").exists(), "the model trained for the tests is written nowhere"


def test_a_model_in_artifacts_is_used_only_by_the_engine_that_trained_it(tmp_path):
    """The engines split the rows by different rules: a model one engine trained, scored on the other's test
    rows, would be scored on rows it learned. So the fixtures take artifacts/' model only from their own engine."""
    import json

    from modelkeel.settings import ComputeSettings, PathSettings, load_settings
    from modelkeel.stages import train
    from modelkeel.stages.validate import validate
    from modelkeel.testing.cluster import trained_by_dask
    from modelkeel.testing.plugin import _trained_by_pandas

    settings = load_settings(PROJECT_ROOT / "params.yaml")
    settings = settings.model_copy(update={"paths": PathSettings(artifacts=str(tmp_path / "artifacts"))})
    validated = validate(settings)
    parts = train.split(settings, validated.frame)
    train.save(settings, train.fit(settings, parts), parts, validated.snapshot)
    on_dask = settings.model_copy(update={"compute": ComputeSettings(engine="dask")})
    assert _trained_by_pandas(settings, validated.snapshot) is not None
    assert trained_by_dask(on_dask, validated.snapshot) is None
    record_path = settings.artifacts_dir / "train.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "compute": {"engine": "dask", "preprocess_rows": 10}}))
    assert _trained_by_pandas(settings, validated.snapshot) is None
    found = trained_by_dask(on_dask, validated.snapshot)
    assert found is not None and found[1]["compute"]["preprocess_rows"] == 10
