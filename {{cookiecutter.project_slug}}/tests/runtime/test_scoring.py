import subprocess
import sys

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.errors import DataValidationError
from {{ cookiecutter.package_name }}.runtime.scoring import predict


@pytest.fixture()
def incoming(validated, settings, tmp_path):
    """New rows as a consumer has them: the raw feature columns of some of the project's rows, no target."""
    path = tmp_path / "incoming.csv"
    validated.frame[list(settings.data.features)].head(50).to_csv(path, index=False)
    return path


def test_predict_scores_new_data(bundle_dir, settings, tmp_path, incoming):
    out = tmp_path / "scored.csv"
    rows = predict(bundle_dir, incoming, out)
    scored = pd.read_csv(out)
    assert rows == len(scored) > 0
    assert scored["prediction"].notna().all()
    if settings.task == "classification":
        probabilities = scored.filter(like="probability_")
        assert probabilities.shape[1] >= 2
        assert ((probabilities.sum(axis=1) - 1).abs() < 1e-4).all()


def test_predict_rejects_input_that_breaks_the_schema(bundle_dir, settings, tmp_path):
    bad = tmp_path / "bad.csv"
    frame = pd.DataFrame({c: [1.0] for c in settings.data.features[1:]})  # the first column is missing
    frame.to_csv(bad, index=False)
    with pytest.raises(DataValidationError, match="column_in_dataframe"):
        predict(bundle_dir, bad, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_predict_does_not_import_scikit_learn(bundle_dir, settings, tmp_path, incoming):
    code = (
        "import sys\n"
        "from {{ cookiecutter.package_name }}.runtime.scoring import predict\n"
        f"predict({str(bundle_dir)!r}, {str(incoming)!r}, {str(tmp_path / 'o.parquet')!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skl2onnx'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.parquet").is_file()


def test_output_that_is_a_folder_is_a_clear_error(bundle_dir, settings, tmp_path, incoming):
    from {{ cookiecutter.package_name }}.errors import DataError

    with pytest.raises(DataError, match="is a folder"):
        predict(bundle_dir, incoming, tmp_path)
