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
import io
import tarfile
import zlib
from pathlib import Path

from ..errors import VerificationError
from ..utils import atomic
from ..utils.hashing import sha256_bytes, sha256_file
from .layout import SIGNATURE_FILE, tarball_checksum_name, tarball_name


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
    """The folder's tarball, if its checksum file names its bytes and it holds exactly the folder's files."""
    tarball, sums = paths_for(folder)
    if not tarball.is_file():
        raise VerificationError(f"{tarball} is missing: rebuild the bundle with `make bundle`")
    if not sums.is_file():
        raise VerificationError(f"{sums} is missing: the tarball is not checksummed; rebuild with `make bundle`")
    expected = f"{sha256_file(tarball)}  {tarball.name}"
    if sums.read_text(encoding="utf-8", errors="replace").strip() != expected:
        raise VerificationError(
            f"{tarball}: does not match {sums.name} (changed or cut short); rebuild with `make bundle`"
        )
    wanted = {f"{folder.name}/{p.name}": p for p in _members(folder)}
    seen: set[str] = set()
    try:
        with tarfile.open(tarball, mode="r:gz") as tar:
            for member in tar:
                source = wanted.get(member.name)
                if source is None or not member.isfile() or member.name in seen:
                    raise VerificationError(
                        f"{tarball}: {member.name} is not a file of {folder.name}: the tarball is from another "
                        "build; rebuild with `make bundle`"
                    )
                handle = tar.extractfile(member)
                if handle is None or handle.read() != source.read_bytes():
                    raise VerificationError(
                        f"{tarball}: {member.name} differs from the folder's file: the tarball is from another "
                        "build; rebuild with `make bundle`"
                    )
                seen.add(member.name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise VerificationError(f"{tarball}: not a readable .tar.gz ({error}); rebuild with `make bundle`") from None
    missing = sorted(set(wanted) - seen)
    if missing:
        raise VerificationError(f"{tarball}: lacks {', '.join(missing)}: rebuild with `make bundle`")
    return tarball
