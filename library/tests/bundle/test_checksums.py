"""SHA256SUMS: read bounded, and every name it lists a plain file name (a hostile list is a clear error)."""

import pytest

from modelkeel.bundle.checksums import parse, read, verify_folder
from modelkeel.errors import VerificationError

from ..conftest import peak_bytes

DIGEST = "0" * 64


def test_a_huge_sha256sums_is_refused_unread(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    with sums.open("wb") as handle:  # 300 MB, on disk only (sparse)
        handle.truncate(300 << 20)

    def refused() -> None:
        with pytest.raises(VerificationError, match=r"SHA256SUMS is larger than 1.0 MiB .*refused unread"):
            read(sums, "hostile")

    assert peak_bytes(refused) < 4 << 20


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("model\0.onnx", "it holds a NUL byte"),
        ("model\x1b[31m.onnx", "it holds a control character"),
        ("model\x85.onnx", "it holds a control character"),
        ("..", "it starts with a dot"),
        ("../model.onnx", "it holds a path separator"),
        ("sub\\model.onnx", "it holds a path separator"),
        ("x" * 300, "it is longer than 255 characters"),
    ],
)
def test_an_odd_name_is_a_clear_error(name, why):
    with pytest.raises(
        VerificationError, match=rf"hostile: SHA256SUMS line 2 names the file .*, which cannot be a bundle file: {why}"
    ):
        parse(f"{DIGEST}  model.onnx\n{DIGEST}  {name}\n", "hostile")


def test_a_path_is_not_a_name(tmp_path):
    with pytest.raises(
        VerificationError,
        match=r"line 1 names the file 'a/b', which cannot be a bundle file: it holds a path separator",
    ):
        parse(f"{DIGEST}  a/b\n", "hostile")


def test_a_name_listed_twice_is_refused():
    with pytest.raises(VerificationError, match=r"lists 'model.onnx' twice"):
        parse(f"{DIGEST}  model.onnx\n{'1' * 64}  model.onnx\n", "hostile")


def test_a_listed_file_over_its_cap_is_refused_before_it_is_hashed(tmp_path, monkeypatch):
    from modelkeel.bundle import layout

    monkeypatch.setattr(layout, "MAX_FILE_BYTES", 1000)
    (tmp_path / "metrics.json").write_bytes(b"{}" + b" " * 2000)
    (tmp_path / "SHA256SUMS").write_text(f"{DIGEST}  metrics.json\n")
    with pytest.raises(VerificationError, match=r"metrics.json: 2,002 bytes, more than the 1000 bytes"):
        verify_folder(tmp_path, "hostile")
