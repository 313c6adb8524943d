"""The model card: what the model is for, what it was trained on, how good it is, and its limits."""

from __future__ import annotations

from ..reports.tables import metrics_table

# model.type: what it is, for each task, and the library that trains it
MODEL_FAMILIES = {
    "random_forest": ("a random forest", "a random forest", "scikit-learn"),
    "linear": ("a logistic regression", "a ridge regression", "scikit-learn"),
    "gradient_boosting": ("gradient-boosted trees", "gradient-boosted trees", "scikit-learn"),
    "lightgbm": ("LightGBM gradient-boosted trees", "LightGBM gradient-boosted trees", "lightgbm"),
    "xgboost": ("XGBoost gradient-boosted trees", "XGBoost gradient-boosted trees", "xgboost"),
}


def render_model_card(
    settings, name: str, version: str, metrics: dict, signature: dict, lineage: dict, plots: list[str]
) -> str:
    primary = metrics["primary_metric"]
    direction = "higher" if metrics["higher_is_better"] else "lower"
    lines = [
        f"# Model card: {name} {version}",
        "",
        "## Intended use",
        f"Predicts `{signature['target']}` ({settings.task}) from the raw columns listed under *Inputs*. "
        "Use it on data that matches the bundled schema (`schema.yaml`); `predict` refuses data that does not.",
        "",
        *model_section(settings.task, lineage),
        "## Data",
        f"- Snapshot fingerprint: `{lineage['data']['fingerprint']}` ({lineage['data']['rows']} rows)",
    ]
    lines += [
        f"- `{f.get('url') or f['path']}`: {f['rows']} rows, sha256 `{f['sha256']}`" for f in lineage["data"]["files"]
    ]
    split = lineage.get("split_from")
    if split:
        lines.append(
            f"- `{split['training']}` and the trusted evaluation set `{split['trusted']['path']}` were split from "
            f"`{split['path']}` (sha256 `{split['sha256']}`) by freeze-trusted"
        )
    lines += [
        f"- Split: {metrics['rows']['train']} training rows, {metrics['rows']['test']} test rows (seed {settings.seed})",
        f"- Git commit: `{lineage['git']['commit']}`" + (" (uncommitted changes)" if lineage["git"]["dirty"] else ""),
        "",
        "## Metrics",
        f"Primary metric: **{primary}** ({direction} is better).",
        "",
    ]
    lines += metrics_table(metrics, settings.quality.slice_min_rows)
    lines += ["", "## Inputs", "| column | kind | ONNX graph input(s) and type |", "|---|---|---|"]
    lines += [f"| {i['name']} | {i['kind']} | {_onnx_inputs(i)} |" for i in signature["inputs"]]
    lines += ["", "Missing values: NaN for numeric inputs, an empty string for categorical inputs."]
    if any(i["kind"] == "time" for i in signature["inputs"]):
        lines += [
            "A time column is passed as ISO 8601 text or a timestamp; the graph takes its calendar parts",
            "(float32 `<column>.<part>`, UTC, Monday = 0), which `predict` and `load_model` derive for you.",
        ]
    lines += ["", "## Outputs"]
    lines += [f"- `{o['name']}`: {o['meaning']}" for o in signature["outputs"]]
    if plots:
        lines += ["", "## Plots"] + [f"![{p}]({p})" for p in plots]
    lines += [
        "",
        "## Limitations",
        "- Measured on a held-out split of the same snapshot; performance on newer data can drift.",
        f"- Categories not seen in training are ignored by the one-hot encoder; slices with fewer than "
        f"{settings.quality.slice_min_rows} test rows are reported but not gated, and a slice fails only when the "
        f"{settings.quality.slice_confidence * 100:.4g} % interval of its {settings.quality.slice_metric} lies wholly beyond "
        f"{settings.quality.slice_threshold:.4g}: a small slice of a noisy target can miss the bar by chance.",
        "- The model was checked for parity between scikit-learn and ONNX Runtime on the test split "
        f"(atol {settings.parity.atol:g}, rtol {settings.parity.rtol:g}); see `parity.json`.",
        "",
    ]
    return "\n".join(lines)


def _onnx_inputs(entry: dict) -> str:
    names = ", ".join(f"`{name}`" for name in entry.get("graph_inputs", [entry["name"]]))
    return f"{names}: {entry['onnx_type']} [N, 1]" + (" each" if entry["kind"] == "time" else "")


def model_section(task: str, lineage: dict) -> list[str]:
    """What the model is, its hyperparameters, and the libraries that trained and converted it."""
    params = dict(lineage["params"]["model"])
    kind = params.pop("type")
    classifier, regressor, library = MODEL_FAMILIES.get(kind, (kind, kind, "scikit-learn"))
    packages = lineage["environment"]["packages"]

    def named(name: str) -> str:
        return f"{name} {packages.get(name) or '(version unknown)'}"

    converters = [named("skl2onnx")] + ([named("onnxmltools")] if "onnxmltools" in packages else [])
    settings = ", ".join(f"{key} {value}" for key, value in params.items())
    numbers = "median imputation and scaling" if kind == "linear" else "median imputation"
    return [
        "## Model",
        f"`{kind}`: {classifier if task == 'classification' else regressor}, after the preprocessing "
        f"({numbers} of numeric inputs, one-hot categories) in one scikit-learn Pipeline, exported whole to ONNX.",
        f"- Hyperparameters (params.yaml `model`): {settings or 'the defaults'}",
        f"- Trained with {named(library)}; converted by {' with '.join(converters)} "
        f"(opset {lineage['model']['opset']})",
        "",
    ]
