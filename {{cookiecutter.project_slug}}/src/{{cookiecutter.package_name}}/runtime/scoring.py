"""Scoring a file with a bundle: the bundled contract checks the input, onnxruntime alone runs the model.

This module must not import scikit-learn or skl2onnx: a service that serves the
model needs only onnxruntime, pandas and pandera.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle.reader import Bundle, open_bundle
from ..data.files import SUPPORTED_SUFFIXES
from ..errors import DataError
from ..utils import atomic


def predictions_frame(bundle: Bundle, frame: pd.DataFrame, outputs: dict) -> pd.DataFrame:
    """The rows with `prediction` (and `probability_<class>` for classifiers) added."""
    result = frame.copy()
    if bundle.task == "classification":
        result["prediction"] = outputs["label"]
        classes = bundle.classes or list(range(outputs["value"].shape[1]))
        for i, cls in enumerate(classes):
            result[f"probability_{cls}"] = np.asarray(outputs["value"])[:, i]
    else:
        result["prediction"] = outputs["value"]
    return result


def score_frame(bundle: Bundle, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Validate the rows against the bundled contract, then score them; bad input raises DataValidationError."""
    checked = bundle.validate_input(frame, source=source)
    return predictions_frame(bundle, checked, bundle.run(checked))


def read_input(path: Path) -> pd.DataFrame:
    from ..data.files import read_file

    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"{path}: unsupported input type; use .csv or .parquet")
    return read_file(path)


def write_output(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file name ending in .csv or .parquet")
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{path}: unsupported output type; use .csv or .parquet")
    with atomic.atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def predict(bundle_dir: str | Path, input_path: str | Path, output_path: str | Path) -> int:
    """`predict`: score a CSV/Parquet file with a bundle (opened, so checked) into a CSV/Parquet file."""
    input_path, output_path = Path(input_path), Path(output_path)
    bundle = open_bundle(bundle_dir)
    frame = read_input(input_path)
    write_output(score_frame(bundle, frame, source=str(input_path)), output_path)
    return len(frame)
