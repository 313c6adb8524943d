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
client); key-pair verification runs anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import VerificationError
from ..settings import Signer
from .layout import SIGNATURE_FILE


def _hashing(*signatures: Path):
    """Every file of the folder but the signature itself (under its final and its temporary name)."""
    from model_signing import hashing

    return hashing.Config().use_file_serialization().set_ignored_paths(paths=list(signatures), ignore_git_paths=False)


def sign(folder: Path, private_key: Path | None = None) -> Path:
    """Sign every file of the bundle folder into `<folder>/bundle.sig` (keyless with Sigstore when no key).

    The signature is written to a temporary file and renamed, so an interrupted run leaves none."""
    from model_signing import signing

    folder = folder.resolve()
    signature = folder / SIGNATURE_FILE
    partial = folder / f".{SIGNATURE_FILE}.partial"
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


def verify_signature(folder: Path, signer: Signer, version: str, source: str) -> None:
    """`bundle.sig` is `signer`'s signature over exactly the files in the folder; else VerificationError."""
    from model_signing import verifying

    folder = folder.resolve()
    signature = folder / SIGNATURE_FILE
    if not signature.is_file():
        raise VerificationError(
            f"{source}: {SIGNATURE_FILE} is missing, but a signer is expected (registry.signer): do not use this "
            "bundle; releases made by the release workflow carry it"
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
    for who, config in candidates:
        try:  # building a Sigstore verifier fetches its trust root: a failure there is a failure to verify
            config().verify(folder, signature)
            return
        except Exception as error:  # model-signing raises ValueError, sigstore and cryptography their own errors
            problems.append(f"{who}: {(str(error).splitlines() or [type(error).__name__])[0][:300]}")
    raise VerificationError(
        f"{source}: {SIGNATURE_FILE} is not a valid signature of the expected signer over this bundle; "
        "do not use it:\n  - " + "\n  - ".join(problems)
    )
