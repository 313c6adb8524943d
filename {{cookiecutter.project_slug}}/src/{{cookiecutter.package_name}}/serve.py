"""A small runtime API for applications: a released model, ready to score, in one call.

    from <package>.serve import load_model
    model = load_model("latest", repo="OWNER/NAME")   # or url="s3://bucket/models", or path="dist/..."
    scored = model.predict(frame)                     # validates with the bundled schema, then onnxruntime

Imports neither scikit-learn nor skl2onnx: a service needs onnxruntime, pandas and pandera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .compat import check_bundle_format
from .predict import LoadedBundle, load_bundle, predictions_frame, run_model
from .registry import backend_for, default_cache_dir


@dataclass(frozen=True)
class Model:
    bundle: LoadedBundle
    version: str

    @property
    def session(self):
        """The onnxruntime.InferenceSession."""
        return self.bundle.session

    @property
    def schema(self):
        """The pandera schema of the model's input columns."""
        return self.bundle.input_schema

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows with `prediction` (and `probability_<class>` for classifiers) added; bad input raises."""
        checked = self.bundle.validate_input(frame, source="input")
        return predictions_frame(self.bundle, checked, run_model(self.bundle, checked))


def load_model(
    version: str = "latest",
    *,
    repo: str | None = None,
    url: str | None = None,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Model:
    """A verified bundle as a ready model: from a local folder (`path`), a GitHub repository's
    releases (`repo`, the default backend) or an fsspec registry (`url`)."""
    if path is not None:
        folder = Path(path)
    else:
        backend = backend_for(repo, url)
        cache = Path(cache_dir) if cache_dir else default_cache_dir(__package__) / backend.cache_key
        folder = backend.fetch(version, cache)
    bundle = load_bundle(folder)
    return Model(bundle, str(check_bundle_format(folder).get("version")))
