"""What the data store keeps, and what a person removes: `gc` and `forget`.

`gc` removes the objects no release and no waiting challenger references: a reference is any sha256 a
record under `manifests/` (every release's data manifest, recorded before the release is published) or
`challengers/` (a kept challenger: its data and its bundle's files) names; interrupted uploads go too (staging
keys, and an object store's unfinished multipart uploads under the staging prefix). Objects and uploads younger
than `min_age` are left alone, so a release uploading its data right now (its manifest not yet recorded)
loses nothing. `--dry-run` lists what would go.

`forget` removes one object a person must delete (personal data, a takedown), whatever references it, and
records why under `forgotten/<sha256>.json`: when, who, the reason, and which releases and challengers can
then no longer be rebuilt. A forgotten object is never stored again (data/manifest.py refuses it), and
`rebuild` of such a release says which file was forgotten and why.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import DataStoreError
from .manifest import recorded_release
from .store import SHA256_RE, DataStore

REFERENCING_FOLDERS = ("manifests", "challengers")
DEFAULT_MIN_AGE_HOURS = 24.0


@dataclass(frozen=True)
class Collected:
    removed: tuple[str, ...]
    removed_bytes: int
    kept: int
    young: tuple[str, ...]  # unreferenced, but younger than min_age: left for the next gc
    staging_removed: tuple[str, ...]
    dry_run: bool

    def describe(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"gc: {verb} {len(self.removed)} object(s) no release references ({self.removed_bytes:,} bytes); "
            f"kept {self.kept} referenced, {len(self.young)} too young to judge",
        ]
        lines += [f"  {sha}" for sha in self.removed]
        if self.staging_removed:
            lines.append(f"gc: {verb} {len(self.staging_removed)} interrupted upload(s) in staging/")
        return "\n".join(lines)


def _sha256s(value: object) -> Iterator[str]:
    """Every sha256 a record names (any value under a key `sha256`, at any depth)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "sha256" and isinstance(inner, str) and SHA256_RE.match(inner):
                yield inner
            else:
                yield from _sha256s(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _sha256s(inner)


def references(store: DataStore) -> dict[str, list[str]]:
    """sha256 -> the records naming it (`manifests/<project>/<version>.json`, `challengers/<version>.json`).

    An unreadable record stops gc: keeping what it may reference is the only safe answer."""
    found: dict[str, list[str]] = {}
    for folder in REFERENCING_FOLDERS:
        for name in store.records(folder):
            data = store.get_record(name)
            if data is None:
                continue
            try:
                record = json.loads(data)
            except ValueError:
                raise DataStoreError(
                    f"{store.url}/{name} is not JSON: what it references cannot be told, so nothing was removed; "
                    "repair or remove that record"
                ) from None
            for sha in set(_sha256s(record)):
                found.setdefault(sha, []).append(name)
    return found


def collect(store: DataStore, *, min_age_hours: float = DEFAULT_MIN_AGE_HOURS, dry_run: bool = False) -> Collected:
    """Remove what no release references (see the module docstring)."""
    if min_age_hours < 0:
        raise DataStoreError("gc --min-age must be 0 hours or more")
    cutoff = time.time() - min_age_hours * 3600
    referenced = references(store)
    removed, young, size, kept = [], [], 0, 0
    for stored in store.objects():
        if stored.sha256 in referenced:
            kept += 1
            continue
        modified = store.modified(store.key(stored.sha256))
        if min_age_hours > 0 and (modified is None or modified > cutoff):
            young.append(stored.sha256)
            continue
        if not dry_run:
            store.remove(stored.sha256)
        removed.append(stored.sha256)
        size += stored.bytes
    staging = []
    for key in store.staged():
        modified = store.modified(key)
        if min_age_hours > 0 and (modified is None or modified > cutoff):
            continue
        if not dry_run:
            store.remove_staged(key)
        staging.append(key)
    for upload in store.abandoned_uploads():  # an object store's unfinished multipart uploads: parts, no key
        if min_age_hours > 0 and (upload["started"] is None or upload["started"] > cutoff):
            continue
        if not dry_run:
            store.abort_upload(upload)
        staging.append(f"{upload['key']} (unfinished multipart upload)")
    return Collected(tuple(removed), size, kept, tuple(young), tuple(staging), dry_run)


@dataclass(frozen=True)
class Forgotten:
    sha256: str
    was_stored: bool
    record: dict

    def describe(self) -> str:
        what = "removed" if self.was_stored else "was not in the store; recorded so it is never stored"
        lines = [f"forget: {self.sha256} {what} (forgotten/{self.sha256}.json)"]
        releases = self.record["releases"]
        challengers = self.record["challengers"]
        if releases or challengers:
            lines.append("forget: these can no longer be rebuilt: " + ", ".join([*releases, *challengers]))
        else:
            lines.append("forget: no release referenced it")
        return "\n".join(lines)


def forget(store: DataStore, sha256: str, reason: str, by: str | None = None) -> Forgotten:
    """Remove the object whatever references it, and record why and what can no longer be rebuilt."""
    if not SHA256_RE.match(sha256):
        raise DataStoreError(f"forget: {sha256[:80]!r} is not a sha256 (64 lowercase hex digits)")
    if not reason.strip():
        raise DataStoreError("forget: say why (--reason): the record is what an auditor reads")
    named = references(store).get(sha256, [])
    releases = sorted({" ".join(found) for name in named if (found := recorded_release(name)) is not None})
    challengers = sorted(
        "challenger " + name.removeprefix("challengers/").removesuffix(".json")
        for name in named
        if name.startswith("challengers/")
    )
    stored = store.stat(sha256)
    record = {
        "sha256": sha256,
        "bytes": stored.bytes if stored else None,
        "removed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "by": by or os.environ.get("GITHUB_ACTOR") or _user(),
        "reason": reason.strip()[:2000],
        "releases": releases,
        "challengers": challengers,
    }
    # the record first: a removal interrupted after it still refuses the object on the next release
    store.put_record(f"forgotten/{sha256}.json", (json.dumps(record, indent=2) + "\n").encode())
    was_stored = store.remove(sha256)
    return Forgotten(sha256, was_stored, record)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
