"""What one run of the loop found and decided, as `loop.json` (for machines) and `report.md` (for people:
the job summary and the model-health issue)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..bundle.reader import Bundle
from ..reports.tables import cell, fmt
from .challenger import Scores
from .drift import FeatureDrift, drift_table
from .ingest import Batch
from .monitor import Errors
from .outcome import Outcome


@dataclass(frozen=True)
class LoopResult:
    champion: str | None  # the champion's version
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    batches: tuple[Batch, ...] = ()
    quarantine: tuple[dict, ...] = ()
    drift: tuple[FeatureDrift, ...] = ()
    champion_metric_on_new: float | None = None
    scores: Scores | None = None
    target_drift: FeatureDrift | None = None
    errors: tuple[Errors, ...] = ()
    trusted: dict | None = None  # champion and challenger on the trusted evaluation set
    challenger_version: str | None = None
    challenger_bundle: str | None = None  # its folder, when the pipeline built one
    challenger: Bundle | None = dataclasses.field(default=None, compare=False, repr=False)  # not in loop.json

    @property
    def new(self) -> tuple[Batch, ...]:
        return tuple(b for b in self.batches if b.new)

    def as_json(self) -> dict[str, Any]:
        challenger = {}
        if self.challenger_version:
            challenger = {"version": self.challenger_version, "bundle": self.challenger_bundle or ""}
        return {
            "champion": self.champion,
            "outcome": str(self.outcome),
            "reasons": list(self.reasons),
            "batches": [dataclasses.asdict(b) for b in self.batches],
            "quarantine": list(self.quarantine),
            "drift": [dataclasses.asdict(d) for d in self.drift],
            "champion_metric_on_new": self.champion_metric_on_new,
            "scores": self.scores.as_dict() if self.scores else {},
            "target_drift": dataclasses.asdict(self.target_drift) if self.target_drift else None,
            "errors": [dataclasses.asdict(e) for e in self.errors],
            "trusted": self.trusted,
            "challenger": challenger,
        }


def quarantine_markdown(quarantine: tuple[dict, ...]) -> list[str]:
    """Every failure, each value from the batch escaped and truncated (reports/tables.py `cell`)."""
    lines = ["| batch | column | check | rows | examples |", "|---|---|---|---|---|"]
    for report in quarantine:
        for item in report["failures"]:
            examples = "; ".join(f"row {e['row']}: {cell(repr(e['value']))}" for e in item["examples"])
            lines.append(
                f"| {cell(report['source'])} | {cell(item['column'])} | {cell(item['check'])} | {item['rows']} "
                f"| {examples} |"
            )
    return lines


def report_markdown(result: LoopResult, primary_metric: str) -> str:
    lines = [f"## Retraining: {result.outcome}", "", result.outcome.headline(result.challenger_version), ""]
    lines += [f"- {cell(r, 600)}" for r in result.reasons]
    lines += ["", f"Champion: {'v' + result.champion if result.champion else 'none'}", ""]
    if result.batches:
        lines += ["| batch | rows | sha256 | new |", "|---|---|---|---|"]
        lines += [
            f"| {cell(b.path)} | {b.rows} | {b.sha256[:12]} | {'yes' if b.new else 'no'} |" for b in result.batches
        ]
        lines.append("")
    if result.quarantine:
        lines += ["### Quarantine", "", *quarantine_markdown(result.quarantine), ""]
    if result.drift:
        lines += ["### Drift against the champion's training data", ""]
        lines += drift_table(list(result.drift))
        metric = result.champion_metric_on_new
        shown = "n/a (no labels)" if metric is None else f"{metric:.4f}"
        lines += ["", f"Champion's {primary_metric} on the new labelled rows: {shown}", ""]
    if result.target_drift:
        lines += ["### The labels against the champion's training data", ""]
        lines += drift_table([result.target_drift])
        lines.append("")
    if result.errors:
        lines += [
            "### The champion by slice and by class: at release and on the new labelled rows",
            "",
            "| where | metric | at release | on new rows | rows |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {cell(e.scope)} | {e.metric} | {fmt(e.at_release)} | {fmt(e.on_new)} | {e.rows} |"
            for e in result.errors
        ]
        lines.append("")
    if result.scores:
        s = result.scores
        lines += [
            f"### Champion versus challenger ({s.metric} on {s.rows} held-out new rows)",
            "",
            "| model | score |",
            "|---|---|",
            f"| champion v{result.champion} | {fmt(s.champion)} |",
            f"| challenger v{result.challenger_version} | {fmt(s.challenger)} |",
            "",
            f"Gain {fmt(s.gain)}; promotion needs at least {s.margin}"
            + (
                f", and the lower end of its {round(s.confidence * 100)} percent interval "
                f"[{s.interval[0]:.4g}, {s.interval[1]:.4g}] at least that."
                if s.interval
                else "."
            ),
            f"Held-out rows that copied a training row, dropped: {s.duplicates_dropped}.",
            "",
        ]
    if result.trusted:
        t = result.trusted
        lines += [
            f"### On the trusted evaluation set ({t['metric']} on {t['rows']} rows, sha256 {t['sha256'][:12]})",
            "",
            "| model | score |",
            "|---|---|",
            f"| champion v{result.champion} | {fmt(t['champion'])} |",
            f"| challenger v{result.challenger_version} | {fmt(t['challenger'])} |",
            "",
            f"The challenger may be at most {t['max_drop']} worse here; "
            + ("it passes." if t["passed"] else "it does **not** pass."),
            "",
        ]
    return "\n".join(lines)
