"""The self-healing loop: ingest -> validate -> monitor -> decide -> retrain -> champion versus challenger.

Every run writes what it found to `artifacts/retrain/` (`loop.json`, `report.md`, drift plots,
`quarantine.json` for rejected rows), so a run explains itself in a job summary or a terminal.

1. ingest (`ingest.py`): the batches `retrain.source` names, fingerprinted; a batch the champion
   was trained on is not new. Nothing new: the run ends, publishing nothing.
2. validate (`ingest.py`): each new batch against the schema; failing rows go to the quarantine
   report and the run stops (outcome `refused`). New rows that copy trusted rows more often than
   the training rows do (`evidence.py`) stop it too, for a person (`needs-approval`).
3. monitor (`monitor.py`): drift of every feature against the champion's `reference.json` (an
   effect size backed by a test), and the champion's primary metric on the new labelled rows,
   batch by batch since its release.
4. decide (`decide.py`): retrain on material drift, on a fallen or slowly sliding metric, or when forced.
5. retrain (`challenger.py`): the whole pipeline (every gate) on data.path plus the window of
   batches, as the next minor version of the champion.
6. champion versus challenger (`challenger.py`, `evidence.py`): both scored on the challenger's
   held-out rows that come from the new batches, copies of training rows dropped (unless no more
   than the data's natural duplicates); a win counts only with enough rows, a gain of at least the
   margin and the gain's bootstrap interval above zero. Then both on the trusted evaluation set no
   batch can write: `promote` only when the challenger holds up there too and
   the labels show no sign of a change; otherwise `needs-approval`, and a person decides.

Each step returns a frozen value; `run_loop` assembles them into one `LoopResult`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..bundle.reader import Bundle
from ..errors import GateError, PipelineError
from ..registry.base import Backend
from ..registry.diff import diff, required_bump
from ..registry.folder import FolderRegistry
from ..registry.versions import bump
from ..settings import Settings
from ..utils import atomic
from .challenger import Scores
from .decide import Trend, label_change, reasons_to_retrain
from .drift import FeatureDrift
from .evidence import trusted_check, trusted_rows
from .ingest import Batch
from .monitor import Monitoring
from .outcome import Outcome
from .report import LoopResult, report_markdown

STATE_DIR = "retrain"
LOOP_FILE = "loop.json"
REPORT_FILE = "report.md"
QUARANTINE_FILE = "quarantine.json"


def state_dir(settings: Settings) -> Path:
    return settings.artifacts_dir / STATE_DIR


def find_champion(backend: Backend, cache: Path) -> Bundle | None:
    """The latest release, verified, or None when the registry holds no release yet."""
    version = backend.latest_or_none()
    return None if version is None else backend.fetch(version, cache)


def run_loop(
    settings: Settings, champion: Bundle | None, force: bool = False, judged: frozenset[str] = frozenset()
) -> LoopResult:
    """One pass of the loop; writes loop.json and report.md whatever the outcome. Batches whose sha256 is in
    `judged` (judged by an earlier run or a person: loop/approval.py) are not new. The steps that read data
    run on compute.engine's engine (loop/steps.py: pandas here, or a Dask cluster); the decisions are the same."""
    from .steps import loop_steps

    with loop_steps(settings) as steps:
        return _run_loop(settings, champion, force, judged, steps)


def _run_loop(settings: Settings, champion: Bundle | None, force: bool, judged: frozenset[str], steps) -> LoopResult:
    target = state_dir(settings)
    for stale in (LOOP_FILE, REPORT_FILE, QUARANTINE_FILE):
        (target / stale).unlink(missing_ok=True)
    shutil.rmtree(target / "plots", ignore_errors=True)

    batches: tuple[Batch, ...] = ()
    drift: tuple[FeatureDrift, ...] = ()
    metric: float | None = None
    scores: Scores | None = None
    monitoring: Monitoring | None = None
    trend: Trend | None = None
    copies: dict | None = None
    trusted: dict | None = None
    challenger: tuple[str | None, Bundle | None] = (None, None)
    reasons: tuple[str, ...] = ()

    def ended(outcome: Outcome, *why: str, quarantine: tuple[dict, ...] = ()) -> LoopResult:
        result = LoopResult(
            champion=champion.version if champion else None,
            outcome=outcome,
            reasons=(*reasons, *why),
            batches=batches,
            quarantine=quarantine,
            drift=drift,
            champion_metric_on_new=metric,
            scores=scores,
            target_drift=monitoring.target if monitoring else None,
            errors=monitoring.errors if monitoring else (),
            expectations=monitoring.expectations if monitoring else (),
            trusted=trusted,
            trend=trend,
            copies=copies,
            challenger_version=challenger[0],
            challenger_bundle=str(challenger[1].folder) if challenger[1] else None,
            challenger=challenger[1],
            reference_sampled=(champion.reference or {}).get("sampled") if champion and monitoring else None,
        )
        atomic.write_text(target / LOOP_FILE, json.dumps(result.as_json(), indent=2, default=str) + "\n")
        atomic.write_text(target / REPORT_FILE, report_markdown(result, settings.quality.primary_metric))
        return result

    try:
        if champion is None:
            return ended(Outcome.NO_CHAMPION, "no published release yet: release a first model with a tag (see README)")
        batches = steps.ingest(settings, champion, target / "snapshot", judged)
        if not any(b.new for b in batches):
            skipped = sum(b.judged for b in batches)
            also = f" nor one judged before ({skipped} skipped as judged)" if skipped else ""
            return ended(
                Outcome.NOTHING_NEW,
                f"no batch under {settings.retrain.source} that the champion was not trained on{also}",
            )
        frame, quarantine = steps.validate_batches(settings, batches)
        if quarantine:
            atomic.write_text(target / QUARANTINE_FILE, json.dumps(list(quarantine), indent=2) + "\n")
            return ended(
                Outcome.REFUSED,
                "new data breaks the schema: see the quarantine report; nothing was trained",
                quarantine=quarantine,
            )
        if settings.retrain.trusted is not None:  # a changed or missing trusted set stops the run first
            held_back = trusted_rows(settings)
            found = steps.trusted_copies(settings, frame, held_back)
            if found is not None:  # as many as the training rows hold by nature are the population's own duplicates
                copies = found.as_dict()
                if found.flagged:
                    return ended(Outcome.NEEDS_APPROVAL, found.reason())
        monitoring = steps.monitor(settings, champion, frame, target / "plots")
        drift, metric = monitoring.drift, monitoring.champion_metric
        trend = steps.trend(settings, champion, frame, batches, monitoring)
        signs = label_change(settings, champion, monitoring)
        reasons = (*reasons_to_retrain(settings, champion, monitoring, force, trend), *signs)
        if not reasons:
            return ended(Outcome.NO_RETRAIN, "no drift beyond the thresholds and the champion still performs")
        version = bump(champion.version, "minor")
        challenger = (version, None)
        try:
            challenger_settings, verified = steps.train_challenger(
                settings, champion, batches, version, target / "challenger"
            )
        except GateError as error:  # a challenger below a bar is no candidate: the champion stays, a person reads why
            return ended(Outcome.KEEP_CHAMPION, f"the challenger failed a gate of the pipeline: {error}")
        challenger = (version, verified.bundle)
        scores = steps.compare(settings, champion, challenger_settings, verified.bundle, batches)
        kind, why = required_bump(diff(champion, verified.bundle))
        if kind == "major":
            return ended(
                Outcome.KEEP_CHAMPION,
                "the challenger breaks consumers (" + "; ".join(why) + "): a major release is a person's decision, "
                "so the loop releases only new data (minor); release it with a tag after review",
            )
        if scores.rows < scores.min_rows:
            return ended(Outcome.KEEP_CHAMPION, *scores.not_evidence())
        if scores.gain is None or scores.gain < scores.margin:
            gained = "undefined" if scores.gain is None else f"{scores.gain:.4g}"
            return ended(
                Outcome.KEEP_CHAMPION,
                f"the challenger's gain ({gained}) is below retrain.promotion_margin {scores.margin:.4g}",
            )
        if not scores.challenger_wins:
            return ended(Outcome.KEEP_CHAMPION, *scores.not_evidence())
        approval = []
        if settings.retrain.trusted is None:
            approval.append(
                "no trusted evaluation set (retrain.trusted): the loop cannot check the challenger on data no batch "
                "wrote, so a person decides; `make freeze-trusted` sets one aside"
            )
        else:
            check = trusted_check(settings, champion, verified.bundle, trusted_rows(settings))
            trusted = check.as_dict()
            approval += check.problems()
        if approval or signs:  # the signs of a label change are among the reasons already
            return ended(Outcome.NEEDS_APPROVAL, *approval)
        return ended(Outcome.PROMOTE)
    except PipelineError as error:
        ended(Outcome.ERROR, str(error))
        raise
    except Exception as error:
        ended(Outcome.ERROR, f"unexpected error ({type(error).__name__}): see the run's log")
        raise


def retrain(settings: Settings, backend: Backend, cache: Path | None = None, force: bool = False) -> LoopResult:
    """`retrain`: find the champion in the registry (the latest release) and run the loop against it, skipping
    the batches the data store records as judged; then keep a challenger that needs approval in the store, or
    record the batches of a kept champion as judged (loop/approval.py)."""
    from ..data.store import DataStore
    from .approval import judged_batches, settle

    store = DataStore(settings.data_store_url)
    champion = find_champion(backend, cache or backend.default_cache())
    result = run_loop(settings, champion, force=force, judged=judged_batches(store))
    settle(settings, result, store)
    return result


def publish_winner(settings: Settings, result: LoopResult, registry: FolderRegistry) -> str | None:
    """Publish a promoted challenger to an fsspec registry, its data stored first (data_store.url); the published
    URL, or None when nothing won."""
    from ..data.manifest import store_release_data

    if result.outcome is not Outcome.PROMOTE or result.challenger is None:
        return None
    store_release_data(settings, result.challenger.folder, result.challenger.lineage)
    return registry.publish(result.challenger)


def step_outputs(settings: Settings, result: LoopResult) -> dict[str, str]:
    """outcome=, version=, bundle= for the workflow's later jobs (the bundle relative to the project)."""
    bundle = result.challenger_bundle or ""
    shown = os.path.relpath(bundle, settings.root) if bundle else ""
    return {"outcome": str(result.outcome), "version": result.challenger_version or "", "bundle": shown}


def last_outcome(settings: Settings) -> Outcome | None:
    """The outcome the last loop here recorded in loop.json, or None when no loop has run."""
    path = state_dir(settings) / LOOP_FILE
    if not path.is_file():
        return None
    recorded = json.loads(path.read_text(encoding="utf-8")).get("outcome")
    try:
        return Outcome(recorded)
    except ValueError:
        return Outcome.ERROR  # an unreadable record is news for a person too
