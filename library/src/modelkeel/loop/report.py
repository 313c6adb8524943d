"""What one run of the loop found and decided, as `loop.json` (for machines) and `report.md` (for people:
the job summary and the model-health issue)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..bundle.reader import Bundle
from ..reports.tables import cell, fmt
from .challenger import Scores
from .decide import Trend
from .drift import FeatureDrift, drift_table
from .expectations import Breach, expectations_markdown
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
    expectations: tuple[Breach, ...] = ()  # new rows outside the contract's expectations (reported, not refused)
    trusted: dict | None = None  # champion and challenger on the trusted evaluation set
    trend: Trend | None = None  # the champion's metric since its release, batch by batch
    copies: dict | None = None  # new rows that copy trusted rows, against the natural rate (evidence.CopyCheck)
    challenger_version: str | None = None
    challenger_bundle: str | None = None  # its folder, when the pipeline built one
    challenger: Bundle | None = dataclasses.field(default=None, compare=False, repr=False)  # not in loop.json
    reference_sampled: dict | None = None  # the champion's reference.json `sampled`: drift measured against a sample

    @property
    def new(self) -> tuple[Batch, ...]:
        return tuple(b for b in self.batches if b.new)

    @property
    def skipped_as_judged(self) -> int:
        """Batches not new only because they were judged before (recorded in the data store)."""
        return sum(b.judged for b in self.batches)

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
            "expectations": [b.as_dict() for b in self.expectations],
            "trusted": self.trusted,
            "trend": self.trend.as_dict() if self.trend else None,
            "copies": self.copies,
            "challenger": challenger,
            "skipped_as_judged": self.skipped_as_judged,
            "reference_sampled": self.reference_sampled,
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


def trend_markdown(trend: Trend) -> list[str]:
    """The champion's metric at release, on each new batch in order and on all of them: a slide shows here."""
    lines = [
        f"### The champion's {trend.metric} since its release",
        "",
        f"| where | labelled rows | {trend.metric} |",
        "|---|---|---|",
        f"| at release (its test split) | | {fmt(trend.released)} |",
    ]
    lines += [f"| {cell(b.batch)} | {b.rows} | {fmt(b.score)} |" for b in trend.by_batch]
    interval = ""
    if trend.interval:
        interval = (
            f" ({round(trend.confidence * 100)} percent interval {trend.interval[0]:.4g} to {trend.interval[1]:.4g})"
        )
    lines += [f"| every new batch | {trend.rows} | {fmt(trend.on_new)}{interval} |", ""]
    verdict = "fell" if trend.fell else "slid" if trend.slid else "neither fell nor slid"
    lines += [f"The rule: {trend.rule}. The champion's score {verdict}.", ""]
    return lines


def reference_note(sampled: dict | None) -> list[str]:
    """A line saying the champion's reference statistics are of a sample (reference.json `sampled`, written by
    the Dask engine), when they are of fewer rows than its training data held."""
    if not sampled or int(sampled.get("rows", 0)) >= int(sampled.get("of", 0)):
        return []
    return [
        f"The champion's training data is summarised by a seeded sample (seed {sampled.get('seed')}) of "
        f"{int(sampled['rows']):,} of its {int(sampled['of']):,} rows: the tests count the sample's rows.",
        "",
    ]


def report_markdown(result: LoopResult, primary_metric: str) -> str:
    lines = [f"## Retraining: {result.outcome}", "", result.outcome.headline(result.challenger_version), ""]
    lines += [f"- {cell(r, 600)}" for r in result.reasons]
    lines += ["", f"Champion: {'v' + result.champion if result.champion else 'none'}", ""]
    if result.batches:
        lines += ["| batch | rows | sha256 | new |", "|---|---|---|---|"]
        lines += [
            f"| {cell(b.path)} | {b.rows} | {b.sha256[:12]} | {'yes' if b.new else 'judged before' if b.judged else 'no'} |"
            for b in result.batches
        ]
        lines.append("")
        if result.skipped_as_judged:
            lines += [
                f"Batches skipped as judged: {result.skipped_as_judged} (an earlier run kept the champion on them, or a "
                "person released or rejected their challenger, or it waits: `challenger list`).",
                "",
            ]
    if result.quarantine:
        lines += ["### Quarantine", "", *quarantine_markdown(result.quarantine), ""]
    if result.drift:
        lines += ["### Drift against the champion's training data", ""]
        lines += reference_note(result.reference_sampled)
        lines += drift_table(list(result.drift))
        metric = result.champion_metric_on_new
        shown = "n/a (no labels)" if metric is None else f"{metric:.4f}"
        lines += ["", f"Champion's {primary_metric} on the new labelled rows: {shown}", ""]
    if result.trend:
        lines += trend_markdown(result.trend)
    if result.copies:
        c = result.copies
        lines += [
            f"New rows that copy a trusted row: {c['copies']} of {c['rows']} (a rate of {c['rate']:.4g}; the training "
            f"rows' natural rate {c['natural_rate']:.4g}; one-sided binomial test p-value {c['pvalue']:.2g}): "
            + ("**flagged**." if c["flagged"] else "no more than the data's own duplicates explain."),
            "",
        ]
    if result.expectations:
        lines += ["### Outside expectations (reported, not refused)", ""]
        lines += [*expectations_markdown(result.expectations), ""]
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
            f"Gain {fmt(s.gain)}"
            + (
                f", its {round(s.confidence * 100)} percent paired-bootstrap interval "
                f"[{s.interval[0]:.4g}, {s.interval[1]:.4g}]"
                if s.interval
                else ""
            )
            + f". The rule: {s.rule}: the challenger "
            + ("meets it." if s.challenger_wins else "does **not** meet it."),
            f"Held-out rows that copied a training row, dropped: {s.duplicates_dropped}"
            + (
                f"; kept, as no more than the data's natural duplicate rate {s.natural_copy_rate:.4g} explains: "
                f"{s.copies_kept}"
                if s.copies_kept and s.natural_copy_rate is not None
                else ""
            )
            + ".",
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
