"""The model's input contract: raw columns in, one typed input per column.

Numeric columns travel as float32 (missing = NaN), categorical columns as strings
(missing = ""). The same conversion feeds scikit-learn during training and
onnxruntime at serving time, which is what makes the two predict alike.
This module imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MISSING_CATEGORY = ""
SMALL_BATCH = 64  # rows: up to this many, onnx_feed converts the whole frame at once


def model_frame(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    """The feature columns, typed exactly as the model sees them."""
    missing = [c for c in (*numeric, *categorical) if c not in frame.columns]
    if missing:
        raise KeyError(f"missing feature column(s): {missing}")
    out = {}
    for column in numeric:
        out[column] = pd.Series(pd.to_numeric(frame[column], errors="raise").astype(np.float32).to_numpy())
    for column in categorical:
        values = frame[column]
        if isinstance(values.dtype, pd.StringDtype):  # text as read and validated: only the gaps to fill
            strings = values.fillna(MISSING_CATEGORY).to_numpy(dtype=object)
        else:
            values = values.astype(object)
            strings = np.where(values.isna(), MISSING_CATEGORY, values.astype(str)).astype(object)
        # object, not pandas' Arrow `str`: scikit-learn and onnxruntime take object arrays, and
        # converting Arrow strings back on every transform would cost more than the transform
        out[column] = pd.Series(strings, dtype=object)
    typed = pd.DataFrame(out)
    typed.index = frame.index
    return typed


def onnx_feed(features: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, np.ndarray]:
    """One (n, 1) array per raw column, as the ONNX graph's inputs expect.

    A few rows (online serving) are converted in one call: picking a DataFrame's columns one by
    one costs several times what the model takes to score a single row. Large batches convert
    column by column, which keeps numbers numeric instead of boxing every value.
    """
    if len(features) <= SMALL_BATCH:
        block = features.to_numpy(dtype=object)
        where = {column: i for i, column in enumerate(features.columns)}
        feed = {c: block[:, where[c] : where[c] + 1].astype(np.float32) for c in numeric}
        feed.update({c: np.ascontiguousarray(block[:, where[c] : where[c] + 1]) for c in categorical})
        return feed
    feed = {c: features[c].to_numpy(dtype=np.float32).reshape(-1, 1) for c in numeric}
    feed.update({c: features[c].to_numpy(dtype=object).reshape(-1, 1) for c in categorical})
    return feed
