"""Markdown tables shared by the model card, `report` (the CI job summary) and the loop's report."""

from __future__ import annotations

import html
import re

from ..quality.gates import interval_text
from ..quality.metrics import gain, lower_is_better, reaches

CELL_LIMIT = 80  # characters of one value from the data shown in a table cell
_MARKDOWN = re.compile(r"([\\`|\[\]])")  # what makes code, links, images or a new table cell


def fmt(value: object) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def cell(value: object, limit: int = CELL_LIMIT) -> str:
    """A value that came from data (a column name, a file name, a bad value) made inert in a markdown cell.

    Truncated to `limit` characters, on one line, with HTML, pipes, brackets and backticks escaped,
    and `@mentions`, URLs and `#` references broken by a zero-width space, so a batch cannot ping
    people, link issues, inject links, images or markup, or break the table. Emphasis characters
    stay: `bill_length_mm` reads as it is.
    """
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _MARKDOWN.sub(r"\\\1", text)  # markdown first: the entities below hold a `#`
    text = html.escape(text, quote=False)
    # a zero-width space breaks what GitHub would link: @mentions (it decodes &#64; first), URLs, www.
    # hosts and #123 / owner/repo#123 references
    for found, broken in (("@", "@\u200b"), ("://", ":\u200b//"), ("www.", "www\u200b."), ("#", "#\u200b")):
        text = text.replace(found, broken)
    return text


def metrics_table(metrics: dict, slice_min_rows: int) -> list[str]:
    """Markdown: every metric (train, test, baseline), then every quality gate with its threshold."""
    primary = metrics["primary_metric"]
    lines = ["| metric | train | test | baseline (test) |", "|---|---|---|---|"]
    for metric, value in metrics["test"].items():
        name = f"**{metric}**" if metric == primary else metric
        lines.append(
            f"| {name} | {fmt(metrics['train'][metric])} | {fmt(value)} | {fmt(metrics['baseline']['test'][metric])} |"
        )
    gates = metrics["gates"]
    lines += [
        "",
        "| quality gate | measured | required | passed |",
        "|---|---|---|---|",
        f"| {primary} on test | {fmt(gates['threshold']['value'])} | {'>=' if metrics['higher_is_better'] else '<='} "
        f"{gates['threshold']['threshold']} | {_mark(gates['threshold']['passed'])} |",
        f"| better than baseline | {fmt(gates['baseline']['value'])} | baseline {fmt(gates['baseline']['baseline'])} "
        f"{'+' if metrics['higher_is_better'] else '-'} {gates['baseline']['min_improvement']} | {_mark(gates['baseline']['passed'])} |",
    ]
    for s in gates["slices"]:
        bound = "<=" if lower_is_better(s["metric"]) else ">="
        required = f"{bound} {s['threshold']:.4g}" if s["gated"] else f"not gated (< {slice_min_rows} rows)"
        measured = fmt(s["measured"])
        if s.get("interval") is not None:  # computed for a slice that misses its bar: it fails beyond it only
            measured += f" ({interval_text(s.get('confidence', 0.95), s['interval'])})"
        passed = _mark(s["passed"])
        if s["passed"] and s["gated"] and not reaches(s["metric"], s["measured"], s["threshold"]):
            passed += " (within its uncertainty)"
        lines.append(
            f"| {s['metric']} on slice {cell(s['column'])}={cell(s['value'])} ({s['rows']} rows) | {measured} "
            f"| {required} | {passed} |"
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
            better = (gain(metric, value, old) or 0) > 0
            change = f"{delta:+.4f}" + ("" if delta == 0 else " (better)" if better else " (worse)")
        name = f"**{metric}**" if metric == primary else metric
        lines.append(f"| {name} | {fmt(old)} | {fmt(value)} | {change} |")
    return lines


def _mark(passed: bool) -> str:
    return "yes" if passed else "**NO**"


def report_markdown(metrics: dict, slice_min_rows: int, compared: tuple[str, dict] | str | None = None) -> str:
    """`report`: the last evaluation as markdown tables, and the comparison with another bundle (or why there is none)."""
    lines = [f"### {metrics['model']} ({metrics['task']})", "", *metrics_table(metrics, slice_min_rows)]
    if isinstance(compared, tuple):
        label, other = compared
        lines += ["", f"#### Compared with {label}", "", *comparison_table(metrics, other, label)]
    elif compared:
        lines += ["", compared]
    return "\n".join(lines)
