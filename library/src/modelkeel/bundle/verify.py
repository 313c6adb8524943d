"""`verify`: re-check a bundle anywhere, with onnx, onnxruntime and pandera only.

Opening the bundle checks its checksums, layout and model hashes (`reader.open_bundle`); on
top of that `verify` runs the ONNX checker on the model file and scores the bundled input
example, which must give the recorded answers within the recorded tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import VerificationError
from ..settings import Signer
from . import layout
from .reader import Bundle, open_bundle


@dataclass(frozen=True)
class Verified:
    bundle: Bundle
    files: int
    example_rows: int
    signed: bool = False  # bundle.sig checked against the expected signer

    def describe(self) -> str:
        return (
            f"verify: {self.bundle.folder}: {self.files} checksums, ONNX model, schema and "
            f"{self.example_rows} example predictions OK" + (", signature of registry.signer OK" if self.signed else "")
        )


def check_onnx(bundle: Bundle) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(bundle.model_path), full_check=True)
    except Exception as error:  # onnx raises several exception types
        raise VerificationError(f"{bundle.model_path}: not a valid ONNX model: {error}") from None


def check_example(bundle: Bundle) -> int:
    """Score input_example.json; the answers must match the recorded ones. Returns the number of rows."""
    import pandas as pd

    from ..quality.parity import compare

    path = bundle.file(layout.INPUT_EXAMPLE)
    try:
        example = bundle.input_example
        rows, expected, tolerance = example["rows"], example["expected"], example["tolerance"]
        atol, rtol = float(tolerance["atol"]), float(tolerance["rtol"])
    except (KeyError, TypeError, ValueError) as error:
        raise VerificationError(f"{path}: malformed ({error})") from None
    frame = bundle.validate_input(pd.DataFrame(rows), source=layout.INPUT_EXAMPLE)
    result = compare(bundle.task, expected, bundle.run(frame), atol, rtol)
    if not result.passed:
        raise VerificationError(
            f"{bundle.model_path}: predictions on {layout.INPUT_EXAMPLE} differ from the recorded ones "
            f"({result.label_mismatches} label mismatch(es), largest difference {result.max_abs_diff:.3g})"
        )
    return result.rows


def verify(folder: Path | str, signer: Signer | None = None) -> Verified:
    """Every check a bundle must pass before anything is published or scored from it; VerificationError if not.
    With a `signer`, its bundle.sig must be that signer's signature over every file."""
    bundle = open_bundle(folder, signer=signer)
    check_onnx(bundle)
    return Verified(bundle, len(bundle.checksums), check_example(bundle), signed=signer is not None)
