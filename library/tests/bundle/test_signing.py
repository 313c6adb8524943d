"""The bundle's signature (OpenSSF model signing with a key pair, offline): every file is bound, every load path checks it."""

import shutil

import pytest

from modelkeel.bundle.checksums import render
from modelkeel.bundle.layout import CHECKSUMS, SIGNATURE_FILE
from modelkeel.bundle.reader import open_bundle
from modelkeel.bundle.signing import sign, verify_signature
from modelkeel.errors import VerificationError
from modelkeel.runtime.model import load_model
from modelkeel.settings import Signer


def key_pair(folder):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "signing.pem", folder / "signing.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture()
def signed(bundle_dir, tmp_path):
    private, public = key_pair(tmp_path)
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    sign(copy, private)
    return copy, Signer(public_key=str(public))


def test_a_signed_bundle_opens_on_every_load_path_with_its_signer(signed):
    copy, signer = signed
    assert (copy / SIGNATURE_FILE).is_file() and SIGNATURE_FILE not in (copy / CHECKSUMS).read_text()
    bundle = open_bundle(copy, signer=signer)
    verify_signature(copy, signer, bundle.version, "test")
    assert load_model(path=copy, signer=signer).version == bundle.version
    assert open_bundle(copy).version == bundle.version, "without a signer the signature is not needed"


def test_a_changed_file_with_recomputed_checksums_breaks_the_signature(signed):
    copy, signer = signed
    (copy / "model_card.md").write_text("an attacker's card\n")
    (copy / CHECKSUMS).write_text(render(copy))  # SHA256SUMS alone can be recomputed: the signature cannot
    open_bundle(copy)
    with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
        open_bundle(copy, signer=signer)


def test_a_file_added_after_signing_is_refused_even_a_hidden_or_git_one(signed):
    copy, signer = signed
    for name in (".gitignore", ".DS_Store"):
        (copy / name).write_text("added later\n")
        open_bundle(copy)  # hidden entries can never be listed in SHA256SUMS
        with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
            open_bundle(copy, signer=signer)
        with pytest.raises(VerificationError, match=r"hidden file\(s\) .* are not part of the bundle"):
            sign(copy, None)
        (copy / name).unlink()
    open_bundle(copy, signer=signer)


def test_another_key_or_no_signature_is_refused(signed, tmp_path):
    copy, _ = signed
    (tmp_path / "other").mkdir()
    _, other = key_pair(tmp_path / "other")
    with pytest.raises(VerificationError, match=r"not a valid signature of the expected signer"):
        load_model(path=copy, signer=Signer(public_key=str(other)))
    (copy / SIGNATURE_FILE).unlink()
    with pytest.raises(VerificationError, match=r"bundle.sig is missing, but a signer is expected"):
        open_bundle(copy, signer=Signer(public_key=str(other)))


def test_a_signer_is_a_key_or_a_workflow_and_names_the_refs_it_may_run_on():
    from pydantic import ValidationError

    workflow = "https://github.com/octo/models/.github/workflows/release.yml"
    signer = Signer(workflow=workflow)
    assert signer.identities("1.2.0") == [f"{workflow}@refs/tags/v1.2.0", f"{workflow}@refs/heads/main"]
    retrain = workflow.replace("release.yml", "retrain.yml")
    both = Signer(workflow=[workflow, retrain], refs=["refs/heads/main"])  # one URL or a list: every one x every ref
    assert both.identities("1.2.0") == [f"{workflow}@refs/heads/main", f"{retrain}@refs/heads/main"]
    with pytest.raises(ValidationError, match="at least one signing workflow"):
        Signer(workflow=[])
    with pytest.raises(ValidationError, match="exactly one of public_key"):
        Signer()
    with pytest.raises(ValidationError, match="exactly one of public_key"):
        Signer(workflow=workflow, public_key="k.pub")
    with pytest.raises(ValidationError):
        Signer(workflow="https://evil.example/octo/models/.github/workflows/release.yml")


def test_releases_from_before_signing_may_come_unsigned_below_the_cut_off(signed):
    copy, signer = signed
    (copy / SIGNATURE_FILE).unlink()
    version = open_bundle(copy).version
    major, minor, patch = map(int, version.split("."))
    later = Signer(public_key=signer.public_key, unsigned_before=f"{major}.{minor}.{patch + 1}")
    assert open_bundle(copy, signer=later).version == version
    with pytest.raises(VerificationError, match=r"unsigned_before"):
        open_bundle(copy, signer=Signer(public_key=signer.public_key, unsigned_before=version))


def test_an_unreachable_trust_root_is_not_a_bad_signature(signed, monkeypatch):
    """Keyless checks need Sigstore's trust root: not reaching it stops the load, but says so (nothing is deleted)."""
    from model_signing import verifying

    from modelkeel.errors import RegistryError

    copy, _ = signed

    def offline(self, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(verifying.Config, "use_sigstore_verifier", offline)
    keyless = Signer(workflow="https://github.com/octo/models/.github/workflows/release.yml")
    with pytest.raises(RegistryError, match=r"could not be checked .*network is unreachable"):
        open_bundle(copy, signer=keyless)
    assert (copy / SIGNATURE_FILE).is_file()


def test_publishing_where_a_signer_is_expected_signs_with_the_key_or_refuses(bundle_dir, tmp_path, monkeypatch):
    from modelkeel.registry.folder import FolderRegistry

    private, public = key_pair(tmp_path)
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    registry = FolderRegistry(str(tmp_path / "registry"))
    registry.signer = Signer(public_key=str(public))
    monkeypatch.delenv("MODEL_SIGNING_KEY", raising=False)
    with pytest.raises(VerificationError, match=r"unsigned, but registry.signer is set"):
        registry.publish(open_bundle(copy))
    assert registry.versions() == []
    monkeypatch.setenv("MODEL_SIGNING_KEY", private.read_text())
    registry.publish(open_bundle(copy))
    fetched = registry.fetch("latest", tmp_path / "cache")  # the signature travels with the bundle
    assert (fetched.folder / SIGNATURE_FILE).is_file()
