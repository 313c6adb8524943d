"""The loop's batch side on the Dask engine (compute.engine: dask): the new batches fingerprinted, validated and
monitored on the cluster, the challenger trained and judged there; loop/run.py decides as on the pandas engine.

- ingest: every file `retrain.source` names is fingerprinted (sha256, rows) by the workers (cluster/data.describe),
  within retrain.max_batch_bytes / max_batch_rows, checked before a row is loaded: a local file's size, Parquet
  footer and streamed CSV rows (loop/ingest.checked_batch); behind a URL, its size from the listing, and its rows
  on a worker (cluster/data.rows_over: the Parquet footer, or the CSV streamed). Whether a batch is new is decided
  as loop/ingest.py decides it. A batch behind a URL is never copied: the workers read it where it lies (for
  validation, monitoring and the challenger: `settings.data_urls`), named as the pandas engine names its copy
  (`<snapshot>/<protocol>/<key>`), so the judged records, the manifest (its `url`, which a release streams the
  object from into the data store) and lineage are the pandas engine's.
- validate: each new batch is validated on its own by the contract on the cluster (cluster/validate.py), so the
  quarantine report is the pandas engine's: one entry per failing batch, its source the batch's path, its rows
  named by their position in that batch. The batches that pass are one lazy frame, their rows indexed by their
  position among the new rows (as the pandas engine's concatenation).
- monitor: the drift of every feature and of the target against the champion's reference.json, from counts per
  partition merged in a tree (rows per bin on the reference's bin edges and missing rows for numbers; rows per
  category, missing included): the same PSI and chi-square tests as loop/drift.py, on the same counts. The KS
  test needs values: it takes those of a seeded sample of at most SAMPLE_ROWS new rows (cluster/validate.sample),
  where the pandas engine takes every new value (with fewer values the test has less power; its distance is off
  by about 1/sqrt(SAMPLE_ROWS)); the drift plots draw the same sample. Rows outside the contract's expectations
  are counted per partition (loop/expectations.py's figures; at most MAX_NEW_VALUES new values of a column kept).
  The champion's metrics on the new labelled rows come from cluster/evaluate.py's tables, its ONNX model scoring
  each partition on the workers (the session built once per worker, cluster/score.py): the primary metric on all
  new rows and on each batch, the slice metric on every row and per category, the recall per class, exactly
  (ROC AUC within its stated bound, cluster/evaluate.py). The bootstrap interval of a possible slow slide is
  taken on the sample's labelled rows.
- the trusted set's copies (loop/evidence.py `copy_check`): the new rows' and the training rows' keys looked up in
  the trusted rows' keys, partition by partition.
- challenger: the pipeline on the same cluster (cluster/pipeline.run_on_cluster), test_pool the new batches.
- champion versus challenger: on a seeded sample of at most COMPARE_ROWS of the challenger's held-out new rows
  (loop/challenger.py `compare` on it); the training rows those rows copy are found over every training row (the
  sample's row keys looked up per partition), and the data's natural duplicate rate is counted over every old row.

Only counts, tables and bounded samples reach the client.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DataError, DataValidationError, PipelineError
from ..utils.console import say

if TYPE_CHECKING:
    from ..bundle.reader import Bundle
    from ..bundle.verify import Verified
    from ..loop.challenger import Scores
    from ..loop.decide import Trend
    from ..loop.drift import FeatureDrift
    from ..loop.evidence import CopyCheck
    from ..loop.expectations import Breach
    from ..loop.ingest import Batch
    from ..loop.monitor import Errors, Monitoring
    from ..settings import Settings
    from .data import Source
    from .session import Cluster

SAMPLE_ROWS = 20_000  # new rows drawn (seeded) for the KS tests, the drift plots and a slide's bootstrap interval
COMPARE_ROWS = 20_000  # held-out new rows the champion and the challenger are compared on, at most
MAX_NEW_VALUES = 1000  # new values of a column an expectation's count keeps (the most frequent)
MERGE_FANIN = 8


@dataclass(frozen=True)
class NewRows:
    """The new batches that passed the contract, on the cluster."""

    frame: Any  # dask DataFrame of every new batch's validated rows, indexed by position among the new rows
    batches: tuple[tuple[str, Any], ...]  # (batch path, its validated dask frame), in order
    rows: int


# ---- ingest and validate ------------------------------------------------------------------------------------


def _shown(settings: Settings, path: Path) -> str:
    """A batch's path as loop/ingest.ingest names it: relative to the project root when inside it."""
    return str(path.relative_to(settings.root)) if path.is_relative_to(settings.root) else str(path)


def batch_sources(settings: Settings, cluster: Cluster, snapshot: Path, storage_options: dict) -> list[Source]:
    """The files retrain.source names, oldest name first, each checked against retrain.max_batch_bytes and
    max_batch_rows before a row is loaded. A local file is checked here (loop/ingest.checked_batch); objects
    behind a URL are listed, never copied: their sizes from the listing, their rows counted on the workers
    (a Parquet footer, a CSV streamed), and each is named by the path the pandas engine copies it to."""
    from ..bundle.layout import byte_size
    from ..data.remote import is_url
    from ..loop.ingest import checked_batch, find_batches
    from .data import Source, list_url, rows_over

    source, limits = settings.retrain.source, settings.retrain
    if not is_url(source):
        local = [checked_batch(settings, path) for path, _ in find_batches(settings, snapshot)]
        return [Source(str(path.resolve()), _shown(settings, path), None) for path in local]
    listed = list_url(source, snapshot, "retrain.source", storage_options, suffixes=None)
    for item in listed:
        if item.bytes is not None and item.bytes > limits.max_batch_bytes:
            raise DataError(
                f"{item.url}: {byte_size(item.bytes)} ({item.bytes:,} bytes), more than the limit of "
                f"{byte_size(limits.max_batch_bytes)} ({limits.max_batch_bytes:,} bytes) for one file; split it into "
                "smaller files, or raise the limit (retrain.max_batch_bytes in params.yaml)"
            )
    sources = [Source(item.url, _shown(settings, item.local), item.url) for item in listed]
    if not sources:
        return []
    client = cluster.client
    over = cluster.run(
        "counting the batches' rows",
        lambda: client.gather(
            client.map(rows_over, sources, storage_options=storage_options, max_rows=limits.max_batch_rows, pure=False)
        ),
    )
    for found, rows in zip(sources, over, strict=True):
        if rows is not None:
            how = "counted streaming on a worker" if found.is_csv else "its Parquet footer says so"
            raise DataError(
                f"{found.url}: {rows:,} rows, more than the limit of {limits.max_batch_rows:,} rows in one file "
                f"({how}; nothing was loaded); split it into smaller files, or raise the limit "
                "(retrain.max_batch_rows in params.yaml)"
            )
    return sources


def ingest_batches(
    settings: Settings,
    cluster: Cluster,
    champion: Bundle,
    snapshot: Path,
    judged: frozenset[str] = frozenset(),
    storage_options: dict | None = None,
) -> tuple[tuple[Batch, ...], dict[str, tuple[Source, dict]]]:
    """loop/ingest.ingest on the cluster: every batch fingerprinted by a worker, and whether it is new; and what
    the workers found of each (by batch path), for validate_new_batches. `storage_options` reach fsspec for a
    URL source (tests; a project sets its credentials in the workers' environment instead)."""
    from ..loop.ingest import Batch
    from .data import describe_all

    options = dict(storage_options or {})
    sources = batch_sources(settings, cluster, snapshot, options)
    described = describe_all(cluster, "fingerprinting the batches", sources, options)
    lineage = champion.lineage
    known = {f["sha256"] for f in lineage["data"]["files"]}
    known |= set(lineage.get("retrain", {}).get("batches_seen", []))
    batches = []
    most = settings.retrain.max_batch_rows
    for source, facts in zip(sources, described, strict=True):
        if facts["rows"] > most:  # checked before; a file that grew since is refused all the same
            raise DataError(
                f"{source.url or source.shown}: {facts['rows']:,} rows, more than the limit of {most:,} rows in one "
                "file; split it into smaller files, or raise the limit (retrain.max_batch_rows in params.yaml)"
            )
        digest, seen = facts["sha256"], facts["sha256"] in known
        batches.append(
            Batch(
                source.shown,
                digest,
                facts["rows"],
                not seen and digest not in judged,
                source.url,
                not seen and digest in judged,
            )
        )
    return tuple(batches), {s.shown: (s, d) for s, d in zip(sources, described, strict=True)}


def _shifted(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    """On a worker: a partition's rows renumbered from a batch's position to their position among the new rows."""
    return frame.set_axis(frame.index + offset)


def validate_new_batches(
    settings: Settings,
    cluster: Cluster,
    batches: tuple[Batch, ...],
    found: dict[str, tuple[Source, dict]] | None = None,
    storage_options: dict | None = None,
) -> tuple[NewRows | None, tuple[dict, ...]]:
    """loop/ingest.validate_batches on the cluster: the new batches validated, each on its own; and the quarantine.
    Each batch is read where ingest_batches found it (`found`: its source and what describe found; without it,
    the batch's URL, else its local file, described again)."""
    import dask.dataframe as dd

    from .data import Source, read_sources
    from .validate import validate_data

    options = dict(storage_options or {})
    frames, quarantine, start = [], [], 0
    for batch in batches:
        if not batch.new:
            continue
        one = settings.model_copy(update={"data": settings.data.model_copy(update={"path": batch.path})})
        source, described = (found or {}).get(batch.path, (None, None))
        if source is None:
            location = batch.url or str((settings.root / batch.path).resolve())
            source = Source(location, batch.path, batch.url)
        data = read_sources([source], cluster, options, described=None if described is None else [described])
        try:
            validated = validate_data(one, cluster, data)
        except DataValidationError as error:
            quarantine.append({**error.report, "source": batch.path})
            continue
        shifted = validated.frame.map_partitions(_shifted, start, meta=validated.frame._meta, clear_divisions=True)
        frames.append((batch.path, shifted))
        start += validated.rows
    if quarantine:
        return None, tuple(quarantine)
    frame = frames[0][1] if len(frames) == 1 else dd.concat([f for _, f in frames])
    return NewRows(frame, tuple(frames), start), ()


# ---- counts per partition, merged -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CountSpec:
    """What a partition counts: the reference's numeric columns and bin edges, its categorical columns, the
    target (column, kind, edges) and the contract's expectations."""

    numeric: dict[str, list[float]]
    categorical: tuple[str, ...]
    target: tuple[str, str, list[float] | None] | None
    expectations: dict[str, dict]


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Rows per bin (len(edges) + 1 bins, as loop/drift.bin_shares cuts them), then the missing rows."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
    return np.append(counts, missing.sum()).astype(np.int64)


def category_counts(values: pd.Series) -> dict[str, int]:
    """Rows per category as text (missing as loop/drift.MISSING), as loop/drift.category_shares names them."""
    from ..loop.drift import MISSING

    counts: dict[str, int] = {}
    for value, count in values.value_counts(dropna=False).items():
        if count == 0:  # a pandas categorical lists its unused categories too
            continue
        key = MISSING if pd.isna(value) else str(value)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _expectation_counts(expect: dict, values: pd.Series) -> dict:
    from ..loop.expectations import _key

    if "isin" in expect:
        present = values.dropna()
        allowed = {_key(v) for v in expect["isin"]}
        keys = present.map(_key)
        new = keys[~keys.isin(allowed)]
        return {"checked": len(present), "new": {str(k): int(n) for k, n in new.value_counts().items()}}
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    low, high = expect.get("ge"), expect.get("le")
    return {
        "checked": len(numbers),
        "below": int((numbers < low).sum()) if low is not None else 0,
        "above": int((numbers > high).sum()) if high is not None else 0,
    }


def partition_counts(frame: pd.DataFrame, spec: CountSpec) -> dict:
    """On a worker: a partition's counts (see CountSpec); only counts return."""
    counts: dict[str, Any] = {"rows": len(frame), "numeric": {}, "categorical": {}, "target": None, "expect": {}}
    for column, edges in spec.numeric.items():
        counts["numeric"][column] = bin_counts(pd.to_numeric(frame[column], errors="coerce").to_numpy(float), edges)
    for column in spec.categorical:
        counts["categorical"][column] = category_counts(frame[column])
    if spec.target is not None:
        target, kind, target_edges = spec.target
        labels = frame[target].dropna()
        numbers = pd.to_numeric(labels, errors="coerce").to_numpy(float) if kind == "numeric" else None
        found = bin_counts(numbers, target_edges or []) if numbers is not None else category_counts(labels)
        counts["target"] = {"rows": len(labels), "counts": found}
    for column, expect in spec.expectations.items():
        if column in frame.columns:
            counts["expect"][column] = _expectation_counts(expect, frame[column])
    return counts


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    total = collections.Counter(a)
    total.update(b)
    return dict(total)


def _capped(new: dict[str, int]) -> dict[str, int]:
    if len(new) <= MAX_NEW_VALUES:
        return new
    kept = sorted(new.items(), key=lambda item: (-item[1], item[0]))[:MAX_NEW_VALUES]
    return dict(kept)


def merge_counts(parts: list[dict]) -> dict:
    """Counts of several partitions as one."""
    parts = [p for p in parts if p]
    merged = parts[0]
    for part in parts[1:]:
        merged = {
            "rows": merged["rows"] + part["rows"],
            "numeric": {c: merged["numeric"][c] + part["numeric"][c] for c in merged["numeric"]},
            "categorical": {c: _add(merged["categorical"][c], part["categorical"][c]) for c in merged["categorical"]},
            "target": _merge_target(merged["target"], part["target"]),
            "expect": _merge_expectations(merged["expect"], part["expect"]),
        }
    return merged


def _merge_target(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        return a or b
    counts = a["counts"] + b["counts"] if isinstance(a["counts"], np.ndarray) else _add(a["counts"], b["counts"])
    return {"rows": a["rows"] + b["rows"], "counts": counts}


def _merge_expectations(a: dict, b: dict) -> dict:
    merged = dict(a)
    for column, found in b.items():
        held = merged.get(column)
        if held is None:
            merged[column] = found
        elif "new" in found:
            merged[column] = {
                "checked": held["checked"] + found["checked"],
                "new": _capped(_add(held["new"], found["new"])),
            }
        else:
            merged[column] = {key: held[key] + found[key] for key in ("checked", "below", "above")}
    return merged


def count_new_rows(cluster: Cluster, frame, spec: CountSpec) -> dict:
    """The counts of every partition of `frame`, merged in a tree on the workers."""
    from dask import delayed

    shared = delayed(spec, pure=True)
    parts = [delayed(partition_counts)(part, shared) for part in frame.to_delayed()]
    while len(parts) > 1:
        parts = [delayed(merge_counts)(parts[i : i + MERGE_FANIN]) for i in range(0, len(parts), MERGE_FANIN)]
    return cluster.run("counting the new rows for drift", lambda: parts[0].compute())


def count_spec(settings: Settings, reference: dict) -> CountSpec:
    target = reference.get("target")
    return CountSpec(
        numeric={c: list(ref["edges"]) for c, ref in reference["numeric"].items()},
        categorical=tuple(reference["categorical"]),
        target=None if not target else (target["column"], target["kind"], target.get("edges")),
        expectations=dict(reference.get("expectations") or {}),
    )


# ---- drift and expectations from the counts ---------------------------------------------------------------


def _clean(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numbers[~np.isnan(numbers)]


def drift_from_counts(
    settings: Settings, reference: dict, counts: dict, sampled: pd.DataFrame
) -> tuple[list[FeatureDrift], FeatureDrift | None]:
    """loop/drift.feature_drift and target_drift from the merged counts, the KS tests on the sample's values."""
    from ..loop.drift import _ref_rows, categorical_drift_of, numeric_drift_of

    bars, n = settings.retrain, counts["rows"]
    found = []
    for column, ref in reference["numeric"].items():
        shares = (counts["numeric"][column] / max(n, 1)).tolist()
        found.append(
            numeric_drift_of(
                column, ref, shares, n, _clean(sampled[column]), bars, "numeric", _ref_rows(ref, reference)
            )
        )
    for column, ref in reference["categorical"].items():
        shares = {k: v / n for k, v in sorted(counts["categorical"][column].items())} if n else {}
        found.append(categorical_drift_of(column, ref, shares, n, bars, "categorical", _ref_rows(ref, reference)))
    ref = reference.get("target")
    target = counts["target"]
    if not ref or target is None or not target["rows"]:
        return found, None
    rows, labelled = _ref_rows(ref, reference), target["rows"]
    if ref["kind"] == "numeric":
        shares = (target["counts"] / labelled).tolist()
        values = _clean(sampled[ref["column"]].dropna())
        return found, numeric_drift_of(ref["column"], ref, shares, labelled, values, bars, "target", rows)
    shares = {k: v / labelled for k, v in sorted(target["counts"].items())}
    return found, categorical_drift_of(ref["column"], ref, shares, labelled, bars, "target", rows)


def expectations_from_counts(expectations: dict[str, dict], counts: dict) -> tuple[Breach, ...]:
    """loop/expectations.outside_expectations from the merged counts (a column's new values: the
    MAX_NEW_VALUES most frequent, so `new_distinct` counts at most that many)."""
    from ..loop.expectations import SHOWN_VALUES, Breach

    found = []
    for column, expect in expectations.items():
        seen = counts["expect"].get(column)
        if seen is None:
            continue
        if "isin" in expect:
            if not seen["new"]:
                continue
            ranked = sorted(seen["new"].items(), key=lambda item: (-item[1], item[0]))
            shown = tuple((v, int(n)) for v, n in ranked[:SHOWN_VALUES])
            allowed = len({_key_of(v) for v in expect["isin"]})
            found.append(
                Breach(
                    column,
                    f"one of {allowed} values",
                    int(sum(seen["new"].values())),
                    seen["checked"],
                    new_values=shown,
                    new_distinct=len(ranked),
                )
            )
            continue
        if not seen["below"] + seen["above"]:
            continue
        low, high = expect.get("ge"), expect.get("le")
        shown_range = f"{'' if low is None else f'{low:.6g}'}..{'' if high is None else f'{high:.6g}'}"
        found.append(
            Breach(
                column,
                shown_range,
                seen["below"] + seen["above"],
                seen["checked"],
                below=seen["below"],
                above=seen["above"],
            )
        )
    return tuple(found)


def _key_of(value: Any) -> str:
    from ..loop.expectations import _key

    return _key(value)


# ---- the champion on the new labelled rows, by reductions ---------------------------------------------------


@dataclass(frozen=True)
class ChampionScores:
    """The champion's figures on the new labelled rows, from cluster/evaluate.py's tables."""

    metric: float | None  # the primary metric on every new labelled row
    rows: int
    by_batch: tuple[tuple[str, int, float | None], ...]  # (batch, labelled rows, primary metric)
    errors: tuple[Errors, ...]


def _figures(settings: Settings, summary: dict, group: tuple[str, str], k: int) -> tuple[dict, int, np.ndarray | None]:
    """(every metric of the group, its rows, its confusion matrix or None) from a summary's tables."""
    from .evaluate import _moments_row, classification_scores, regression_scores

    if not summary:
        return {}, 0, None
    if settings.task == "classification":
        scores, _, matrix = classification_scores(summary, group, k)
        return scores, int(matrix.sum()), matrix
    try:
        row = _moments_row(summary, group)
    except KeyError:
        return {}, 0, None
    return regression_scores(row), int(row["n"]), None


def champion_scores(settings: Settings, cluster: Cluster, champion: Bundle, new: NewRows) -> ChampionScores:
    """The champion's primary metric on each new batch's labelled rows and on all of them, its slice metric per
    category and its recall per class (loop/monitor.champion_errors' figures), by reductions."""
    from ..loop.monitor import Errors
    from .evaluate import WHOLE, _slice_values, merge, summary_of
    from .score import ShippedModel

    target, q = settings.data.target, settings.quality
    classification = settings.task == "classification"
    classes = list(champion.classes or []) if classification else None
    k = len(classes or [])
    shipped = ShippedModel.of(champion)
    summaries = []
    for path, frame in new.batches:
        labelled = frame[frame[target].notnull()]
        summaries.append(
            (
                path,
                summary_of(
                    cluster, f"scoring the champion on {path}", labelled, settings, shipped, classes, True, None
                ),
            )
        )
    summary = merge([s for _, s in summaries])
    by_batch = []
    for path, found in summaries:
        scores, rows, _ = _figures(settings, found, WHOLE, k)
        by_batch.append((path, rows, scores.get(q.primary_metric) if rows else None))
    scores, rows, matrix = _figures(settings, summary, WHOLE, k)
    if not rows:
        return ChampionScores(None, 0, tuple(by_batch), ())
    metric = q.slice_metric
    errors = [Errors("all rows", metric, champion.metrics.get("test", {}).get(metric), scores.get(metric), rows)]
    released = champion.metrics.get("slices", {})
    for column in settings.data.categorical_features:
        for value in _slice_values(summary, column, classification):
            measured, count, _ = _figures(settings, summary, (column, value), k)
            at_release = released.get(column, {}).get(value, {}).get(metric)
            errors.append(Errors(f"{column}={value}", metric, at_release, measured.get(metric), count))
    if matrix is not None:
        recalls = champion.metrics.get("classes", {})
        for code, cls in enumerate(classes or []):
            support = int(matrix[code].sum())
            if support:
                recall = float(matrix[code, code] / support)
                errors.append(
                    Errors(f"class {cls}", "recall", recalls.get(str(cls), {}).get("recall"), recall, support)
                )
    return ChampionScores(scores.get(q.primary_metric), rows, tuple(by_batch), tuple(errors))


# ---- the steps loop/run.py runs on this engine ----------------------------------------------------------------


class ClusterLoop:
    """The loop's data steps on the cluster compute.dask names, opened at the first step that needs it and closed
    by `close` (loop/steps.py); the same signatures as the pandas engine's steps."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.ExitStack()
        self._cluster: Cluster | None = None
        self._scores: ChampionScores | None = None
        self._sample: pd.DataFrame | None = None
        self._found: dict[str, tuple[Source, dict]] = {}  # what ingest found of each batch, by its path

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            from .session import open_cluster

            self._cluster = self._stack.enter_context(open_cluster(self.settings))
        return self._cluster

    def close(self) -> None:
        self._stack.close()

    def ingest(self, settings: Settings, champion: Bundle, snapshot: Path, judged: frozenset[str]) -> tuple:
        batches, self._found = ingest_batches(settings, self.cluster, champion, snapshot, judged)
        return batches

    def validate_batches(self, settings: Settings, batches: tuple) -> tuple[NewRows | None, tuple[dict, ...]]:
        return validate_new_batches(settings, self.cluster, batches, self._found)

    def trusted_copies(self, settings: Settings, new: NewRows, trusted: pd.DataFrame) -> CopyCheck | None:
        return trusted_copies(settings, self.cluster, new, trusted)

    def monitor(self, settings: Settings, champion: Bundle, new: NewRows, plots_dir: Path) -> Monitoring:
        from ..loop.monitor import Monitoring
        from ..reports.plots import drift_plot_features, plot_drift
        from .validate import sample

        reference = champion.reference
        if reference is None:
            raise PipelineError(
                f"the champion v{champion.version} has no reference.json (bundled before drift monitoring): "
                "release a model built by this version of the project, then retraining can compare with it"
            )
        cluster = self.cluster
        counts = count_new_rows(cluster, new.frame, count_spec(settings, reference))
        self._sample = sample(cluster, new.frame, SAMPLE_ROWS, settings.seed)
        sampled = "" if len(self._sample) >= new.rows else f" (KS tests and plots on a sample of {len(self._sample)})"
        say(f"monitor: drift of {new.rows} new rows from counts on the cluster{sampled}")
        drift, target = drift_from_counts(settings, reference, counts, self._sample)
        plots = plot_drift(reference, self._sample, plots_dir, drift_plot_features(drift, settings.retrain.drift_plots))
        self._scores = champion_scores(settings, cluster, champion, new)
        return Monitoring(
            tuple(drift),
            self._scores.metric,
            tuple(plots),
            target=target,
            errors=self._scores.errors,
            expectations=expectations_from_counts(reference.get("expectations") or {}, counts),
        )

    def trend(
        self, settings: Settings, champion: Bundle, new: NewRows, batches: tuple, monitoring: Monitoring
    ) -> Trend:
        """loop/decide.champion_trend from the reductions `monitor` made; a slide's interval on the sample."""
        from ..loop.decide import BatchScore, Trend
        from ..loop.evidence import metric_bootstrap, outputs

        assert self._scores is not None and self._sample is not None, "monitor runs first"
        q, r = settings.quality, settings.retrain
        trend = Trend(
            metric=q.primary_metric,
            released=champion.metrics.get("test", {}).get(q.primary_metric),
            on_new=self._scores.metric,
            rows=self._scores.rows,
            by_batch=tuple(BatchScore(b, rows, score) for b, rows, score in self._scores.by_batch),
            margin=r.promotion_margin,
            max_drop=r.max_metric_drop,
            confidence=r.confidence,
            min_rows=r.min_new_rows,
        )
        drop = trend.drop
        possible_slide = drop is not None and r.promotion_margin <= drop and not trend.fell
        labelled = self._sample[self._sample[settings.data.target].notna()]
        if trend.rows >= r.min_new_rows and possible_slide and len(labelled):
            if len(labelled) < trend.rows:
                say(f"decide: the champion's bootstrap interval on a sample of {len(labelled)} new labelled rows")
            return dataclasses.replace(
                trend, interval=metric_bootstrap(settings, outputs(settings, champion, labelled))
            )
        return trend

    def train_challenger(
        self, settings: Settings, champion: Bundle, batches: tuple, version: str, scratch: Path
    ) -> tuple[Settings, Verified]:
        from ..loop.challenger import train_challenger
        from .pipeline import run_on_cluster

        return train_challenger(
            settings, champion, batches, version, scratch, pipeline=lambda s: run_on_cluster(s, self.cluster)
        )

    def compare(
        self, settings: Settings, champion: Bundle, challenger_settings: Settings, challenger: Bundle, batches: tuple
    ) -> Scores:
        return compare_on_cluster(settings, self.cluster, champion, challenger_settings, challenger, batches)


@contextlib.contextmanager
def cluster_loop(settings: Settings) -> Iterator[ClusterLoop]:
    steps = ClusterLoop(settings)
    try:
        yield steps
    finally:
        steps.close()


# ---- evidence: the trusted set's copies, and champion versus challenger ------------------------------------------


def _keys_in(frame: pd.DataFrame, inputs, keys: frozenset[int]) -> np.ndarray:
    """On a worker: the distinct row keys (loop/evidence._row_keys) of a partition that are among `keys`."""
    from ..loop.evidence import _row_keys

    if not len(frame):
        return np.zeros(0, dtype=np.uint64)
    found = _row_keys(frame, inputs).to_numpy()
    return np.unique(found[np.isin(found, np.fromiter(keys, dtype=np.uint64, count=len(keys)))])


def _count_in(frame: pd.DataFrame, inputs, keys: frozenset[int]) -> tuple[int, int]:
    """On a worker: (rows whose key is among `keys`, rows) of a partition."""
    from ..loop.evidence import _row_keys

    if not len(frame):
        return 0, 0
    found = _row_keys(frame, inputs).to_numpy()
    return int(np.isin(found, np.fromiter(keys, dtype=np.uint64, count=len(keys))).sum()), len(frame)


def _counted(cluster: Cluster, what: str, frame, inputs, keys: frozenset[int]) -> tuple[int, int]:
    import dask
    from dask import delayed

    shared = delayed(keys, pure=True)
    parts = [delayed(_count_in)(part, inputs, shared) for part in frame.to_delayed()]
    found = cluster.run(what, lambda: dask.compute(parts)[0])
    return sum(f[0] for f in found), sum(f[1] for f in found)


def _trusted_keys(trusted: pd.DataFrame, inputs) -> frozenset[int]:
    from ..loop.evidence import _row_keys

    return frozenset(int(k) for k in _row_keys(trusted, inputs)) if len(trusted) else frozenset()


def trusted_copies(settings: Settings, cluster: Cluster, new: NewRows, trusted: pd.DataFrame) -> CopyCheck | None:
    """loop/evidence.copy_check when some new row copies a trusted row (None when none does): the new rows and
    the training rows (data.path, validated on the cluster) looked up in the trusted rows' keys per partition."""
    from ..loop.evidence import CopyCheck, copies_beyond_chance
    from .data import read_data
    from .validate import validate_data

    inputs = settings.data.inputs
    keys = _trusted_keys(trusted, inputs)
    if not keys:
        return None
    copies, rows = _counted(cluster, "looking for trusted rows in the new rows", new.frame, inputs, keys)
    if not copies:
        return None
    training = validate_data(settings, cluster, read_data(settings, cluster)).frame
    natural_copies, training_rows = _counted(cluster, "looking for trusted rows in data.path", training, inputs, keys)
    natural = natural_copies / training_rows if training_rows else 0.0
    return CopyCheck(copies, rows, natural, training_rows, copies_beyond_chance(copies, rows, natural, training_rows))


def _is_pooled(frame: pd.DataFrame, ranges: tuple[tuple[int, int], ...]) -> pd.Series:
    from .split import in_pool

    return pd.Series(in_pool(frame, ranges), index=frame.index)


def _keys_of(frame: pd.DataFrame, inputs) -> pd.Series:
    from ..loop.evidence import _row_keys

    return pd.Series(_row_keys(frame, inputs).to_numpy(), index=frame.index, name="key")


def natural_copy_rate(cluster: Cluster, frame, inputs) -> tuple[float, int]:
    """(loop/evidence.natural_copy_rate, rows) over a dask frame: row keys counted by a reduction on the workers."""
    import dask

    keys = frame.map_partitions(_keys_of, inputs, meta=("key", "u8"))
    counts = keys.value_counts(split_out=max(1, frame.npartitions // 8))
    repeated, rows = counts[counts > 1].sum(), keys.size
    repeated, rows = cluster.run("counting repeated rows", lambda: dask.compute(repeated, rows))
    return (float(repeated) / int(rows) if int(rows) else 0.0), int(rows)


def compare_on_cluster(
    settings: Settings,
    cluster: Cluster,
    champion: Bundle,
    challenger_settings: Settings,
    challenger: Bundle,
    batches: tuple[Batch, ...],
) -> Scores:
    """loop/challenger.compare on a seeded sample of at most COMPARE_ROWS of the challenger's held-out new rows;
    the training rows they copy found over every training row, the natural duplicate rate over every old row."""
    import dask

    from ..loop.challenger import compare
    from ..loop.evidence import _row_keys
    from .data import read_data
    from .split import pool_ranges, split_data
    from .validate import sample, validate_data

    inputs = settings.data.inputs
    data = read_data(challenger_settings, cluster)
    validated = validate_data(challenger_settings, cluster, data, keep_in_memory=True)
    kept = bool((validated.memory or {}).get("kept_in_memory"))
    split = split_data(challenger_settings, cluster, validated.frame, data.snapshot, keep_in_memory=kept)
    ranges = pool_ranges(data.snapshot, tuple(b.path for b in batches if b.new))
    new_test = split.test[split.test.map_partitions(_is_pooled, ranges, meta=(None, "bool"))]
    held_out = sample(cluster, new_test, COMPARE_ROWS, settings.seed)
    of = int(cluster.run("counting the held-out new rows", lambda: new_test.map_partitions(len).sum().compute()))
    if len(held_out) < of:
        say(f"compare: champion and challenger on a seeded sample of {len(held_out)} of {of} held-out new rows")
    keys = frozenset(int(k) for k in _row_keys(held_out, inputs)) if len(held_out) else frozenset()
    from dask import delayed

    shared = delayed(keys, pure=True)
    found = [delayed(_keys_in)(part, inputs, shared) for part in split.train.to_delayed()]
    copied = set()
    if keys:
        for part in cluster.run("looking for held-out rows among the training rows", lambda: dask.compute(found)[0]):
            copied |= {int(k) for k in part}
    held_keys = _row_keys(held_out, inputs).to_numpy() if len(held_out) else np.zeros(0, dtype=np.uint64)
    trained_on = held_out[np.isin(held_keys, np.fromiter(copied, dtype=np.uint64, count=len(copied)))]
    old = validated.frame[~validated.frame.map_partitions(_is_pooled, ranges, meta=(None, "bool"))]
    natural = natural_copy_rate(cluster, old, inputs)
    return compare(settings, champion, challenger, held_out, trained_on, natural_rate=natural)
