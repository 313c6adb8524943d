"""The service's endpoints, in-process (TestClient), on the project's own bundle and rows.

Given rows from the bundle's own input example, when they are posted as JSON or CSV, one row or
a batch, then each gets its prediction and every answer (errors too) names the model version.
Bad input is refused with the 4xx that fits and the failing columns named.
"""

import json
import math

import pandas as pd
import pytest

from modelkeel.serve.app import csv_bytes

from .conftest import (
    breaking_value,
    client_for,
    csv_body,
    samples,
)

CSV = {"content-type": "text/csv"}


def assert_predictions(answer, served, rows: int) -> list[dict]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-model-version"] == served.version
    body = answer.json()
    assert body["version"] == served.version and body["rows"] == rows == len(body["predictions"])
    for prediction in body["predictions"]:
        assert list(prediction) == served.outputs
    return body["predictions"]


def assert_alike(found: list[dict], expected: list[dict]) -> None:
    """The same predictions (labels exactly, numbers to float32 precision)."""
    assert len(found) == len(expected)
    for column in expected[0]:
        assert [p[column] for p in found] == pytest.approx([p[column] for p in expected], abs=1e-6), column


def test_one_json_row_gets_one_prediction_with_the_version(client, served, rows):
    (prediction,) = assert_predictions(client.post("/predict", json=rows[0]), served, 1)
    if served.model.bundle.task == "classification":
        assert prediction["prediction"] in served.model.bundle.classes
        assert math.isclose(sum(v for k, v in prediction.items() if k != "prediction"), 1.0, abs_tol=1e-4)


def test_a_batch_is_scored_in_order_as_the_runtime_scores_it(client, served, rows):
    predictions = assert_predictions(client.post("/predict", json=rows), served, len(rows))
    expected = served.model.predict(pd.DataFrame.from_records(rows))
    assert [p["prediction"] for p in predictions] == pytest.approx(expected["prediction"].tolist())
    for column in served.outputs[1:]:
        assert [p[column] for p in predictions] == pytest.approx(expected[column].tolist(), abs=1e-6)


def test_a_csv_body_scores_like_json_and_an_accept_csv_answer_is_csv(client, served, rows):
    as_json = assert_predictions(client.post("/predict", json=rows), served, len(rows))
    as_csv = assert_predictions(client.post("/predict", content=csv_body(rows), headers=CSV), served, len(rows))
    assert_alike(as_csv, as_json)
    answer = client.post("/predict", json=rows, headers={"accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-model-version"] == served.version
    lines = answer.text.split("\r\n")
    assert lines[0] == ",".join(served.outputs) and len([line for line in lines if line]) == len(rows) + 1


def test_keys_and_columns_the_model_does_not_take_are_ignored(client, served, rows):
    extra = [{**row, "request id": f"r-{i}", "prediction": "mine"} for i, row in enumerate(rows[:3])]
    plain = assert_predictions(client.post("/predict", json=rows[:3]), served, 3)
    assert assert_predictions(client.post("/predict", json=extra), served, 3) == plain
    assert_alike(assert_predictions(client.post("/predict", content=csv_body(extra), headers=CSV), served, 3), plain)


def test_csv_predictions_cannot_run_as_spreadsheet_formulas():
    written = csv_bytes(("prediction", "probability_x"), [{"prediction": "=HYPERLINK(1)", "probability_x": -0.5}])
    assert written.decode().split("\r\n")[1] == "'=HYPERLINK(1),-0.5"


def test_a_value_the_contract_refuses_is_422_naming_the_column(client, served, rows):
    column, value = breaking_value(served.model.bundle)
    bad = [dict(rows[0]), {**rows[0], column: value}]
    answer = client.post("/predict", json=bad)
    assert answer.status_code == 422 and answer.headers["x-model-version"] == served.version
    body = answer.json()
    assert body["version"] == served.version and column in body["detail"]
    (failure,) = [f for f in body["failures"] if f["column"] == column]
    assert failure["rows"] == 1 and failure["examples"][0]["row"] == 1
    answer = client.post("/predict", content=csv_body(bad), headers=CSV)
    assert answer.status_code == 422 and column in {f["column"] for f in answer.json()["failures"]}


def test_a_missing_input_column_or_a_nested_value_is_422_naming_it(client, served, rows):
    first, last = served.features[0], served.features[-1]
    row = {k: v for k, v in rows[0].items() if k != first}
    answer = client.post("/predict", json=[rows[0], row, row])
    assert answer.status_code == 422
    (failure,) = answer.json()["failures"]
    assert failure == {
        "column": first,
        "check": "present",
        "rows": 2,
        "examples": [{"row": 1, "value": None}, {"row": 2, "value": None}],
    }
    assert f"column {first!r}: missing in 2 row(s)" in answer.json()["detail"]
    answer = client.post("/predict", json={**rows[0], last: [1, 2]})
    assert answer.status_code == 422 and answer.json()["failures"][0]["column"] == last
    assert answer.json()["failures"][0]["check"] == "scalar"
    answer = client.post("/predict", content=csv_body([row]), headers=CSV)
    assert answer.status_code == 422
    assert first in {f["column"] for f in answer.json()["failures"]}


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b"{", 400, "not valid JSON"),
        (b"", 400, "the request body is empty"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        (b'{"x": NaN}', 400, "NaN is not a JSON value"),
        (b'[{"x": Infinity}]', 400, "Infinity is not a JSON value"),
        (b'{"x": "\\ud800"}', 400, "lone UTF-16 surrogate"),
        (b"[" * 100_000, 400, "not valid JSON"),
        (b"42", 422, "the body is a JSON number"),
        (b'"row"', 422, "the body is a JSON string"),
        (b"[]", 422, "an empty list"),
        (b"[1, 2]", 422, "row 0 is a JSON number"),
    ],
)
def test_a_body_that_is_not_rows_of_json_is_refused_with_the_reason(client, served, body, status, said):
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and said in answer.json()["detail"], answer.text
    assert answer.json()["version"] == served.version and answer.headers["x-model-version"] == served.version


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b"a,b\n1,2,3\n", 400, "not a CSV table"),
        (b"\n", 400, "the request body is empty"),
        (b"a,a\n1,2\n", 422, "['a'] occur more than once"),
        (b"a,b\n", 422, "a header but no rows"),
    ],
)
def test_a_body_that_is_not_a_csv_table_is_refused_with_the_reason(client, body, status, said):
    answer = client.post("/predict", content=body, headers=CSV)
    assert answer.status_code == status and said in answer.json()["detail"], answer.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_other_media_types_are_415_naming_the_two_accepted(served, rows, content_type):
    client = client_for(served)
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post("/predict", content=json.dumps(rows[0]).encode(), headers=headers)
    assert answer.status_code == 415
    assert "application/json" in answer.json()["detail"] and "text/csv" in answer.json()["detail"]
    answer = client.post("/predict", json=rows[0], headers={"content-type": "application/json; charset=utf-8"})
    assert answer.status_code == 200


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(served, rows):
    body = json.dumps(rows).encode()
    client = client_for(served, max_body_bytes=len(body) - 1)
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "max_body_bytes" in answer.json()["detail"]
    assert f"{len(body):,} bytes" in answer.json()["detail"]

    def chunks():  # no Content-Length: the body streams in (chunked), and is cut off at the limit
        for i in range(0, len(body), 64):
            yield body[i : i + 64]

    answer = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413 and answer.json()["version"] == served.version
    at_limit = client_for(served, max_body_bytes=len(body))
    assert at_limit.post("/predict", content=body, headers={"content-type": "application/json"}).status_code == 200


def test_more_rows_than_the_limit_is_413(served, rows):
    client = client_for(served, max_rows=2)
    for answer in (
        client.post("/predict", json=rows[:3]),
        client.post("/predict", content=csv_body(rows[:3]), headers=CSV),
    ):
        assert answer.status_code == 413 and "more than the limit of 2 rows" in answer.json()["detail"]
    assert client.post("/predict", json=rows[:2]).status_code == 200


def test_a_large_batch_is_scored_off_the_event_loop_with_the_same_answer(served, rows):
    inline = client_for(served).post("/predict", json=rows).json()
    assert client_for(served, offload_bytes=0).post("/predict", json=rows).json() == inline


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/metadata"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/path"),
        ("DELETE", "/predict"),
    ],
)
def test_every_answer_carries_the_version(client, served, method, path):
    answer = client.request(method, path)
    assert answer.headers["x-model-version"] == served.version
    if answer.headers["content-type"] == "application/json" and path != "/openapi.json":
        assert answer.json()["version"] == served.version
    if path == "/predict":
        assert answer.status_code == 405 and answer.json()["detail"] == "Method Not Allowed"


def test_health_is_live_and_ready_with_a_model_and_only_live_without(client, served, rows):
    for path in ("/health", "/health/live", "/health/ready"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json() == {"live": True, "ready": True, "version": served.version}
    empty = client_for(None)
    assert empty.get("/health/live").json() == {"live": True, "ready": False, "version": None}
    for path in ("/health", "/health/ready"):
        assert empty.get(path).status_code == 503 and empty.get(path).json()["ready"] is False
    for answer in (empty.post("/predict", json=rows[0]), empty.get("/metadata")):
        assert answer.status_code == 503 and answer.json() == {
            "detail": "no model is loaded yet; try again shortly",
            "version": None,
            "failures": [],
        }


def test_metadata_is_the_version_lineage_signature_and_metrics(client, served):
    answer = client.get("/metadata")
    assert answer.status_code == 200
    meta = answer.json()
    bundle = served.model.bundle
    assert meta["version"] == served.version and meta["features"] == bundle.features
    assert meta["signature"] == bundle.signature and meta["task"] == bundle.task
    assert meta["lineage"]["model"]["sha256"] == bundle.checksums["model.onnx"]
    assert meta["lineage"]["data"]["fingerprint"] == bundle.lineage["data"]["fingerprint"]
    primary = bundle.metrics["primary_metric"]
    assert (
        meta["metrics"]["primary_metric"] == primary
        and meta["metrics"]["test"][primary] == bundle.metrics["test"][primary]
    )
    assert meta["metrics"]["gates_passed"] is True


def test_metrics_count_requests_latency_rows_and_errors(served, rows):
    client = client_for(served)
    client.post("/predict", json=rows)
    client.post("/predict", json=rows[0])
    client.post("/predict", content=b"{", headers={"content-type": "application/json"})
    client.post("/predict", content=b"x", headers={"content-type": "text/plain"})
    client.get("/no/such/path")
    client.request("BREW", "/coffee/pot")  # a client cannot grow the label values: other paths and methods pool
    found = samples(client)
    ok = (("method", "POST"), ("path", "/predict"), ("status", "200"))
    assert found["serve_requests_total", ok] == 2
    assert found["serve_requests_total", (("method", "GET"), ("path", "other"), ("status", "404"))] == 1
    assert found["serve_requests_total", (("method", "OTHER"), ("path", "other"), ("status", "404"))] == 1
    assert found["serve_request_duration_seconds_count", (("path", "/predict"),)] == 4
    assert found["serve_predicted_rows_total", ()] == len(rows) + 1
    assert found["serve_prediction_errors_total", (("reason", "malformed"),)] == 1
    assert found["serve_prediction_errors_total", (("reason", "unsupported_media_type"),)] == 1
    assert found["serve_prediction_errors_total", (("reason", "invalid_rows"),)] == 0
    assert found["serve_model_info", (("version", served.version),)] == 1
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_each_answer_is_a_class_as_metadata_lists_it_for_a_target_of_any_kind(typed):
    """Given a served model of a bool, 0/1, 1/2/3 or text target; when rows are posted as JSON and as CSV;
    then each prediction is one of /metadata's classes, of the same JSON type (true, not 1), as
    scikit-learn predicts it, beside a probability_<class> for each class."""
    from modelkeel.runtime.model import Model
    from modelkeel.serve.holder import prepare

    served = prepare(Model(typed.bundle), str(typed.bundle.folder))
    client = client_for(served)
    metadata = client.get("/metadata").json()
    classes = metadata["classes"]
    assert classes == typed.bundle.classes
    assert metadata["outputs"] == ["prediction", *(f"probability_{c}" for c in typed.bundle.classes)]
    rows = json.loads(typed.batch.drop(columns="target").to_json(orient="records", date_format="iso"))
    expected = typed.sklearn_predict(typed.batch).tolist()
    for answer in (client.post("/predict", json=rows), client.post("/predict", content=csv_body(rows), headers=CSV)):
        predictions = [p["prediction"] for p in assert_predictions(answer, served, len(rows))]
        assert predictions == expected
        typed_as = {type(c) for c in classes}
        assert {type(p) for p in predictions} == typed_as, f"{typed_as} in /metadata, JSON answers the same"
    enum = client.get("/openapi.json").json()["components"]["schemas"]
    assert classes in [s.get("properties", {}).get("prediction", {}).get("enum") for s in enum.values()]


@pytest.mark.parametrize("kind", ["categorical", "numeric"])
def test_an_8_mb_bad_value_is_quoted_by_a_short_prefix(served, rows, kind):
    bundle = served.model.bundle
    checked = [n for n in bundle.categorical if bundle.schema_columns.get(n, {}).get("isin")]  # categories listed
    column = (checked if kind == "categorical" else bundle.numeric)[0]
    huge = "Z" * (8 << 20)
    client = client_for(served, max_body_bytes=32 << 20, offload_bytes=64 << 20)
    answer = client.post("/predict", json=[dict(rows[0]), {**rows[0], column: huge}])
    assert answer.status_code == 422
    assert len(answer.content) < 8 << 10, "the answer quotes a prefix of the value, not the value"
    assert "Z" * 81 not in answer.text and column in answer.json()["detail"]
    if kind == "categorical":  # the value itself is the failure case
        (failure,) = [f for f in answer.json()["failures"] if f["column"] == column]
        assert failure["examples"][0]["value"] == "Z" * 80 + f"… ({len(huge):,} chars)"
        assert f"… ({len(huge):,} chars)" in answer.json()["detail"]
    answer = client.post("/predict", content=csv_body([dict(rows[0]), {**rows[0], column: huge}]), headers=CSV)
    assert len(answer.content) < 8 << 10 and "Z" * 81 not in answer.text
