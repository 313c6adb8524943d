"""SHA256SUMS exactly as `sha256sum` writes it (`<hex>  <name>`), and checking a folder against it."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import VerificationError
from ..utils.hashing import sha256_file
from .layout import CHECKSUMS, MAX_CHECKSUMS_BYTES, SIGNATURE_FILE, byte_size, max_file_bytes, odd_name, shown_name

UNLISTED = (CHECKSUMS, SIGNATURE_FILE)  # the two files that vouch for the others (the signature covers SHA256SUMS)


def render(folder: Path) -> str:
    """Checksum lines for every file in the folder (sorted), so `sha256sum -c SHA256SUMS` works too."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in UNLISTED and not p.name.startswith("."))
    return "".join(f"{sha256_file(p)}  {p.name}\n" for p in files)


def parse(text: str, source: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    lines = text.split("\n")  # as sha256sum reads it: only a newline ends a line (a name may hold \x85)
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line
    for number, line in enumerate((line.removesuffix("\r") for line in lines), start=1):
        # `<64 hex> <mode><name>`, mode ' ' (text) or '*' (binary), as sha256sum writes and reads it
        digest, sep, name = line[:64], line[64:65], line[66:]
        valid_mode = line[65:66] in (" ", "*")
        if sep != " " or not valid_mode or not re.fullmatch(r"[0-9a-fA-F]{64}", digest) or not name:
            raise VerificationError(
                f"{source}: {CHECKSUMS} line {number} is not '<sha256>  <file name>': {shown_name(line)}"
            )
        why = odd_name(name)
        if why is not None:
            raise VerificationError(
                f"{source}: {CHECKSUMS} line {number} names the file {shown_name(name)}, which cannot be a bundle "
                f"file: {why}. A bundle's files are plain names in one folder; do not use this bundle"
            )
        if name in entries:
            raise VerificationError(f"{source}: {CHECKSUMS} lists {shown_name(name)} twice; do not use this bundle")
        entries[name] = digest.lower()
    if not entries:
        raise VerificationError(f"{source}: {CHECKSUMS} lists no files")
    return entries


def read(path: Path, source: str) -> dict[str, str]:
    """The entries of a SHA256SUMS file, read only if it is at most MAX_CHECKSUMS_BYTES long."""
    with path.open("rb") as handle:
        data = handle.read(MAX_CHECKSUMS_BYTES + 1)
    if len(data) > MAX_CHECKSUMS_BYTES:
        raise VerificationError(
            f"{source}: {CHECKSUMS} is larger than {byte_size(MAX_CHECKSUMS_BYTES)} ({MAX_CHECKSUMS_BYTES:,} "
            "bytes), far more than a bundle lists; refused unread: do not use this bundle"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError(f"{source}: {CHECKSUMS} is not text (not UTF-8)") from None
    return parse(text, source)


def verify_folder(folder: Path, source: str | None = None, required: tuple[str, ...] = ()) -> dict[str, str]:
    """Every listed file is present with its digest and nothing unlisted is there; the first problem names the file.

    The signature file is the one file allowed beside them unlisted: it signs SHA256SUMS and every
    file, and is checked by `bundle/signing.py` when the consumer expects a signer."""
    source = source or str(folder)
    sums = folder / CHECKSUMS
    if not sums.is_file():
        raise VerificationError(f"{source}: {CHECKSUMS} is missing, so nothing in it can be trusted")
    expected = read(sums, source)
    for name in required:
        if name not in expected:
            raise VerificationError(f"{source}: {name}: missing from the bundle (every bundle has it)")
    # hidden entries (.DS_Store, a mounted ConfigMap's ..data) cannot be listed (names never start with
    # a dot), so they are not part of a bundle either way
    present = {p.name for p in folder.iterdir() if p.name not in UNLISTED and not p.name.startswith(".")}
    for name in sorted(set(expected) - present):
        raise VerificationError(f"{source}: {name}: listed in {CHECKSUMS} but missing")
    for name in sorted(present - set(expected)):
        raise VerificationError(f"{source}: {name}: not listed in {CHECKSUMS} (unexpected file)")
    for name in sorted(expected):
        size, cap = (folder / name).stat().st_size, max_file_bytes(name)
        if size > cap:
            raise VerificationError(
                f"{source}: {name}: {size:,} bytes, more than the {byte_size(cap)} a bundle's {name} may hold; "
                "refused unread: do not use this bundle"
            )
    for name, digest in sorted(expected.items()):
        if sha256_file(folder / name) != digest:
            raise VerificationError(f"{source}: {name}: checksum mismatch (the file changed after the bundle was made)")
    return expected
