"""`serve`: a verified bundle behind HTTP (FastAPI on uvicorn), with onnxruntime alone scoring.

    POST /predict        JSON (one object, or a list of objects) or CSV with a header row; the version in every answer
    GET  /health         live and ready (also /health/live, /health/ready: 503 until a model is loaded)
    GET  /metadata       version, lineage summary, signature, metrics
    GET  /metrics        Prometheus: requests, latency, rows, errors, reloads

`holder` keeps the model being served and swaps it atomically (the scheduled reload of `latest`),
`inputs` reads request bodies (bounded, refused with the 4xx that fits), `openapi` writes the
request and response schemas from the bundled contract, `metrics` counts, `app` wires the routes
and `server` runs uvicorn after the bundle was opened, verified and warmed.
Imports neither scikit-learn nor skl2onnx.
"""
