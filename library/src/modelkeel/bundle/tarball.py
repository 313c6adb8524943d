"""The tarball published beside a bundle folder, and its checksum file.

`write_tarball` makes a reproducible `<project>-<version>.tar.gz` of the folder (sorted names,
fixed times and owners) and `<tarball>.sha256` beside it, each written to a temporary file and
renamed. `check_tarball` is what `release` runs before anything is uploaded: the checksum file
names the tarball's bytes, and the tarball holds exactly the folder's files (the signature
aside, which is added after the tarball is made), byte for byte. A tarball left from another
build, or one cut short, can therefore never be released beside a folder it does not match.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any, cast

from ..errors import VerificationError
from ..utils import atomic
from ..utils.hashing import sha256_bytes, sha256_file
from .layout import SIGNATURE_FILE, shown_name, tarball_checksum_name, tarball_name

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20  # bytes of a member hashed at a time
MAX_HEADER_BYTES = 1 << 20  # the most one read of the tar stream may ask for: a header, a PAX record, a chunk
MAX_CHECKSUM_FILE_BYTES = 4096  # the tarball's .sha256: one line


def paths_for(folder: Path) -> tuple[Path, Path]:
    """The tarball and its checksum file for a bundle folder."""
    return folder.with_name(tarball_name(folder.name)), folder.with_name(tarball_checksum_name(folder.name))


def _members(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != SIGNATURE_FILE
    )


def write_tarball(folder: Path, target: Path | None = None) -> Path:
    """The folder as a reproducible .tar.gz (entries `<folder name>/<file>`), and its `.sha256` file."""
    target = target or paths_for(folder)[0]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(folder):
            info = tarfile.TarInfo(f"{folder.name}/{path.name}")
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    data = gzip.compress(buffer.getvalue(), mtime=0)
    sums = target.with_name(f"{target.name}.sha256")
    sums.unlink(missing_ok=True)  # no checksum file ever names a tarball that is not there
    atomic.write_bytes(target, data)
    atomic.write_text(sums, f"{sha256_bytes(data)}  {target.name}\n")
    return target


def check_tarball(folder: Path) -> Path:
    """The folder's tarball, if its checksum file names its bytes and it holds exactly the folder's files.

    Bounded whatever the tarball holds: each member is refused unless it is a regular file named as one of
    the folder's files with that file's size (links, devices, directories, absolute or `..` paths never are),
    before its bytes are read; its bytes are then hashed in chunks, never read whole; and no single read of
    the decompressed stream (a tar header, a PAX or GNU long-name record) may exceed MAX_HEADER_BYTES, nor
    all of them more than the folder's files need.
    """
    tarball, sums = paths_for(folder)
    if not tarball.is_file():
        raise VerificationError(f"{tarball} is missing: rebuild the bundle with `make bundle`")
    if not sums.is_file():
        raise VerificationError(f"{sums} is missing: the tarball is not checksummed; rebuild with `make bundle`")
    expected = f"{sha256_file(tarball)}  {tarball.name}"
    with sums.open("rb") as handle:
        recorded = handle.read(MAX_CHECKSUM_FILE_BYTES + 1)
    if recorded.decode("utf-8", errors="replace").strip() != expected:
        raise VerificationError(
            f"{tarball}: does not match {sums.name} (changed or cut short); rebuild with `make bundle`"
        )
    wanted = {f"{folder.name}/{p.name}": p for p in _members(folder)}
    sizes = {name: path.stat().st_size for name, path in wanted.items()}
    # every member's header and data in 512-byte blocks, PAX records, the end-of-archive blocks and padding
    budget = sum(3 * BLOCK + MAX_HEADER_BYTES + size + BLOCK for size in sizes.values()) + tarfile.RECORDSIZE * 2
    seen: set[str] = set()

    def refuse(why: str) -> VerificationError:
        return VerificationError(f"{tarball}: {why}: the tarball is from another build; rebuild with `make bundle`")

    try:
        with (
            gzip.open(tarball, "rb") as unzipped,
            tarfile.open(fileobj=cast(Any, _BoundedReads(unzipped, budget, str(tarball))), mode="r:") as tar,
        ):
            for member in tar:
                source = wanted.get(member.name)
                if source is None or member.name in seen:
                    raise refuse(f"{shown_name(member.name)} is not a file of {folder.name}")
                shown = member.name  # one of the folder's own names
                if not member.isfile():
                    raise refuse(f"{shown} is not a regular file (a link, device or folder)")
                if member.size != sizes[member.name]:
                    raise refuse(
                        f"{shown} differs from the folder's file (its header declares {member.size:,} bytes, "
                        f"the file has {sizes[member.name]:,}; refused unread)"
                    )
                extracted = tar.extractfile(member)
                if extracted is None or _sha256_stream(extracted) != sha256_file(source):
                    raise refuse(f"{shown} differs from the folder's file")
                seen.add(member.name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise VerificationError(f"{tarball}: not a readable .tar.gz ({error}); rebuild with `make bundle`") from None
    missing = sorted(set(wanted) - seen)
    if missing:
        raise VerificationError(f"{tarball}: lacks {', '.join(missing)}: rebuild with `make bundle`")
    return tarball


def _sha256_stream(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class _BoundedReads(io.RawIOBase):
    """A read-only view of the decompressed tar stream that refuses any one read over MAX_HEADER_BYTES (a
    tar header or PAX record of hostile length, read whole by tarfile) and reading past `budget` in all."""

    def __init__(self, raw: Any, budget: int, where: str) -> None:
        super().__init__()
        self.raw, self.budget, self.where = raw, budget, where

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self.raw.seek(offset, whence)
        if position > self.budget:
            raise VerificationError(f"{self.where}: holds more than the folder's files; refused")
        return position

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_HEADER_BYTES:
            raise VerificationError(
                f"{self.where}: a tar record of more than {MAX_HEADER_BYTES:,} bytes (a hostile header?); refused"
            )
        data = self.raw.read(size)
        if self.raw.tell() > self.budget:
            raise VerificationError(f"{self.where}: holds more than the folder's files; refused")
        return data
