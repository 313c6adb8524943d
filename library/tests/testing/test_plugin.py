"""The pytest plugin, as a generated project uses it: its markers and fixtures in a project's own test run."""

from __future__ import annotations

import shutil

import pytest

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
