"""The service a user would write without `serve`: FastAPI returning the joblib scikit-learn Pipeline's predictions.

The reference side of `bench/serving.py`. It runs in the baked project's own .venv (the same
FastAPI, uvicorn, pandas and scikit-learn versions as the project) with the same uvicorn options
as `serve`: one worker, httptools, uvloop, no access log.

    python bench/baseline_service.py --model artifacts/model.joblib --task classification --port 8001

`POST /predict` takes the same JSON as `serve` (a list of records, or one record), builds a
DataFrame and answers `{"rows": n, "predictions": [{"prediction": ..., "probability_<class>": ...}]}`.
It is written the way the FastAPI documentation teaches: a typed body, a plain `def` endpoint for
blocking work (FastAPI runs it in its thread pool), a dict returned and encoded by FastAPI. The one
liberty taken in its favour: a classifier's labels come from the same `predict_proba` call as its
probabilities (the argmax, as `predict` computes it), instead of a second pass through the Pipeline.
`--async-endpoint` serves it from an `async def` endpoint instead (no thread-pool hop).
"""

from __future__ import annotations

import argparse
from typing import Any

import joblib
import numpy as np
import pandas as pd
import uvicorn
from fastapi import Body, FastAPI


def create_app(model_path: str, task: str, async_endpoint: bool = False) -> FastAPI:
    model = joblib.load(model_path)
    app = FastAPI(title="scikit-learn baseline")

    def predictions(records: list[dict[str, Any]]) -> dict[str, Any]:
        frame = pd.DataFrame.from_records(records)
        if task == "classification":
            probabilities = model.predict_proba(frame)
            labels = model.classes_[np.argmax(probabilities, axis=1)].tolist()
            names = [f"probability_{c}" for c in model.classes_]
            rows = [
                {"prediction": label, **dict(zip(names, row, strict=True))}
                for label, row in zip(labels, probabilities.tolist(), strict=True)
            ]
        else:
            rows = [{"prediction": value} for value in model.predict(frame).tolist()]
        return {"rows": len(rows), "predictions": rows}

    if async_endpoint:

        @app.post("/predict")
        async def predict_async(records: list[dict[str, Any]] = Body(...)) -> dict[str, Any]:  # noqa: B008
            return predictions(records)
    else:

        @app.post("/predict")
        def predict(records: list[dict[str, Any]] = Body(...)) -> dict[str, Any]:  # noqa: B008
            return predictions(records)

    @app.get("/health")
    async def health() -> dict[str, bool]:  # async: the bench's floor of the bare framework, no thread pool
        return {"live": True, "ready": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the joblib Pipeline (artifacts/model.joblib)")
    parser.add_argument("--task", choices=("classification", "regression"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--async-endpoint", action="store_true", help="an async def endpoint (no thread pool)")
    args = parser.parse_args()
    app = create_app(args.model, args.task, args.async_endpoint)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        http="httptools",
        loop="uvloop",
        access_log=False,
        server_header=False,  # as `serve` answers
        log_level="warning",
    )


if __name__ == "__main__":
    main()
