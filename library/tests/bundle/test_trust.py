"""Which local bundle folders may score: signed by the signer, this checkout's own build, or --allow-unsigned."""

import json
import shutil

import pytest

from modelkeel.bundle.checksums import render
from modelkeel.bundle.signing import make_key_pair, sign
from modelkeel.bundle.trust import OWN_BUILD, SIGNED, UNCHECKED, Project, is_own_build, open_local, require_signer
from modelkeel.errors import VerificationError
from modelkeel.settings import Signer


@pytest.fixture()
def checkout(bundle_dir, tmp_path):
    """A project whose dist/ holds its own unsigned build, as `make pipeline` leaves it."""
    name = json.loads((bundle_dir / "lineage.json").read_text())["name"]
    dist = tmp_path / "project" / "dist"
    dist.mkdir(parents=True)
    own = dist / bundle_dir.name
    shutil.copytree(bundle_dir, own)
    return Project(dist, name), own


def forged(source, target, name=None):
    """A self-consistent, unsigned copy: the model card rewritten (and the project's name), SHA256SUMS recomputed."""
    shutil.copytree(source, target)
    (target / "model_card.md").write_text("an attacker's model\n")
    if name is not None:
        lineage = json.loads((target / "lineage.json").read_text())
        lineage["name"] = name
        (target / "lineage.json").write_text(json.dumps(lineage))
    (target / "SHA256SUMS").write_text(render(target))
    return target


def test_this_checkouts_own_unsigned_build_is_accepted(checkout):
    project, own = checkout
    assert is_own_build(own, project)
    assert open_local(own, None, project=project).trust == OWN_BUILD


def test_an_unsigned_folder_anywhere_else_is_refused_and_says_how_to_proceed(checkout, tmp_path):
    project, own = checkout
    elsewhere = forged(own, tmp_path / "downloads" / own.name)
    with pytest.raises(VerificationError, match=r"unsigned .*only this checkout's own build.*--allow-unsigned"):
        open_local(elsewhere, None, project=project)
    linked = project.dist / "linked"  # a symlink into dist/ resolves to where the folder really is
    linked.symlink_to(elsewhere, target_is_directory=True)
    assert not is_own_build(linked, project)
    foreign = forged(own, tmp_path / "other" / "x", name="another-project")
    renamed = project.dist / f"another-project-{json.loads((own / 'lineage.json').read_text())['version']}"
    foreign.rename(renamed)  # another project's bundle moved into dist/: its lineage names that project
    assert not is_own_build(renamed, project)
    with pytest.raises(VerificationError, match=r"unsigned"):
        open_local(renamed, None, project=project)
    mislabelled = project.dist / "penguins-project-9.9.9"
    shutil.copytree(own, mislabelled)  # named as a version its lineage does not carry
    assert not is_own_build(mislabelled, project)
    assert not is_own_build(own, None), "without a project (no params file) nothing is an own build"


def test_allow_unsigned_is_used_and_logged(checkout, tmp_path, caplog):
    project, own = checkout
    elsewhere = forged(own, tmp_path / "elsewhere")
    with caplog.at_level("WARNING", logger="modelkeel.bundle.trust"):
        trusted = open_local(elsewhere, None, project=project, allow_unsigned=True)
    assert trusted.trust == UNCHECKED and trusted.unchecked
    assert "--allow-unsigned" in caplog.text and "nobody checked who made this model" in caplog.text


def test_a_signed_folder_is_always_checked(checkout, tmp_path):
    project, own = checkout
    private, public = make_key_pair(tmp_path / "keys")
    signer = Signer(public_key=str(public))
    signed = tmp_path / "signed"
    shutil.copytree(own, signed)
    sign(signed, private)
    assert open_local(signed, signer, project=project).trust == SIGNED
    with pytest.raises(VerificationError, match=r"carries bundle.sig, but no signer"):
        open_local(signed, None, project=project)
    other_private, _ = make_key_pair(tmp_path / "other")
    sign(own, other_private)  # even the own build: a signature is checked, and this one is not the signer's
    with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
        open_local(own, signer, project=project)


def test_require_signature_refuses_even_the_own_build_and_a_folder_cannot_claim_to_predate_signing(checkout, tmp_path):
    """unsigned_before admits old registry releases (their version is their tag); a local folder's version is
    its own lineage's claim, so an unsigned folder is never admitted by it, whatever version it names."""
    project, own = checkout
    _, public = make_key_pair(tmp_path / "keys")
    with pytest.raises(VerificationError, match=r"unsigned"):
        open_local(own, Signer(public_key=str(public)), project=project, require_signature=True)
    later = Signer(public_key=str(public), unsigned_before="99.0.0")
    with pytest.raises(VerificationError, match=r"unsigned"):
        open_local(own, later, project=project, require_signature=True)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(own, elsewhere)
    with pytest.raises(VerificationError, match=r"unsigned"):
        open_local(elsewhere, later, project=project)


def test_a_tampered_folder_says_so_before_it_says_unsigned(checkout, tmp_path):
    project, own = checkout
    copy = tmp_path / "tampered"
    shutil.copytree(own, copy)
    (copy / "metrics.json").write_text("{}")
    with pytest.raises(VerificationError, match=r"metrics.json: checksum mismatch"):
        open_local(copy, None, project=project)


def test_a_registry_is_never_read_without_a_signer():
    with pytest.raises(VerificationError, match=r"no signer is configured.*registry.signer.*--allow-unsigned"):
        require_signer(None, "github:octo/models")
