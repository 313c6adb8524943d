"""A small runtime API for applications: a released model, ready to score, in one call.

    from modelkeel.runtime.model import load_model
    from modelkeel.settings import Signer
    release = Signer(workflow="https://github.com/OWNER/NAME/.github/workflows/release.yml")  # or public_key=
    model = load_model("latest", repo="OWNER/NAME", signer=release)  # or url="s3://bucket/models", or path=
    scored = model.predict(frame)                     # validates with the bundled schema, then onnxruntime
    answer = model.predict_records([{"column": 1.5}])  # JSON in, plain values out: the serving path

Every path opens the bundle the same way (checksums, layout, model hashes) before it scores.
Imports neither scikit-learn nor skl2onnx: a service needs onnxruntime, pandas and pandera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..bundle.reader import Bundle
from ..registry import backend_for
from ..settings import Signer
from .precheck import check_records, score_records
from .scoring import DEFAULT_MAX_ROWS, _positive, check_rows, score_frame


@dataclass(frozen=True)
class Model:
    bundle: Bundle

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def session(self) -> Any:
        """The onnxruntime.InferenceSession."""
        return self.bundle.session

    @property
    def schema(self) -> Any:
        """The pandera schema of the model's input columns."""
        return self.bundle.input_schema

    def predict(self, frame: pd.DataFrame, *, max_rows: int = DEFAULT_MAX_ROWS) -> pd.DataFrame:
        """The rows with `prediction` (and `probability_<class>` for classifiers) added; bad input raises.

        Columns the model does not take pass through. Duplicated column names, a column named like a
        prediction column, or more than `max_rows` rows (10 million unless raised) raise DataError.
        """
        return score_frame(self.bundle, frame, max_rows=max_rows)

    def predict_records(
        self, records: list[dict], source: str = "request", *, max_rows: int = DEFAULT_MAX_ROWS
    ) -> dict:
        """JSON-like records (dicts of column: None/bool/int/float/str) scored as plain Python values:
        `{"prediction": [...], "probabilities": {"<class>": [...]} }`, each class as text (regressors: `prediction` only).

        The rows mean what `pd.DataFrame.from_records(records)` means to the contract: a key missing
        from a record is a missing value, unknown keys are ignored. The compiled contract checks them
        and feeds the model directly (no pandas for a few rows); rows it does not accept go through
        pandera, whose DataValidationError names every failing column (`.report["failures"]`). An
        empty list, a record that is not a dict, a key that is not text, or more than `max_rows`
        records raise DataError.
        """
        rows = check_records(records, source)
        check_rows(len(rows), _positive(max_rows, "max_rows"), source)
        return score_records(self.bundle, rows, source)


def load_model(
    version: str = "latest",
    *,
    repo: str | None = None,
    url: str | None = None,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    signer: Signer | None = None,
    allow_unsigned: bool = False,
) -> Model:
    """A verified bundle as a ready model: from a local folder (`path`), a GitHub repository's
    releases (`repo`, the default backend) or an fsspec registry (`url`).

    Signed by default: `signer` (a `Signer` naming the release workflow, or a key pair's public key file)
    is who must have signed the bundle (`bundle.sig` over every file). A registry needs one, always. A
    `path` needs one too, and its bundle must carry that signature; `allow_unsigned=True` uses a local folder
    unchecked (a warning is logged). Without either, VerificationError says so."""
    if path is not None:
        from ..bundle.trust import open_local

        names = ("signer=", "allow_unsigned=True")
        return Model(open_local(path, signer, allow_unsigned=allow_unsigned, names=names).bundle)
    backend = backend_for(repo, url, signer)
    cache = Path(cache_dir) if cache_dir else backend.default_cache()
    return Model(backend.fetch(version, cache))
