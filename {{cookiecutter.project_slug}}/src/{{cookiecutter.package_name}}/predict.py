"""Scoring with a bundle: the bundled schema checks the input, onnxruntime alone runs the model.

This module must not import scikit-learn or skl2onnx: a service that serves the
model needs only onnxruntime, pandas and pandera.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import fsutil
from .compat import check_bundle_format, read_json
from .errors import DataError, VerificationError
from .runtime import onnx_outputs, session
from .schema import schema_from_yaml, validate_frame
from .signature import model_frame, onnx_feed


@dataclass(frozen=True)
class LoadedBundle:
    folder: Path
    signature: dict
    input_schema: object  # pandera DataFrameSchema over the feature columns
    session: object  # onnxruntime.InferenceSession
    classes: list | None

    @property
    def numeric(self) -> list[str]:
        return [i["name"] for i in self.signature["inputs"] if i["kind"] == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [i["name"] for i in self.signature["inputs"] if i["kind"] == "categorical"]

    def validate_input(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        return validate_frame(frame, self.input_schema, source)


def input_schema(schema_text: str, features: list[str]):
    """The bundled data contract narrowed to the model's inputs; other columns pass through unchecked."""
    full = schema_from_yaml(schema_text)
    missing = [c for c in features if c not in full.columns]
    if missing:
        raise VerificationError(f"schema.yaml does not declare the model input(s) {missing}")
    narrowed = full.remove_columns([c for c in full.columns if c not in features])
    narrowed.strict = False
    return narrowed


def load_bundle(folder: str | Path) -> LoadedBundle:
    folder = Path(folder)
    for name in ("model.onnx", "signature.json", "schema.yaml", "lineage.json"):
        if not (folder / name).is_file():
            raise VerificationError(f"{folder}: {name} is missing; is this a bundle folder (dist/<project>-<version>)?")
    check_bundle_format(folder)
    signature = read_json(folder / "signature.json")
    features = [i["name"] for i in signature["inputs"]]
    schema = input_schema((folder / "schema.yaml").read_text(encoding="utf-8"), features)
    sess = session((folder / "model.onnx").read_bytes())
    classes = None
    metadata = sess.get_modelmeta().custom_metadata_map
    if "classes" in metadata:
        classes = json.loads(metadata["classes"])
    return LoadedBundle(folder, signature, schema, sess, classes)


def run_model(bundle: LoadedBundle, frame: pd.DataFrame) -> dict:
    X = model_frame(frame, bundle.numeric, bundle.categorical)
    return onnx_outputs(bundle.signature["task"], bundle.session, onnx_feed(X, bundle.numeric, bundle.categorical))


def predictions_frame(bundle: LoadedBundle, frame: pd.DataFrame, outputs: dict) -> pd.DataFrame:
    result = frame.copy()
    if bundle.signature["task"] == "classification":
        result["prediction"] = outputs["label"]
        classes = bundle.classes or list(range(outputs["value"].shape[1]))
        for i, cls in enumerate(classes):
            result[f"probability_{cls}"] = np.asarray(outputs["value"])[:, i]
    else:
        result["prediction"] = outputs["value"]
    return result


def read_input(path: Path) -> pd.DataFrame:
    from .data import read_file

    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported input type; use .csv or .parquet")
    return read_file(path)


def write_output(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file name ending in .csv or .parquet")
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported output type; use .csv or .parquet")
    with fsutil.atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def predict(bundle_dir: str | Path, input_path: str | Path, output_path: str | Path) -> int:
    input_path, output_path = Path(input_path), Path(output_path)
    bundle = load_bundle(bundle_dir)
    frame = bundle.validate_input(read_input(input_path), source=str(input_path))
    outputs = run_model(bundle, frame)
    write_output(predictions_frame(bundle, frame, outputs), output_path)
    return len(frame)
