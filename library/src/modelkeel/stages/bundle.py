"""Stage 5, bundle: assemble the release bundle from what the earlier stages handed forward.

A bundle is a versioned folder `dist/<project>-<version>/` plus a tarball of it; its files are
named in `bundle/layout.py`. It is built in a temporary folder, checked by `verify` there, and
renamed into place, so an interrupted run leaves no half bundle; the previous tarball is
removed first and the new one (with its `.sha256` file, `bundle/tarball.py`) written after the
rename. Staging folders a killed run left in dist/ are removed when they are an hour old.

In `pipeline` the stages pass their results in memory (`BundleInputs`); the `bundle` command
alone reads them from artifacts/ and refuses records that are stale for the current params or data.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bundle import checksums, layout
from ..bundle.tarball import paths_for, write_tarball
from ..bundle.verify import Verified, verify
from ..errors import GateError, StageOrderError
from ..quality.gates import failed_gates
from ..runtime.calendar import derived_name
from ..settings import Settings
from ..utils import atomic
from ..utils.atomic import remove_stale_staging
from ..utils.hashing import sha256_bytes
from .validate import ValidatedData

EXAMPLE_ROWS = 20


@dataclass(frozen=True)
class BundleInputs:
    """What the bundle is made of: the metrics and parity record, the ONNX bytes that passed the gate, the plots."""

    metrics: dict
    parity: dict
    model_bytes: bytes
    plots: tuple[Path, ...]
    reference_sampled: dict | None = None  # reference.json's `sampled`: its statistics are of a sample (Dask)


def _load_json(path: Path, what: str, fix: str) -> dict:
    if not path.is_file():
        raise StageOrderError(f"{what} not found at {path}; {fix}")
    return json.loads(path.read_text(encoding="utf-8"))


def inputs_from_artifacts(settings: Settings, validated: ValidatedData) -> BundleInputs:
    """The earlier stages' records from artifacts/, refused when stale for the current params or data."""
    art = settings.artifacts_dir
    train_record = _load_json(art / layout.TRAIN_RECORD, "training record", "run `train` first (or `pipeline`).")
    metrics = _load_json(art / layout.METRICS, "metrics", "run `evaluate` first (or `pipeline`).")
    parity = _load_json(art / layout.PARITY, "parity record", "run `export` first (or `pipeline`).")
    for name, record in (("training", train_record), ("metrics", metrics), ("parity", parity)):
        if (
            record.get("params_hash") != settings.params_hash()
            or record.get("data", {}).get("fingerprint") != validated.snapshot["fingerprint"]
        ):
            raise StageOrderError(f"the {name} record is stale (params or data changed); run `pipeline` again.")
    onnx_path = art / layout.MODEL
    if not parity.get("passed") or not onnx_path.is_file():
        raise GateError("no ONNX model that passed the parity gate; run `export` and fix what it reports.")
    model_bytes = onnx_path.read_bytes()
    if sha256_bytes(model_bytes) != parity["onnx_sha256"]:
        raise StageOrderError("model.onnx is not the model the parity gate checked; run `export` again.")
    plots = tuple(sorted((art / layout.PLOTS_DIR).glob(f"*{layout.PLOT_SUFFIX}")))
    return BundleInputs(metrics, parity, model_bytes, plots)


def build(settings: Settings, validated: ValidatedData, inputs: BundleInputs) -> Verified:
    """Assemble, verify and atomically publish the bundle folder and its tarball."""
    from ..bundle.lineage import bundle_name, environment, git_state, project_name
    from ..bundle.model_card import render_model_card
    from ..data import manifest as data_manifest
    from ..data.contract import contract_expectations, load_schema_model, schema_yaml
    from ..data.trusted import split_lineage
    from ..loop.drift import reference_stats

    metrics, parity, model_bytes = inputs.metrics, inputs.parity, inputs.model_bytes
    if not metrics["gates"]["passed"]:
        raise GateError("quality gate failed, no bundle written:\n  - " + "\n  - ".join(failed_gates(metrics)))
    if not parity.get("passed") or sha256_bytes(model_bytes) != parity.get("onnx_sha256"):
        raise GateError("the ONNX model is not one that passed the parity gate; run `export` again.")
    root = settings.root
    version = settings.version()
    name = project_name(root)
    contract = load_schema_model(settings)
    schema_text = schema_yaml(contract)
    # what the data looked like, reported by the loop and never refused (pandera's YAML drops metadata)
    expectations = contract_expectations(contract, f"schemas/{settings.data.schema_name}.py")
    model_signature = signature(settings, model_bytes)
    example = input_example(settings, validated.frame, model_bytes)
    lineage = {
        "bundle_format": layout.SUPPORTED_BUNDLE_FORMAT,
        "name": name,
        "version": version,
        "git": git_state(root),
        "data": validated.snapshot,
        "schema": {"name": settings.data.schema_name, "sha256": sha256_bytes(schema_text.encode())},
        "params": settings.as_params(),
        "params_hash": settings.params_hash(),
        "seed": settings.seed,
        "environment": environment(settings.model.type),
        "lock_sha256": _lock_hash(root),
        "metrics": {"primary_metric": metrics["primary_metric"], "test": metrics["test"]},
        "model": {"file": layout.MODEL, "sha256": sha256_bytes(model_bytes), "opset": settings.parity.target_opset},
        **(settings.lineage_extra or {}),
    }
    manifest = data_manifest.build(settings, validated.snapshot, name, version).render()
    lineage["data_manifest"] = {"file": layout.DATA_MANIFEST, "sha256": sha256_bytes(manifest)}
    split = split_lineage(settings, validated.snapshot)
    if split is not None:  # freeze-trusted split the training data and the trusted set from the user's file
        lineage["split_from"] = split
    dist = settings.dist_dir
    target = dist / bundle_name(root, version)
    tarball, tarball_sums = paths_for(target)
    tarball_sums.unlink(missing_ok=True)  # never leave the previous run's tarball checksummed beside the new folder
    tarball.unlink(missing_ok=True)
    remove_stale_staging(dist)
    target_kind = "categorical" if settings.task == "classification" else "numeric"
    reference = reference_stats(
        validated.frame,
        settings.data.numeric_features,
        settings.data.categorical_features,
        settings.seed,
        target=(settings.data.target, target_kind),
    )
    reference["expectations"] = expectations
    if inputs.reference_sampled is not None:
        reference["sampled"] = inputs.reference_sampled
    with atomic.atomic_dir(target) as staging:
        (staging / layout.MODEL).write_bytes(model_bytes)
        (staging / layout.METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (staging / layout.PARITY).write_text(json.dumps(parity, indent=2, sort_keys=True) + "\n")
        (staging / layout.SCHEMA).write_text(schema_text)
        (staging / layout.SIGNATURE).write_text(json.dumps(model_signature, indent=2) + "\n")
        (staging / layout.INPUT_EXAMPLE).write_text(json.dumps(example, indent=2) + "\n")
        (staging / layout.LINEAGE).write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n")
        (staging / layout.REFERENCE).write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
        (staging / layout.DATA_MANIFEST).write_bytes(manifest)
        for plot in inputs.plots:
            (staging / plot.name).write_bytes(plot.read_bytes())
        card = render_model_card(
            settings, name, version, metrics, model_signature, lineage, [p.name for p in inputs.plots]
        )
        (staging / layout.MODEL_CARD).write_text(card)
        (staging / layout.CHECKSUMS).write_text(checksums.render(staging))
        checked = verify(staging)
    write_tarball(target)  # after the rename: a kill in between leaves a folder without a tarball, which
    # `release` refuses; `release` also checks that the tarball holds exactly the folder's files
    return dataclasses.replace(checked, bundle=checked.bundle.moved_to(target))


def _lock_hash(root: Path) -> str | None:
    lock = root / "uv.lock"
    return sha256_bytes(lock.read_bytes()) if lock.is_file() else None


def signature(settings: Settings, model_bytes: bytes) -> dict:
    """The inputs a consumer passes (raw columns) and, for each, the ONNX graph input(s) it feeds.

    skl2onnx turns column names into identifiers (`Sensor A (V)` -> `Sensor_A__V_`); the graph's
    own names are read from the model, in the order the graph takes them (numeric, calendar parts,
    categorical), so a consumer calling onnxruntime directly knows which name is which column.
    """
    import onnx

    data = settings.data
    graph = [i.name for i in onnx.load_model_from_string(model_bytes).graph.input]
    fed = [*data.inputs.model_numeric, *data.inputs.categorical]
    if len(graph) != len(fed):
        raise GateError(f"the ONNX model takes {len(graph)} inputs but the params name {len(fed)}: export again")
    graph_name = dict(zip(fed, graph, strict=True))
    inputs = [
        {"name": c, "kind": "numeric", "onnx_type": "float32", "shape": [None, 1], "graph_inputs": [graph_name[c]]}
        for c in data.numeric_features
    ]
    inputs += [
        {"name": c, "kind": "categorical", "onnx_type": "string", "shape": [None, 1], "graph_inputs": [graph_name[c]]}
        for c in data.categorical_features
    ]
    # a time column is passed raw; the graph takes its calendar parts (float32), derived by runtime/calendar.py
    inputs += [
        {
            "name": c,
            "kind": "time",
            "onnx_type": "float32",
            "shape": [None, 1],
            "parts": list(parts),
            "graph_inputs": [graph_name[derived_name(c, p)] for p in parts],
        }
        for c, parts in data.time_features.items()
    ]
    if settings.task == "classification":
        outputs = [
            {"name": "label", "meaning": "predicted class"},
            {"name": "probabilities", "meaning": "class probabilities, columns in `classes` order"},
        ]
    else:
        outputs = [{"name": "variable", "meaning": f"predicted {data.target}"}]
    missing = {"numeric": "NaN", "categorical": "empty string", "time": "NaN in every calendar part"}
    return {"task": settings.task, "target": data.target, "inputs": inputs, "outputs": outputs, "missing": missing}


def input_example(settings: Settings, frame: pd.DataFrame, model_bytes: bytes) -> dict:
    """A few real rows (raw columns) and what the ONNX model answered for them."""
    from ..runtime.session import model_classes, onnx_outputs, session
    from ..runtime.signature import model_frame, onnx_feed

    data = settings.data
    rows = frame.head(EXAMPLE_ROWS)
    X = model_frame(rows, data.inputs)
    graph = session(model_bytes)
    expected = onnx_outputs(settings.task, graph, onnx_feed(X, data.inputs), model_classes(graph))
    records = json.loads(rows[list(data.features)].to_json(orient="records", date_format="iso"))
    return {
        "rows": records,
        "expected": {k: np.asarray(v).tolist() for k, v in expected.items()},
        "tolerance": {"atol": settings.parity.atol, "rtol": settings.parity.rtol},
    }
