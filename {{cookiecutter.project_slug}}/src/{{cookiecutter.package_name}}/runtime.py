"""Running an ONNX model and comparing its answers with reference answers.

Used by the parity gate at export time and by `verify` and `predict` anywhere
later; it imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import GateError


def session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ParityResult:
    passed: bool
    rows: int
    label_mismatches: int
    max_abs_diff: float
    worst_excess: float  # largest |diff| - (atol + rtol*|reference|); <= 0 means within tolerance
    atol: float
    rtol: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def compare(task: str, reference: dict, candidate: dict, atol: float, rtol: float) -> ParityResult:
    """Compare scikit-learn outputs with ONNX outputs. Both dicts hold 'label' and/or 'value' arrays."""
    ref_values = np.asarray(reference["value"], dtype=np.float64)
    got_values = np.asarray(candidate["value"], dtype=np.float64)
    if ref_values.shape != got_values.shape:
        raise GateError(f"parity: ONNX output shape {got_values.shape} differs from scikit-learn's {ref_values.shape}")
    diff = np.abs(got_values - ref_values)
    excess = diff - (atol + rtol * np.abs(ref_values))
    mismatches = 0
    if task == "classification":
        mismatches = int(np.sum(_labels(reference["label"]) != _labels(candidate["label"])))
    rows = len(ref_values)
    finite = bool(np.all(np.isfinite(got_values)))
    worst = float(excess.max()) if rows else 0.0
    return ParityResult(
        passed=finite and mismatches == 0 and worst <= 0.0,
        rows=rows,
        label_mismatches=mismatches,
        max_abs_diff=float(diff.max()) if rows else 0.0,
        worst_excess=worst,
        atol=atol,
        rtol=rtol,
    )


def onnx_outputs(task: str, sess, feed: dict[str, np.ndarray]) -> dict:
    """Run the graph. `feed` maps each raw column, in signature order, to its (n, 1) array; the graph's
    inputs come in the same order (skl2onnx renames columns whose names are not identifiers)."""
    inputs = [i.name for i in sess.get_inputs()]
    if len(inputs) != len(feed):
        raise GateError(f"the ONNX model takes {len(inputs)} inputs but {len(feed)} columns were given")
    names = [o.name for o in sess.get_outputs()]
    outputs = dict(zip(names, sess.run(None, dict(zip(inputs, feed.values(), strict=True))), strict=True))
    if task == "classification":
        return {"label": outputs["label"].reshape(-1), "value": outputs["probabilities"]}
    return {"value": outputs["variable"].reshape(-1)}


def _labels(values) -> np.ndarray:
    """Class labels in a comparable form: numbers as float64 (1 == 1.0), anything else as text."""
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind in "iufb":
        return array.astype(np.float64)
    return array.astype(str)
