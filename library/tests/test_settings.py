import re
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


def test_another_model_key_is_kept_for_the_estimator_to_check(tmp_path):
    """Settings load without scikit-learn: `build_estimator` refuses a key the estimator does not take
    (tests/stages/test_estimators.py); the seed keys and values YAML cannot pass as they are are refused here."""

    def with_model_key(line: str) -> str:
        return re.sub(r"^(model:.*\n)", rf"\1  {line}\n", shipped(), count=1, flags=re.M)

    path = write_params(tmp_path, with_model_key("n_estimator: 3"))
    assert load_settings(path).model.estimator_keys == {"n_estimator": 3}
    path = write_params(tmp_path, with_model_key("random_state: 3"))
    with pytest.raises(SettingsError, match=r"model\.random_state: the estimator is seeded from `seed`"):
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


def test_drift_exempt_names_features_and_old_params_load_with_the_new_drift_keys_defaulted(tmp_path):
    """An existing params.yaml without ks_distance or drift_exempt still loads; an exempt column that is no feature
    (a typo) is named."""
    assert "  ks_distance: 0.1 " in shipped() and "  drift_exempt: [] " in shipped()
    old = shipped().replace("  ks_distance: 0.1", "").replace("  drift_exempt: []", "")
    retrain = load_settings(write_params(tmp_path, old)).retrain
    assert (retrain.ks_distance, retrain.drift_exempt) == (0.1, ())
    exempt = shipped().replace("  drift_exempt: []", "  drift_exempt: [bill_length_mm]")
    assert load_settings(write_params(tmp_path, exempt)).retrain.drift_exempt == ("bill_length_mm",)
    typo = shipped().replace("  drift_exempt: []", "  drift_exempt: [bill_lenght_mm]")
    with pytest.raises(SettingsError, match=r"retrain\.drift_exempt names \['bill_lenght_mm'\], not a feature"):
        load_settings(write_params(tmp_path, typo))


def test_the_data_store_defaults_to_a_folder_beside_params_and_is_not_part_of_the_params_hash(tmp_path):
    settings = load_settings(write_params(tmp_path, shipped()))
    assert settings.data_store.url == ".data-store"
    assert settings.data_store_url == str(tmp_path.resolve() / ".data-store")
    elsewhere = load_settings(
        write_params(tmp_path, shipped().replace("url: .data-store", "url: s3://bucket/data-store"))
    )
    assert elsewhere.data_store_url == "s3://bucket/data-store"
    assert elsewhere.params_hash() == settings.params_hash()  # where data is kept does not change the model


def test_a_data_store_url_with_credentials_is_refused(tmp_path):
    path = write_params(tmp_path, shipped().replace("url: .data-store", "url: s3://key:secret@bucket/store"))
    with pytest.raises(SettingsError, match="credentials"):
        load_settings(path)
