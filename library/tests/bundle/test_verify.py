import shutil
import subprocess

import pytest

from modelkeel.bundle.layout import CHECKSUMS
from modelkeel.bundle.verify import verify
from modelkeel.errors import VerificationError


@pytest.fixture()
def copy(bundle_dir, tmp_path):
    target = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, target)
    return target


def test_verify_accepts_a_fresh_bundle(bundle_dir):
    assert verify(bundle_dir).files == len(list(bundle_dir.iterdir())) - 1


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
    from modelkeel.bundle.checksums import render

    (copy / "input_example.json").unlink()
    (copy / CHECKSUMS).write_text(render(copy))
    with pytest.raises(VerificationError, match=r"input_example\.json: missing from the bundle"):
        verify(copy)
    (copy / CHECKSUMS).write_bytes(b"\xff\xfe not text")
    with pytest.raises(VerificationError, match="not text"):
        verify(copy)


def test_the_input_example_records_each_class_as_the_bundle_answers_it(typed):
    """Given a bundle of a bool, 0/1, 1/2/3 or text target: its input example records the answers as the
    bundle gives them (true/false for a bool target, not the graph's 0/1)."""
    import json

    expected = json.loads((typed.bundle.folder / "input_example.json").read_text())["expected"]["label"]
    kind = {"bool": bool, "int": int, "three": int, "text": str}[typed.kind]
    assert expected and {type(v) for v in expected} == {kind}


@pytest.mark.parametrize("typed", ["bool"], indirect=True)
def test_a_bool_targets_bundle_that_recorded_the_graphs_0_1_still_verifies(typed, tmp_path):
    """Given a bundle of a bool target made before labels were given as the classes (its example recorded
    0/1); when it is verified; then it passes: recorded labels are compared by value."""
    import json

    from modelkeel.bundle.checksums import render

    older = tmp_path / typed.bundle.folder.name
    shutil.copytree(typed.bundle.folder, older)
    example = json.loads((older / "input_example.json").read_text())
    example["expected"]["label"] = [int(v) for v in example["expected"]["label"]]
    (older / "input_example.json").write_text(json.dumps(example))
    (older / CHECKSUMS).write_text(render(older))
    assert verify(older).example_rows == len(example["rows"])
