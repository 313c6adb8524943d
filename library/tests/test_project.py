"""project.py: the library finds the user's package (params.yaml's `package`), its contract and its model builder."""

from __future__ import annotations

import shutil
import sys

import pytest
from sklearn.pipeline import Pipeline

from modelkeel.data.contract import load_schema_model
from modelkeel.errors import SettingsError
from modelkeel.project import build_pipeline, schemas_dir

from .conftest import PROJECT_ROOT


@pytest.fixture()
def project(tmp_path, settings, monkeypatch):
    """A copy of the fixed project under another package name, found from its src/ (it is not installed)."""
    root = tmp_path / "copy"
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / "copied_project")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the src/ folder the library adds goes away after the test
    yield root, settings.model_copy(update={"root": root, "package": "copied_project"})
    for name in [m for m in sys.modules if m == "copied_project" or m.startswith("copied_project.")]:
        del sys.modules[name]


def test_the_package_is_found_in_src_beside_params_when_it_is_not_installed(project):
    root, settings = project
    assert schemas_dir(settings) == root / "src" / "copied_project" / "schemas"
    assert load_schema_model(settings).__module__ == "copied_project.schemas.penguins"
    pipeline = build_pipeline(settings)
    assert isinstance(pipeline, Pipeline) and pipeline.steps[-1][0] == "model"


def test_a_package_that_is_neither_installed_nor_in_src_is_a_settings_error(settings, tmp_path):
    lost = settings.model_copy(update={"root": tmp_path, "package": "no_such_project_anywhere"})
    with pytest.raises(SettingsError, match=r"no_such_project_anywhere.*cannot be imported.*make install"):
        load_schema_model(lost)


def test_a_missing_contract_names_the_contracts_there_are(project):
    _root, settings = project
    other = settings.model_copy(update={"data": settings.data.model_copy(update={"schema_name": "sales"})})
    with pytest.raises(SettingsError, match=r"no module schemas/sales\.py .*available: penguins.*infer-schema"):
        load_schema_model(other)


def test_a_model_module_without_build_pipeline_is_refused_with_what_it_must_define(project):
    root, settings = project
    (root / "src" / "copied_project" / "model.py").write_text("def build(settings):\n    return None\n")
    with pytest.raises(SettingsError, match=r"copied_project\.model must define build_pipeline\(settings\)"):
        build_pipeline(settings)


def test_a_builder_that_returns_no_pipeline_ending_in_model_is_refused(project):
    root, settings = project
    (root / "src" / "copied_project" / "model.py").write_text(
        "from sklearn.pipeline import Pipeline\nfrom sklearn.linear_model import Ridge\n\n"
        "def build_pipeline(settings):\n    return Pipeline([('estimator', Ridge())])\n"
    )
    with pytest.raises(SettingsError, match=r"a last step named 'model'"):
        build_pipeline(settings)
    sys.modules.pop("copied_project.model")  # the next build imports the module written below
    (root / "src" / "copied_project" / "model.py").write_text(  # the estimator alone: no preprocessing
        "from sklearn.pipeline import Pipeline\nfrom sklearn.linear_model import Ridge\n\n"
        "def build_pipeline(settings):\n    return Pipeline([('model', Ridge())])\n"
    )
    with pytest.raises(SettingsError, match=r"preprocessing steps.*got Pipeline\(steps=\[\('model', Ridge"):
        build_pipeline(settings)


def test_a_missing_model_module_says_where_it_belongs(project):
    root, settings = project
    (root / "src" / "copied_project" / "model.py").unlink()
    with pytest.raises(SettingsError, match=r"lives in src/copied_project/model\.py"):
        build_pipeline(settings)


def test_an_import_error_inside_the_users_module_is_not_hidden(project):
    root, settings = project
    (root / "src" / "copied_project" / "model.py").write_text("import a_module_nobody_installed\n")
    with pytest.raises(ModuleNotFoundError, match="a_module_nobody_installed"):
        build_pipeline(settings)
