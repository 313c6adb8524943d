"""Scoring a file with a bundle: the bundled contract checks the input, onnxruntime alone runs the model.

Input is refused, with a clear DataError, when it has duplicated column names, a column the
predictions would be written to (`prediction`, `probability_<class>`), or more rows (or, for a
file, more bytes) than the limits below; columns the model does not take pass through. CSV output
is neutralised against CSV injection (OWASP): a text cell that a spreadsheet would run as a
formula gets a leading `'`.

This module must not import scikit-learn or skl2onnx: a service that serves the
model needs only onnxruntime, pandas and pandera.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle, open_bundle
from ..data.files import SUPPORTED_SUFFIXES
from ..errors import DataError
from ..settings import Signer
from ..utils import atomic
from .precheck import checked_and_outputs

DEFAULT_MAX_ROWS = 10_000_000  # rows scored in one call: more is refused unless the limit is raised
DEFAULT_MAX_BYTES = 2 * 1024**3  # bytes of one input file (2 GiB)
# First characters that make a spreadsheet run a cell as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _positive(limit: int, name: str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DataError(f"{name} must be a whole number of at least 1, not {limit!r}")
    return limit


def check_columns(frame_columns: list, source: str) -> None:
    """A DataError naming the column names that occur more than once."""
    names = pd.Index(frame_columns)
    twice = sorted({str(c) for c in names[names.duplicated()]})
    if twice:
        raise DataError(
            f"{source}: the column name(s) {twice} occur more than once; every column needs its own name "
            "(which of the two would the model read?)"
        )


def check_rows(rows: int, max_rows: int, source: str) -> None:
    if rows > max_rows:
        raise DataError(
            f"{source}: {rows:,} rows, more than the limit of {max_rows:,} rows in one call; score it in "
            "smaller parts, or raise the limit (predict --max-rows N, Model.predict(frame, max_rows=N))"
        )


def output_columns(bundle: Bundle, classes: list | None = None) -> list[str]:
    """The columns the predictions are written to."""
    if bundle.task != "classification":
        return ["prediction"]
    return ["prediction", *(f"probability_{cls}" for cls in (classes or []))]


def check_no_clash(frame: pd.DataFrame, names: list[str], source: str) -> None:
    """A DataError if the input already has a column the predictions would overwrite."""
    taken = [name for name in names if name in frame.columns]
    if taken:
        raise DataError(
            f"{source}: has the column(s) {taken}, which the predictions are written to; rename or drop "
            "them, so that they are not overwritten"
        )


def predictions_frame(bundle: Bundle, frame: pd.DataFrame, outputs: dict, source: str = "input") -> pd.DataFrame:
    """The rows with `prediction` (and `probability_<class>` for classifiers) added; never overwrites a column.

    The new columns are joined to the rows in one step: inserting them one by one into the frame (or
    a copy of it) costs more than the model takes to score a row (measured: 0.39 ms against 0.17 ms a row)."""
    added: dict[str, object] = {}
    if bundle.task == "classification":
        classes = bundle.classes or list(range(outputs["value"].shape[1]))
        check_no_clash(frame, output_columns(bundle, classes), source)
        added["prediction"] = outputs["label"]
        probabilities = np.asarray(outputs["value"])
        for i, cls in enumerate(classes):
            added[f"probability_{cls}"] = probabilities[:, i]
    else:
        check_no_clash(frame, output_columns(bundle), source)
        added["prediction"] = outputs["value"]
    # pandas' copy-on-write keeps the result independent of `frame`, as a copy would be
    result = pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)
    result.columns.name = frame.columns.name
    return result


def score_frame(
    bundle: Bundle, frame: pd.DataFrame, source: str = "input", *, max_rows: int = DEFAULT_MAX_ROWS
) -> pd.DataFrame:
    """Validate the rows against the bundled contract, then score them; bad input raises DataValidationError.

    Duplicated column names, more than `max_rows` rows and columns named like the predictions raise DataError.
    """
    if not frame.columns.is_unique:  # (is_unique is cached by pandas: a few rows need no new Index)
        check_columns(list(frame.columns), source)
    check_rows(len(frame), _positive(max_rows, "max_rows"), source)
    classes = bundle.classes if bundle.task == "classification" else None
    check_no_clash(frame, output_columns(bundle, classes), source)  # before the (slower) validation
    checked, outputs = checked_and_outputs(bundle, frame, source)  # the compiled check, else pandera
    return predictions_frame(bundle, checked, outputs, source)


def _csv_header(path: Path) -> list[str] | None:
    """The CSV file's header as written (pandas and pyarrow rename `a,a`), or None if it cannot be read here."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), None)
    except (UnicodeDecodeError, csv.Error, OSError):
        return None  # read_file says what is wrong with the file


def read_input(path: Path, *, max_rows: int = DEFAULT_MAX_ROWS, max_bytes: int = DEFAULT_MAX_BYTES) -> pd.DataFrame:
    """The input file as a frame; a missing, oversize or unreadable file, or duplicated column names, raise DataError."""
    from ..data.files import check_file_limits, read_file

    _positive(max_rows, "max_rows")
    _positive(max_bytes, "max_bytes")
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{path}: unsupported input type; use .csv or .parquet")
    rows_limit = "predict --max-rows N, Model.predict(frame, max_rows=N)"
    check_file_limits(path, max_rows, max_bytes, rows_limit, "predict --max-bytes N")  # size, Parquet footer
    if suffix == ".csv":
        header = _csv_header(path)
        if header is not None:
            check_columns(header, str(path))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError):  # not Parquet, or truncated: read_file says so
            metadata = None
        if metadata is not None:
            check_columns(metadata.schema.to_arrow_schema().names, str(path))
    frame = read_file(path)
    check_rows(len(frame), max_rows, str(path))
    return frame


def _text_columns(frame: pd.DataFrame) -> list[int]:
    """The positions of the columns that can hold text: object, string and categorical ones."""
    return [
        i
        for i, dtype in enumerate(frame.dtypes)
        if isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)) or pd.api.types.is_object_dtype(dtype)
    ]


def _formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def _formula_cells(series: pd.Series) -> np.ndarray:
    """Which cells are text a spreadsheet would run as a formula."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool)
    values = series.to_numpy(dtype=object)
    return np.fromiter((_formula(v) for v in values), dtype=bool, count=len(values))


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell (and column name) that starts with = + - @ tab or CR prefixed with `'`.

    A spreadsheet shows such a cell as text instead of running it (OWASP, CSV injection). Numeric,
    boolean and date columns are untouched: a negative number is not text. The frame given is not changed.
    """
    result = frame
    for i in _text_columns(frame):
        series = frame.iloc[:, i]
        risky = _formula_cells(series)
        if not risky.any():
            continue
        values = series.to_numpy(dtype=object).copy()
        values[risky] = ["'" + v for v in values[risky]]
        if result is frame:
            result = frame.copy()
        keep = series.dtype if isinstance(series.dtype, pd.StringDtype) else object
        result.isetitem(i, pd.Series(values, index=series.index, dtype=keep))
    names = ["'" + c if _formula(c) else c for c in frame.columns]
    if names != list(frame.columns):
        result = frame.copy() if result is frame else result
        result.columns = pd.Index(names)
    return result


def _holds_carriage_return(frame: pd.DataFrame) -> bool:
    if any(isinstance(c, str) and "\r" in c for c in frame.columns):
        return True
    for i in _text_columns(frame):
        series = frame.iloc[:, i]
        if isinstance(series.dtype, pd.StringDtype):
            if series.str.contains("\r", regex=False).fillna(False).any():
                return True
        elif any(isinstance(v, str) and "\r" in v for v in series.to_numpy(dtype=object)):
            return True
    return False


def write_output(frame: pd.DataFrame, path: Path, *, allow_formulas: bool = False) -> None:
    """Write the frame as CSV or Parquet, atomically.

    CSV text cells that a spreadsheet would run as a formula get a leading `'` (OWASP, CSV injection)
    unless `allow_formulas`; Parquet is written as is. Lines end in \\n, or in \\r\\n (RFC 4180) when
    some text holds a carriage return: only then does Python's CSV writer quote it, so that it cannot
    start a new row (whose first cell would escape the neutralisation).
    """
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file name ending in .csv or .parquet")
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{path}: unsupported output type; use .csv or .parquet")
    with atomic.atomic_path(path) as tmp:
        if suffix == ".csv":
            written = frame if allow_formulas else neutralise_formulas(frame)
            ending = "\r\n" if _holds_carriage_return(written) else "\n"
            written.to_csv(tmp, index=False, lineterminator=ending)
        else:
            frame.to_parquet(tmp, index=False)


def predict(
    bundle_dir: str | Path | Bundle,
    input_path: str | Path,
    output_path: str | Path,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_formulas: bool = False,
    signer: Signer | None = None,
) -> int:
    """`predict`: score a CSV/Parquet file with a bundle (a folder is opened, so checked: with `signer`, its
    signature too; a `Bundle` is used as opened: `bundle/trust.py` opens it once for the command line) into a
    CSV/Parquet file.

    Files over `max_bytes` or `max_rows` are refused; see `write_output` for `allow_formulas`.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    bundle = bundle_dir if isinstance(bundle_dir, Bundle) else open_bundle(bundle_dir, signer=signer)
    frame = read_input(input_path, max_rows=max_rows, max_bytes=max_bytes)
    scored = score_frame(bundle, frame, source=str(input_path), max_rows=max_rows)
    write_output(scored, output_path, allow_formulas=allow_formulas)
    return len(frame)
