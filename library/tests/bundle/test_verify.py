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
