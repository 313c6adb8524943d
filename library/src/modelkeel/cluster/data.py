"""Reading `data.path` on the cluster: lazily, partition by partition, each file fingerprinted by the workers.

`data.path` names a CSV or Parquet file, a folder (every .csv / .parquet / .pq in it and below, sorted), a
glob, or a list of those, local or behind an fsspec URL (`s3://`, `gs://`, ...; credentials from the
workers' environment, as each filesystem reads them, never from params.yaml). Nothing is copied: the
workers read every file where it lies. So are the loop's batches behind a URL (`retrain.source`,
cluster/loop.py): a path of data.path that `settings.data_urls` maps to a URL (a batch, named by where the
pandas engine would have copied it) is read from that URL.

One task per file streams its bytes through sha256 (never whole in memory), counts its rows and reads the
column types a file gives (`data/files.py`: `read_file`, `table_frame`). The snapshot has the pandas engine's
shape and fingerprint (`data/snapshot.py`): same files, same fingerprint, whichever engine read them. A URL is
named by the path the pandas engine would have copied it to, and by the URL itself (which the fingerprint uses).

Partitions: a CSV file is one partition (read whole, as the pandas engine reads it: split a CSV larger than a
worker's memory into several files, or use Parquet); a Parquet file one partition per run of row groups up
to PARTITION_BYTES. Every partition is cast to the types the pandas engine's concatenation gives (an int
column with gaps in one file is float in all), and indexed by its rows' position in the whole data, so a
failure report names the same rows as the pandas engine's, and the frame's divisions are known.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import pandas as pd

from ..data.files import SUPPORTED_SUFFIXES, csv_convert_options, local_files, table_frame
from ..data.remote import check_no_credentials, is_url
from ..data.snapshot import FileFingerprint, shown_path, snapshot_of
from ..errors import DataError

if TYPE_CHECKING:
    from ..settings import Settings
    from .session import Cluster

# Text keeps the type the pandas engine gives it (pandas' `str`): Dask would make it `string[pyarrow]`, whose gap
# is pd.NA, when it builds and when it optimizes a graph, so this holds for every graph the engine computes.
dask.config.set({"dataframe.convert-string": False})

PARTITION_BYTES = 128 * 1024**2  # uncompressed bytes of Parquet row groups read into one partition, at most
HASH_BLOCK = 1024**2  # bytes read at a time while hashing


@dataclass(frozen=True)
class Source:
    """One file data.path names: where the workers open it, and how lineage names it."""

    location: str  # an absolute local path, or the full URL
    shown: str  # the path as lineage names it (for a URL: where the pandas engine would have copied it)
    url: str | None  # the URL it lies behind; None for a local file

    @property
    def is_csv(self) -> bool:
        return self.location.lower().endswith(".csv")


@dataclass(frozen=True)
class Part:
    """One partition: which rows of which file, where they sit in the whole data, and the types they get."""

    source: Source
    row_groups: tuple[int, ...] | None  # Parquet row groups; None: the whole file
    start: int  # the position of its first row in the whole data
    rows: int
    meta: pd.DataFrame  # an empty frame: the columns, in order, and their types
    storage_options: dict

    @property
    def label(self) -> str:
        """The file and rows, as a report names them."""
        return f"{self.source.url or self.source.shown} (rows {self.start} to {self.start + self.rows - 1})"


@dataclass(frozen=True)
class ClusterData:
    """data.path on the cluster: the lazy frame, the snapshot (as the pandas engine's), its partitions."""

    frame: Any  # a dask DataFrame, indexed by row position in the whole data
    snapshot: dict
    partitions: int
    parts: tuple[Part, ...]  # what each partition holds


def resolve(settings: Settings, storage_options: dict | None = None) -> list[Source]:
    """The files data.path names, in order (each pattern's files sorted), or a DataError naming the pattern."""
    if settings.data_files is not None:  # `rebuild`: the files the release read, back from the data store
        return [
            Source(str((settings.root / path).resolve()), shown_path(settings.root / path, settings.root), url)
            for path, url in settings.data_files
        ]
    path = settings.data.path
    patterns = [path] if isinstance(path, str) else list(path)
    found: list[Source] = []
    for pattern in patterns:
        found += (
            _url_sources(settings, pattern, storage_options or {}) if is_url(pattern) else _local(settings, pattern)
        )
    names = [s.location for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(
            f"data.path {patterns} names {twice} more than once: remove the overlap "
            "(retraining adds retrain.source batches to data.path, so data.path must not match them)"
        )
    bad = [s.location.rsplit("/", 1)[-1] for s in found if not s.location.lower().endswith(SUPPORTED_SUFFIXES)]
    if bad:
        raise DataError(f"data.path: unsupported file type {bad}; use CSV (.csv) or Parquet (.parquet).")
    return found


def _local(settings: Settings, pattern: str) -> list[Source]:
    """The files of a local entry, found as the pandas engine finds them (data/files.local_files); a path that
    `settings.data_urls` maps to a URL (a batch of retrain.source, never copied here) is read from the URL."""
    root = settings.root
    urls = settings.data_urls or {}
    full = Path(pattern) if Path(pattern).is_absolute() else root / pattern
    url = urls.get(shown := shown_path(full, root), urls.get(pattern))
    if url is not None:
        return [Source(url, shown, url)]
    return [Source(str(f.resolve()), shown := shown_path(f, root), urls.get(shown)) for f in local_files(pattern, root)]


@dataclass(frozen=True)
class Listed:
    """One object a URL names: its full URL, where a copy of it would go (data/remote.snapshot's layout,
    `<folder>/<protocol>/<key>`), and its size as the listing gives it."""

    url: str
    local: Path
    bytes: int | None


def list_url(
    url: str, folder: Path, where: str, storage_options: dict, suffixes: tuple[str, ...] | None = SUPPORTED_SUFFIXES
) -> list[Listed]:
    """Every object the URL names (a file, a glob, or a folder: its files, those ending in `suffixes` when
    given), in data/remote.snapshot's order, listed and never read; a DataError naming `where` when the URL
    cannot be listed, or when a key holds a `..` (a copy would land outside `folder`)."""
    from ..utils.extras import require

    check_no_credentials(url, where)
    fsspec = require("fsspec", f"{where} {url}")
    found: list[tuple[str, int | None]] = []
    try:
        fs, _, paths = fsspec.get_fs_token_paths(url, storage_options=storage_options)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        for key in sorted(str(p) for p in paths):
            if fs.isdir(key):
                inner = fs.find(key, detail=True)
                found += [
                    (k, inner[k].get("size"))
                    for k in sorted(str(k) for k in inner)
                    if suffixes is None or k.lower().endswith(suffixes)
                ]
            else:
                found.append((key, fs.info(key).get("size")))
    except (ValueError, ImportError, OSError) as error:  # an unknown protocol, its library missing, unreachable
        raise DataError(f"{where} {url!r}: cannot open this URL ({error})") from None
    inside = (folder / protocol).resolve()
    listed = []
    for key, size in found:
        local = folder / protocol / key.lstrip("/")
        if ".." in key.replace("\\", "/").split("/") or not local.resolve().is_relative_to(inside):
            raise DataError(
                f"{where}: the object {key!r} has a '..' in its path, which would name a file outside the snapshot "
                f"folder {folder}: rename it, or narrow the glob"
            )
        listed.append(Listed(fs.unstrip_protocol(key), local, size if isinstance(size, int) else None))
    return listed


def _url_sources(settings: Settings, url: str, storage_options: dict) -> list[Source]:
    listed = list_url(url, settings.data_snapshot_dir, "data.path", storage_options)
    if not listed:
        raise DataError(f"data.path {url!r}: no file matches this URL. Fix data.path in params.yaml.")
    return [Source(item.url, shown_path(item.local, settings.root), item.url) for item in listed]


def _open(source: Source, storage_options: dict):
    import fsspec

    try:
        return fsspec.open(source.location, "rb", **(storage_options if is_url(source.location) else {})).open()
    except FileNotFoundError:
        raise DataError(f"{source.url or source.shown}: the file is gone (it was listed, then not found)") from None
    except OSError as error:
        raise DataError(f"{source.url or source.shown}: cannot be opened ({error})") from None


def _unreadable(source: Source, error: Exception) -> DataError:
    kind = "CSV" if source.is_csv else "Parquet"
    detail = (str(error).splitlines() or [type(error).__name__])[0]
    return DataError(
        f"{source.url or source.shown}: cannot be read as {kind} ({detail}). "
        "The file may be truncated or malformed: every row needs as many fields as the header."
    )


def _read_csv(source: Source, storage_options: dict) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with _open(source, storage_options) as handle:
        try:
            table = pacsv.read_csv(handle, convert_options=csv_convert_options())
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
            raise _unreadable(source, error) from None
    if table.num_rows == 0:
        raise DataError(f"{source.url or source.shown}: has a header but no data rows.")
    return table_frame(table)


def describe(source: Source, storage_options: dict) -> dict:
    """On a worker: the file's sha256 and bytes (streamed), its rows and columns, the types a reader gives
    them (an empty frame), and its partitions (Parquet row groups, or the whole file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest, size = hashlib.sha256(), 0
    with _open(source, storage_options) as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    if size == 0:
        raise DataError(
            f"{source.url or source.shown}: the file is empty (0 bytes). Expected a header row and data rows."
        )
    if source.is_csv:
        frame = _read_csv(source, storage_options)
        return {"sha256": digest.hexdigest(), "bytes": size, "rows": len(frame), "empty": frame.iloc[:0],
                "groups": None}  # fmt: skip
    with _open(source, storage_options) as handle:
        try:
            parquet = pq.ParquetFile(handle)
            metadata = parquet.metadata
            schema = parquet.schema_arrow
            empty = table_frame(schema.empty_table())
            # a column of ints or bools with a gap anywhere in the file reads as float or object: the same here
            for column in empty.columns:
                if empty[column].dtype.kind not in "iub":
                    continue
                index = schema.get_field_index(column)
                if _null_count(parquet, index, column) > 0:
                    gap = pa.table({column: pa.nulls(1, schema.field(index).type)})
                    empty[column] = table_frame(gap)[column].iloc[:0]
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
            raise _unreadable(source, error) from None
    groups = [
        (metadata.row_group(i).num_rows, metadata.row_group(i).total_byte_size) for i in range(metadata.num_row_groups)
    ]
    total = sum(rows for rows, _ in groups)
    if total == 0:
        raise DataError(f"{source.url or source.shown}: has a header but no data rows.")
    return {"sha256": digest.hexdigest(), "bytes": size, "rows": total, "empty": empty, "groups": groups}


def _null_count(parquet, index: int, column: str) -> int:
    """Gaps in one column of a Parquet file: from its row groups' statistics, else by reading that column."""
    metadata = parquet.metadata
    total = 0
    for i in range(metadata.num_row_groups):
        stats = metadata.row_group(i).column(index).statistics
        if stats is None or not stats.has_null_count:
            return int(parquet.read(columns=[column]).column(0).null_count)
        total += int(stats.null_count)
    return total


def rows_over(source: Source, storage_options: dict, max_rows: int) -> int | None:
    """On a worker: the file's rows when they exceed `max_rows`, else None, found without loading it (as
    data/files.check_file_limits finds them in a local file): a Parquet file's footer (the larger of its count
    and its row groups' sum); a CSV's line breaks streamed (a row takes at least one, the header one more) and,
    only when they exceed the limit, its rows streamed block by block (a quoted cell may hold line breaks). A
    file no reader takes gives None: `describe` says what is wrong with it."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not source.is_csv:
        with _open(source, storage_options) as handle:
            try:
                metadata = pq.ParquetFile(handle).metadata
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError):
                return None
            rows = max(metadata.num_rows, sum(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)))
        return rows if rows > max_rows else None
    breaks = 0
    with _open(source, storage_options) as handle:
        while block := handle.read(HASH_BLOCK):
            breaks += block.count(b"\n")
    if breaks <= max_rows:
        return None
    rows = 0
    with _open(source, storage_options) as handle:
        try:
            with pacsv.open_csv(handle, convert_options=csv_convert_options()) as reader:
                for batch in reader:  # to the end (the file's bytes are bounded): the message gives the count
                    rows += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError):
            return None
    return rows if rows > max_rows else None


def read_part(part: Part) -> pd.DataFrame:
    """On a worker: one partition, with the whole data's column order, types and row positions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = part.source
    if part.row_groups is None:
        frame = _read_csv(source, part.storage_options)
    else:
        with _open(source, part.storage_options) as handle:
            try:
                frame = table_frame(pq.ParquetFile(handle).read_row_groups(list(part.row_groups)))
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
                raise _unreadable(source, error) from None
    if len(frame) != part.rows or set(frame.columns) != set(part.meta.columns):
        raise DataError(
            f"{part.label}: the file changed while it was read ({len(frame)} rows now, {part.rows} when it was "
            "fingerprinted): leave data.path's files alone during a run, then run again"
        )
    frame = frame[list(part.meta.columns)]
    wrong = {c: part.meta[c].dtype for c in frame.columns if frame[c].dtype != part.meta[c].dtype}
    if wrong:
        frame = frame.astype(wrong)
    frame.index = pd.RangeIndex(part.start, part.start + part.rows)
    return frame


def _partitions(groups: list[tuple[int, int]] | None, rows: int, most: int) -> list[tuple[tuple[int, ...] | None, int]]:
    """(row groups, rows) of each partition of a file: runs of its Parquet row groups of at most `most` bytes
    (uncompressed; a larger group alone), or None and the rows of a file read whole."""
    if groups is None:
        return [(None, rows)]
    parts: list[tuple[tuple[int, ...] | None, int]] = []
    run: list[int] = []
    rows = held = 0
    for i, (count, size) in enumerate(groups):
        if run and held + size > most:
            parts.append((tuple(run), rows))
            run, rows, held = [], 0, 0
        run.append(i)
        rows += count
        held += size
    if run:
        parts.append((tuple(run), rows))
    return [(g, n) for g, n in parts if n > 0]


def read_data(
    settings: Settings, cluster: Cluster, storage_options: dict | None = None, partition_bytes: int = PARTITION_BYTES
) -> ClusterData:
    """data.path as a lazy dask frame, fingerprinted by the workers. `storage_options` reach fsspec for URLs
    (tests; a project sets its credentials in the workers' environment instead); `partition_bytes` bounds a
    partition of a Parquet file."""
    options = dict(storage_options or {})
    return read_sources(resolve(settings, options), cluster, options, partition_bytes)


def describe_all(cluster: Cluster, what: str, sources: list[Source], storage_options: dict) -> list[dict]:
    """`describe` of every source, one task each on the workers."""
    client = cluster.client
    if not sources:
        return []
    return cluster.run(
        what, lambda: client.gather(client.map(describe, sources, storage_options=storage_options, pure=False))
    )


def read_sources(
    sources: list[Source],
    cluster: Cluster,
    storage_options: dict | None = None,
    partition_bytes: int = PARTITION_BYTES,
    described: list[dict] | None = None,
) -> ClusterData:
    """The files as a lazy dask frame (read_data's), fingerprinted by the workers, or by the `describe` already
    made of each (the loop's batches, described when they were ingested)."""
    import dask.dataframe as dd

    options = dict(storage_options or {})
    if described is None:
        described = describe_all(cluster, "reading data.path", sources, options)
    columns = [list(d["empty"].columns) for d in described]
    if any(set(c) != set(columns[0]) for c in columns):
        raise DataError(
            "the data files do not share one set of columns: "
            f"{dict(zip([s.url or s.shown for s in sources], columns, strict=True))}"
        )
    empties = [d["empty"][columns[0]] for d in described]
    meta = empties[0] if len(empties) == 1 else pd.concat(empties, ignore_index=True)  # the pandas engine's types
    parts: list[Part] = []
    start = 0
    for source, found in zip(sources, described, strict=True):
        for groups, rows in _partitions(found["groups"], found["rows"], partition_bytes):
            parts.append(Part(source, groups, start, rows, meta, options))
            start += rows
    divisions = (*(p.start for p in parts), start - 1)
    frame = dd.from_map(read_part, parts, meta=meta, divisions=divisions, label="read-data", enforce_metadata=False)
    entries = [
        FileFingerprint(s.shown, d["sha256"], d["bytes"], d["rows"], s.url)
        for s, d in zip(sources, described, strict=True)
    ]
    return ClusterData(frame, snapshot_of(entries), len(parts), tuple(parts))
