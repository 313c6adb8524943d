import json
import shutil
import subprocess

import pytest

from {{ cookiecutter.package_name }}.bundle import verify
from {{ cookiecutter.package_name }}.checksums import CHECKSUMS
from {{ cookiecutter.package_name }}.errors import VerificationError

EXPECTED = {
    "model.onnx",
    "metrics.json",
    "parity.json",
    "schema.yaml",
    "signature.json",
    "input_example.json",
    "lineage.json",
    "model_card.md",
    "reference.json",
    "feature_importance.png",
    CHECKSUMS,
}


@pytest.fixture()
def copy(bundle_dir, tmp_path):
    target = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, target)
    return target


def test_bundle_holds_the_release_unit(bundle_dir, settings):
    names = {p.name for p in bundle_dir.iterdir()}
    plot = "confusion_matrix.png" if settings.task == "classification" else "residuals.png"
    assert names == EXPECTED | {plot}
    assert bundle_dir.with_name(bundle_dir.name + ".tar.gz").is_file()
    assert not list(bundle_dir.parent.glob(".*.tmp")), "no staging folder is left behind"


def test_lineage_pins_data_params_code_and_environment(bundle_dir, settings, validated):
    lineage = json.loads((bundle_dir / "lineage.json").read_text())
    assert lineage["data"]["fingerprint"] == validated.snapshot["fingerprint"]
    assert all(len(f["sha256"]) == 64 and f["rows"] > 0 for f in lineage["data"]["files"])
    assert lineage["params_hash"] == settings.params_hash()
    assert lineage["seed"] == settings.seed
    assert {"scikit-learn", "skl2onnx", "onnx", "onnxruntime", "pandera"} <= set(lineage["environment"]["packages"])
    assert "commit" in lineage["git"] and "dirty" in lineage["git"]


def test_verify_accepts_a_fresh_bundle(bundle_dir):
    assert verify(bundle_dir)["files"] == len(list(bundle_dir.iterdir())) - 1


def test_sha256sums_is_what_sha256sum_checks(bundle_dir):
    if shutil.which("sha256sum") is None:
        pytest.fail("sha256sum (coreutils) is needed for this test")
    done = subprocess.run(["sha256sum", "-c", CHECKSUMS], cwd=bundle_dir, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["model.onnx", "schema.yaml", "metrics.json", "input_example.json"])
def test_one_changed_byte_is_named(copy, name):
    path = copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=f"{name}: checksum mismatch"):
        verify(copy)


def test_missing_checksums_and_unlisted_files_are_refused(copy):
    (copy / "extra.txt").write_text("surprise")
    with pytest.raises(VerificationError, match=r"extra\.txt: not listed"):
        verify(copy)
    (copy / CHECKSUMS).unlink()
    with pytest.raises(VerificationError, match="SHA256SUMS is missing"):
        verify(copy)


def test_binary_mode_checksum_lines_are_accepted(copy):
    sums = copy / CHECKSUMS
    sums.write_text(sums.read_text().replace("  ", " *"))
    verify(copy)


def test_unreadable_checksums_and_missing_bundle_files_are_refused(copy):
    from {{ cookiecutter.package_name }}.checksums import render

    (copy / "input_example.json").unlink()
    (copy / CHECKSUMS).write_text(render(copy))
    with pytest.raises(VerificationError, match=r"input_example\.json: missing from the bundle"):
        verify(copy)
    (copy / CHECKSUMS).write_bytes(b"\xff\xfe not text")
    with pytest.raises(VerificationError, match="not text"):
        verify(copy)


def test_a_retrained_model_never_ships_the_previous_onnx(settings, tmp_path):
    from {{ cookiecutter.package_name }} import bundle
    from {{ cookiecutter.package_name }}.errors import GateError, StageOrderError
    from {{ cookiecutter.package_name }}.pipeline import (
        run_evaluate,
        run_pipeline,
        run_train,
    )
    from {{ cookiecutter.package_name }}.settings import PathSettings

    isolated = settings.model_copy(
        update={"paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist"))}
    )
    run_pipeline(isolated)
    reseeded = isolated.model_copy(update={"seed": isolated.seed + 1})
    trained = run_train(reseeded)
    run_evaluate(reseeded, trained)
    with pytest.raises((StageOrderError, GateError), match="export"):
        bundle.build(reseeded, trained.validated)
