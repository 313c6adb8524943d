"""The bundle's signature: OpenSSF model signing (`model-signing`) over every file of the folder.

`sign` writes `bundle.sig` into a bundle folder: a Sigstore bundle holding an in-toto statement
that names each file with its sha256 (SHA256SUMS included), signed either keylessly with
Sigstore (in GitHub Actions: the certificate names the workflow and the ref it ran on, and the
signature is logged in Rekor) or with a key pair's private key (an elliptic-curve PEM; the
template's tests sign and verify this way, offline).

`verify_signature` checks `bundle.sig` against the signer the consumer expects
(`registry.signer` in params.yaml, or `load_model(signer=...)`): a missing, malformed or
foreign signature, or any file added, removed or changed since signing, is a VerificationError.
Keyless verification needs Sigstore's trust root (fetched over the network by sigstore's TUF
client): when it cannot be had, that is a RegistryError (the signature could not be checked), not
a bad signature, so a cached bundle is kept; key-pair verification runs anywhere. Verification
hashes the folder exactly as signing did (only `bundle.sig` ignored, `.git*` names included).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RegistryError, VerificationError
from ..settings import Signer
from .layout import SIGNATURE_FILE


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:300]


def _model_signing(part: str):
    """A module of OpenSSF model signing (the `signing` extra): a signer that cannot be checked fails closed."""
    from ..utils.extras import require

    return require(f"model_signing.{part}", "signing bundles and checking bundle.sig (registry.signer)")


def _hashing(*signatures: Path):
    """Every file of the folder but the signature itself (under its final and its temporary name)."""
    hashing = _model_signing("hashing")

    return hashing.Config().use_file_serialization().set_ignored_paths(paths=list(signatures), ignore_git_paths=False)


def sign(folder: Path, private_key: Path | None = None) -> Path:
    """Sign every file of the bundle folder into `<folder>/bundle.sig` (keyless with Sigstore when no key).

    The signature is written to a temporary file and renamed, so an interrupted run leaves none."""
    signing = _model_signing("signing")

    folder = folder.resolve()
    signature = folder / SIGNATURE_FILE
    partial = folder / f".{SIGNATURE_FILE}.partial"
    stray = sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p != partial)
    if stray:  # the signature covers every file; a hidden one would travel nowhere and fail every check
        raise VerificationError(f"{folder}: hidden file(s) {stray} are not part of the bundle; remove them, then sign")
    config = signing.Config()
    if private_key is not None:
        if not private_key.is_file():
            raise VerificationError(f"{private_key}: no such private key file (a PEM elliptic-curve key)")
        try:
            config = config.use_elliptic_key_signer(private_key=private_key)
        except Exception as error:  # cryptography raises several types for a key it cannot read
            raise VerificationError(f"{private_key}: not a PEM elliptic-curve private key ({error})") from None
    else:
        config = config.use_sigstore_signer(use_ambient_credentials=True)
    signature.unlink(missing_ok=True)  # never signed over: the statement must not include an old signature
    try:
        config.set_hashing_config(_hashing(signature, partial)).sign(folder, partial)
        partial.replace(signature)
    finally:
        partial.unlink(missing_ok=True)
    return signature


def make_key_pair(folder: Path, name: str = "release") -> tuple[Path, Path]:
    """A new elliptic-curve (P-256) key pair as PEM files `<folder>/<name>.pem` (private, mode 0600) and
    `<name>.pub` (for registry.signer.public_key): offline and self-hosted signing, tests and the demo."""
    _model_signing("signing")  # the signing extra brings cryptography
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.touch(mode=0o600)
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def ensure_signed(folder: Path, signer: Signer | None, version: str, source: str) -> None:
    """Before a bundle is published where `signer` will be expected: sign it with the key in $MODEL_SIGNING_KEY
    if it is unsigned and a key is there, then check it; without a key, an unsigned bundle is refused."""
    import os
    import tempfile

    if signer is None:
        return
    if not (folder / SIGNATURE_FILE).exists() and os.environ.get("MODEL_SIGNING_KEY", "").strip():
        with tempfile.TemporaryDirectory(prefix="sign-") as scratch:
            key = Path(scratch) / "key.pem"
            key.touch(mode=0o600)
            key.write_text(os.environ["MODEL_SIGNING_KEY"])
            sign(folder, key)
    if not (folder / SIGNATURE_FILE).exists() and not signer.accepts_unsigned(version):
        how = (
            "sign it first (`make sign`, or set MODEL_SIGNING_KEY to the signer's private key)"
            if signer.public_key is not None
            else f"registry.signer names {' or '.join(signer.workflows)}, which signs keylessly in GitHub Actions: "
            "release through it, or sign offline with a key pair (`keygen`; registry.signer: {public_key: "
            "keys/release.pub}; MODEL_SIGNING_KEY holds the private key)"
        )
        raise VerificationError(
            f"{source}: unsigned, but registry.signer is set, so every consumer would refuse it: {how}"
        )
    verify_signature(folder, signer, version, source)


def verify_signature(folder: Path, signer: Signer, version: str, source: str) -> None:
    """`bundle.sig` is `signer`'s signature over exactly the files in the folder; else VerificationError."""
    verifying = _model_signing("verifying")

    folder = folder.resolve()
    signature = folder / SIGNATURE_FILE
    if not signature.is_file():
        if signer.accepts_unsigned(version):
            return  # released before the project signed its releases (registry.signer.unsigned_before)
        raise VerificationError(
            f"{source}: {SIGNATURE_FILE} is missing, but a signer is expected (registry.signer): do not use this "
            "bundle; releases made by the release workflow carry it (releases from before signing: set "
            "registry.signer.unsigned_before to the first signed version)"
        )
    candidates: list[tuple[str, Callable[[], Any]]]
    if signer.public_key is not None:
        key = Path(signer.public_key)
        if not key.is_file():
            raise VerificationError(f"registry.signer.public_key {key}: no such file (the signer's PEM public key)")
        candidates = [("the key " + key.name, lambda: verifying.Config().use_elliptic_key_verifier(public_key=key))]
    else:

        def keyless(identity: str) -> Callable[[], Any]:
            return lambda: verifying.Config().use_sigstore_verifier(identity=identity, oidc_issuer=signer.issuer)

        candidates = [(identity, keyless(identity)) for identity in signer.identities(version)]
    problems = []
    for who, make in candidates:
        try:  # a Sigstore verifier fetches Sigstore's trust root: failing there is not knowing, not a bad signature
            config = make().set_hashing_config(_hashing(signature))  # as signed: nothing ignored but bundle.sig
        except Exception as error:  # sigstore's TUF client raises several types
            raise RegistryError(
                f"{source}: the signature could not be checked ({_first_line(error)}): Sigstore's trust root is "
                "not reachable; try again when it is (the bundle was not used, and nothing was deleted)"
            ) from None
        try:
            config.verify(folder, signature)
            return
        except Exception as error:  # model-signing raises ValueError, sigstore and cryptography their own errors
            problems.append(f"{who}: {_first_line(error)}")
    raise VerificationError(
        f"{source}: {SIGNATURE_FILE} is not a valid signature of the expected signer over this bundle; "
        "do not use it:\n  - " + "\n  - ".join(problems)
    )
