"""Fixtures of the service's tests: the project's own bundle served in-process, rows from its own input example."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelkeel.bundle.reader import open_bundle
from modelkeel.runtime.model import Model
from modelkeel.serve.app import create_app
from modelkeel.serve.holder import (
    ModelHolder,
    Served,
    prepare,
)
from modelkeel.settings import ServeSettings

with warnings.catch_warnings():  # starlette asks for httpx2 in the future; httpx is what FastAPI's docs use today
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def served(bundle_dir) -> Served:
    return prepare(Model(open_bundle(bundle_dir)), str(bundle_dir))


@pytest.fixture(scope="session")
def rows(bundle_dir) -> list[dict]:
    """The bundle's input example: the project's own rows, with every input column (some null)."""
    return json.loads((Path(bundle_dir) / "input_example.json").read_text())["rows"]


def client_for(served: Served | None, **limits) -> TestClient:
    return TestClient(create_app(ModelHolder(served), ServeSettings(**limits)))


@pytest.fixture()
def client(served) -> TestClient:
    return client_for(served)


def csv_body(rows: list[dict]) -> bytes:
    """Rows as a CSV body: a header row, an empty cell for a missing value."""
    buffer = io.StringIO()
    pd.DataFrame.from_records(rows).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def breaking_value(bundle) -> tuple[str, object]:
    """An input column and a value its contract refuses (above a maximum, below a minimum, not a category)."""
    for name in bundle.features:
        spec = bundle.schema_columns.get(name, {})
        for check, outside in (
            ("less_than_or_equal_to", lambda v: v + 1000 * (abs(v) + 1)),
            ("greater_than_or_equal_to", lambda v: v - 1000 * (abs(v) + 1)),
        ):
            if isinstance(spec.get(check), int | float):
                return name, outside(spec[check])
    for name in bundle.features:
        if bundle.schema_columns.get(name, {}).get("isin"):
            return name, "not one of the categories"
    pytest.skip("the contract has no range or category check on any input column")


def samples(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
