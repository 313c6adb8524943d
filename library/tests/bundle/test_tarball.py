"""The tarball beside a bundle folder: checksummed, and never released unless it holds exactly the folder's files."""

import shutil

import pytest

from modelkeel.bundle.tarball import (
    check_tarball,
    paths_for,
    write_tarball,
)
from modelkeel.errors import VerificationError

from ..conftest import peak_bytes


@pytest.fixture()
def built(bundle_dir, tmp_path):
    """A copy of the pipeline's bundle folder with its tarball and checksum file, as dist/ holds them."""
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    for source, target in zip(paths_for(bundle_dir), paths_for(copy), strict=True):
        shutil.copy2(source, target)
    return copy


def test_the_pipeline_writes_a_checksummed_tarball_of_the_folder(built):
    tarball, sums = paths_for(built)
    assert check_tarball(built) == tarball
    assert sums.read_text().endswith(f"  {tarball.name}\n")
    before = tarball.read_bytes()
    write_tarball(built)
    assert tarball.read_bytes() == before, "the tarball is reproducible"


def test_a_tarball_of_another_build_is_refused(built, tmp_path):
    tarball, sums = paths_for(built)
    (built / "model_card.md").write_text("the next build's card\n")  # the folder changed, the tarball did not
    with pytest.raises(VerificationError, match=r"model_card.md differs from the folder's file"):
        check_tarball(built)
    write_tarball(built)
    check_tarball(built)
    tarball.write_bytes(tarball.read_bytes()[:-10])  # cut short
    with pytest.raises(VerificationError, match=r"does not match .*\.sha256"):
        check_tarball(built)
    sums.unlink()
    with pytest.raises(VerificationError, match=r"is not checksummed"):
        check_tarball(built)
    tarball.unlink()
    with pytest.raises(VerificationError, match=r"is missing"):
        check_tarball(built)


# ---- bounded whatever the tarball holds ------------------------------------------------------------------


def forge(folder, members):
    """A tarball beside `folder` holding `members` ((TarInfo, bytes) pairs), with a .sha256 that names it."""
    import gzip
    import hashlib
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    data = gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0)
    tarball, sums = paths_for(folder)
    tarball.write_bytes(data)
    sums.write_text(f"{hashlib.sha256(data).hexdigest()}  {tarball.name}\n")


def info(name, size=0, kind=None, **fields):
    import tarfile

    member = tarfile.TarInfo(name)
    member.size = size
    member.type = kind if kind is not None else tarfile.REGTYPE
    for key, value in fields.items():
        setattr(member, key, value)
    return member


def test_a_large_member_is_hashed_in_chunks_never_read_whole(built):
    big = built / "big.png"
    with big.open("wb") as handle:  # 64 MiB of zeros, on disk only (sparse)
        handle.truncate(64 << 20)
    write_tarball(built)  # the tarball holds the zeros
    with big.open("r+b") as handle:  # the folder's file changes in its last byte, its size does not
        handle.seek((64 << 20) - 1)
        handle.write(b"\1")

    def check():
        with pytest.raises(VerificationError, match=r"big.png differs from the folder's file"):
            check_tarball(built)

    assert peak_bytes(check) < 8 << 20, "the member and the file are hashed in chunks"


def test_a_member_declaring_more_bytes_than_the_file_is_refused_unread(built):
    card = f"{built.name}/model_card.md"
    forge(built, [(info(card, size=1_500_000_000), b"")])  # a header that claims 1.5 GB, then nothing

    def check():
        with pytest.raises(VerificationError, match=r"model_card.md differs .*declares 1,500,000,000 bytes"):
            check_tarball(built)

    assert peak_bytes(check) < 8 << 20


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (lambda f: info(f"{f}/model_card.md", kind=b"2", linkname="/etc/passwd"), "not a regular file"),
        (lambda f: info(f"{f}/model_card.md", kind=b"1", linkname=f"{f}/SHA256SUMS"), "not a regular file"),
        (lambda f: info(f"{f}/model_card.md", kind=b"3", devmajor=1, devminor=3), "not a regular file"),
        (lambda f: info(f"{f}/model_card.md", kind=b"5"), "not a regular file"),
        (lambda f: info("/etc/passwd", size=4), r"'/etc/passwd' is not a file of"),
        (lambda f: info(f"{f}/../model_card.md", size=4), r"'[^']+/../model_card.md' is not a file of"),
        (lambda f: info(f"{f}/model\0card.md", size=4), r"is not a file of"),
    ],
)
def test_links_devices_folders_and_odd_paths_are_refused(built, member, message):
    forged = member(built.name)
    forge(built, [(forged, b"data" if forged.size else b"")])
    with pytest.raises(VerificationError, match=message):
        check_tarball(built)


def test_a_hostile_pax_record_is_refused_before_it_is_read(built):
    card = built / "model_card.md"
    member = info(f"{built.name}/model_card.md", size=card.stat().st_size, pax_headers={"comment": "x" * (2 << 20)})
    forge(built, [(member, card.read_bytes())])
    with pytest.raises(VerificationError, match=r"a tar record of more than 1,048,576 bytes"):
        check_tarball(built)
