"""Shared fixtures: the project's own settings, data and model; a small toy dataset; the contract's checks.

Model-quality and parity tests check the model in artifacts/ when it was trained on
the current params and data; otherwise they train one (same code, same seed) in a
temporary folder, so `pytest` never tests a stale model.

Unit tests of the library that need a column of some kind (a category, a gap, a date) use
the toy data built here (`toy_frame`, `toy_settings`, `toy_trained`): the project's own data
may have none. Data tests derive their bad rows from the contract (`contract_checks`), and
skip, saying why, only when the contract has no such check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkeel.bundle.reader import Bundle
from modelkeel.errors import StageOrderError
from modelkeel.settings import (
    DataSettings,
    PathSettings,
    Settings,
    Signer,
    load_settings,
)
from modelkeel.stages import evaluate, train
from modelkeel.stages.train import Trained
from modelkeel.stages.validate import ValidatedData, validate

from . import s3server
from .s3server import S3Server

PROJECT_ROOT = Path(__file__).resolve().parent / "project"  # the fixed project the tests run on


def released_as(bundle_dir: Path, version: str, parent: Path, key: Path | None = None) -> Path:
    """A copy of the bundle as if built as `version`: its lineage names that version and SHA256SUMS covers it;
    signed with the private `key` when given (a signature copied along would no longer match: it is dropped)."""
    import json
    import shutil

    from modelkeel.bundle.checksums import render
    from modelkeel.bundle.layout import SIGNATURE_FILE

    copy = parent / f"{bundle_dir.name.rsplit('-', 1)[0]}-{version}"
    shutil.copytree(bundle_dir, copy)
    (copy / SIGNATURE_FILE).unlink(missing_ok=True)
    lineage = json.loads((copy / "lineage.json").read_text())
    lineage["version"] = version
    manifest_path = copy / "data_manifest.json"
    if manifest_path.is_file():  # the data manifest names the version too, and lineage pins its sha256
        import hashlib

        manifest = json.loads(manifest_path.read_text())
        manifest["version"] = version
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        lineage["data_manifest"]["sha256"] = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    (copy / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n")
    (copy / "SHA256SUMS").write_text(render(copy))
    if key is not None:
        from modelkeel.bundle.signing import sign

        sign(copy, key)
    return copy


def peak_bytes(call) -> int:
    """The most bytes Python allocated while `call()` ran (tracemalloc): a bound on what a check read into memory."""
    import tracemalloc

    tracemalloc.start()
    try:
        call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@dataclass(frozen=True)
class ReleaseKey:
    """A key pair the tests sign releases with, offline, and the registry.signer that names its public key."""

    private: Path
    signer: Signer

    def sign(self, folder: Path) -> Path:
        from modelkeel.bundle.signing import sign

        sign(folder, self.private)
        return folder

    def on(self, backend):
        """The registry backend, reading with this signer (as registry.signer makes every command do)."""
        backend.signer = self.signer
        return backend


@pytest.fixture(scope="session")
def release_key(tmp_path_factory) -> ReleaseKey:
    from modelkeel.bundle.signing import make_key_pair

    private, public = make_key_pair(tmp_path_factory.mktemp("keys"))
    return ReleaseKey(private, Signer(public_key=str(public)))


@pytest.fixture(scope="session")
def signed_bundle_dir(bundle_dir, release_key, tmp_path_factory) -> Path:
    """The pipeline's bundle, signed with `release_key` as the release workflow signs a release (a copy)."""
    import shutil

    copy = tmp_path_factory.mktemp("signed") / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    return release_key.sign(copy)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway on loopback (`s3server.py`), started once for the session, killed after it."""
    with s3server.running(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@dataclass(frozen=True)
class StoreURL:
    """Where a test keeps objects: a URL and the fsspec storage_options it needs (none for a folder)."""

    url: str
    storage_options: dict | None = None


@pytest.fixture(params=["folder", "s3"])
def store_url(request, tmp_path) -> StoreURL:
    """Every test that takes it runs twice: on a local folder, and on a fresh bucket of the S3 server."""
    if request.param == "folder":
        return StoreURL(str(tmp_path / "store"))
    server = request.getfixturevalue("s3_server")
    return StoreURL(f"s3://{server.new_bucket()}/store", server.storage_options)


# the fixed project's two params files: random-forest classification of the species, gradient-boosted
# regression of the body mass; every test that takes `settings` runs for both tasks
PARAMS = {"classification": "params.yaml", "regression": "params.regression.yaml"}


@pytest.fixture(scope="session", params=list(PARAMS))
def settings(request) -> Settings:
    return load_settings(PROJECT_ROOT / PARAMS[request.param])


@pytest.fixture(scope="session")
def validated(settings):
    return validate(settings)


@pytest.fixture(scope="session")
def trained(settings, validated, tmp_path_factory) -> tuple[Settings, Trained]:
    """(settings, trained model) for the current params and data: from artifacts/ if fresh, else trained now."""
    parts = train.split(settings, validated.frame)
    try:
        model, _ = train.load(settings, validated.snapshot)
        return settings, Trained(validated, model, parts)
    except StageOrderError:
        scratch = settings.model_copy(
            update={"paths": PathSettings(artifacts=str(tmp_path_factory.mktemp("artifacts")))}
        )
        model = train.fit(scratch, parts)
        train.save(scratch, model, parts, validated.snapshot)
        return scratch, Trained(validated, model, parts)


@pytest.fixture(scope="session")
def metrics(trained) -> dict:
    settings, model = trained
    return evaluate.evaluate(settings, model, model.validated.snapshot["fingerprint"]).metrics


@pytest.fixture(scope="session")
def bundle_dir(settings, tmp_path_factory) -> Path:
    """A bundle made by the whole pipeline into a temporary folder (artifacts/ and dist/ are left alone)."""
    from modelkeel.stages.pipeline import run_pipeline

    scratch = tmp_path_factory.mktemp("pipeline")
    isolated = settings.model_copy(
        update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
    )
    return run_pipeline(isolated).bundle.folder


TOY_ROWS = 240
TOY_TIME_PARTS = ("month", "day_of_week", "hour")


def toy_frame(task: str, rows: int = TOY_ROWS, seed: int = 0) -> pd.DataFrame:
    """Two numeric columns (one with gaps), a category (with gaps), a timestamp and a target the features explain."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(5, 2, rows)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, rows), unit="h")
    frame = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "when": when})
    signal = x1 + 1.2 * (colour == "red") + 0.1 * (x2 - 5)
    frame["target"] = np.where(signal > 0.4, "yes", "no") if task == "classification" else 3 * signal
    frame.loc[[1, 5, 9], "x2"] = np.nan
    frame.loc[[2, 7], "colour"] = None
    return frame


def toy_data_settings(schema_name: str) -> DataSettings:
    return DataSettings(
        path="toy.csv",
        schema=schema_name,
        target="target",
        numeric_features=("x1", "x2"),
        categorical_features=("colour",),
        time_features=dict(when=TOY_TIME_PARTS),
        test_size=0.25,
    )


@pytest.fixture(scope="session")
def toy_settings(settings, tmp_path_factory) -> Settings:
    """The project's task, model family and metrics, on the toy columns (small models: these are unit tests)."""
    data = toy_data_settings(settings.data.schema_name)
    model = settings.model
    if hasattr(model, "n_estimators"):
        model = model.model_copy(update={"n_estimators": min(model.n_estimators, 25)})
    scratch = tmp_path_factory.mktemp("toy")
    return settings.model_copy(
        update={
            "data": data,
            "model": model,
            "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
        }
    )


@pytest.fixture(scope="session")
def toy_trained(toy_settings) -> Trained:
    """A model fitted on the toy data (never saved)."""
    frame = toy_frame(toy_settings.task)
    parts = train.split(toy_settings, frame)
    model, features = train.fit_with_features(toy_settings, parts)
    validated = ValidatedData(frame, {"fingerprint": "toy", "rows": len(frame), "files": []}, "toy")
    return Trained(validated, model, parts, features)


# A classifier's target as data holds it: true/false, 0/1 integers, text, or the integers 1, 2 and 3
TARGET_KINDS = ("bool", "int", "text", "three")
TYPED_CONTRACT = """import pandera.pandas as pa
from pandera.typing import Series


class Schema(pa.DataFrameModel):
    x1: Series[float] = pa.Field(nullable=True)
    x2: Series[float] = pa.Field(nullable=True)
    colour: Series[str] = pa.Field(isin=["blue", "green", "red"], nullable=True)
    when: Series[pa.DateTime] = pa.Field()
    target: Series[{dtype}] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True
"""


def typed_frame(kind: str, rows: int = TOY_ROWS, seed: int = 0) -> pd.DataFrame:
    """The toy classification data with its target as `kind`: bools, 0/1 integers, "yes"/"no", or 1/2/3."""
    frame = toy_frame("classification", rows, seed)
    yes = (frame.pop("target") == "yes").to_numpy()
    targets = {
        "bool": yes,
        "int": yes.astype(np.int64),
        "text": np.where(yes, "yes", "no").astype(object),
        "three": np.where(yes, 3, np.where(frame["x2"] > 5, 2, 1)).astype(np.int64),
    }
    frame["target"] = targets[kind]
    return frame


@dataclass(frozen=True)
class TypedProject:
    """A project built end to end on a target of one kind, and later rows for the loop."""

    kind: str
    settings: Settings
    bundle: Bundle  # the verified bundle of the whole pipeline
    batch: pd.DataFrame  # the later rows as the loop reads them (the contract applied), some without a label

    def sklearn_predict(self, frame: pd.DataFrame) -> np.ndarray:
        """What the trained scikit-learn Pipeline (artifacts/model.joblib) predicts for the rows."""
        import joblib

        from modelkeel.bundle import layout
        from modelkeel.runtime.signature import model_frame

        pipeline = joblib.load(self.settings.artifacts_dir / layout.TRAINED_MODEL)
        return pipeline.predict(model_frame(frame, self.settings.data.inputs))


@pytest.fixture(scope="session", params=TARGET_KINDS)
def typed(request, tmp_path_factory) -> Iterator[TypedProject]:
    """The toy data with a target of each kind, through the whole pipeline (20 trees) in a project of its own.

    The project's retrain.source holds a batch of later rows, 8 of them without a label, and
    retrain.trusted a trusted set: the loop runs on it as it would on the user's data."""
    import hashlib
    import shutil
    import sys

    import yaml

    from modelkeel.data.contract import load_schema_model, validate_frame
    from modelkeel.data.files import read_file
    from modelkeel.stages.pipeline import run_pipeline

    kind = request.param
    root = tmp_path_factory.mktemp(f"typed_{kind}")
    package = f"typed_{kind}_project"
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / package)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    dtype = {"bool": "bool", "int": "int", "text": "str", "three": "int"}[kind]
    (root / "src" / package / "schemas" / "toy.py").write_text(TYPED_CONTRACT.format(dtype=dtype))
    frame = typed_frame(kind, TOY_ROWS + 120).astype({"target": object})
    frame.loc[[3, 11], "target"] = None  # pandas writes a gap; training skips these rows
    batch = frame.iloc[TOY_ROWS : TOY_ROWS + 60].copy()
    batch.loc[batch.index[:8], "target"] = None  # not labelled yet
    for path, rows in (("data/toy.csv", frame.iloc[:TOY_ROWS]), ("incoming/batch.csv", batch)):
        (root / path).parent.mkdir(exist_ok=True)
        rows.to_csv(root / path, index=False)
    frame.iloc[TOY_ROWS + 60 :].to_csv(root / "data" / "trusted.csv", index=False)

    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["package"] = package
    params["data"] = dict(
        path="data/toy.csv",
        schema="toy",
        target="target",
        numeric_features=["x1", "x2"],
        categorical_features=["colour"],
        time_features={"when": list(TOY_TIME_PARTS)},
        test_size=0.25,
    )
    params["model"] = {"type": "random_forest", "n_estimators": 20, "n_jobs": 1}
    params["quality"].update(
        primary_metric="f1_macro", threshold=0.6, slice_threshold=0.5, min_improvement_over_baseline=0.05
    )
    trusted = {
        "path": "data/trusted.csv",
        "sha256": hashlib.sha256((root / "data/trusted.csv").read_bytes()).hexdigest(),
    }
    params["retrain"].update(source="incoming/*.csv", trusted=trusted, min_new_rows=5, bootstrap_resamples=200)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", list(sys.path))  # the project's src/ folder goes away after the session
        settings = load_settings(root / "params.yaml")
        bundle = run_pipeline(settings).bundle
        read = validate_frame(read_file(root / "incoming/batch.csv"), load_schema_model(settings), "batch", ["when"])
        yield TypedProject(kind, settings, bundle, read)
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]


def contract_checks(schema_model) -> dict[str, dict[str, dict]]:
    """column -> {check name: its statistics}; a lower bound is greater_than_or_equal_to -> min_value."""
    schema = schema_model.to_schema()
    return {name: {c.name: dict(c.statistics or {}) for c in col.checks} for name, col in schema.columns.items()}


def bounded_column(schema_model, columns) -> tuple[str, float]:
    """A column with a range check and a value outside it, or a skip naming what the contract lacks."""
    checks = contract_checks(schema_model)
    for column in columns:
        stats = checks.get(column, {})
        low = stats.get("greater_than_or_equal_to", stats.get("in_range", {})).get("min_value")
        high = stats.get("less_than_or_equal_to", stats.get("in_range", {})).get("max_value")
        if low is not None:
            return column, float(low) - 1000 * (abs(float(low)) + 1)
        if high is not None:
            return column, float(high) + 1000 * (abs(float(high)) + 1)
    pytest.skip(f"the contract has no range check on any of {list(columns)}, so no value can be out of range")


def category_column(schema_model, columns) -> tuple[str, list]:
    """A column with an allowed-values check and its values, or a skip naming what the contract lacks."""
    checks = contract_checks(schema_model)
    for column in columns:
        if "isin" in checks.get(column, {}):
            return column, list(checks[column]["isin"]["allowed_values"])
    pytest.skip(f"the contract has no allowed-values check on any of {list(columns)}, so no category can be wrong")
