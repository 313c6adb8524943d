"""The model card: what the model is for, what it was trained on, how good it is, and its limits."""

from __future__ import annotations

from .settings import LOWER_IS_BETTER


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(metrics: dict, slice_min_rows: int) -> list[str]:
    """Markdown: every metric (train, test, baseline), then every quality gate with its threshold."""
    primary = metrics["primary_metric"]
    lines = ["| metric | train | test | baseline (test) |", "|---|---|---|---|"]
    for metric, value in metrics["test"].items():
        name = f"**{metric}**" if metric == primary else metric
        lines.append(
            f"| {name} | {_fmt(metrics['train'][metric])} | {_fmt(value)} | {_fmt(metrics['baseline']['test'][metric])} |"
        )
    gates = metrics["gates"]
    lines += [
        "",
        "| quality gate | measured | required | passed |",
        "|---|---|---|---|",
        f"| {primary} on test | {_fmt(gates['threshold']['value'])} | {'>=' if metrics['higher_is_better'] else '<='} "
        f"{gates['threshold']['threshold']} | {_mark(gates['threshold']['passed'])} |",
        f"| better than baseline | {_fmt(gates['baseline']['value'])} | baseline {_fmt(gates['baseline']['baseline'])} "
        f"{'+' if metrics['higher_is_better'] else '-'} {gates['baseline']['min_improvement']} | {_mark(gates['baseline']['passed'])} |",
    ]
    for s in gates["slices"]:
        bound = "<=" if s["metric"] in LOWER_IS_BETTER else ">="
        required = f"{bound} {s['threshold']}" if s["gated"] else f"not gated (< {slice_min_rows} rows)"
        lines.append(
            f"| {s['metric']} on slice {s['column']}={s['value']} ({s['rows']} rows) | {_fmt(s['measured'])} "
            f"| {required} | {_mark(s['passed'])} |"
        )
    return lines


def comparison_table(metrics: dict, other: dict, label: str) -> list[str]:
    """Markdown: test metrics of this run next to another model's (e.g. the latest release)."""
    primary = metrics["primary_metric"]
    lines = [f"| metric (test) | {label} | this run | change |", "|---|---|---|---|"]
    for metric, value in metrics["test"].items():
        old = other.get("test", {}).get(metric)
        if not isinstance(old, int | float) or not isinstance(value, int | float):
            change = "n/a"
        else:
            delta = value - old
            better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
            change = f"{delta:+.4f}" + ("" if delta == 0 else " (better)" if better else " (worse)")
        name = f"**{metric}**" if metric == primary else metric
        lines.append(f"| {name} | {_fmt(old)} | {_fmt(value)} | {change} |")
    return lines


def _mark(passed: bool) -> str:
    return "yes" if passed else "**NO**"


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
        "## Data",
        f"- Snapshot fingerprint: `{lineage['data']['fingerprint']}` ({lineage['data']['rows']} rows)",
    ]
    lines += [f"- `{f['path']}`: {f['rows']} rows, sha256 `{f['sha256']}`" for f in lineage["data"]["files"]]
    lines += [
        f"- Split: {metrics['rows']['train']} training rows, {metrics['rows']['test']} test rows (seed {settings.seed})",
        f"- Git commit: `{lineage['git']['commit']}`" + (" (uncommitted changes)" if lineage["git"]["dirty"] else ""),
        "",
        "## Metrics",
        f"Primary metric: **{primary}** ({direction} is better).",
        "",
    ]
    lines += metrics_table(metrics, settings.quality.slice_min_rows)
    lines += ["", "## Inputs", "| column | kind | ONNX type |", "|---|---|---|"]
    lines += [f"| {i['name']} | {i['kind']} | {i['onnx_type']} [N, 1] |" for i in signature["inputs"]]
    lines += ["", "Missing values: NaN for numeric inputs, an empty string for categorical inputs.", "", "## Outputs"]
    lines += [f"- `{o['name']}`: {o['meaning']}" for o in signature["outputs"]]
    if plots:
        lines += ["", "## Plots"] + [f"![{p}]({p})" for p in plots]
    lines += [
        "",
        "## Limitations",
        "- Measured on a held-out split of the same snapshot; performance on newer data can drift.",
        f"- Categories not seen in training are ignored by the one-hot encoder; slices with fewer than "
        f"{settings.quality.slice_min_rows} test rows are reported but not gated.",
        "- The model was checked for parity between scikit-learn and ONNX Runtime on the test split "
        f"(atol {settings.parity.atol:g}, rtol {settings.parity.rtol:g}); see `parity.json`.",
        "",
    ]
    return "\n".join(lines)
