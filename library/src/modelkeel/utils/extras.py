"""Optional dependencies: the package's default install is the runtime (load, verify, score, serve); the rest
comes in extras, and a missing one is a MissingDependency naming the extra to install, never a bare ImportError.

    train    scikit-learn, skl2onnx, matplotlib, joblib, scipy, lightgbm, xgboost, onnxmltools (and fsspec,
             signing): the pipeline and the loop
    fsspec   data and registries behind a URL (`url=`, registry.url, retrain.source)
    signing  OpenSSF model signing: `sign`, and checking `bundle.sig` against registry.signer / `signer=`
    dask     dask[dataframe,distributed]: compute.engine dask, the pipeline on a Dask cluster
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .. import DISTRIBUTION
from ..errors import MissingDependency

# top-level module -> the extra that installs it
EXTRA_OF = {
    "sklearn": "train",
    "skl2onnx": "train",
    "matplotlib": "train",
    "joblib": "train",
    "scipy": "train",
    "lightgbm": "train",
    "xgboost": "train",
    "onnxmltools": "train",
    "fsspec": "fsspec",
    "dask": "dask",
    "distributed": "dask",
    "model_signing": "signing",
    "OpenSSL": "signing",
}


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]' (in a generated project: make install)"


def message_for(error: ModuleNotFoundError, purpose: str | None = None) -> str | None:
    """What to install when `error` is a module of an extra that is missing; None for any other module."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    needed = f"{purpose} needs" if purpose else "this command needs"
    return f"{needed} the `{extra}` extra ({top} is not installed): {install_hint(extra)}"


def require(module: str, purpose: str) -> ModuleType:
    """`import module`, or MissingDependency naming the extra that installs it (for `purpose`)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        message = message_for(error, purpose)
        if message is None:
            raise
        raise MissingDependency(message) from None
