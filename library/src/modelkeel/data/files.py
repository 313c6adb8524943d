"""Reading the data: CSV or Parquet files named by a path, a glob or a list of them, with clear errors."""

from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd

from ..errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
# Spellings of "missing" accepted in CSV files (besides an empty field).
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


def local_files(pattern: str, root: Path) -> list[Path]:
    """The local files one data.path entry names, or a DataError naming the entry: a glob's matching files
    (sorted), a folder's CSV and Parquet files in it and below (sorted: a folder is its data files, whatever
    else it holds), or the file itself. Paths as named (relative entries under `root`), not resolved: both
    engines name them in the snapshot the same way (data/snapshot.shown_path)."""
    candidate = Path(pattern)
    full = candidate if candidate.is_absolute() else root / candidate
    if any(ch in pattern for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"data.path {pattern!r}: no file matches this pattern (looked under {root}).")
        return files
    if full.is_dir():
        files = sorted(p for p in full.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise DataError(f"data.path {pattern!r}: the folder {full} holds no .csv or .parquet file.")
        return files
    if not full.is_file():
        raise DataError(f"data.path {pattern!r}: file not found at {full}. Fix data.path in params.yaml.")
    return [full]


def resolve_sources(
    patterns: str | tuple[str, ...] | list[str], root: Path, snapshot: Path | None = None
) -> list[tuple[Path, str | None]]:
    """The files that data.path (a file, a glob, a folder, an fsspec URL, or a list of them) names, in order, each with
    the URL it was copied from (None for a local file), or a DataError. URLs are copied into `snapshot`
    first (data/remote.py), so every stage reads the same local bytes."""
    from .remote import is_url
    from .remote import snapshot as copy_url

    if not isinstance(patterns, str):
        found = [s for pattern in patterns for s in resolve_sources(pattern, root, snapshot)]
        files = [f for f, _ in found]
        twice = sorted({str(f) for f in files if files.count(f) > 1})
        if twice:
            raise DataError(
                f"data.path {list(patterns)} names {twice} more than once: remove the overlap "
                "(retraining adds retrain.source batches to data.path, so data.path must not match them)"
            )
        return found
    pattern = patterns
    if is_url(pattern):
        if snapshot is None:
            raise DataError(f"data.path {pattern!r} is a URL, but no snapshot folder was given to copy it into")
        copies = copy_url(pattern, snapshot, "data.path", suffixes=SUPPORTED_SUFFIXES)
        if not copies:
            raise DataError(f"data.path {pattern!r}: no file matches this URL. Fix data.path in params.yaml.")
        found = [(c.path, c.url) for c in copies]
    else:
        found = [(f, None) for f in local_files(pattern, root)]
    bad = [f.name for f, _ in found if f.suffix.lower() not in SUPPORTED_SUFFIXES]
    if bad:
        raise DataError(f"data.path: unsupported file type {bad}; use CSV (.csv) or Parquet (.parquet).")
    return found


def resolve_files(patterns: str | tuple[str, ...] | list[str], root: Path, snapshot: Path | None = None) -> list[Path]:
    """The local files data.path names (URLs copied into `snapshot` first); see `resolve_sources`."""
    return [path for path, _ in resolve_sources(patterns, root, snapshot)]


def parquet_rows(path: Path) -> int | None:
    """The row count a Parquet file's footer declares (read without a row), or None if it has no readable footer.

    The larger of the file's count and its row groups' sum (what a reader reads): a footer whose file count
    understates its row groups is not believed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        groups = sum(int(metadata.row_group(i).num_rows) for i in range(metadata.num_row_groups))
        return max(int(metadata.num_rows), groups)
    except (pa.ArrowInvalid, OSError):  # not Parquet, or truncated: read_file says so
        return None


def csv_rows_over(path: Path, max_rows: int) -> int | None:
    """A CSV's row count when it exceeds `max_rows`, else None, counted without holding the file: its line
    breaks first (a bound: a row takes at least one, the header one more), and only when they exceed the
    limit, its rows exactly, streamed block by block (a quoted cell may hold line breaks)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    breaks = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            breaks += chunk.count(b"\n")
    if breaks <= max_rows:  # rows < line breaks + 1, the header included
        return None
    rows = 0
    try:
        with pacsv.open_csv(path, convert_options=csv_convert_options()) as reader:
            for batch in reader:  # to the end (the file's bytes are bounded): the message gives the count
                rows += batch.num_rows
    except (pa.ArrowInvalid, OSError):  # malformed: read_file says how
        return None
    return rows if rows > max_rows else None


def check_file_limits(path: Path, max_rows: int, max_bytes: int, rows_limit: str, bytes_limit: str) -> None:
    """A DataError if the file holds more than `max_bytes` bytes or more than `max_rows` rows: checked before
    the file is loaded (a few MB of Parquet can hold 60 million rows of a constant: its footer and row groups
    say so; a CSV's rows are counted streaming, see `csv_rows_over`). `rows_limit` and `bytes_limit` say how
    each limit is raised."""
    from ..bundle.layout import byte_size

    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(
            f"{path}: {byte_size(size)} ({size:,} bytes), more than the limit of {byte_size(max_bytes)} "
            f"({max_bytes:,} bytes) for one file; split it into smaller files, or raise the limit ({bytes_limit})"
        )
    if path.suffix.lower() == ".csv":
        over = csv_rows_over(path, max_rows)
        if over is not None:
            raise DataError(
                f"{path}: {over:,} rows, more than the limit of {max_rows:,} rows in one file (counted streaming; "
                f"nothing was loaded); split it into smaller files, or raise the limit ({rows_limit})"
            )
        return
    rows = parquet_rows(path)  # read_file reads all but .csv as Parquet
    if rows is not None and rows > max_rows:
        raise DataError(
            f"{path}: {rows:,} rows, more than the limit of {max_rows:,} rows in one file (its Parquet footer "
            f"says so; nothing was read); split it into smaller files, or raise the limit ({rows_limit})"
        )


def read_file(path: Path) -> pd.DataFrame:
    """One CSV or Parquet file as a DataFrame; empty, truncated or malformed files raise DataError."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes). Expected a header row and data rows.")
    try:
        if path.suffix.lower() == ".csv":
            table = pacsv.read_csv(path, convert_options=csv_convert_options())
        else:
            table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        detail = str(error).splitlines()[0]
        raise DataError(
            f"{path}: cannot be read as {path.suffix.lstrip('.').upper()} ({detail}). "
            "The file may be truncated or malformed: every row needs as many fields as the header."
        ) from None
    if table.num_rows == 0:
        raise DataError(f"{path}: has a header but no data rows.")
    return table_frame(table)


def csv_convert_options():
    """How CSV cells become values, for files and for `serve`'s CSV bodies: NA_VALUES are missing values."""
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(null_values=NA_VALUES, strings_can_be_null=True)


def table_frame(table) -> pd.DataFrame:
    """An Arrow table read from a file (or a request body) as the frame the contract checks."""
    import pyarrow as pa

    # Dates (an ISO date in a CSV file reads as one) become timestamps, the type of a time column.
    for i, arrow_field in enumerate(table.schema):
        if pa.types.is_date(arrow_field.type):
            table = table.set_column(i, arrow_field.name, table.column(i).cast(pa.timestamp("s")))
    frame = table.to_pandas()
    # Text stays pandas' Arrow-backed `str` dtype, the dtype the contract coerces text to:
    # converting it to Python objects made validation convert it back (half its time). Timestamps
    # stay datetimes. Other columns (dictionaries, nested values) become plain objects, so their
    # text form does not depend on which values one file happens to hold.
    for column in frame.columns:
        dtype = frame[column].dtype
        if not (
            isinstance(dtype, pd.StringDtype)
            or pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_datetime64_any_dtype(dtype)
        ):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def read_table(files: list[Path]) -> tuple[pd.DataFrame, list[int]]:
    """All files concatenated, and the row count of each."""
    frames = [read_file(f) for f in files]
    columns = [list(f.columns) for f in frames]
    if any(set(c) != set(columns[0]) for c in columns):
        raise DataError(
            f"the data files do not share one set of columns: {dict(zip(map(str, files), columns, strict=True))}"
        )
    frames = [f[columns[0]] for f in frames]  # the same columns in another order are the same data
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, [len(f) for f in frames]
