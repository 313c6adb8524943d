"""The model being served, swapped atomically, and the scheduled reload of `latest`.

A `Served` model is ready before anything serves it: opened and verified by the registry client or
`open_bundle` (checksums, layout, model hashes, self-contained ONNX, signer), then warmed by scoring
the bundle's own input example. `ModelHolder.current` is one reference: each request takes it once
and scores, answers and labels its response with that model, even if a reload swaps in a new one
meanwhile. The `Reloader` fetches `latest` through the registry backend on a schedule, prepares it
off the event loop, and only then swaps it in with one assignment; a release that cannot be fetched,
verified or warmed is logged and counted, and the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..bundle.trust import SIGNED, UNCHECKED, require_signer
from ..errors import DataError, PipelineError, VerificationError
from ..registry.base import Backend
from ..runtime import scoring
from ..runtime.model import Model
from .metrics import ServeMetrics

log = logging.getLogger(__name__)
SOURCE = "request"  # what failure reports call the rows of a request
VERSION_HEADER = "X-Model-Version"
# why the model may score (bundle/trust.py): verified, own-build or not-checked (serve --allow-unsigned)
SIGNATURE_HEADER = "X-Model-Signature"


def score_records(model: Model, records: list[dict], source: str = SOURCE) -> dict:
    """The model's predictions for JSON records: a list under "prediction" and, for a classifier, one list per
    class under "probabilities".

    The one place the service scores records; bad values raise DataValidationError naming the columns."""
    # runtime/precheck.py: the compiled input check, with no pandas for a few rows; pandera reports failures
    return model.predict_records(records, source, max_rows=max(len(records), 1))


def score_frame(model: Model, frame: pd.DataFrame, source: str = SOURCE) -> dict:
    """The model's predictions for a frame (a CSV body), in the form `score_records` returns."""
    scored = scoring.score_frame(model.bundle, frame, source, max_rows=max(len(frame), 1))
    result: dict[str, Any] = {"prediction": scored["prediction"].tolist()}
    if model.bundle.task == "classification":
        classes = model.bundle.classes or []
        result["probabilities"] = {str(cls): scored[f"probability_{cls}"].tolist() for cls in classes}
    return result


def prediction_rows(result: dict) -> tuple[tuple[str, ...], list[dict]]:
    """The output columns and one {"prediction": ..., "probability_<class>": ...} per row."""
    probabilities = result.get("probabilities") or {}
    names = ("prediction", *(f"probability_{cls}" for cls in probabilities))
    columns = [_plain(result["prediction"]), *(_plain(values) for values in probabilities.values())]
    return names, [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain(values: Any) -> list:
    """A list (a numpy array's values as Python numbers and strings)."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


@dataclass(frozen=True)
class Served:
    """A verified, warmed model and what every response needs from it, computed once."""

    model: Model
    source: str  # where it came from, for the log
    trust: str = SIGNED  # why it may score: SIGNED (verified), OWN_BUILD or UNCHECKED (--allow-unsigned)
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def unchecked(self) -> bool:
        return self.trust == UNCHECKED

    @property
    def headers(self) -> dict[str, str]:
        """Every answer's headers: the version, and whether anybody checked who made the model."""
        return {VERSION_HEADER: self.version, SIGNATURE_HEADER: self.trust}

    @property
    def features(self) -> list[str]:
        return self.model.bundle.features

    @property
    def outputs(self) -> list[str]:
        classes = self.model.bundle.classes if self.model.bundle.task == "classification" else None
        return scoring.output_columns(self.model.bundle, classes)

    def metadata(self) -> dict:
        """/metadata: version, lineage summary, signature and metrics."""
        bundle = self.model.bundle
        lineage, metrics = bundle.lineage, bundle.metrics
        data = lineage.get("data") or {}
        return {
            "version": self.version,
            "name": lineage.get("name"),
            "task": bundle.task,
            "target": bundle.signature.get("target"),
            "features": self.features,
            "outputs": self.outputs,
            "classes": bundle.classes if bundle.task == "classification" else None,
            "loaded_at": self.loaded_at,
            "signature_check": self.trust,  # verified, own-build, or not-checked (--allow-unsigned)
            "lineage": {
                "bundle_format": lineage.get("bundle_format"),
                "git": lineage.get("git"),
                "data": {"rows": data.get("rows"), "fingerprint": data.get("fingerprint")},
                "schema": lineage.get("schema"),
                "params_hash": lineage.get("params_hash"),
                "seed": lineage.get("seed"),
                "model": lineage.get("model"),
                "environment": lineage.get("environment"),
            },
            "signature": bundle.signature,
            "metrics": {
                "primary_metric": metrics.get("primary_metric"),
                "higher_is_better": metrics.get("higher_is_better"),
                "test": metrics.get("test"),
                "train": metrics.get("train"),
                "baseline": metrics.get("baseline"),
                "rows": metrics.get("rows"),
                "gates_passed": (metrics.get("gates") or {}).get("passed"),
            },
        }


def prepare(model: Model, source: str, trust: str = SIGNED) -> Served:
    """The model, warmed: the onnxruntime session is built and the bundle's own input example scores.

    A bundle whose example does not score is not served (VerificationError)."""
    rows = model.bundle.input_example.get("rows")
    if not isinstance(rows, list) or not rows:
        raise VerificationError(f"{source}: input_example.json holds no rows to warm the model with")
    try:
        result = score_records(model, rows, f"{source}: input_example.json")
    except DataError as error:
        raise VerificationError(f"{source}: the bundle's own input example does not score: {error}") from None
    if len(result["prediction"]) != len(rows):
        raise VerificationError(
            f"{source}: the model gave {len(result['prediction'])} predictions for {len(rows)} rows"
        )
    return Served(model, source, trust)


class ModelHolder:
    """The model being served: one reference, replaced by one assignment (atomic for every reader)."""

    def __init__(self, served: Served | None = None, metrics: ServeMetrics | None = None) -> None:
        self.metrics = metrics or ServeMetrics()
        self.current: Served | None = None
        if served is not None:
            self.swap(served)

    @property
    def version(self) -> str | None:
        served = self.current
        return served.version if served is not None else None

    def swap(self, served: Served) -> Served | None:
        previous = self.current
        self.current = served
        self.metrics.serving(served.version, previous.version if previous is not None else None)
        return previous


class Reloader:
    """Every `every` seconds: is there a newer `latest`? Fetch, verify, warm, swap; on failure keep serving.

    It fetches through the backend start-up fetched with, so with the same signer and policy: a release that
    start-up would refuse (unsigned, wrongly signed, not the version it is released as) is never swapped in."""

    def __init__(self, holder: ModelHolder, backend: Backend, cache: Path, every: float) -> None:
        require_signer(backend.signer, backend.name)  # a registry is only read with a signer, here too
        self.holder = holder
        self.backend = backend
        self.cache = cache
        self.every = every

    def check(self) -> str:
        """One check of the registry (blocking: run it off the event loop). Returns the outcome."""
        current = self.holder.current
        kept = current.version if current is not None else "nothing"
        outcome = "failed"
        try:
            version = self.backend.resolve("latest")
            if current is not None and version == current.version:
                outcome = "unchanged"
            else:
                source = f"{self.backend.name} {version}"
                served = prepare(Model(self.backend.fetch(version, self.cache)), source, SIGNED)
                self.holder.swap(served)
                outcome = "swapped"
                log.info("reload: now serving %s (was %s)", source, kept)
        except PipelineError as error:  # cannot fetch, not verified, does not score: the old model stays
            log.warning("reload: still serving %s; the latest release was refused: %s", kept, error)
        except Exception:  # a bug or an unexpected failure of a registry: never stop serving for it
            log.exception("reload: still serving %s; checking the latest release failed", kept)
        self.holder.metrics.reloads.labels(outcome).inc()
        return outcome

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await asyncio.to_thread(self.check)
