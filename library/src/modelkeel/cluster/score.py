"""Batch scoring on the cluster (`predict --engine dask`): a folder of Parquet in, a folder of Parquet out.

Each input file is one partition, scored by one task. The client opens the bundle (with the same trust checks
as the pandas `predict`: `bundle/trust.py`) and ships only what a worker needs (`ShippedModel`: the ONNX bytes
and their sha256, the signature and the contract's text), scattered once to every worker. A worker builds the
onnxruntime session and the compiled input check once per model (`worker_bundle`, cached in the worker's process
by sha256, its thread pools as large as the worker's threads: `worker_session`) and, per partition:

- applies the pandas `predict`'s limits to the file (`runtime/scoring.read_input`: bytes, the Parquet footer's
  row count, duplicated column names) before it reads a row; a remote file is copied at most `max_bytes` + 1
  bytes, whether or not its store reports its size (`read_partition`);
- scores the rows with the pandas engine's `score_frame` (the compiled check, else pandera), so a row gets the
  prediction the pandas engine gives it. When the contract refuses some rows, pandera's lazy report names each
  failing row: those rows are written aside to `_rejected/part-<n>.parquet` (as read, with `row`, their
  position in the file, and `reason`), and the others are scored;
- writes `part-<n>.parquet`: the input columns as the pandas `predict` writes them, and the prediction columns.
  A partition of which no row passes writes no `part-<n>`; one of which every row passes writes no rejected file.
  A run of which no row passes fails as the pandas `predict` does (nothing is published).

A partition that fails as a whole (unreadable, over a limit, a model column missing, a column named like a
prediction) fails the run with that partition's DataError or DataValidationError. The rejected rows live in
`_rejected/`, not `rejected/`: readers of a Parquet folder (pyarrow, pandas, Dask, Spark) skip names that
start with `_` or `.`, so `pd.read_parquet(output)` reads the scored rows only.

Nothing half-written: every part goes to a staging folder beside the output (`.<name>.<run>.tmp`), and
`_SUCCESS` (a JSON summary that lists the output's files under `files`) is written last. A local output appears
by renaming the staging folder, only after every partition succeeded; with `overwrite`, the old folder is moved
aside first and back if the rename fails. On an object store (an fsspec URL) there is no rename: the staged
parts are copied into the output under names of this run (`part-<n>-<run>.parquet`), beside the old output's
if there is one, then `_SUCCESS` is written (one PUT: it names the old files or the new), and only then are
the old output's objects removed; a failure before `_SUCCESS` removes this run's copies and leaves the old
output whole. So READERS OF AN OBJECT-STORE OUTPUT MUST CHECK `_SUCCESS` and read the files it lists. An
existing output is refused unless `overwrite`. On any failure the staging is removed and the error raised:
the partition's own error (or, when the contract refused every row, a DataValidationError as the pandas
`predict` raises), or a ClusterError for a lost worker or a broken connection. A task still running when the run failed (Dask cannot stop a running thread) may write
into the removed staging folder: it fails there (a worker never creates the staging folder), and at worst
leaves a hidden `.tmp` entry that `utils/atomic.remove_stale_staging` clears.

Workers read and write the paths they are given: with a remote cluster, local paths must be on a shared
filesystem, and an object store's credentials must be in the workers' environment. `score_dataset` takes an
open `Cluster` (cluster/session.py) and paths, so a benchmark or a pipeline calls it as the CLI does.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import DataError, DataValidationError, VerificationError
from ..runtime.scoring import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, _positive, check_no_clash, read_input, score_frame

if TYPE_CHECKING:
    from ..bundle.reader import Bundle
    from .session import Cluster

PARQUET_SUFFIXES = (".parquet", ".pq")
REJECTED = "_rejected"  # `_`: readers of the output folder skip it (see the module's docstring)
SUCCESS = "_SUCCESS"
ROW, REASON = "row", "reason"  # the columns a rejected row gets: its position in its file, and why
MAX_MODELS = 4  # models whose session a worker keeps (least recently used dropped first)
MAX_REASON_CHARS = 1000  # a row failing many checks gets a reason of at most this many characters
COPY_CHUNK = 1 << 20  # bytes of a remote partition file copied at a time


def part_name(n: int) -> str:
    return f"part-{n:05d}.parquet"


# ---- what a worker gets, and builds once ------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedModel:
    """What a worker needs to score, and nothing else of the bundle: its checks ran on the client."""

    sha256: str  # of model.onnx, as the bundle's SHA256SUMS names it
    model: bytes
    signature: dict
    schema_text: str
    version: str
    source: str  # the bundle folder as the client named it, for messages

    @classmethod
    def of(cls, bundle: Bundle) -> ShippedModel:
        from ..bundle import layout

        return cls(
            sha256=bundle.checksums[layout.MODEL],
            model=bundle.model_path.read_bytes(),
            signature=bundle.signature,
            schema_text=bundle.schema_text,
            version=bundle.version,
            source=str(bundle.folder),
        )


_MODELS: collections.OrderedDict[str, Bundle] = collections.OrderedDict()
_BUILDS: collections.Counter[str] = collections.Counter()  # sessions built in this process, by model sha256
_LOCK = threading.Lock()


def worker_bundle(model: ShippedModel) -> Bundle:
    """The shipped model as a Bundle, its onnxruntime session and compiled input check built once per sha256 in
    this process (a worker), and reused by every later partition; the bytes are checked against the sha256."""
    from ..bundle import layout
    from ..bundle.reader import Bundle
    from ..utils.hashing import sha256_bytes

    with _LOCK:
        cached = _MODELS.get(model.sha256)
        if cached is not None:
            _MODELS.move_to_end(model.sha256)
            return cached
        if sha256_bytes(model.model) != model.sha256:
            raise VerificationError(f"{model.source}: the model shipped to the worker does not match its sha256")
        bundle = Bundle(
            folder=Path(model.source),
            checksums={layout.MODEL: model.sha256},
            lineage={"version": model.version},
            metrics={},
            parity={},
            signature=model.signature,
            schema_text=model.schema_text,
        )
        bundle.__dict__["session"] = worker_session(model.model)  # Bundle.session would read the client's folder
        bundle.precheck  # noqa: B018 -- compiled now, once, not by the first partition's threads at once
        bundle.classes  # noqa: B018
        _MODELS[model.sha256] = bundle
        _BUILDS[model.sha256] += 1
        while len(_MODELS) > MAX_MODELS:
            _MODELS.popitem(last=False)
        return bundle


def worker_threads(dask_worker: Any = None) -> int | None:
    """The threads of the Dask worker this runs on (None: not on a worker); `client.run(worker_threads)` passes
    the worker as `dask_worker`, since a function it runs is outside any task."""
    if dask_worker is None:
        from distributed import get_worker

        try:
            dask_worker = get_worker()
        except ValueError:  # not on a Dask worker (called directly)
            return None
    return int(dask_worker.state.nthreads)


def worker_session(model: bytes):
    """`runtime/session.session`'s onnxruntime session (the same options), its thread pools as large as the
    worker's threads: onnxruntime's default is a thread per core for each session, so two single-threaded
    workers on two cores would run four threads on them (and every worker of a larger machine one per core).
    Off a worker, onnxruntime's default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as runtime/session.py says why
    threads = worker_threads()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def session_threads() -> dict[str, dict[str, int]]:
    """The thread pools of the sessions this process keeps, by model sha256 (on each worker:
    `client.run(session_threads)`)."""
    with _LOCK:
        found = {sha: bundle.session.get_session_options() for sha, bundle in _MODELS.items()}
    return {sha: {"intra_op": o.intra_op_num_threads, "inter_op": o.inter_op_num_threads} for sha, o in found.items()}


def session_builds() -> dict[str, int]:
    """How many sessions this process built, by model sha256 (on each worker: `client.run(session_builds)`)."""
    with _LOCK:
        return dict(_BUILDS)


# ---- one partition, on a worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_rows: int = DEFAULT_MAX_ROWS  # rows of one partition file
    max_bytes: int = DEFAULT_MAX_BYTES  # bytes of one partition file


@dataclass(frozen=True)
class PartitionResult:
    """What a task returns to the client: counts, never rows (and, when the contract refused rows, the pandas
    engine's failure report of the partition: columns, checks, counts and a few examples; not in `_SUCCESS`)."""

    n: int
    source: str
    rows: int
    scored: int
    rejected: int
    worker: str
    failures: list | None = None

    def counts(self) -> dict:
        """What `_SUCCESS` records of the partition."""
        return {k: v for k, v in asdict(self).items() if k != "failures"}


def is_url(text: str) -> bool:
    return "://" in text


def read_partition(source: str, limits: Limits) -> pd.DataFrame:
    """One input file as the pandas `predict` reads it, with its limits (`read_input`); a URL is copied to a
    temporary local file first, so the same checks read the same bytes. The copy is bounded: a file whose size
    the store reports over `max_bytes` is refused before a byte is read, and one whose size it does not report
    (an HTTP server that sends no length) is copied at most `max_bytes` + 1 bytes, then refused."""
    if not is_url(source):
        return read_input(Path(source), max_rows=limits.max_rows, max_bytes=limits.max_bytes)
    from fsspec.core import url_to_fs

    fs, key = url_to_fs(source)
    try:
        size = fs.size(key)
    except FileNotFoundError:
        raise DataError(f"{source}: input file not found (was it removed while the run went on?)") from None
    if size is not None and size > limits.max_bytes:
        raise DataError(
            f"{source}: {size:,} bytes, more than the limit of {limits.max_bytes:,} bytes for one file; split it "
            "into smaller files, or raise the limit (predict --max-bytes N)"
        )
    with tempfile.TemporaryDirectory(prefix="modelkeel-partition-") as folder:
        local = Path(folder) / Path(key).name
        copied = 0
        with fs.open(key, "rb") as remote, open(local, "wb") as copy:
            while chunk := remote.read(min(COPY_CHUNK, limits.max_bytes + 1 - copied)):
                copied += len(chunk)
                if copied > limits.max_bytes:
                    raise DataError(
                        f"{source}: more than the limit of {limits.max_bytes:,} bytes for one file (its size was not "
                        "known before it was read; the copy stopped at the limit); split it into smaller files, or "
                        "raise the limit (predict --max-bytes N)"
                    )
                copy.write(chunk)
        try:
            return read_input(local, max_rows=limits.max_rows, max_bytes=limits.max_bytes)
        except DataError as error:
            raise type(error)(str(error).replace(str(local), source)) from None


def _reasons(bundle: Bundle, frame: pd.DataFrame, source: str) -> dict[int, str]:
    """Each failing row's position -> why the contract refuses it (every check it fails); DataValidationError
    (the pandas engine's report) when a failure belongs to no row (a column missing or of the wrong kind)."""
    import pandera.pandas as pa

    from ..data.contract import failure_report, format_report, parse_times, quoted_prefix, read_bools

    schema = bundle.input_schema
    checked, cases = read_bools(parse_times(frame, bundle.time), schema)  # as Bundle.validate_input reads them
    found = None
    try:
        schema.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as error:
        found = error.failure_cases  # (raised from here, an error would carry SchemaErrors, which does not pickle)
    if found is not None:
        cases = pd.concat([cases, found], ignore_index=True) if len(cases) else found
    if not len(cases):
        return {}
    if cases["index"].isna().any():
        report = failure_report(cases)
        raise DataValidationError(format_report(source, report), {"source": source, "failures": report})
    reasons: dict[int, list[str]] = collections.defaultdict(list)
    for index, column, check, value in zip(
        cases["index"], cases["column"], cases["check"], cases["failure_case"], strict=True
    ):
        reasons[int(index)].append(f"column {quoted_prefix(str(column))!r}, check {check}: {quoted_prefix(value)!r}")
    return {i: "; ".join(found)[:MAX_REASON_CHARS] for i, found in reasons.items()}


def score_rows(
    bundle: Bundle, frame: pd.DataFrame, source: str, max_rows: int = DEFAULT_MAX_ROWS
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list | None]:
    """(scored rows, rejected rows, the failure report): the rows the contract accepts scored as the pandas engine
    scores them, and the others as read, with their position (`row`) and `reason`; None where there are no such
    rows. The report is the pandas engine's (`DataValidationError.report["failures"]`) when rows were refused."""
    frame = frame.reset_index(drop=True)
    check_no_clash(frame, [ROW, REASON], source)  # whether or not some row is rejected: the same rule for any data
    try:
        return score_frame(bundle, frame, source, max_rows=max_rows), None, None
    except DataValidationError as error:
        refused = error
    # (out of the except block: an error raised here would carry pandera's SchemaErrors, which does not pickle)
    reasons = _reasons(bundle, frame, source)
    if not reasons:
        raise refused.with_traceback(None)  # refused, yet no row is named: the pandas engine's report stands
    bad = frame.index.isin(list(reasons))
    rejected = frame[bad].copy()
    rejected[ROW] = rejected.index
    rejected[REASON] = [reasons[i] for i in rejected.index]
    good = frame[~bad]
    scored = score_frame(bundle, good, source, max_rows=max_rows) if len(good) else None
    return scored, rejected, list(refused.report.get("failures") or [])


def _write(frame: pd.DataFrame, fs: Any, path: str) -> None:
    """The frame as Parquet at `path`, whole or not at all; never creates a folder (see the module's docstring)."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "xb") as handle:  # fails if the staging folder was removed
                frame.to_parquet(handle, index=False)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        with fs.open(path, "wb") as handle:  # an object appears whole when it is closed
            frame.to_parquet(handle, index=False)


def score_partition(n: int, source: str, *, model: ShippedModel, staging: str, limits: Limits) -> PartitionResult:
    """Score one partition file into `staging` (a worker's task; module-level so that workers import it)."""
    from fsspec.core import url_to_fs

    bundle = worker_bundle(model)
    frame = read_partition(source, limits)
    scored, rejected, failures = score_rows(bundle, frame, source, _positive(limits.max_rows, "max_rows"))
    fs, root = url_to_fs(staging)
    try:
        if scored is not None:
            _write(scored, fs, f"{root}/{part_name(n)}")
        if rejected is not None:
            _write(rejected, fs, f"{root}/{REJECTED}/{part_name(n)}")
    except OSError as error:  # on a worker, not the connection: the client's Cluster.run must not take it for one
        raise DataError(
            f"{source}: cannot write its scores under {staging} ({type(error).__name__}: {error})"
        ) from None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except ValueError:  # not on a Dask worker (called directly)
        worker = "local"
    return PartitionResult(
        n,
        source,
        len(frame),
        0 if scored is None else len(scored),
        0 if rejected is None else len(rejected),
        worker,
        failures,
    )


# ---- the run, on the client -------------------------------------------------------------------------------


def list_partitions(input: str) -> list[str]:
    """The Parquet files `input` names, in order: a folder (its .parquet/.pq files, sub-folders too, skipping
    names that start with `_` or `.`: markers, staging, rejected rows), a glob, one file, or an fsspec URL of
    any of these; else a DataError."""
    found: list[tuple[str, str]] = []  # (the file, its path inside the folder given, or its name)
    one_file = False  # `input` names a file itself
    if is_url(input):
        from fsspec.core import get_fs_token_paths

        from ..data.remote import check_no_credentials

        check_no_credentials(input, "predict --input")
        try:
            fs, _, paths = get_fs_token_paths(input)
        except (ValueError, ImportError, OSError) as error:
            raise DataError(f"predict --input {input!r}: cannot open this URL ({error})") from None
        for key in sorted(str(p) for p in paths):
            if fs.isdir(key):
                found += [(fs.unstrip_protocol(k), k[len(key) :]) for k in sorted(str(k) for k in fs.find(key))]
            else:
                found.append((fs.unstrip_protocol(key), key.rsplit("/", 1)[-1]))
                one_file = not any(ch in input for ch in "*?[")
    else:
        path = Path(input)
        if path.is_dir():
            found = [(str(p), str(p.relative_to(path))) for p in sorted(path.rglob("*")) if p.is_file()]
        elif any(ch in input for ch in "*?["):
            found = [(p, Path(p).name) for p in sorted(glob.glob(input, recursive=True)) if Path(p).is_file()]
        elif path.is_file():
            found, one_file = [(str(path), path.name)], True
        else:
            raise DataError(f"predict --input {input}: no such file or folder")
    if one_file and not found[0][0].lower().endswith(PARQUET_SUFFIXES):  # say why the file named is not read
        raise DataError(
            f"predict --input {input}: not a Parquet file; --engine dask (compute.engine in params.yaml) reads "
            ".parquet or .pq files: pass --engine pandas to score a CSV file in this process"
        )
    files = [
        file
        for file, inside in found
        if file.lower().endswith(PARQUET_SUFFIXES)
        and not any(part.startswith(("_", ".")) for part in inside.replace("\\", "/").split("/") if part)
    ]
    if not files:
        raise DataError(
            f"predict --input {input}: no Parquet file (.parquet, .pq) there; --engine dask reads Parquet only "
            "(convert CSV files first, or score them with --engine pandas)"
        )
    return files


@dataclass(frozen=True)
class Scored:
    """A finished run: where its output is, and its counts (what lineage or a benchmark records)."""

    output: str
    partitions: int
    rows: int
    scored: int
    rejected: int
    model_sha256: str
    version: str


class Output:
    """The output folder (local) or prefix (fsspec URL), and its staging beside it."""

    def __init__(self, output: str) -> None:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        if is_url(output):
            from ..data.remote import check_no_credentials

            check_no_credentials(output, "predict --output")
        self.given = output
        self.fs, path = url_to_fs(output)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.path = path.rstrip("/")
        parent, name = self.path.rsplit("/", 1) if "/" in self.path else ("", self.path)
        if not name or (not self.local and not parent):
            raise DataError(
                f"predict --output {output!r}: name a folder to write the scores into (inside a bucket, on an object "
                "store: s3://BUCKET/scores)"
            )
        self.run = secrets.token_hex(6)  # names this run's staging, and its parts on an object store
        self.staging = f"{parent}/.{name}.{self.run}.tmp" if parent else f".{name}.{self.run}.tmp"
        self.staging_url = self.staging if self.local else self.fs.unstrip_protocol(self.staging)

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def check_free(self, overwrite: bool) -> None:
        """A DataError if the output exists and `overwrite` is not set."""
        if self.local and Path(self.path).is_file():
            raise DataError(f"predict --output {self.given}: is a file; --engine dask writes a folder of Parquet parts")
        if not overwrite and self.exists():
            raise DataError(
                f"predict --output {self.given}: already exists; choose another folder, or pass --overwrite "
                "to replace it (score_dataset(..., overwrite=True))"
            )

    def open_staging(self) -> None:
        if self.local:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.staging).mkdir()
            (Path(self.staging) / REJECTED).mkdir()

    def remove_staging(self) -> None:
        if self.local:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        with contextlib.suppress(OSError):  # cleaning up must not hide what went wrong
            self._remove(self.staging)

    def publish(self, summary: dict, overwrite: bool) -> None:
        """The staging becomes the output, `_SUCCESS` (listing its files) written last; an output replaced
        (`overwrite`) stays whole until the new one is (see the module's docstring)."""
        if self.local:
            self._publish_folder(summary, overwrite)
        else:
            self._publish_objects(summary)

    def _publish_folder(self, summary: dict, overwrite: bool) -> None:
        staging = Path(self.staging)
        for stray in staging.rglob(".*.tmp"):  # a part a killed worker left half-written (retried elsewhere)
            stray.unlink(missing_ok=True)
        rejected = staging / REJECTED
        if rejected.is_dir() and not any(rejected.iterdir()):
            rejected.rmdir()
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        (staging / SUCCESS).write_text(_marker(summary, files), encoding="utf-8")
        target = Path(self.path)
        if not (overwrite and target.exists()):
            os.replace(staging, target)  # refuses a folder made meanwhile that is not empty
            return
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        old = retired / target.name
        os.replace(target, old)
        try:
            os.replace(staging, target)
        except BaseException:
            os.replace(old, target)  # the old output back as it was (if this fails too, it is left in `retired`)
            retired.rmdir()
            raise
        shutil.rmtree(retired, ignore_errors=True)

    def _publish_objects(self, summary: dict) -> None:
        """An object store has no rename: each staged part is copied beside the old output's under a name of
        this run (`part-<n>-<run>.parquet`), then `_SUCCESS` (one PUT: readers see the old listing or the new)
        names them, and only then are the old output's objects removed. A failure before `_SUCCESS` removes
        the copies made and leaves the old output as it was."""
        self.fs.invalidate_cache()  # the workers wrote what this client's listings have not seen
        staged = sorted(self.fs.find(self.staging))
        names = {key: self._run_name(key[len(self.staging) + 1 :]) for key in staged}
        old = set(self.fs.find(self.path)) if self.exists() else set()
        copied: list[str] = []
        try:
            for key, name in names.items():
                copied.append(f"{self.path}/{name}")
                self.fs.copy(key, copied[-1])
            self.fs.pipe(f"{self.path}/{SUCCESS}", _marker(summary, sorted(names.values())).encode("utf-8"))
        except BaseException:
            with contextlib.suppress(Exception):  # cut short: this run's copies go, the old output stays
                self.fs.rm([key for key in copied if key not in old])
            raise
        stale = sorted(old - set(copied) - {f"{self.path}/{SUCCESS}"})
        with contextlib.suppress(OSError):  # the output is whole; an old part or a staging copy left is litter
            if stale:
                self.fs.rm(stale)
            self._remove(self.staging)

    def _run_name(self, name: str) -> str:
        """`part-00001.parquet` as this run names it on an object store: `part-00001-<run>.parquet`."""
        stem, dot, suffix = name.rpartition(".")
        return f"{stem}-{self.run}.{suffix}" if dot else f"{name}-{self.run}"

    def _remove(self, prefix: str) -> None:
        """Every object under `prefix` (on an object store a folder is only the keys' common prefix)."""
        self.fs.invalidate_cache()
        keys = self.fs.find(prefix)
        if keys:
            self.fs.rm(keys)


def _marker(summary: dict, files: list[str]) -> str:
    """`_SUCCESS`'s text: the run's summary and the output's files (paths inside it, `_SUCCESS` aside)."""
    return json.dumps({**summary, "files": files}, indent=2, sort_keys=True) + "\n"


def check_output(output: str, overwrite: bool = False) -> None:
    """A DataError if `output` exists and `overwrite` is not set: callers check before they start a cluster."""
    Output(str(output)).check_free(overwrite)


def check_some_scored(input: str, results: list[PartitionResult]) -> None:
    """DataValidationError when the contract refused every row (and there were rows): the pandas `predict` fails
    on a file of which any row is refused, and a run that scored nothing is no success to publish. The message is
    the pandas engine's report of the first partition that refused rows, after a line saying it was every row."""
    from ..data.contract import format_report

    rows = sum(r.rows for r in results)
    if not rows or any(r.scored for r in results):
        return
    first = next(r for r in results if r.rejected)
    raise DataValidationError(
        f"predict --input {input}: the contract refuses every one of its {rows:,} rows ({len(results)} "
        "partition(s)), so nothing was written. The first partition's report:\n"
        + format_report(first.source, first.failures or []),
        {"source": first.source, "failures": first.failures or [], "rows": rows, "partitions": len(results)},
    )


def score_dataset(
    cluster: Cluster,
    bundle: Bundle,
    input: str | Path,
    output: str | Path,
    *,
    overwrite: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Scored:
    """Score every Parquet file `input` names with an opened (so checked) `bundle` on `cluster`, into the folder
    (or prefix) `output`: `part-<n>.parquet` per partition, rejected rows in `_rejected/`, `_SUCCESS` last.
    Only counts come back to the client. See the module's docstring for what a failure leaves (nothing)."""
    limits = Limits(_positive(max_rows, "max_rows"), _positive(max_bytes, "max_bytes"))
    target = Output(str(output))
    target.check_free(overwrite)
    sources = list_partitions(str(input))
    model = ShippedModel.of(bundle)
    client = cluster.client
    target.open_staging()
    futures: list = []
    try:
        shipped = cluster.run("shipping the model", lambda: client.scatter(model, broadcast=True, hash=False))
        futures = client.map(
            score_partition,
            range(len(sources)),
            sources,
            model=shipped,
            staging=target.staging_url,
            limits=limits,
            pure=False,
        )
        results: list[PartitionResult] = cluster.run(
            f"scoring {len(sources)} partition(s) of {input}", lambda: client.gather(futures)
        )
        check_some_scored(str(input), results)
        summary = {
            "bundle": model.source,
            "version": model.version,
            "model_sha256": model.sha256,
            "input": str(input),
            "partitions": [r.counts() for r in results],
        }
        try:
            target.publish(summary, overwrite)
        except OSError as error:
            kept = "; the output there before is as it was" if overwrite and target.exists() else ""
            raise DataError(
                f"predict --output {output}: the scores could not be moved into place ({type(error).__name__}: "
                f"{error}); nothing was written{kept}"
            ) from None
    except BaseException:
        if futures:
            with contextlib.suppress(Exception):  # the connection may be what failed: the error raised says so
                client.cancel(futures)
        target.remove_staging()
        raise
    return Scored(
        output=str(output),
        partitions=len(results),
        rows=sum(r.rows for r in results),
        scored=sum(r.scored for r in results),
        rejected=sum(r.rejected for r in results),
        model_sha256=model.sha256,
        version=model.version,
    )
