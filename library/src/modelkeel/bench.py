"""`bench`: what this project's own model costs to serve and to check, measured side by side.

- serving: the exported ONNX model in onnxruntime against the scikit-learn Pipeline it came
  from, on the raw columns a consumer sends: single-row latency (median, p99) and the time per
  batch of 1, 100, 10 000 and 100 000 rows, reported as ratios (sklearn time / onnx time);
- validation throughput: the pandera contract on a large resample of the data as read from its
  files (rows per second), and on a copy with 1 % broken rows, the full failure report included;
- the runtime API on the bundle: `Model.predict_records` (JSON records through the compiled input
  check), `Model.predict` (a frame) and the pandera path they replace, on 1 and 64 rows;
- end to end: `load_model(...).predict` on one row and on the largest batch against the scikit-learn
  Pipeline's `predict` on the same rows;
- fingerprinting: hashing a data file against `sha256sum` on the same file.

Absolute times on a shared machine are noisy; the ratios measured in one run are the figures to read.
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StageOrderError
from .settings import Settings
from .utils import atomic

BENCH_FILE = "bench.json"


def _timed(call, budget: float, minimum: int, maximum: int) -> list[float]:
    """Run `call` until the budget is spent (at least `minimum`, at most `maximum` times); seconds per call."""
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < maximum and (len(times) < minimum or time.perf_counter() - started < budget):
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return times


def resample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    index = np.random.default_rng(seed).integers(0, len(frame), rows)
    return frame.iloc[index].reset_index(drop=True)


def serving(settings: Settings, frame: pd.DataFrame, batch_sizes: list[int], budget: float) -> dict:
    import joblib

    from .bundle.layout import MODEL, TRAINED_MODEL
    from .runtime.session import onnx_outputs, session
    from .runtime.signature import model_frame, onnx_feed

    art = settings.artifacts_dir
    if not (art / TRAINED_MODEL).is_file() or not (art / MODEL).is_file():
        raise StageOrderError(f"no trained and exported model in {art}; run `pipeline` first.")
    model = joblib.load(art / TRAINED_MODEL)
    sess = session((art / MODEL).read_bytes())
    inputs = settings.data.inputs
    sk_call = model.predict_proba if settings.task == "classification" else model.predict

    def onnx_call(X: pd.DataFrame):
        return onnx_outputs(settings.task, sess, onnx_feed(X, inputs))

    rows = resample(frame, max(batch_sizes), settings.seed)
    X_all = model_frame(rows, inputs)
    singles = [X_all.iloc[[i]] for i in range(min(200, len(X_all)))]
    single: dict[str, Any] = {}
    for engine, call in (("onnx", onnx_call), ("sklearn", sk_call)):
        position = iter(range(10**9))
        times = _timed(
            lambda call=call, position=position: call(singles[next(position) % len(singles)]), budget, 20, 1000
        )
        single[engine] = {
            "calls": len(times),
            "median_ms": statistics.median(times) * 1e3,
            "p99_ms": float(np.percentile(times, 99)) * 1e3,
        }
    single["ratio_median"] = single["sklearn"]["median_ms"] / single["onnx"]["median_ms"]
    batches = []
    for size in batch_sizes:
        X = X_all.iloc[:size]
        entry: dict[str, Any] = {"rows": size}
        for engine, call in (("onnx", onnx_call), ("sklearn", sk_call)):
            best = min(_timed(lambda call=call, X=X: call(X), budget, 3, 200))
            entry[f"{engine}_ms"] = best * 1e3
            entry[f"{engine}_rows_per_s"] = size / best
        entry["ratio"] = entry["sklearn_ms"] / entry["onnx_ms"]
        batches.append(entry)
    return {"single_row": single, "batches": batches}


def public_api(settings: Settings, frame: pd.DataFrame, budget: float) -> dict:
    """The runtime API on the bundle in dist/, per call on 1 and 64 rows: `Model.predict_records` (JSON records,
    the compiled check, no pandas), `Model.predict` (a frame) and the pandera path both took before the
    compiled check (validate with pandera, then `model_frame`, `onnx_feed`, onnxruntime)."""
    import json

    from .bundle.lineage import bundle_name
    from .bundle.reader import open_bundle
    from .runtime.model import Model
    from .runtime.scoring import predictions_frame

    folder = settings.dist_dir / bundle_name(settings.root)
    if not folder.is_dir():
        raise StageOrderError(f"no bundle in {folder}; run `pipeline` first.")
    model = Model(open_bundle(folder))  # the project's own build (unsigned until released), as load_model opens it
    bundle = model.bundle
    rows = resample(frame, 64, settings.seed + 1)[list(bundle.features)]
    records = json.loads(rows.to_json(orient="records", date_format="iso"))  # as a client sends them
    frames = [pd.DataFrame.from_records([r]) for r in records]
    batch = pd.DataFrame.from_records(records)

    def pandera_path(part: pd.DataFrame) -> pd.DataFrame:
        checked = bundle.validate_input(part, source="bench")
        return predictions_frame(bundle, checked, bundle.run(checked))

    calls = {
        "predict_records": (lambda i: model.predict_records([records[i]]), lambda: model.predict_records(records)),
        "predict": (lambda i: model.predict(frames[i]), lambda: model.predict(batch)),
        "pandera": (lambda i: pandera_path(frames[i]), lambda: pandera_path(batch)),
    }
    result: dict[str, Any] = {
        "compiled": bundle.precheck.fallback or "yes",
        "verdict_64_rows": bundle.precheck.check_records(records)[0],
    }
    for name, (one, many) in calls.items():
        position = iter(range(10**9))
        single = _timed(lambda one=one, position=position: one(next(position) % 64), budget, 20, 2000)
        whole = _timed(many, budget, 5, 500)
        result[name] = {
            "calls": len(single),
            "one_row_median_ms": statistics.median(single) * 1e3,
            "one_row_p99_ms": float(np.percentile(single, 99)) * 1e3,
            "rows_64_median_ms": statistics.median(whole) * 1e3,
        }
    for name in ("predict_records", "predict"):
        result[name]["speedup_one_row"] = result["pandera"]["one_row_median_ms"] / result[name]["one_row_median_ms"]
        result[name]["speedup_64_rows"] = result["pandera"]["rows_64_median_ms"] / result[name]["rows_64_median_ms"]
    return result


def end_to_end(settings: Settings, frame: pd.DataFrame, budget: float, rows: int = 100_000) -> dict:
    """`load_model(path=bundle).predict` end to end (the input check, the feed, onnxruntime, the output frame)
    against the scikit-learn Pipeline's `predict` on the same rows: one row at a time (median) and `rows` rows
    at once (best of several). scikit-learn gets the rows already typed as the model sees them (`model_frame`,
    not timed), so the figure leaves it no conversion to pay for that the runtime pays."""
    import joblib

    from .bundle.layout import TRAINED_MODEL
    from .bundle.lineage import bundle_name
    from .bundle.reader import open_bundle
    from .runtime.model import Model
    from .runtime.signature import model_frame

    folder = settings.dist_dir / bundle_name(settings.root)
    if not folder.is_dir() or not (settings.artifacts_dir / TRAINED_MODEL).is_file():
        raise StageOrderError(f"no bundle in {folder} or trained model; run `pipeline` first.")
    model = Model(open_bundle(folder))  # this checkout's own build, opened as load_model(path=...) opens it
    pipeline = joblib.load(settings.artifacts_dir / TRAINED_MODEL)
    features = list(model.bundle.features)
    big = resample(frame, rows, settings.seed + 2)[features].reset_index(drop=True)
    typed = model_frame(big, model.bundle.inputs)
    singles = [big.iloc[[i]] for i in range(min(200, rows))]
    typed_singles = [typed.iloc[[i]] for i in range(len(singles))]
    result: dict[str, Any] = {"rows": rows}
    for engine, one in (
        ("runtime", lambda i: model.predict(singles[i])),
        ("sklearn", lambda i: pipeline.predict(typed_singles[i])),
    ):
        position = iter(range(10**9))
        times = _timed(lambda one=one, position=position: one(next(position) % len(singles)), budget, 20, 2000)
        result[f"one_row_{engine}_ms"] = statistics.median(times) * 1e3
    result["one_row_ratio"] = result["one_row_sklearn_ms"] / result["one_row_runtime_ms"]
    for engine, many in (("runtime", lambda: model.predict(big)), ("sklearn", lambda: pipeline.predict(typed))):
        result[f"batch_{engine}_ms"] = min(_timed(many, budget, 3, 20)) * 1e3
    result["batch_ratio"] = result["batch_sklearn_ms"] / result["batch_runtime_ms"]
    return result


def validation(settings: Settings, frame: pd.DataFrame, rows: int) -> dict:
    """Rows per second through the contract, on good data and on data with broken rows.

    The broken copy has one row in a hundred with an unknown category, a value out of range or a
    missing value where the contract forbids one, so the figure includes building the full
    failure report (every failing row, grouped by column and check), as a user would see it.
    """
    from .data.contract import load_schema_model, validate_frame
    from .errors import DataValidationError
    from .stages.validate import time_columns

    big = resample(frame, rows, settings.seed)
    model = load_schema_model(settings)
    seconds = min(_timed(lambda: validate_frame(big, model, "bench", time_columns(settings)), 0.0, 2, 2))
    bad = broken(big, model, settings.seed)
    failures: list[dict] = []

    def validate_bad() -> None:
        try:
            validate_frame(bad, model, "bench", time_columns(settings))
        except DataValidationError as error:
            failures[:] = error.report["failures"]
        else:  # a contract without range or category checks: nothing these changes break
            failures.clear()

    bad_seconds = min(_timed(validate_bad, 0.0, 2, 2))
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "bad_data": {
            "rows": rows,
            "seconds": bad_seconds,
            "rows_per_s": rows / bad_seconds,
            "failing_rows": sum(f["rows"] for f in failures),
            "problems": len(failures),
        },
    }


def broken(frame: pd.DataFrame, model, seed: int) -> pd.DataFrame:
    """A copy of `frame` with about 1 % of its rows breaking the contract, column by column."""
    schema = model.to_schema()
    rng = np.random.default_rng(seed)
    bad = frame.copy()
    for name, column in schema.columns.items():
        if name not in bad.columns:
            continue
        rows = rng.choice(len(bad), max(1, len(bad) // (100 * len(schema.columns))), replace=False)
        if pd.api.types.is_numeric_dtype(bad[name]) and not pd.api.types.is_bool_dtype(bad[name]):
            bad[name] = bad[name].astype("float64")
            bad.loc[rows, name] = -1e12  # below any sensible range check
        else:  # text stays text, as a broken file would be read
            bad.loc[rows, name] = None if not column.nullable else "__not_a_known_category__"
    return bad


def fingerprinting(frame: pd.DataFrame, rows: int, seed: int) -> dict:
    from .utils.hashing import sha256_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        resample(frame, rows, seed).to_csv(path, index=False)
        ours = min(_timed(lambda: sha256_file(path), 0.0, 3, 3))
        result = {"bytes": path.stat().st_size, "ours_s": ours}
        tool = shutil.which("sha256sum")
        if tool:
            reference = min(
                _timed(lambda: subprocess.run([tool, str(path)], capture_output=True, check=True), 0.0, 3, 3)
            )
            result |= {"sha256sum_s": reference, "ratio": reference / ours}
    return result


def run_bench(
    settings: Settings,
    batch_sizes: list[int],
    validation_rows: int,
    budget: float = 3.0,
    frame: pd.DataFrame | None = None,
) -> dict:
    """Every figure on `frame` (default: the project's data as read from its files, as a consumer's data arrives)."""
    import onnxruntime

    from .data.files import read_table, resolve_files

    if frame is None:
        frame, _ = read_table(resolve_files(settings.data.path, settings.root, settings.data_snapshot_dir))

    report = {
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "onnxruntime": onnxruntime.__version__},
        "model": settings.model.type,
        "task": settings.task,
        "serving": serving(settings, frame, batch_sizes, budget),
        "public_api": public_api(settings, frame, budget),
        "end_to_end": end_to_end(settings, frame, budget, max(batch_sizes)),
        "validation": validation(settings, frame, validation_rows),
        "fingerprint": fingerprinting(frame, validation_rows, settings.seed),
    }
    atomic.write_json(settings.artifacts_dir / BENCH_FILE, report)
    return report


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def format_report(report: dict) -> str:
    s = report["serving"]
    single = s["single_row"]
    lines = [
        f"### {report['model']} ({report['task']}), {report['machine']['cpus']} CPU(s)",
        "",
        "| figure | onnxruntime | scikit-learn | ratio (sklearn / onnx) |",
        "|---|---|---|---|",
        f"| single row, median | {single['onnx']['median_ms']:.3f} ms | {single['sklearn']['median_ms']:.3f} ms "
        f"| {single['ratio_median']:.1f}x |",
        f"| single row, p99 | {single['onnx']['p99_ms']:.3f} ms | {single['sklearn']['p99_ms']:.3f} ms "
        f"| {single['sklearn']['p99_ms'] / single['onnx']['p99_ms']:.1f}x |",
    ]
    for b in s["batches"]:
        lines.append(
            f"| batch of {b['rows']:,} rows | {b['onnx_ms']:.2f} ms ({b['onnx_rows_per_s']:,.0f} rows/s) "
            f"| {b['sklearn_ms']:.2f} ms ({b['sklearn_rows_per_s']:,.0f} rows/s) | {b['ratio']:.2f}x |"
        )
    api = report.get("public_api")
    if api:
        lines += [
            "",
            f"Runtime API on the bundle (compiled input check: {api['compiled']}), median per call:",
            "",
            "| call | 1 row | 1 row, p99 | 64 rows | speed-up over the pandera path (1 / 64 rows) |",
            "|---|---|---|---|---|",
        ]
        for name, label in (
            ("predict_records", "`Model.predict_records(records)`"),
            ("predict", "`Model.predict(frame)`"),
            ("pandera", "pandera path (validate, then onnxruntime)"),
        ):
            a = api[name]
            gain = f"{a['speedup_one_row']:.0f}x / {a['speedup_64_rows']:.1f}x" if "speedup_one_row" in a else ""
            lines.append(
                f"| {label} | {a['one_row_median_ms']:.3f} ms | {a['one_row_p99_ms']:.3f} ms "
                f"| {a['rows_64_median_ms']:.3f} ms | {gain} |"
            )
    e = report.get("end_to_end")
    if e:
        lines += [
            "",
            "`load_model(...).predict` end to end against the scikit-learn Pipeline's `predict` on the same rows:",
            "",
            "| rows | load_model(...).predict | Pipeline.predict | ratio |",
            "|---|---|---|---|",
            f"| 1 (median) | {e['one_row_runtime_ms']:.3f} ms | {e['one_row_sklearn_ms']:.3f} ms | {e['one_row_ratio']:.1f}x |",
            f"| {e['rows']:,} (best) | {e['batch_runtime_ms']:.1f} ms | {e['batch_sklearn_ms']:.1f} ms "
            f"| {e['batch_ratio']:.2f}x |",
        ]
    v, f = report["validation"], report["fingerprint"]
    lines += [
        "",
        f"Validation: {v['rows']:,} rows in {v['seconds']:.2f} s = {v['rows_per_s'] / 1e6:.2f} million rows/s; "
        f"with 1 % broken rows {v['bad_data']['rows_per_s'] / 1e6:.2f} million rows/s, reporting "
        f"{v['bad_data']['failing_rows']:,} failing values in {v['bad_data']['problems']} problem(s).",
        f"Fingerprint: {f['bytes'] / 1e6:.1f} MB hashed in {f['ours_s']:.3f} s"
        + (f"; sha256sum {f['sha256sum_s']:.3f} s (ratio {f['ratio']:.2f})." if "ratio" in f else "."),
    ]
    return "\n".join(lines)
