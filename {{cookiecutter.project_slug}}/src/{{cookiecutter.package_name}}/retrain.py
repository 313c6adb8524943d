"""The self-healing loop: ingest -> validate -> monitor -> decide -> retrain -> champion versus challenger.

Every step writes what it found to `artifacts/retrain/` (`loop.json`, `report.md`, drift plots,
`quarantine.json` for rejected rows), so a run explains itself in a job summary or a terminal.

1. ingest: the batches `retrain.source` names (a glob, or an fsspec URL with a glob, copied into
   `artifacts/retrain/snapshot/`), fingerprinted; a batch whose sha256 the champion was trained on
   is not new. Nothing new: the run ends, publishing nothing.
2. validate: each new batch against the schema; failing rows go to the quarantine report and
   the run stops (outcome `refused`).
3. monitor: drift of every feature against the champion's `reference.json` (PSI, KS test), and the
   champion's primary metric on the new labelled rows.
4. decide: retrain when enough features drift, the champion's metric fell by more than
   `retrain.max_metric_drop` or below the quality threshold, or `force`.
5. retrain: the whole pipeline (every gate) on `data.path` plus the window of batches, as the next
   minor version of the champion.
6. champion versus challenger: both scored on the challenger's held-out rows that come from the
   new batches; `promote` only when the challenger beats the champion by `retrain.promotion_margin`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import fsutil
from .checksums import sha256_file
from .console import say
from .errors import DataValidationError, PipelineError
from .settings import LOWER_IS_BETTER, PathSettings, Settings

STATE_DIR = "retrain"
LOOP_FILE = "loop.json"
REPORT_FILE = "report.md"
QUARANTINE_FILE = "quarantine.json"
OUTCOMES = ("nothing-new", "no-champion", "refused", "no-retrain", "keep-champion", "promote", "error")


@dataclass
class Loop:
    """What one run of the loop found and decided; written to loop.json."""

    champion: str | None = None
    batches: list[dict] = field(default_factory=list)
    outcome: str = ""
    reasons: list[str] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    champion_metric_on_new: float | None = None
    scores: dict = field(default_factory=dict)
    challenger: dict = field(default_factory=dict)
    quarantine: list[dict] = field(default_factory=list)

    @property
    def new(self) -> list[dict]:
        return [b for b in self.batches if b["new"]]


def state_dir(settings: Settings) -> Path:
    return settings.artifacts_dir / STATE_DIR


# --- 1. ingest -------------------------------------------------------------------------------------


def find_batches(settings: Settings) -> list[Path]:
    """The batch files the source names, oldest name first; fsspec URLs are copied into the snapshot folder."""
    source = settings.retrain.source
    if "://" not in source:
        import glob

        full = source if Path(source).is_absolute() else str(settings.root / source)
        return sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(source)
    snapshot = state_dir(settings) / "snapshot"
    found = []
    for remote in sorted(paths):
        local = snapshot / str(remote).lstrip("/")  # the remote layout, so equal names in two folders stay apart
        with fs.open(remote, "rb") as handle:
            fsutil.write_bytes(local, handle.read())
        found.append(local)
    return found


def ingest(settings: Settings, champion: Path, loop: Loop) -> None:
    from .data import read_table

    lineage = json.loads((champion / "lineage.json").read_text(encoding="utf-8"))
    # what the champion trained on, and (for a retrained champion) every batch its loop had seen,
    # so batches left out by `retrain.window` are not new again on every run
    known = {f["sha256"] for f in lineage["data"]["files"]}
    known |= set(lineage.get("retrain", {}).get("batches_seen", []))
    for path in find_batches(settings):
        _, rows = read_table([path])
        digest = sha256_file(path)
        shown = str(path.relative_to(settings.root)) if path.is_relative_to(settings.root) else str(path)
        loop.batches.append({"path": shown, "sha256": digest, "rows": rows[0], "new": digest not in known})


# --- 2. validate -----------------------------------------------------------------------------------


def validate_batches(settings: Settings, loop: Loop) -> pd.DataFrame:
    """The new batches, validated and concatenated; every failure of every batch goes to the quarantine."""
    from .data import read_table
    from .schema import load_schema_model, validate_frame

    model = load_schema_model(settings.data.schema_name)
    frames = []
    for batch in loop.new:
        frame, _ = read_table([settings.root / batch["path"]])
        try:
            frames.append(validate_frame(frame, model, batch["path"]))
        except DataValidationError as error:
            loop.quarantine.append(error.report)
    if loop.quarantine:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def quarantine_markdown(quarantine: list[dict]) -> list[str]:
    lines = ["| batch | column | check | rows | examples |", "|---|---|---|---|---|"]
    for report in quarantine:
        for item in report["failures"]:
            examples = "; ".join(f"row {e['row']}: {e['value']!r}" for e in item["examples"])
            lines.append(f"| {report['source']} | {item['column']} | {item['check']} | {item['rows']} | {examples} |")
    return lines


# --- 3. monitor ------------------------------------------------------------------------------------


def champion_metric(settings: Settings, champion: Path, frame: pd.DataFrame) -> float | None:
    """The champion's primary metric on the labelled new rows (None when no row has a label)."""
    from .evaluate import classification_metrics, regression_metrics
    from .predict import load_bundle, run_model

    labelled = frame[frame[settings.data.target].notna()]
    if labelled.empty:
        return None
    loaded = load_bundle(champion)
    outputs = run_model(loaded, labelled)
    y_true = labelled[settings.data.target].to_numpy()
    if settings.task == "classification":
        classes = loaded.classes or sorted(set(y_true))
        metrics = classification_metrics(y_true, np.asarray(outputs["label"]), np.asarray(outputs["value"]), classes)
    else:
        metrics = regression_metrics(y_true, np.asarray(outputs["value"]).ravel())
    return metrics[settings.quality.primary_metric]


def monitor(settings: Settings, champion: Path, frame: pd.DataFrame, loop: Loop) -> None:
    from .bundle import REFERENCE_FILE
    from .monitor import as_dicts, feature_drift

    reference_path = champion / REFERENCE_FILE
    if not reference_path.is_file():
        raise PipelineError(
            f"the champion {loop.champion} has no {REFERENCE_FILE} (bundled before drift monitoring): "
            "release a model built by this version of the project, then retraining can compare with it"
        )
    reference = json.loads(reference_path.read_text(encoding="utf-8"))
    r = settings.retrain
    drifts = feature_drift(reference, frame, r.psi_threshold, r.ks_pvalue)
    loop.drift = as_dicts(drifts)
    loop.champion_metric_on_new = champion_metric(settings, champion, frame)
    plot_drift(reference, frame, state_dir(settings) / "plots")


def plot_drift(reference: dict, frame: pd.DataFrame, out: Path) -> list[Path]:
    """One PNG per feature: the reference distribution against the new batch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluate import save_png
    from .monitor import MISSING, category_shares

    written = []
    for column, ref in reference["numeric"].items():
        fig, ax = plt.subplots(figsize=(5, 3))
        new = pd.to_numeric(frame[column], errors="coerce").dropna()
        bins = np.histogram_bin_edges(np.concatenate([ref["sample"], new.to_numpy()]), bins=20)
        ax.hist(ref["sample"], bins=bins, density=True, alpha=0.5, label="champion's training data")
        ax.hist(new, bins=bins, density=True, alpha=0.5, label="new data")
        ax.set_title(column)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(save_png(fig, out / f"drift_{column}.png"))
        plt.close(fig)
    for column, ref in reference["categorical"].items():
        new = category_shares(frame[column])
        labels = sorted(set(ref["shares"]) | set(new), key=lambda v: (v == MISSING, v))
        x = np.arange(len(labels))
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar(x - 0.2, [ref["shares"].get(v, 0) for v in labels], 0.4, label="champion's training data")
        ax.bar(x + 0.2, [new.get(v, 0) for v in labels], 0.4, label="new data")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_title(column)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(save_png(fig, out / f"drift_{column}.png"))
        plt.close(fig)
    return written


# --- 4. decide -------------------------------------------------------------------------------------


def decide(settings: Settings, champion: Path, loop: Loop, force: bool) -> bool:
    """Whether to train a challenger; the reasons go to loop.reasons."""
    q, r = settings.quality, settings.retrain
    drifted = [d["feature"] for d in loop.drift if d["drifted"]]
    if len(drifted) >= r.min_drifted_features:
        loop.reasons.append(f"{len(drifted)} feature(s) drifted: {', '.join(drifted)}")
    metric = loop.champion_metric_on_new
    if metric is not None:
        released = json.loads((champion / "metrics.json").read_text(encoding="utf-8"))["test"][q.primary_metric]
        lower = q.primary_metric in LOWER_IS_BETTER
        drop = (metric - released) if lower else (released - metric)
        if drop > r.max_metric_drop:
            loop.reasons.append(
                f"the champion's {q.primary_metric} fell from {released:.4f} at release to {metric:.4f} on the new data "
                f"(more than retrain.max_metric_drop {r.max_metric_drop})"
            )
        if (metric > q.threshold) if lower else (metric < q.threshold):
            loop.reasons.append(
                f"the champion's {q.primary_metric} {metric:.4f} on the new data misses the threshold {q.threshold}"
            )
    if force:
        loop.reasons.append("forced by the caller")
    return bool(loop.reasons)


# --- 5. retrain, 6. champion versus challenger --------------------------------------------------------


def window(settings: Settings, loop: Loop) -> tuple[str, ...]:
    """data.path plus the batches the window takes (all, or the last N by name)."""
    base = (settings.data.path,) if isinstance(settings.data.path, str) else tuple(settings.data.path)
    batches = [b["path"] for b in loop.batches]
    if settings.retrain.window != "all":
        batches = batches[-settings.retrain.window :]
    return (*base, *batches)


def train_challenger(settings: Settings, loop: Loop, version: str) -> tuple[Settings, Path]:
    from .pipeline import run_pipeline

    scratch = state_dir(settings) / "challenger"
    shutil.rmtree(scratch, ignore_errors=True)
    seen = {"champion": loop.champion, "batches_seen": sorted(b["sha256"] for b in loop.batches)}
    challenger = settings.model_copy(
        update={
            "data": settings.data.model_copy(update={"path": window(settings, loop)}),
            "paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist")),
            "model_version": version,
            "lineage_extra": {"retrain": seen},
        }
    )
    say(f"retrain: challenger {version} on {', '.join(window(settings, loop))}")
    return challenger, run_pipeline(challenger)


def held_out_new_rows(challenger: Settings, loop: Loop) -> pd.DataFrame:
    """The challenger's test rows that come from the new batches: data neither model was trained on."""
    from .train import split
    from .validate import validate

    validated = validate(challenger)
    new_paths = {b["path"] for b in loop.new}
    origin = []
    for entry in validated.snapshot["files"]:
        origin += [entry["path"] in new_paths] * entry["rows"]
    frame = validated.frame.assign(_new=origin)
    parts = split(challenger, frame)
    return parts.test_frame[parts.test_frame["_new"]].drop(columns="_new")


def compare(settings: Settings, champion: Path, challenger_bundle: Path, held_out: pd.DataFrame, loop: Loop) -> bool:
    q = settings.quality
    lower = q.primary_metric in LOWER_IS_BETTER
    champion_score = champion_metric(settings, champion, held_out)
    challenger_score = champion_metric(settings, challenger_bundle, held_out)
    margin = settings.retrain.promotion_margin
    gain = None
    if champion_score is not None and challenger_score is not None:
        gain = (champion_score - challenger_score) if lower else (challenger_score - champion_score)
    loop.scores = {
        "metric": q.primary_metric,
        "rows": len(held_out),
        "champion": champion_score,
        "challenger": challenger_score,
        "gain": gain,
        "margin": margin,
    }
    return gain is not None and gain >= margin


# --- the loop ------------------------------------------------------------------------------------------


def run_loop(settings: Settings, champion: Path | None, champion_version: str | None, force: bool = False) -> Loop:
    """One pass of the loop; writes loop.json and report.md whatever the outcome."""
    from . import versioning
    from .versioning import bump

    loop = Loop(champion=champion_version)
    target = state_dir(settings)
    for stale in (LOOP_FILE, REPORT_FILE, QUARANTINE_FILE):
        (target / stale).unlink(missing_ok=True)
    shutil.rmtree(target / "plots", ignore_errors=True)
    try:
        if champion is None:
            loop.outcome = "no-champion"
            loop.reasons.append("no published release yet: release a first model with a tag (see README)")
            return loop
        ingest(settings, champion, loop)
        if not loop.new:
            loop.outcome = "nothing-new"
            loop.reasons.append(f"no batch under {settings.retrain.source} that the champion was not trained on")
            return loop
        frame = validate_batches(settings, loop)
        if loop.quarantine:
            loop.outcome = "refused"
            loop.reasons.append("new data breaks the schema: see the quarantine report; nothing was trained")
            fsutil.write_text(target / QUARANTINE_FILE, json.dumps(loop.quarantine, indent=2) + "\n")
            return loop
        monitor(settings, champion, frame, loop)
        if not decide(settings, champion, loop, force):
            loop.outcome = "no-retrain"
            loop.reasons.append("no drift beyond the thresholds and the champion still performs")
            return loop
        version = bump(champion_version, "minor")
        challenger, bundle = train_challenger(settings, loop, version)
        loop.challenger = {"version": version, "bundle": str(bundle)}
        held_out = held_out_new_rows(challenger, loop)
        wins = compare(settings, champion, bundle, held_out, loop)
        kind, why = versioning.required_bump(
            versioning.diff(versioning.read_bundle(champion), versioning.read_bundle(bundle))
        )
        if kind == "major":
            loop.reasons.append(
                "the challenger breaks consumers (" + "; ".join(why) + "): a major release is a person's decision, "
                "so the loop releases only new data (minor); release it with a tag after review"
            )
            wins = False
        loop.outcome = "promote" if wins else "keep-champion"
        return loop
    except PipelineError as error:
        loop.outcome = "error"
        loop.reasons.append(str(error))
        raise
    finally:
        fsutil.write_text(target / LOOP_FILE, json.dumps(loop.__dict__, indent=2, default=str) + "\n")
        fsutil.write_text(target / REPORT_FILE, report(settings, loop))


def report(settings: Settings, loop: Loop) -> str:
    headline = {
        "no-champion": "No champion yet: nothing to compare with.",
        "nothing-new": "No new data: nothing to do.",
        "refused": "New data refused: it breaks the schema.",
        "no-retrain": "New data, no drift: the champion stays.",
        "keep-champion": "The challenger did not beat the champion: nothing published.",
        "promote": f"The challenger {loop.challenger.get('version')} beats the champion: publish it.",
        "error": "The loop stopped with an error: see below; nothing was published.",
    }.get(loop.outcome, "The loop stopped with an unexpected error (see the run's log); nothing was published.")
    lines = [f"## Retraining: {loop.outcome or 'error'}", "", headline, ""]
    lines += [f"- {r}" for r in loop.reasons]
    lines += ["", f"Champion: {'v' + loop.champion if loop.champion else 'none'}", ""]
    if loop.batches:
        lines += ["| batch | rows | sha256 | new |", "|---|---|---|---|"]
        lines += [
            f"| {b['path']} | {b['rows']} | {b['sha256'][:12]} | {'yes' if b['new'] else 'no'} |" for b in loop.batches
        ]
        lines.append("")
    if loop.quarantine:
        lines += ["### Quarantine", "", *quarantine_markdown(loop.quarantine), ""]
    if loop.drift:
        from .monitor import FeatureDrift, drift_table

        lines += ["### Drift against the champion's training data", ""]
        lines += drift_table([FeatureDrift(**{**d, "reasons": tuple(d["reasons"])}) for d in loop.drift])
        metric = loop.champion_metric_on_new
        shown = "n/a (no labels)" if metric is None else f"{metric:.4f}"
        lines += ["", f"Champion's {settings.quality.primary_metric} on the new labelled rows: {shown}", ""]
    if loop.scores:
        s = loop.scores
        lines += [
            f"### Champion versus challenger ({s['metric']} on {s['rows']} held-out new rows)",
            "",
            "| model | score |",
            "|---|---|",
            f"| champion v{loop.champion} | {_fmt(s['champion'])} |",
            f"| challenger v{loop.challenger.get('version')} | {_fmt(s['challenger'])} |",
            "",
            f"Gain {_fmt(s['gain'])}; promotion needs at least {s['margin']}.",
            "",
        ]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
