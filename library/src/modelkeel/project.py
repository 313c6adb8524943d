"""The user's project: what its owner edits, found through `package` in params.yaml.

    <package>/schemas/<data.schema>.py   the pandera contract: `class Schema(pa.DataFrameModel)`
    <package>/model.py                   `build_pipeline(settings)`: the preprocessing and the estimator

The library imports these two and nothing else of the project. When the project is not installed in
the running environment (a fresh checkout, a test's temporary project) its `src/` folder, beside
params.yaml, is put on the import path first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import SettingsError

if TYPE_CHECKING:
    from .settings import Settings

MODEL_MODULE = "model"
SCHEMAS_PACKAGE = "schemas"


def _on_path(settings: Settings) -> None:
    """Make `settings.package` importable: from the environment, else from `<root>/src`."""
    package = settings.package
    if package in sys.modules or importlib.util.find_spec(package) is not None:
        return
    source = settings.root / "src"
    if (source / package / "__init__.py").is_file():
        sys.path.insert(0, str(source))
        importlib.invalidate_caches()
        return
    raise SettingsError(
        f"package {package!r} (params.yaml) cannot be imported and there is no src/{package}/ beside params.yaml: "
        "install the project (make install) or fix `package`."
    )


def import_module(settings: Settings, name: str) -> ModuleType:
    """`<package>.<name>`; ModuleNotFoundError when that module (not something it imports) is missing."""
    _on_path(settings)
    return importlib.import_module(f"{settings.package}.{name}")


def schemas_dir(settings: Settings) -> Path:
    """The folder of the project's contract modules (where `infer-schema` writes)."""
    _on_path(settings)
    spec = importlib.util.find_spec(f"{settings.package}.{SCHEMAS_PACKAGE}")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return settings.root / "src" / settings.package / SCHEMAS_PACKAGE


def build_pipeline(settings: Settings):
    """The unfitted scikit-learn Pipeline of the project's `model.py` (`build_pipeline(settings)`).

    It must end with the step `model` (the estimator); every step before it is preprocessing, which
    the export converts with the estimator into one ONNX graph over the raw columns.
    """
    from sklearn.pipeline import Pipeline

    module_name = f"{settings.package}.{MODEL_MODULE}"
    try:
        module = import_module(settings, MODEL_MODULE)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise SettingsError(
            f"{module_name}: no such module. The project's model builder lives in src/{settings.package}/model.py "
            "and defines build_pipeline(settings)."
        ) from None
    builder = getattr(module, "build_pipeline", None)
    if not callable(builder):
        raise SettingsError(f"{module_name} must define build_pipeline(settings) returning a scikit-learn Pipeline.")
    pipeline = builder(settings)
    if not isinstance(pipeline, Pipeline) or pipeline.steps[-1][0] != "model" or len(pipeline.steps) < 2:
        raise SettingsError(
            f"{module_name}.build_pipeline must return a scikit-learn Pipeline of preprocessing steps (the raw "
            f"columns in, numbers out) then a last step named 'model', got {pipeline!r:.200}."
        )
    return pipeline
