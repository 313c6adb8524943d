"""The ONNX parity gate: the exported model must predict like the trained one, within `parity.atol` / `rtol`.

`compare` is the one check of "these answers match those": the export stage runs it on the
test split (scikit-learn against onnxruntime), and `verify` runs it on the bundled input
example (onnxruntime against the answers recorded at export). Imports neither scikit-learn nor skl2onnx.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GateError


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


def compare(
    task: str, reference: dict, candidate: dict, atol: float, rtol: float, *, same_kind: bool = False
) -> ParityResult:
    """Compare scikit-learn outputs with ONNX outputs. Both dicts hold 'label' and/or 'value' arrays.

    Labels are compared by value (1 == 1.0 == True). With `same_kind` they must also be of one kind
    (`label_kind`), or every row is a mismatch: the export gate's check that a bool target's
    labels come out of the ONNX model as True/False, as scikit-learn gives them, not as 0/1."""
    ref_values = np.asarray(reference["value"], dtype=np.float64)
    got_values = np.asarray(candidate["value"], dtype=np.float64)
    if ref_values.shape != got_values.shape:
        raise GateError(f"parity: ONNX output shape {got_values.shape} differs from scikit-learn's {ref_values.shape}")
    diff = np.abs(got_values - ref_values)
    excess = diff - (atol + rtol * np.abs(ref_values))
    mismatches = 0
    if task == "classification":
        mismatches = int(np.sum(_labels(reference["label"]) != _labels(candidate["label"])))
        if same_kind and label_kind(reference["label"]) != label_kind(candidate["label"]):
            mismatches = len(ref_values)
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


def _labels(values) -> np.ndarray:
    """Class labels in a comparable form: numbers as float64 (1 == 1.0), anything else as text."""
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind in "iufb":
        return array.astype(np.float64)
    return array.astype(str)


def label_kind(values) -> str:
    """What a label array holds: "bool", "number", "text" (or pandas' name of any other kind; "empty")."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(np.asarray(values).reshape(-1), skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    return {"boolean": "bool", "string": "text"}.get(kind, kind)


def describe_failure(result: ParityResult) -> str:
    return (
        f"parity gate failed on {result.rows} test rows: {result.label_mismatches} label mismatch(es), "
        f"largest difference {result.max_abs_diff:.3g} (tolerance atol={result.atol:g} + rtol={result.rtol:g}*|value|). "
        "The ONNX model does not predict like the trained one, so it was not written and cannot be bundled. "
        "Keep numeric inputs float32 end to end (see runtime/signature.py), or loosen parity.atol / parity.rtol in params.yaml "
        "only if the difference is acceptable."
    )
