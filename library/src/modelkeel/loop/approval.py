"""The person's half of the loop: a challenger that needs approval is kept in the data store until a person
releases or rejects it, and every batch the loop judged is recorded there so it is not judged again.

A run that ends `needs-approval` with a trained challenger keeps it (`keep_challenger`): the files its data
manifest names and the manifest itself (`store_release_data`), each file of the bundle as an object, and a
record `challengers/<version>.json` (who, why, when, which run; every bundle file's sha256 and size; the new
batches). With GITHUB_RUN_ID set, `runs/<run id>.json` points at it, so the run's number finds it too.

`fetch_challenger` gives it back as `dist/<name>-<version>/` (each object checked against its sha256 and size
on the way out), writes its tarball, and opens it with the bundle reader (SHA256SUMS, the model hashes): what a
person approves is exactly what the loop trained. `reject` and `released` end the wait: the record goes (the
objects stay until `gc`), and the batches are recorded as judged with the person's decision.

Judged batches (`judged/<sha256>.json`) are written when the loop keeps the champion, while a challenger waits
(`pending`), and when a person rejects or releases it; `ingest` treats them as not new.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..bundle import layout
from ..errors import DataStoreError, VerificationError
from ..registry.versions import is_version, normalize_version
from ..utils import atomic
from ..utils.console import say
from .outcome import Outcome

if TYPE_CHECKING:
    from ..bundle.reader import Bundle
    from ..data.store import DataStore
    from ..settings import Settings
    from .ingest import Batch
    from .report import LoopResult

RECORD_FORMAT = 1
CHALLENGERS, RUNS, JUDGED = "challengers", "runs", "judged"
# what a person (or the loop) decided about a batch
PENDING, KEPT_CHAMPION, REJECTED, APPROVED = "pending", "kept-champion", "rejected", "approved"
DECISIONS = (PENDING, KEPT_CHAMPION, REJECTED, APPROVED)
RUN_ID_RE = re.compile(r"^[0-9]{1,20}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True)
class RunInfo:
    """The workflow run that made a decision: its id and URL, when it runs in GitHub Actions."""

    id: str | None = None
    url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunInfo:
        env = os.environ if env is None else env
        run_id = env.get("GITHUB_RUN_ID") or None
        if run_id is not None and not RUN_ID_RE.match(run_id):
            run_id = None  # not a run id GitHub makes: not used as a record name
        url = None
        if run_id and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL") or "https://github.com"
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{run_id}"
        return cls(run_id, url)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _render(record: dict) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


# --- judged batches -----------------------------------------------------------------------------------------


def judged_batches(store: DataStore) -> frozenset[str]:
    """The sha256 of every batch the loop or a person judged (one listing; the records are not read)."""
    names = store.records(JUDGED)
    return frozenset(n.removeprefix(f"{JUDGED}/").removesuffix(".json") for n in names if n.endswith(".json"))


def judged_record(store: DataStore, sha256: str) -> dict | None:
    data = store.get_record(f"{JUDGED}/{sha256}.json")
    if data is None:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return {"sha256": sha256}
    return record if isinstance(record, dict) else {"sha256": sha256}


def record_judged(
    store: DataStore,
    batches: Iterable[dict],
    *,
    outcome: str,
    decision: str,
    version: str | None,
    run: RunInfo,
) -> list[str]:
    """Record each batch (`{"sha256", "path", "rows"}`) as judged; the sha256 of each one recorded."""
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r} is none of {DECISIONS}")
    recorded, when = [], _now()
    for batch in batches:
        sha = batch["sha256"]
        record = {
            "sha256": sha,
            "path": batch.get("path"),
            "rows": batch.get("rows"),
            "outcome": outcome,
            "decision": decision,
            "version": version,
            "run": run.id,
            "run_url": run.url,
            "time": when,
        }
        store.put_record(f"{JUDGED}/{sha}.json", _render(record))
        recorded.append(sha)
    return recorded


def _batch_entries(batches: Iterable[Batch]) -> list[dict]:
    return [{"sha256": b.sha256, "path": b.path, "rows": b.rows, **({"url": b.url} if b.url else {})} for b in batches]


# --- keeping a challenger ---------------------------------------------------------------------------------


def keep_challenger(
    settings: Settings, result: LoopResult, store: DataStore, run: RunInfo | None = None
) -> dict | None:
    """Keep a needs-approval challenger in the store (its data and bundle files) and record it; its new batches
    are recorded as judged, `pending` a person's decision. Returns the challenger's record; None, keeping nothing,
    while another challenger of the same version still waits (one decision at a time: a version names one
    challenger until a person decides, so an approval can never release another than the one reviewed)."""
    from ..data.manifest import store_release_data
    from ..utils.hashing import sha256_file

    bundle = result.challenger
    if result.outcome is not Outcome.NEEDS_APPROVAL or bundle is None:
        raise ValueError("only a needs-approval run that trained a challenger keeps one")
    run = run or RunInfo.from_env()
    waiting = store.get_record(f"{CHALLENGERS}/{bundle.version}.json")
    if waiting is not None:
        earlier = _parse_record(waiting, f"{store.url}/{CHALLENGERS}/{bundle.version}.json")
        say(
            f"challenger {bundle.version} of run {earlier.get('run') or '(local)'} still waits for a person: this "
            "run's challenger is not kept. Release or reject the waiting one first (the release workflow, "
            f"challenger={bundle.version})"
        )
        return None
    # its data in the store, without a release's manifest record: the challenger's own record keeps it for gc
    manifest = store_release_data(settings, bundle.folder, bundle.lineage, store, record=False)
    files: dict[str, dict] = {}
    for path in sorted(p for p in bundle.folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        stored = store.put(path)
        files[path.name] = {"sha256": stored.sha256, "bytes": stored.bytes}
    changed = sorted(n for n, sha in bundle.checksums.items() if files.get(n, {}).get("sha256") != sha)
    if changed:
        raise DataStoreError(f"{bundle.folder}: {', '.join(changed)} changed since it was verified; run the loop again")
    batches = _batch_entries(result.new)
    record = {
        "record_format": RECORD_FORMAT,
        "name": manifest.name,
        "version": bundle.version,
        "champion": result.champion,
        "reasons": list(result.reasons),
        "created": _now(),
        "run": run.id,
        "run_url": run.url,
        "commit": (bundle.lineage.get("git") or {}).get("commit"),
        "manifest_sha256": bundle.lineage["data_manifest"]["sha256"],
        "data": [entry.as_dict() for entry in manifest.files],  # what gc keeps while it waits
        "checksums_sha256": sha256_file(bundle.folder / layout.CHECKSUMS),  # the digest a person approves
        "files": files,
        "batches": batches,
    }
    store.put_record(f"{CHALLENGERS}/{bundle.version}.json", _render(record))
    if run.id:
        pointer = {"run": run.id, "version": bundle.version, "created": record["created"]}
        store.put_record(f"{RUNS}/{run.id}.json", _render(pointer))
    record_judged(store, batches, outcome=str(result.outcome), decision=PENDING, version=bundle.version, run=run)
    where = f" (run {run.id})" if run.id else ""
    say(
        f"challenger {bundle.version}{where} kept in the data store {store.url} for a person to release or reject "
        f"(SHA256SUMS sha256 {record['checksums_sha256']}): `challenger fetch {bundle.version}`, then the release "
        f"workflow with challenger={bundle.version}"
    )
    return record


def lost_on_evidence(result: LoopResult) -> bool:
    """Whether the champion was kept because the challenger lost a real comparison: enough held-out rows and a
    gain below retrain.promotion_margin. Batches kept for want of evidence (too few rows, an interval that
    reaches zero, a gate the challenger failed) stay new, so later runs judge them together with more rows."""
    scores = result.scores
    if scores is None or scores.rows < scores.min_rows or scores.gain is None:
        return False
    return scores.gain < scores.margin


def settle(settings: Settings, result: LoopResult, store: DataStore, run: RunInfo | None = None) -> dict | None:
    """After a loop run, what its outcome leaves in the store: a needs-approval challenger is kept (its batches
    pending), a kept champion's new batches are judged, a promoted challenger's data is stored for its release.
    Returns the kept challenger's record, if any."""
    from ..data.manifest import store_release_data

    run = run or RunInfo.from_env()
    if result.outcome is Outcome.PROMOTE and result.challenger is not None:
        # its data goes to the store here, where the batches are: the release job (another runner) finds it there
        store_release_data(settings, result.challenger.folder, result.challenger.lineage, store)
        return None
    if result.outcome is Outcome.NEEDS_APPROVAL and result.challenger is not None:
        return keep_challenger(settings, result, store, run)
    if result.outcome is Outcome.KEEP_CHAMPION and result.new and lost_on_evidence(result):
        judged = record_judged(
            store,
            _batch_entries(result.new),
            outcome=str(result.outcome),
            decision=KEPT_CHAMPION,
            version=result.challenger_version,
            run=run,
        )
        say(f"retrain: {len(judged)} batch(es) judged (the champion stays) and recorded in {store.url}")
    return None


# --- finding a kept challenger ----------------------------------------------------------------------------


def _parse_record(data: bytes, source: str) -> dict:
    def bad(why: str) -> VerificationError:
        return VerificationError(f"{source}: not a valid challenger record: {why}")

    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad(f"not JSON ({error})") from None
    if not isinstance(record, dict) or record.get("record_format") != RECORD_FORMAT:
        raise bad(f"record_format must be {RECORD_FORMAT} (a newer modelkeel wrote it? upgrade)")
    version, name, files = record.get("version"), record.get("name"), record.get("files")
    if not isinstance(version, str) or not is_version(version) or normalize_version(version) != version:
        raise bad("version is not MAJOR.MINOR.PATCH")
    if not isinstance(name, str) or not FILE_NAME_RE.match(name):
        raise bad("name is not a plain project name")
    if not isinstance(files, dict) or not files or len(files) > layout.MAX_BUNDLE_FILES:
        raise bad(f"files must list 1 to {layout.MAX_BUNDLE_FILES} bundle files")
    for file, entry in files.items():
        if not isinstance(file, str) or not FILE_NAME_RE.match(file):
            raise bad(f"{str(file)[:80]!r} is not a bundle file name")
        if not isinstance(entry, dict) or not SHA256_RE.match(str(entry.get("sha256"))):
            raise bad(f"{file}: no sha256")
        size = entry.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= layout.max_file_bytes(file):
            raise bad(f"{file}: bytes is not a size a bundle file may have")
    if layout.CHECKSUMS not in files:
        raise bad(f"no {layout.CHECKSUMS}")
    batches = record.get("batches", [])
    if not isinstance(batches, list) or not all(
        isinstance(b, dict) and SHA256_RE.match(str(b.get("sha256"))) for b in batches
    ):
        raise bad("batches must list each batch's sha256")
    run = record.get("run")
    if run is not None and not (isinstance(run, str) and RUN_ID_RE.match(run)):
        raise bad("run is not a run id")
    return record


def pending(store: DataStore, unreadable: list[str] | None = None) -> list[dict]:
    """Every challenger that waits for a person, oldest version first. A record that cannot be read raises a
    VerificationError, or, when `unreadable` is given, is named there (with why) and the others are still listed."""
    found = []
    for name in store.records(CHALLENGERS):
        data = store.get_record(name)
        if data is None:
            continue
        try:
            found.append(_parse_record(data, f"{store.url}/{name}"))
        except VerificationError as error:
            if unreadable is None:
                raise
            unreadable.append(str(error))
    return sorted(found, key=lambda r: tuple(int(p) for p in r["version"].split(".")))


def _unknown(store: DataStore, what: str) -> DataStoreError:
    unreadable: list[str] = []
    records = pending(store, unreadable)
    waiting = ", ".join(f"{r['version']} (run {r.get('run') or 'unknown'})" for r in records) or "none"
    broken = f"; {len(unreadable)} unreadable record(s): {unreadable[0]}" if unreadable else ""
    return DataStoreError(
        f"{what} in the data store {store.url}. Challengers waiting for a person: {waiting}{broken} "
        "(`challenger list`). Give a version (0.2.0) or the run id of the retraining run that kept it."
    )


def find(store: DataStore, ref: str) -> dict:
    """The record of a kept challenger, by version (0.2.0 or v0.2.0) or by the id of the run that kept it;
    a DataStoreError naming the challengers there are when none matches."""
    ref = str(ref).strip()
    if is_version(ref):
        version = normalize_version(ref)
        data = store.get_record(f"{CHALLENGERS}/{version}.json")
        if data is None:
            raise _unknown(store, f"no challenger {version} waits{_judged_note(store, version)}")
        record = _parse_record(data, f"{store.url}/{CHALLENGERS}/{version}.json")
        if record["version"] != version:
            raise VerificationError(
                f"{store.url}/{CHALLENGERS}/{version}.json records challenger {record['version']}; refused"
            )
        return record
    if RUN_ID_RE.match(ref):
        pointer = store.get_record(f"{RUNS}/{ref}.json")
        if pointer is None:
            raise _unknown(store, f"no run {ref} kept a challenger that still waits")
        try:
            version = json.loads(pointer)["version"]
        except (ValueError, KeyError, TypeError):
            raise VerificationError(f"{store.url}/{RUNS}/{ref}.json: not a valid run record") from None
        if not isinstance(version, str) or not is_version(version):
            raise VerificationError(f"{store.url}/{RUNS}/{ref}.json: not a valid run record")
        data = store.get_record(f"{CHALLENGERS}/{normalize_version(version)}.json")
        kept = None if data is None else _parse_record(data, f"{store.url}/{CHALLENGERS}/{version}.json")
        if kept is None or kept.get("run") != ref:
            raise _unknown(
                store,
                f"run {ref} kept challenger {version}, but "
                + ("another run's challenger of that version replaced it" if kept else "it no longer waits"),
            )
        return kept
    raise DataStoreError(
        f"{ref[:80]!r} names no challenger: give its version (0.2.0 or v0.2.0) or the id of the run that kept it"
    )


def _judged_note(store: DataStore, version: str) -> str:
    """`: it was rejected in run N` when a judged record names the version (read only for an error message)."""
    for name in store.records(JUDGED)[:1000]:
        data = store.get_record(name)
        try:
            record = json.loads(data) if data else None
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("version") == version and record.get("decision") != PENDING:
            return f" (it was {record.get('decision')}, {record.get('time')})"
    return ""


# --- fetching, rejecting, releasing ----------------------------------------------------------------------


def fetch_challenger(store: DataStore, ref: str, dest: Path, digest: str | None = None) -> tuple[dict, Bundle]:
    """The kept challenger as `dest/<name>-<version>/` with its tarball, every object checked on the way out,
    opened by the bundle reader (SHA256SUMS and the model hashes) and checked to be the recorded version; with
    `digest` (the SHA256SUMS sha256 the loop reported, which a person reviewed), any other bundle is refused."""
    from ..bundle.reader import open_bundle
    from ..bundle.tarball import write_tarball
    from ..utils.hashing import sha256_file

    record = find(store, ref)
    if digest and record.get("checksums_sha256") != digest.strip().lower():
        raise VerificationError(
            f"challenger {record['version']} is not the one reviewed: its SHA256SUMS sha256 is "
            f"{record.get('checksums_sha256')}, {digest.strip()[:80]} was given; refused (nothing was fetched)"
        )
    folder = dest / f"{record['name']}-{record['version']}"
    with atomic.atomic_dir(folder) as staging:
        for name, entry in sorted(record["files"].items()):
            store.get(entry["sha256"], staging / name, size=entry["bytes"])
        bundle = open_bundle(staging, source=f"challenger {record['version']} from {store.url}")
        if record.get("checksums_sha256") and sha256_file(staging / layout.CHECKSUMS) != record["checksums_sha256"]:
            raise VerificationError(f"challenger {record['version']}: its SHA256SUMS is not the one kept; refused")
        if bundle.version != record["version"]:
            raise VerificationError(
                f"the bundle kept as challenger {record['version']} says it is version {bundle.version}; refused"
            )
    write_tarball(folder)
    return record, open_bundle(folder)


def _end_wait(store: DataStore, record: dict, decision: str, run: RunInfo) -> list[str]:
    judged = record_judged(
        store,
        record.get("batches", []),
        outcome=str(Outcome.NEEDS_APPROVAL),
        decision=decision,
        version=record["version"],
        run=run,
    )
    if record.get("run"):
        store.remove_record(f"{RUNS}/{record['run']}.json")
    store.remove_record(f"{CHALLENGERS}/{record['version']}.json")
    return judged


def reject(store: DataStore, ref: str, run: RunInfo | None = None) -> dict:
    """A person rejected the kept challenger: its batches are judged (rejected) and its record removed; its
    objects and data stay until `gc`, which no longer keeps them (only the challenger's record named them).
    Returns its record."""
    record = find(store, ref)
    judged = _end_wait(store, record, REJECTED, run or RunInfo.from_env())
    say(f"challenger {record['version']} rejected: {len(judged)} batch(es) recorded as judged in {store.url}")
    return record


def released(store: DataStore, ref: str, run: RunInfo | None = None) -> dict:
    """After the release of a kept challenger: its batches are judged (approved) and its record removed."""
    record = find(store, ref)
    judged = _end_wait(store, record, APPROVED, run or RunInfo.from_env())
    say(f"challenger {record['version']} released: {len(judged)} batch(es) recorded as judged in {store.url}")
    return record


def listing(records: list[dict], unreadable: Sequence[str] = ()) -> str:
    """The challengers that wait, one line each, for `challenger list`, then the records that could not be read."""
    lines = [] if records else ["no challenger waits for a person"]
    for r in records:
        run = f"run {r['run']}" if r.get("run") else "a local run"
        why = (r.get("reasons") or ["(no reason recorded)"])[-1]
        lines.append(
            f"{r['version']}  {r.get('created', '?')}  {run}, champion {r.get('champion')}, "
            f"{len(r.get('batches', []))} new batch(es): {why}"
        )
    lines += [f"unreadable: {why}" for why in unreadable]
    return "\n".join(lines)


def comment(repo: str, label: str, decision: str, version: str, run: RunInfo | None = None) -> str:
    """Comment on the model-health issue: the challenger was released (with the release's link) or rejected."""
    from ..github import issue

    run = run or RunInfo.from_env()
    by = f" in [run {run.id}]({run.url})" if run.url else ""
    if decision == APPROVED:
        server = os.environ.get("GITHUB_SERVER_URL") or "https://github.com"
        body = (
            f"## Retraining: challenger {version} released\n\nA person approved the challenger{by}: "
            f"released as [v{version}]({server}/{repo}/releases/tag/v{version}), signed, from the bundle the loop "
            "kept (checked file by file against the data store).\n"
        )
    elif decision == REJECTED:
        body = (
            f"## Retraining: challenger {version} rejected\n\nA person rejected the challenger{by}. The batches "
            "it was trained on are recorded as judged: the loop does not judge them again.\n"
        )
    else:
        raise ValueError(f"decision {decision!r}: approved or rejected")
    with tempfile.TemporaryDirectory(prefix="challenger-comment-") as scratch:
        path = Path(scratch) / "comment.md"
        path.write_text(body, encoding="utf-8")
        return issue.report(repo, label, path)
