import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from modelkeel.bundle.checksums import render
from modelkeel.bundle.reader import open_bundle
from modelkeel.errors import (
    DataValidationError,
    VerificationError,
)
from modelkeel.registry.folder import FolderRegistry
from modelkeel.runtime.model import load_model


def test_load_model_from_a_registry_scores_raw_rows(signed_bundle_dir, release_key, settings, validated, tmp_path):
    FolderRegistry(str(tmp_path / "registry")).publish(open_bundle(signed_bundle_dir))
    with pytest.raises(VerificationError, match=r"no signer is configured.*load_model\(signer=\.\.\.\)"):
        load_model("latest", url=str(tmp_path / "registry"), cache_dir=tmp_path / "cache")
    signer = release_key.signer
    model = load_model("latest", url=str(tmp_path / "registry"), cache_dir=tmp_path / "cache", signer=signer)
    assert model.version == "0.1.0"
    rows = validated.frame[list(settings.data.features)].head(5)
    scored = model.predict(rows)
    assert len(scored) == 5 and scored["prediction"].notna().all()
    with pytest.raises(DataValidationError):
        model.predict(rows.drop(columns=[settings.data.features[0]]))


def test_a_newer_bundle_format_is_refused(bundle_dir, tmp_path):
    newer = tmp_path / "newer"
    shutil.copytree(bundle_dir, newer)
    lineage = json.loads((newer / "lineage.json").read_text())
    lineage["bundle_format"] = 99
    (newer / "lineage.json").write_text(json.dumps(lineage))
    (newer / "SHA256SUMS").write_text(render(newer))  # a genuine bundle of a newer layout, checksummed
    with pytest.raises(VerificationError, match=r"bundle format 99 is newer than this runtime supports"):
        load_model(path=newer, allow_unsigned=True)


def test_load_model_imports_neither_scikit_learn_nor_skl2onnx(bundle_dir):
    code = (
        "import sys\n"
        "from modelkeel.runtime.model import load_model\n"
        f"model = load_model(path={str(bundle_dir)!r}, allow_unsigned=True)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skl2onnx'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_model_schema_is_the_bundled_contract(bundle_dir, settings):
    model = load_model(path=bundle_dir, allow_unsigned=True)
    assert set(model.schema.columns) == set(settings.data.features)
    assert isinstance(
        model.predict(pd.DataFrame(json.loads((bundle_dir / "input_example.json").read_text())["rows"])), pd.DataFrame
    )


def test_model_predict_refuses_duplicated_columns_and_names_them(bundle_dir, settings, validated):
    from modelkeel.errors import DataError

    model = load_model(path=bundle_dir, allow_unsigned=True)
    rows = validated.frame[list(settings.data.features)].head(5)
    first = settings.data.features[0]
    twice = pd.concat([rows, rows[[first]]], axis=1)
    assert twice.columns.duplicated().any()
    with pytest.raises(DataError, match=re.escape(str([first]) + " occur more than once")):
        model.predict(twice)


def test_model_predict_has_a_row_limit_that_can_be_raised(bundle_dir, settings, validated):
    from modelkeel.errors import DataError

    model = load_model(path=bundle_dir, allow_unsigned=True)
    rows = validated.frame[list(settings.data.features)].head(5)
    with pytest.raises(DataError, match=r"5 rows, more than the limit of 4 rows.*max_rows=N"):
        model.predict(rows, max_rows=4)
    assert len(model.predict(rows, max_rows=5)) == 5


def test_model_predict_passes_other_columns_through_but_never_overwrites_one(bundle_dir, settings, validated):
    from modelkeel.errors import DataError

    model = load_model(path=bundle_dir, allow_unsigned=True)
    rows = validated.frame[list(settings.data.features)].head(5).assign(order_id=list("abcde"))
    scored = model.predict(rows)
    assert list(scored["order_id"]) == list("abcde")
    with pytest.raises(DataError, match=r"\['prediction'\], which the predictions are written to"):
        model.predict(rows.assign(prediction=0))
    if settings.task == "classification":
        name = f"probability_{model.bundle.classes[-1]}"
        with pytest.raises(DataError, match=re.escape(str([name]))):
            model.predict(rows.assign(**{name: 0.5}))


@pytest.mark.parametrize("copies", [1, 20], ids=["compiled check", "pandera"])
def test_json_answers_give_each_class_as_the_data_holds_it(typed, copies):
    """Given a target of bools, 0/1 or 1/2/3 integers, or text; when JSON records are scored (a few, and more
    than the compiled check takes); then the JSON answer holds true/false, integers or text as scikit-learn
    predicts them, and each class's probabilities under the class as text ("True", "0")."""
    from modelkeel.runtime.model import Model

    inputs = typed.batch.drop(columns="target")
    records = json.loads(inputs.to_json(orient="records", date_format="iso")) * copies
    answer = json.loads(json.dumps(Model(typed.bundle).predict_records(records)))
    expected = typed.sklearn_predict(typed.batch).tolist() * copies
    assert answer["prediction"] == expected
    kind = {"bool": bool, "int": int, "three": int, "text": str}[typed.kind]
    assert {type(p) for p in answer["prediction"]} == {kind}, "JSON true/false for a bool target, never 0/1"
    assert list(answer["probabilities"]) == [str(c) for c in typed.bundle.classes]


def test_a_local_folder_needs_its_signers_signature_or_allow_unsigned_said_out_loud(
    bundle_dir, signed_bundle_dir, release_key, tmp_path, caplog
):
    """A forged, self-consistent bundle (model card rewritten, SHA256SUMS recomputed) never loads unasked."""
    from modelkeel.bundle.signing import make_key_pair, sign

    forged = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, forged)
    (forged / "model_card.md").write_text("an attacker's model\n")
    (forged / "SHA256SUMS").write_text(render(forged))
    with pytest.raises(VerificationError, match=r"unsigned .*signer=.*allow_unsigned=True"):
        load_model(path=forged)
    with pytest.raises(VerificationError, match=r"unsigned .*allow_unsigned=True"):
        load_model(path=forged, signer=release_key.signer)
    with pytest.raises(VerificationError, match=r"carries bundle.sig, but no signer .*signer=.*allow_unsigned=True"):
        load_model(path=signed_bundle_dir)  # a signature nobody can check is not taken on trust either
    assert load_model(path=signed_bundle_dir, signer=release_key.signer).version == "0.1.0"
    other, _ = make_key_pair(tmp_path / "attacker")
    sign(forged, other)
    with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
        load_model(path=forged, signer=release_key.signer)
    with caplog.at_level("WARNING", logger="modelkeel.bundle.trust"):
        assert load_model(path=forged, allow_unsigned=True).version == "0.1.0"
    assert "used with allow_unsigned=True" in caplog.text and "nobody checked who made this model" in caplog.text
