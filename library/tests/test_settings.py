from pathlib import Path

import pytest

from modelkeel.errors import SettingsError
from modelkeel.settings import load_settings

from .conftest import PROJECT_ROOT


def write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def shipped(task: str = "classification") -> str:
    from .conftest import PARAMS

    return (PROJECT_ROOT / PARAMS[task]).read_text()


def test_shipped_params_load(settings):
    assert settings.data.features
    assert settings.quality.primary_metric
    assert len(settings.params_hash()) == 64


def test_unknown_key_is_named(tmp_path):
    path = write_params(tmp_path, shipped().replace("seed: 42", "seed: 42\nsede: 1"))
    with pytest.raises(SettingsError, match=r"sede: unknown key"):
        load_settings(path)


def test_unknown_model_hyperparameter_is_named(tmp_path):
    path = write_params(tmp_path, shipped().replace("model:\n", "model:\n  n_estimator: 3\n"))
    with pytest.raises(SettingsError, match=r"model\.n_estimator: unknown key"):
        load_settings(path)


def test_wrong_type_is_named(tmp_path):
    path = write_params(tmp_path, shipped().replace("seed: 42", "seed: forty-two"))
    with pytest.raises(SettingsError, match=r"seed: .*integer"):
        load_settings(path)


def test_missing_key_is_named(tmp_path):
    path = write_params(tmp_path, shipped().replace("  test_size: 0.25", ""))
    with pytest.raises(SettingsError, match=r"data\.test_size: missing"):
        load_settings(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="params file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_metric_must_fit_task(tmp_path, settings):
    wrong = "rmse" if settings.task == "classification" else "accuracy"
    text = shipped(settings.task).replace(
        f"primary_metric: {settings.quality.primary_metric}", f"primary_metric: {wrong}"
    )
    with pytest.raises(SettingsError, match="does not fit task"):
        load_settings(write_params(tmp_path, text))


def test_params_hash_changes_with_any_param(tmp_path, settings):
    changed = load_settings(write_params(tmp_path, shipped().replace("seed: 42", "seed: 43")))
    assert changed.params_hash() != settings.params_hash()
