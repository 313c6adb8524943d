"""The service's OpenAPI document, its request and response schemas written from the served bundle.

A record's schema is the bundled contract in JSON Schema: each input column with its type (a
date/time column is an RFC 3339 string), whether it may be null, its range, its allowed values and
text length. Clients (and the fuzz test, with schemathesis) learn from it what a valid row is; the
service itself checks rows with the contract, not with this document. It is rebuilt when a reload
swaps in a version with another contract.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..bundle.reader import Bundle
from .inputs import CSV, JSON

OPENAPI_VERSION = "3.1.0"
NUMERIC_BOUNDS = {
    "greater_than_or_equal_to": "minimum",
    "greater_than": "exclusiveMinimum",
    "less_than_or_equal_to": "maximum",
    "less_than": "exclusiveMaximum",
    "equal_to": "const",
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(dtype: str) -> str:
    dtype = dtype.lower()
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    if dtype.startswith("bool"):
        return "boolean"
    return "string"


def column_schema(spec: dict, time: bool = False) -> dict[str, Any]:
    """One column's contract (as `Bundle.schema_columns` reads it from schema.yaml) in JSON Schema."""
    checks = {**(spec.get("checks") or {}), **spec}  # older pandera nests the checks under `checks`
    kind = "string" if time else _json_type(str(checks.get("dtype") or "str"))
    schema: dict[str, Any] = {"type": kind}
    if time:
        schema["format"] = "date-time"
        schema["description"] = "an ISO 8601 time (offsets become UTC) in pandas' range, years 1678 to 2261"
    if kind in ("integer", "number"):
        for check, keyword in NUMERIC_BOUNDS.items():
            if _number(checks.get(check)):
                schema[keyword] = checks[check]
        bounds = checks.get("in_range")
        if isinstance(bounds, dict):
            if _number(bounds.get("min_value")):
                schema["minimum" if bounds.get("include_min", True) else "exclusiveMinimum"] = bounds["min_value"]
            if _number(bounds.get("max_value")):
                schema["maximum" if bounds.get("include_max", True) else "exclusiveMaximum"] = bounds["max_value"]
    if kind == "string" and not time:
        length = checks.get("str_length")
        if isinstance(length, dict):
            exact = length.get("exact_value")
            low = exact if exact is not None else length.get("min_value")
            high = exact if exact is not None else length.get("max_value")
            if isinstance(low, int):
                schema["minLength"] = low
            if isinstance(high, int):
                schema["maxLength"] = high
    allowed = checks.get("isin")
    if isinstance(allowed, list) and allowed:
        schema["enum"] = list(allowed)
    refused = checks.get("notin")
    if isinstance(refused, list) and refused:
        schema["not"] = {"enum": list(refused)}
    if checks.get("nullable"):
        schema["type"] = [kind, "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        if "const" in schema:
            schema["enum"] = [schema.pop("const"), None]
    return schema


def record_schema(bundle: Bundle) -> dict[str, Any]:
    columns = bundle.schema_columns
    times = set(bundle.time)
    return {
        "type": "object",
        "description": "one row: every input column of the model (null for a missing value, where the contract "
        "allows one); keys the model does not take are ignored",
        "properties": {name: column_schema(columns.get(name, {}), name in times) for name in bundle.features},
        "required": list(bundle.features),
    }


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _typed(kind: str | list[str], **more: Any) -> dict[str, Any]:
    return {"type": kind, **more}


def _array(items: dict[str, Any], **more: Any) -> dict[str, Any]:
    return _typed("array", items=items, **more)


def _object(properties: dict[str, Any], required: list[str], **more: Any) -> dict[str, Any]:
    return _typed("object", properties=properties, required=required, **more)


def _content(media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {media: dict(schema=schema)}


def prediction_schema(bundle: Bundle) -> dict[str, Any]:
    number = _typed(["number", "null"])  # null only where the model gives no finite number
    if bundle.task != "classification":
        return _object(dict(prediction=number), ["prediction"])
    classes = list(bundle.classes or [])
    properties: dict[str, Any] = dict(prediction=dict(enum=classes) if classes else ANY)
    properties.update({f"probability_{cls}": number for cls in classes})
    return _object(properties, list(properties))


ANY: dict[str, Any] = {}
TEXT = _typed("string")
VERSION = _typed(["string", "null"], description="the model version that answered (null: none loaded yet)")
EXAMPLE = _object(dict(row=_typed(["integer", "null"]), value=ANY), [])
SCHEMAS: dict[str, Any] = {
    "Failure": _object(
        dict(column=TEXT, check=TEXT, rows=_typed("integer", minimum=0), examples=_array(EXAMPLE)),
        ["column", "check", "rows", "examples"],
        description="one failing check of one column, with the rows that fail it",
    ),
    "Error": _object(
        dict(
            detail=_typed("string", description="what is wrong, and how to fix it"),
            version=VERSION,
            failures=_array(_ref("Failure")),
        ),
        ["detail", "version", "failures"],
    ),
    "Health": _object(
        dict(live=_typed("boolean"), ready=_typed("boolean"), version=VERSION), ["live", "ready", "version"]
    ),
    "Metadata": _object(
        dict(
            version=TEXT,
            name=_typed(["string", "null"]),
            task=dict(enum=["classification", "regression"]),
            target=_typed(["string", "null"]),
            features=_array(TEXT),
            outputs=_array(TEXT),
            classes=_typed(["array", "null"]),
            loaded_at=_typed("number"),
            lineage=_typed("object"),
            signature=_typed("object"),
            metrics=_typed("object"),
        ),
        ["version", "task", "features", "outputs", "lineage", "signature", "metrics"],
    ),
}
HEADER = {"X-Model-Version": dict(description="the model version that answered", schema=TEXT)}


def _json(ref: str, description: str, header: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = dict(description=description, content=_content(JSON, _ref(ref)))
    if header:
        answer["headers"] = HEADER
    return answer


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "the body is not UTF-8 JSON or CSV",
        413: "the body, or the number of rows, is over the service's limit",
        415: "the body is neither application/json nor text/csv",
        422: "the rows do not fit the model's inputs or break its contract; `failures` names the columns",
        503: "no model is loaded yet",
    }
    return {str(status): _json("Error", meaning[status]) for status in statuses}


def responses(path: str) -> dict[str, Any]:
    """The answers each operation documents (every one of them carries the version)."""
    if path == "/predict":
        ok = _json("Predictions", "one prediction per row, in the order of the rows", header=True)
        ok["content"].update(_content(CSV, _typed("string", description="with `Accept: text/csv`")))
        return {"200": ok, **_errors(400, 413, 415, 422, 503)}
    if path in ("/health", "/health/ready"):
        return {"200": _json("Health", "a model is loaded and ready"), "503": _json("Health", "not ready yet")}
    if path == "/health/live":
        return {"200": _json("Health", "the process answers")}
    if path == "/metadata":
        return {"200": _json("Metadata", "the model being served", header=True), **_errors(503)}
    if path == "/metrics":
        return {"200": dict(description="Prometheus text exposition format", content=_content("text/plain", TEXT))}
    return {}


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if row.get(c) is None else row.get(c) for c in columns] for row in rows])
    return buffer.getvalue()


def request_body(bundle: Bundle | None, max_rows: int) -> dict[str, Any]:
    """One record or a list of them as JSON, or CSV; with the bundle's own input example as examples."""
    rows = _array(_ref("Record"), minItems=1, maxItems=max_rows)
    content = _content(JSON, dict(oneOf=[_ref("Record"), rows]))
    content.update(_content(CSV, _typed("string", description="a header row naming the columns, then rows")))
    example = (bundle.input_example.get("rows") or [])[:3] if bundle is not None else []
    if bundle is not None and example:
        content[JSON]["examples"] = dict(row=dict(value=example[0]), rows=dict(value=example))
        content[CSV]["example"] = _csv_text(example, bundle.features)
    return dict(required=True, content=content)


def openapi(base: dict[str, Any], bundle: Bundle | None, max_rows: int) -> dict[str, Any]:
    """FastAPI's document of the routes (`base`), with the request body and every answer written from
    the served bundle's contract (`bundle` None: no model loaded yet, any object is documented)."""
    document = dict(base)
    document["openapi"] = OPENAPI_VERSION
    predictions = _object(
        dict(version=TEXT, rows=_typed("integer", minimum=1), predictions=_array(_ref("Prediction"))),
        ["version", "rows", "predictions"],
    )
    components = {
        **SCHEMAS,
        "Record": record_schema(bundle) if bundle is not None else _typed("object"),
        "Prediction": prediction_schema(bundle) if bundle is not None else _typed("object"),
        "Predictions": predictions,
    }
    document["components"] = dict(schemas=components)
    paths: dict[str, Any] = {}
    for path, operations in base.get("paths", {}).items():
        paths[path] = {}
        for method, operation in operations.items():
            documented = {**operation, "responses": responses(path)}
            if path == "/predict" and method == "post":
                documented["requestBody"] = request_body(bundle, max_rows)
            paths[path][method] = documented
    document["paths"] = paths
    return document
