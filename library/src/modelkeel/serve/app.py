"""The FastAPI application: `/predict`, `/health`, `/metadata`, `/metrics`, and the OpenAPI document.

The hot path is kept lean: the raw body is read, parsed with `json` (or pyarrow's CSV reader),
checked, scored and written with `json.dumps` into a plain Response: no pydantic model per
request. The schemas clients see are declared in the OpenAPI document, written from the bundled
contract (`openapi.py`). A body over `serve.offload_bytes` is parsed and scored in a worker
thread, so that the event loop keeps answering (health checks among them) during a large batch.

Every answer carries the model version: the `version` field of JSON answers (errors too) and the
`X-Model-Version` header; predictions and /metadata carry `X-Model-Signature` too (verified, own-build, or
not-checked when served with --allow-unsigned). Input the service refuses is a 4xx naming what is wrong; a 5xx is a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from .. import PACKAGE
from ..data.contract import MAX_QUOTED_CHARS, quoted_prefix
from ..errors import DataError, DataValidationError
from ..runtime.scoring import neutralise_formulas
from ..settings import ServeSettings
from .holder import ModelHolder, Reloader, Served, prediction_rows, score_frame, score_records
from .inputs import (
    CSV,
    JSON,
    BodyLimit,
    RequestError,
    check_records,
    media_type,
    read_csv,
    read_json,
    wants_csv,
)
from .metrics import CONTENT_TYPE, Instrument
from .openapi import openapi

PATHS = frozenset({"/predict", "/health", "/health/live", "/health/ready", "/metadata", "/metrics", "/openapi.json"})
VERSION_HEADER = "X-Model-Version"
MAX_DETAIL_CHARS = 8192  # an error's detail: a report quotes 80 characters a value, so this is a safety net


def _numpy(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    """The value with every NaN and infinity replaced by null (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_bytes(payload: Any) -> bytes:
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=_numpy)
    except ValueError:  # a NaN or an infinity somewhere: written as null
        text = json.dumps(_finite(payload), separators=(",", ":"), allow_nan=False, default=_numpy)
    return text.encode()


def csv_bytes(names: tuple[str, ...], rows: list[dict]) -> bytes:
    """The predictions as CSV, neutralised as `predict` writes files: a text cell a spreadsheet would run as a
    formula gets a leading `'`; lines end in CRLF (RFC 4180), so a carriage return in a cell is always quoted."""
    import pandas as pd

    frame = neutralise_formulas(pd.DataFrame.from_records(rows, columns=list(names)))
    return frame.to_csv(index=False, lineterminator="\r\n").encode()


def _bounded(value: Any) -> Any:
    """Every text in a failure report cut to a quoted prefix (`data/contract.py`): input never echoes back whole."""
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return quoted_prefix(value, MAX_QUOTED_CHARS + 32)  # room for a value cut already: `… (N chars)`


def error_response(error: RequestError, version: str | None) -> Response:
    """The JSON error answer; the detail and the failures quote at most a prefix of any value the client sent."""
    detail = quoted_prefix(error.detail, MAX_DETAIL_CHARS)
    body = {"detail": detail, "version": version, "failures": _bounded(error.failures)}
    headers = {VERSION_HEADER: version} if version is not None else {}
    if error.status == 408:  # the rest of a slow body is not waited for: the connection ends with the answer
        headers["Connection"] = "close"
    return Response(json_bytes(body), status_code=error.status, media_type=JSON, headers=headers or None)


def answer(served: Served, kind: str, body: bytes, as_csv: bool, max_rows: int) -> tuple[int, bytes]:
    """(rows, response body) for a /predict body: parsed, checked, scored; input that is refused raises RequestError."""
    try:
        if kind == JSON:
            records = read_json(body, max_rows)
            check_records(records, served.features)
            result = score_records(served.model, records)
        else:
            result = score_frame(served.model, read_csv(body, max_rows, served.features))
    except DataValidationError as error:
        raise RequestError(422, str(error), "invalid_rows", error.report.get("failures") or []) from None
    except DataError as error:
        raise RequestError(422, str(error), "invalid_rows") from None
    names, rows = prediction_rows(result)
    if as_csv:
        return len(rows), csv_bytes(names, rows)
    return len(rows), json_bytes({"version": served.version, "rows": len(rows), "predictions": rows})


def create_app(holder: ModelHolder, settings: ServeSettings | None = None, reloader: Reloader | None = None) -> FastAPI:
    """The service for the model in `holder`; `reloader` (optional) runs while the app does."""
    limits = settings or ServeSettings()
    metrics = holder.metrics

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(reloader.run()) if reloader is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title=PACKAGE,
        description="Predictions of a verified model bundle, checked against its data contract.",
        lifespan=lifespan,
        redoc_url=None,
    )

    def not_ready() -> Response:
        metrics.errors.labels("not_ready").inc()
        return error_response(RequestError(503, "no model is loaded yet; try again shortly", "not_ready"), None)

    @app.post(
        "/predict",
        summary="Score rows",
        description="One JSON object or a list of them (application/json), or CSV with a header row (text/csv). "
        "Every row needs every input column (null for a missing value). Answers one prediction per row, in "
        "order, as JSON, or as CSV with `Accept: text/csv`.",
    )
    async def predict(request: Request) -> Response:
        served = holder.current  # taken once: a reload meanwhile does not change who answers this request
        if served is None:
            return not_ready()
        try:
            kind = media_type(request.headers.get("content-type"))
            body = await request.body()
            as_csv = wants_csv(request.headers.get("accept"))
            if len(body) > limits.offload_bytes:
                rows, content = await run_in_threadpool(answer, served, kind, body, as_csv, limits.max_rows)
            else:
                rows, content = answer(served, kind, body, as_csv, limits.max_rows)
        except RequestError as error:
            metrics.errors.labels(error.reason).inc()
            return error_response(error, served.version)
        except ClientDisconnect:  # nobody is left to answer; not a failure of the service
            metrics.errors.labels("malformed").inc()
            gone = RequestError(400, "the client closed the connection before the whole body arrived", "malformed")
            return error_response(gone, served.version)
        metrics.rows.inc(rows)
        return Response(content, media_type=CSV if as_csv else JSON, headers=served.headers)

    def health_body() -> tuple[dict, int]:
        version = holder.version
        return {"live": True, "ready": version is not None, "version": version}, 200 if version else 503

    @app.get("/health", summary="Live and ready")
    async def health() -> Response:
        body, status = health_body()
        return Response(json_bytes(body), status_code=status, media_type=JSON)

    @app.get("/health/live", summary="Live: the process answers")
    async def live() -> Response:
        body, _ = health_body()
        return Response(json_bytes(body), media_type=JSON)

    @app.get("/health/ready", summary="Ready: a verified model is loaded")
    async def ready() -> Response:
        body, status = health_body()
        return Response(json_bytes(body), status_code=status, media_type=JSON)

    @app.get("/metadata", summary="Version, lineage summary, signature and metrics of the model")
    async def metadata() -> Response:
        served = holder.current
        if served is None:
            return not_ready()
        return Response(json_bytes(served.metadata()), media_type=JSON, headers=served.headers)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> Response:  # 404, 405 and the like
        refused = RequestError(error.status_code, str(error.detail), "malformed")
        response = error_response(refused, holder.version)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        return error_response(RequestError(422, str(error), "invalid_rows"), holder.version)

    documents: dict[str, tuple[Served | None, dict]] = {}

    def document() -> dict[str, Any]:
        """The OpenAPI document of the model being served, rebuilt when a reload swaps in another."""
        served = holder.current
        cached = documents.get("openapi")
        if cached is not None and cached[0] is served:
            return cached[1]
        base = get_openapi(  # titled by the served bundle's project (its lineage), not by this library
            title=str(served.model.bundle.lineage.get("name") or app.title) if served is not None else app.title,
            version=served.version if served is not None else "no model loaded",
            description=app.description,
            routes=app.routes,
        )
        built = openapi(base, served.model.bundle if served is not None else None, limits.max_rows)
        documents["openapi"] = (served, built)
        return built

    app.openapi = document  # type: ignore[method-assign]

    def too_large(error: RequestError) -> Response:
        metrics.errors.labels(error.reason).inc()
        return error_response(error, holder.version)

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, refuse=too_large, timeout=limits.body_timeout)
    app.add_middleware(Instrument, metrics=metrics, paths=PATHS, version=lambda: holder.version)  # outermost
    return app
