"""The OpenAPI document says what the bundled contract says, and the API is fuzzed against it.

schemathesis generates requests from the document (valid rows from the contract, and invalid
ones: wrong types, out of range, wrong media types, malformed bodies) for every operation: none
may get a 5xx, and every answer must match the schema documented for its status.
"""

import csv
import io
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from modelkeel.serve.app import create_app
from modelkeel.serve.holder import ModelHolder
from modelkeel.serve.openapi import column_schema
from modelkeel.settings import ServeSettings

from .conftest import client_for

TIME = "an ISO 8601 time (offsets become UTC) in pandas' range, years 1678 to 2261"


@pytest.mark.parametrize(
    ("spec", "time", "expected"),
    [
        (
            {"dtype": "float64", "nullable": True, "greater_than_or_equal_to": 25.0, "less_than_or_equal_to": 70.0},
            False,
            {"type": ["number", "null"], "minimum": 25.0, "maximum": 70.0},
        ),
        (
            {"dtype": "int64", "greater_than": 0, "less_than": 9},
            False,
            {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 9},
        ),
        (
            {"dtype": "float64", "in_range": dict(min_value=0, max_value=1, include_min=False, include_max=True)},
            False,
            {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        ),
        (
            {"dtype": "string[pyarrow]", "nullable": True, "isin": ["a", "b"]},
            False,
            {"type": ["string", "null"], "enum": ["a", "b", None]},
        ),
        (
            {"dtype": "str", "str_length": dict(min_value=1, max_value=4, exact_value=None), "notin": ["x"]},
            False,
            {"type": "string", "minLength": 1, "maxLength": 4, "not": dict(enum=["x"])},
        ),
        ({"dtype": "bool"}, False, {"type": "boolean"}),
        (
            {"dtype": "datetime64[ns]", "greater_than_or_equal_to": "2020-01-01 00:00:00"},
            True,
            {"type": "string", "format": "date-time", "description": TIME},
        ),
        ({"dtype": "float64", "checks": dict(greater_than_or_equal_to=1)}, False, {"type": "number", "minimum": 1}),
    ],
)
def test_a_column_contract_becomes_its_json_schema(spec, time, expected):
    assert column_schema(spec, time) == expected


def test_the_document_names_every_input_column_with_its_contract(served):
    document = client_for(served, max_rows=7).get("/openapi.json").json()
    bundle = served.model.bundle
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == bundle.features and list(record["properties"]) == bundle.features
    for name in bundle.features:
        assert record["properties"][name] == column_schema(bundle.schema_columns[name], name in bundle.time)
    prediction = document["components"]["schemas"]["Prediction"]
    assert prediction["required"] == served.outputs
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    assert body["application/json"]["schema"]["oneOf"][1]["maxItems"] == 7
    assert document["info"]["version"] == served.version
    examples = body["application/json"]["examples"]
    assert examples["rows"]["value"] == bundle.input_example["rows"][:3]
    assert next(csv.reader(io.StringIO(body["text/csv"]["example"]))) == bundle.features
    answers = document["paths"]["/predict"]["post"]["responses"]
    assert set(answers) == {"200", "400", "413", "415", "422", "503"}


@pytest.fixture(scope="module")
def fuzzed(served):
    """The service's own OpenAPI document, loaded by schemathesis from the app (in-process, no port)."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(ModelHolder(served), ServeSettings(max_rows=50)))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_request_gets_a_server_error_or_an_answer_off_its_schema(fuzzed, mode):
    """Every operation, with requests that fit the document (positive) and requests that break it (negative)."""
    statuses: dict[str, Counter] = {}

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    @given(case=fuzzed.as_strategy(generation_mode=mode))
    def fuzz(case):
        answer = case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
        statuses.setdefault(f"{case.method} {case.path}", Counter())[answer.status_code] += 1

    fuzz()
    operations = {
        "GET /health",
        "GET /health/live",
        "GET /health/ready",
        "GET /metadata",
        "GET /metrics",
        "POST /predict",
    }
    assert "POST /predict" in statuses and set(statuses) <= operations
    if mode == GenerationMode.POSITIVE:  # every operation, not only the one with a body
        assert set(statuses) == operations
    if mode == GenerationMode.POSITIVE:  # the document describes rows the contract accepts
        assert statuses["POST /predict"][200] > 0, statuses
