"""Stage 5 and 6: the release bundle, and checking one anywhere.

A bundle is a versioned folder `dist/<project>-<version>/` plus a tarball of it:
model.onnx, metrics.json, schema.yaml, signature.json, lineage.json, parity.json,
reference.json (training-data statistics the drift monitor compares new data with),
model_card.md, the plots, input_example.json and SHA256SUMS (as `sha256sum` writes it).
It is built in a temporary folder and renamed into place, so an interrupted run
leaves no half bundle. `verify` needs only onnx, onnxruntime and pandera.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

from . import checksums, fsutil
from .checksums import CHECKSUMS, sha256_bytes
from .compat import SUPPORTED_BUNDLE_FORMAT
from .errors import GateError, StageOrderError, VerificationError

EXAMPLE_ROWS = 20
REFERENCE_FILE = "reference.json"  # training-data statistics that drift is measured against
REQUIRED_FILES = (
    "model.onnx",
    "metrics.json",
    "parity.json",
    "schema.yaml",
    "signature.json",
    "input_example.json",
    "lineage.json",
    "model_card.md",
)


def write_tarball(folder: Path, target: Path) -> Path:
    """A reproducible .tar.gz of the folder (sorted names, fixed times and owners)."""
    import gzip

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.iterdir()):
            info = tarfile.TarInfo(f"{folder.name}/{path.name}")
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    fsutil.write_bytes(target, gzip.compress(buffer.getvalue(), mtime=0))
    return target


def _load_json(path: Path, what: str, fix: str) -> dict:
    if not path.is_file():
        raise StageOrderError(f"{what} not found at {path}; {fix}")
    return json.loads(path.read_text(encoding="utf-8"))


def build(settings, validated) -> Path:
    """Assemble, check and atomically publish the bundle folder and its tarball."""
    from .evaluate import METRICS_FILE, PLOTS_DIR, failed_gates
    from .export import ONNX_FILE, PARITY_FILE
    from .model_card import render_model_card
    from .monitor import reference_stats
    from .provenance import bundle_name, environment, git_state, project_name
    from .schema import load_schema_model, schema_yaml
    from .train import TRAIN_RECORD

    art = settings.artifacts_dir
    train_record = _load_json(art / TRAIN_RECORD, "training record", "run `train` first (or `pipeline`).")
    metrics = _load_json(art / METRICS_FILE, "metrics", "run `evaluate` first (or `pipeline`).")
    parity = _load_json(art / PARITY_FILE, "parity record", "run `export` first (or `pipeline`).")
    for name, record in (("training", train_record), ("metrics", metrics), ("parity", parity)):
        if (
            record.get("params_hash") != settings.params_hash()
            or record.get("data", {}).get("fingerprint") != validated.snapshot["fingerprint"]
        ):
            raise StageOrderError(f"the {name} record is stale (params or data changed); run `pipeline` again.")
    if not metrics["gates"]["passed"]:
        raise GateError("quality gate failed, no bundle written:\n  - " + "\n  - ".join(failed_gates(metrics)))
    onnx_path = art / ONNX_FILE
    if not parity.get("passed") or not onnx_path.is_file():
        raise GateError("no ONNX model that passed the parity gate; run `export` and fix what it reports.")
    model_bytes = onnx_path.read_bytes()
    if sha256_bytes(model_bytes) != parity["onnx_sha256"]:
        raise StageOrderError("model.onnx is not the model the parity gate checked; run `export` again.")

    root = settings.root
    version = settings.version()
    name = project_name(root)
    schema_text = schema_yaml(load_schema_model(settings.data.schema_name))
    signature = _signature(settings, metrics)
    example = _input_example(settings, validated.frame, model_bytes)
    lineage = {
        "bundle_format": SUPPORTED_BUNDLE_FORMAT,
        "name": name,
        "version": version,
        "git": git_state(root),
        "data": validated.snapshot,
        "schema": {"name": settings.data.schema_name, "sha256": sha256_bytes(schema_text.encode())},
        "params": settings.as_params(),
        "params_hash": settings.params_hash(),
        "seed": settings.seed,
        "environment": environment(),
        "lock_sha256": _lock_hash(root),
        "metrics": {"primary_metric": metrics["primary_metric"], "test": metrics["test"]},
        "model": {"file": ONNX_FILE, "sha256": sha256_bytes(model_bytes), "opset": settings.parity.target_opset},
        **(settings.lineage_extra or {}),
    }
    plots = sorted((art / PLOTS_DIR).glob("*.png"))
    dist = settings.dist_dir
    target = dist / bundle_name(root, version)
    with fsutil.atomic_dir(target) as staging:
        (staging / ONNX_FILE).write_bytes(model_bytes)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (staging / "parity.json").write_text(json.dumps(parity, indent=2, sort_keys=True) + "\n")
        (staging / "schema.yaml").write_text(schema_text)
        (staging / "signature.json").write_text(json.dumps(signature, indent=2) + "\n")
        (staging / "input_example.json").write_text(json.dumps(example, indent=2) + "\n")
        (staging / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n")
        reference = reference_stats(
            validated.frame, settings.data.numeric_features, settings.data.categorical_features, settings.seed
        )
        (staging / REFERENCE_FILE).write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
        for plot in plots:
            (staging / plot.name).write_bytes(plot.read_bytes())
        card = render_model_card(settings, name, version, metrics, signature, lineage, [p.name for p in plots])
        (staging / "model_card.md").write_text(card)
        (staging / CHECKSUMS).write_text(checksums.render(staging))
        verify(staging)
    write_tarball(target, dist / f"{target.name}.tar.gz")
    return target


def _lock_hash(root: Path) -> str | None:
    lock = root / "uv.lock"
    return sha256_bytes(lock.read_bytes()) if lock.is_file() else None


def _signature(settings, metrics: dict) -> dict:
    data = settings.data
    inputs = [{"name": c, "kind": "numeric", "onnx_type": "float32", "shape": [None, 1]} for c in data.numeric_features]
    inputs += [
        {"name": c, "kind": "categorical", "onnx_type": "string", "shape": [None, 1]} for c in data.categorical_features
    ]
    if settings.task == "classification":
        outputs = [
            {"name": "label", "meaning": "predicted class"},
            {"name": "probabilities", "meaning": "class probabilities, columns in `classes` order"},
        ]
    else:
        outputs = [{"name": "variable", "meaning": f"predicted {data.target}"}]
    missing = {"numeric": "NaN", "categorical": "empty string"}
    return {"task": settings.task, "target": data.target, "inputs": inputs, "outputs": outputs, "missing": missing}


def _input_example(settings, frame, model_bytes: bytes) -> dict:
    """A few real rows (raw columns) and what the ONNX model answered for them."""
    from .runtime import onnx_outputs, session
    from .signature import model_frame, onnx_feed

    data = settings.data
    rows = frame.head(EXAMPLE_ROWS)
    X = model_frame(rows, data.numeric_features, data.categorical_features)
    expected = onnx_outputs(
        settings.task, session(model_bytes), onnx_feed(X, data.numeric_features, data.categorical_features)
    )
    records = json.loads(rows[list(data.features)].to_json(orient="records"))
    return {
        "rows": records,
        "expected": {k: np.asarray(v).tolist() for k, v in expected.items()},
        "tolerance": {"atol": settings.parity.atol, "rtol": settings.parity.rtol},
    }


def verify(folder: Path) -> dict:
    """Re-check every checksum, the ONNX model, the schema and the example predictions. Raises VerificationError."""
    import onnx

    from .predict import load_bundle, run_model
    from .runtime import compare

    folder = Path(folder)
    if not folder.is_dir():
        raise VerificationError(f"{folder}: not a bundle folder")
    expected = checksums.verify_folder(folder, required=REQUIRED_FILES)
    try:
        onnx.checker.check_model(str(folder / "model.onnx"), full_check=True)
    except Exception as error:  # onnx raises several exception types
        raise VerificationError(f"{folder / 'model.onnx'}: not a valid ONNX model: {error}") from None
    loaded = load_bundle(folder)
    try:
        example = json.loads((folder / "input_example.json").read_text(encoding="utf-8"))
        example_rows, tolerance = example["rows"], example["tolerance"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise VerificationError(f"{folder / 'input_example.json'}: malformed ({error})") from None
    import pandas as pd

    frame = loaded.validate_input(pd.DataFrame(example_rows), source="input_example.json")
    outputs = run_model(loaded, frame)
    result = compare(loaded.signature["task"], example["expected"], outputs, tolerance["atol"], tolerance["rtol"])
    if not result.passed:
        raise VerificationError(
            f"{folder / 'model.onnx'}: predictions on input_example.json differ from the recorded ones "
            f"({result.label_mismatches} label mismatch(es), largest difference {result.max_abs_diff:.3g})"
        )
    return {"files": len(expected), "example_rows": result.rows}
