"""Reading a `/predict` body: JSON records or CSV with a header row, bounded, refused with the 4xx that fits.

- 400: not UTF-8, not JSON (`NaN` and `Infinity` are not JSON either), not CSV, or empty;
- 408: a body that does not arrive within `serve.body_timeout` seconds (`BodyLimit`; the connection is
  then closed), or headers not within `serve.header_timeout` (`server.py`);
- 413: a body over `serve.max_body_bytes` (declared by Content-Length or streamed: `BodyLimit`), or more
  rows than `serve.max_rows`;
- 415: neither `application/json` nor `text/csv`;
- 422: JSON that is not an object or a list of objects, a record without one of the model's input columns
  (send `null` for a missing value), a value that is an array or an object, duplicated CSV column names.

The rows' values are then checked by the bundled contract (`DataValidationError`, also 422). Keys and
columns the model does not take are ignored. CSV is read with the rules of data files (`data/files.py`).
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import pandas as pd

from ..data.contract import MAX_EXAMPLES
from ..errors import DataError
from ..runtime.scoring import check_columns

JSON = "application/json"
CSV = "text/csv"
MEDIA_TYPES = (JSON, CSV)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


_ABSENT = object()


class RequestError(Exception):
    """A request the service refuses: its HTTP status, what is wrong (and how to fix it), the failing columns.

    `reason` labels the refusal in the metrics (a fixed, small set of words)."""

    def __init__(self, status: int, detail: str, reason: str, failures: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.failures = failures or []


class BodyTooLarge(RequestError):
    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"{declared:,} bytes, more than" if declared is not None else "more than"
        super().__init__(
            413,
            f"the request body is {size} the limit of {limit:,} bytes (serve.max_body_bytes); "
            "send fewer rows per request",
            "too_large",
        )


class BodyTooSlow(RequestError):
    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            f"the request body did not arrive within {timeout:g} s (serve.body_timeout); send it at once",
            "malformed",
        )


def media_type(content_type: str | None) -> str:
    """`application/json` or `text/csv` from a Content-Type header (parameters such as charset ignored), else 415."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in MEDIA_TYPES:
        shown = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise RequestError(
            415,
            f"{shown}: send the rows as {JSON} (one object, or a list of objects) or {CSV} (a header row, then rows)",
            "unsupported_media_type",
        )
    return kind


def wants_csv(accept: str | None) -> bool:
    """Whether the client asked for CSV predictions (`Accept: text/csv`) and not for JSON."""
    accepted = (accept or "").lower()
    return CSV in accepted and JSON not in accepted


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; send null for a missing value")


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _too_many_rows(rows: int, max_rows: int) -> RequestError:
    return RequestError(
        413,
        f"{rows:,} rows, more than the limit of {max_rows:,} rows in one request (serve.max_rows); "
        "send them in smaller batches",
        "too_many_rows",
    )


def _text(body: bytes, encoding: str = "utf-8") -> str:
    if not body.strip():
        raise RequestError(400, "the request body is empty: send the rows to score", "malformed")
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as error:
        raise RequestError(400, f"the request body is not UTF-8 text ({error})", "malformed") from None


def read_json(body: bytes, max_rows: int) -> list[dict]:
    """The records of a JSON body: one object, or a non-empty list of objects."""
    text = _text(body)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise RequestError(400, f"the request body is not valid JSON ({error})", "malformed") from None
    if "\\u" in text:  # an escaped lone surrogate (\ud800) parses, but is not text any column can hold
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(
                400,
                "the request body escapes a lone UTF-16 surrogate (such as \\ud800), which is not text",
                "malformed",
            ) from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise RequestError(
            422, f"the body is a JSON {_json_kind(data)}; send one object (a row) or a list of objects", "invalid_rows"
        )
    if not data:
        raise RequestError(422, "the body is an empty list: send at least one row", "invalid_rows")
    if len(data) > max_rows:
        raise _too_many_rows(len(data), max_rows)
    return data


def _failure(column: str, check: str, examples: list[tuple[int, Any]], rows: int) -> dict:
    return {
        "column": column,
        "check": check,
        "rows": rows,
        "examples": [{"row": row, "value": value} for row, value in examples[:MAX_EXAMPLES]],
    }


def check_records(records: list, features: Iterable[str]) -> None:
    """Every record is an object holding every input column, each a number, text, true/false or null; else 422
    naming the columns (and rows). Other keys are not the model's and are ignored."""
    missing: dict[str, list[tuple[int, Any]]] = {}
    nested: dict[str, list[tuple[int, Any]]] = {}
    counts: dict[tuple[str, str], int] = {}
    names = tuple(features)
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise RequestError(
                422, f"row {i} is a JSON {_json_kind(record)}; every row must be an object of columns", "invalid_rows"
            )
        for name in names:
            value = record.get(name, _ABSENT)
            if value is _ABSENT:
                missing.setdefault(name, []).append((i, None))
                counts[name, "present"] = counts.get((name, "present"), 0) + 1
            elif isinstance(value, dict | list):
                nested.setdefault(name, []).append((i, _json_kind(value)))
                counts[name, "scalar"] = counts.get((name, "scalar"), 0) + 1
    if not missing and not nested:
        return
    failures = [_failure(name, "present", rows, counts[name, "present"]) for name, rows in missing.items()]
    failures += [_failure(name, "scalar", rows, counts[name, "scalar"]) for name, rows in nested.items()]
    lines = [f"  - column {name!r}: missing in {counts[name, 'present']} row(s)" for name in missing]
    lines += [f"  - column {name!r}: an array or object in {counts[name, 'scalar']} row(s)" for name in nested]
    raise RequestError(
        422,
        "request: the rows do not fit the model's inputs:\n"
        + "\n".join(lines)
        + "\nEvery row needs every input column (null for a missing value), each a number, text or true/false.",
        "invalid_rows",
        failures,
    )


def read_csv(body: bytes, max_rows: int, features: Iterable[str]) -> pd.DataFrame:
    """The rows of a CSV body with a header row, read as data files are; only the model's columns are kept."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..data.files import csv_convert_options, table_frame

    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    text = _text(body)
    try:
        header = next(csv.reader(io.StringIO(text)), None)
    except csv.Error as error:
        raise RequestError(400, f"the request body is not CSV ({error})", "malformed") from None
    if not header:
        raise RequestError(400, "the CSV body has no header row: the first line names the columns", "malformed")
    try:
        check_columns(header, "request")
    except DataError as error:
        raise RequestError(422, str(error), "invalid_rows") from None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body), read_options=pacsv.ReadOptions(use_threads=False), convert_options=csv_convert_options()
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        detail = str(error).splitlines()[0]
        raise RequestError(
            400,
            f"the request body is not a CSV table ({detail}); every row needs as many fields as the header",
            "malformed",
        ) from None
    if table.num_rows == 0:
        raise RequestError(422, "the CSV body has a header but no rows", "invalid_rows")
    if table.num_rows > max_rows:
        raise _too_many_rows(table.num_rows, max_rows)
    wanted = list(features)
    absent = [name for name in wanted if name not in set(table.column_names)]
    if absent:
        rows = table.num_rows
        raise RequestError(
            422,
            f"request: the CSV header lacks the input column(s) {absent}; each input column needs its column "
            "(an empty cell for a missing value)",
            "invalid_rows",
            [_failure(name, "present", [(i, None) for i in range(min(rows, MAX_EXAMPLES))], rows) for name in absent],
        )
    return table_frame(table.select(wanted))


class BodyLimit:
    """Pure ASGI middleware: a request body over `max_bytes` is refused with 413, whether its Content-Length
    says so (answered at once, unread) or it streams past the limit (chunked: the endpoint reading it gets
    `BodyTooLarge`). `refuse` builds the 413 response from the error."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        refuse: Callable[[RequestError], ASGIApp],
        timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse
        self.timeout = timeout  # seconds the whole body may take to arrive (serve.body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None  # the HTTP parser refuses a malformed one
                if declared is not None and declared > limit:
                    await self.refuse(BodyTooLarge(limit, declared))(scope, receive, send)
                    return
                break
        received = 0
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout

        body_done = False

        async def bounded() -> Message:
            nonlocal received, body_done
            if deadline is None or body_done:
                message = await receive()
            else:
                try:  # the receive runs first (a body already in is read even past the deadline); no task per chunk
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise BodyTooSlow(self.timeout or 0) from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)
