"""The tarball beside a bundle folder: checksummed, and never released unless it holds exactly the folder's files."""

import shutil

import pytest

from modelkeel.bundle.tarball import (
    check_tarball,
    paths_for,
    write_tarball,
)
from modelkeel.errors import VerificationError


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
