"""Drift statistics between the data a model was trained on and a new batch.

`reference_stats` summarises the training data when the bundle is built (`reference.json`):
for each numeric feature the decile bin edges, the share of rows per bin, the missing share and
a sample of values; for each categorical feature the share of every category (missing included).
`feature_drift` compares a new batch with it:

- population stability index (PSI) over the bins or categories, missing values as their own
  bucket: sum((new - ref) * ln(new / ref)), shares floored at 1e-4 so an empty bucket is finite;
- for numeric features, the two-sample Kolmogorov-Smirnov test (scipy) of the reference sample
  against the new values.

A feature drifts when its PSI reaches `retrain.psi_threshold` or its KS p-value falls below
`retrain.ks_pvalue`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..reports.tables import cell

BINS = 10
FLOOR = 1e-4
MISSING = "(missing)"
SAMPLE_SIZE = 5000


def numeric_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Interior bin edges at the quantiles of the values (duplicates dropped)."""
    clean = values[~np.isnan(values)]
    if clean.size == 0:
        return []
    quantiles = np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({float(q) for q in quantiles})


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of rows per bin (len(edges) + 1 bins), then the missing share: sums to 1."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
    total = max(values.size, 1)
    return [*(counts / total).tolist(), float(missing.sum() / total)]


def category_shares(values: pd.Series) -> dict[str, float]:
    """Share of rows per category, as text (missing as MISSING), sorted by category.

    Counts the column as it is and names the few distinct values afterwards: turning a million
    values into text first would cost more than the counting.
    """
    shares: dict[str, float] = {}
    for value, share in values.value_counts(dropna=False, normalize=True).items():
        if share == 0:  # a pandas categorical lists its unused categories too
            continue
        key = MISSING if pd.isna(value) else str(value)
        shares[key] = shares.get(key, 0.0) + float(share)
    return dict(sorted(shares.items()))


def psi(reference: list[float] | np.ndarray, new: list[float] | np.ndarray) -> float:
    """Population stability index of two share vectors over the same buckets."""
    ref = np.maximum(np.asarray(reference, dtype=float), FLOOR)
    cur = np.maximum(np.asarray(new, dtype=float), FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _numeric_reference(values: np.ndarray, rng: np.random.Generator) -> dict:
    edges = numeric_edges(values)
    clean = values[~np.isnan(values)]
    sample = rng.choice(clean, size=min(SAMPLE_SIZE, clean.size), replace=False) if clean.size else clean
    return {"edges": edges, "shares": bin_shares(values, edges), "sample": sorted(float(v) for v in sample)}


def reference_stats(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    seed: int,
    target: tuple[str, str] | None = None,
) -> dict:
    """What a later batch is compared with; stored in the bundle as reference.json.

    `target` is (column, "numeric" or "categorical"): its distribution is kept too, so that a change
    in the labels (label drift) shows even when the features stay put."""
    rng = np.random.default_rng(seed)
    numeric_stats: dict[str, dict] = {}
    categorical_stats: dict[str, dict] = {}
    for column in numeric:
        numeric_stats[column] = _numeric_reference(
            pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float), rng
        )
    for column in categorical:
        categorical_stats[column] = {"shares": category_shares(frame[column])}
    stats = {"rows": len(frame), "numeric": numeric_stats, "categorical": categorical_stats}
    if target is not None:
        column, kind = target
        labelled = frame[column].dropna()
        if kind == "numeric":
            described = _numeric_reference(pd.to_numeric(labelled, errors="coerce").to_numpy(dtype=float), rng)
        else:
            described = {"shares": category_shares(labelled)}
        stats["target"] = {"column": column, "kind": kind, **described}
    return stats


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    drifted: bool
    reasons: tuple[str, ...]


def _numeric_drift(column: str, ref: dict, values: np.ndarray, psi_threshold: float, ks_pvalue: float, kind: str):
    from scipy import stats as scipy_stats

    value = psi(ref["shares"], bin_shares(values, ref["edges"]))
    clean = values[~np.isnan(values)]
    statistic = pvalue = None
    if clean.size and ref["sample"]:
        test = scipy_stats.ks_2samp(np.asarray(ref["sample"]), clean)
        statistic, pvalue = float(test.statistic), float(test.pvalue)
    reasons = []
    if value >= psi_threshold:
        reasons.append(f"PSI {value:.3f} >= {psi_threshold}")
    if pvalue is not None and pvalue < ks_pvalue:
        reasons.append(f"KS p-value {pvalue:.2g} < {ks_pvalue}")
    return FeatureDrift(column, kind, value, statistic, pvalue, bool(reasons), tuple(reasons))


def _categorical_drift(column: str, ref: dict, values: pd.Series, psi_threshold: float, kind: str):
    new = category_shares(values)
    buckets = sorted(set(ref["shares"]) | set(new))
    value = psi([ref["shares"].get(b, 0.0) for b in buckets], [new.get(b, 0.0) for b in buckets])
    reasons = [f"PSI {value:.3f} >= {psi_threshold}"] if value >= psi_threshold else []
    unseen = sorted(set(new) - set(ref["shares"]))
    if unseen:
        reasons.append(f"{'classes' if kind == 'target' else 'categories'} not seen in training: {unseen}")
    return FeatureDrift(column, kind, value, None, None, bool(reasons), tuple(reasons))


def feature_drift(reference: dict, frame: pd.DataFrame, psi_threshold: float, ks_pvalue: float) -> list[FeatureDrift]:
    """Drift of every feature in the reference statistics, numeric then categorical."""
    found = []
    for column, ref in reference["numeric"].items():
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        found.append(_numeric_drift(column, ref, values, psi_threshold, ks_pvalue, "numeric"))
    for column, ref in reference["categorical"].items():
        found.append(_categorical_drift(column, ref, frame[column], psi_threshold, "categorical"))
    return found


def target_drift(reference: dict, frame: pd.DataFrame, psi_threshold: float, ks_pvalue: float) -> FeatureDrift | None:
    """Drift of the target's distribution on the labelled new rows (kind "target"); None for a reference without it."""
    ref = reference.get("target")
    if not ref or ref["column"] not in frame.columns:
        return None
    labels = frame[ref["column"]].dropna()
    if labels.empty:
        return None
    if ref["kind"] == "numeric":
        values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
        return _numeric_drift(ref["column"], ref, values, psi_threshold, ks_pvalue, "target")
    return _categorical_drift(ref["column"], ref, labels, psi_threshold, "target")


def drift_table(drifts: list[FeatureDrift]) -> list[str]:
    lines = ["| feature | kind | PSI | KS statistic | KS p-value | drifted |", "|---|---|---|---|---|---|"]
    for d in drifts:
        ks = (f"{d.ks_statistic:.3f}", f"{d.ks_pvalue:.3g}") if d.ks_pvalue is not None else ("n/a", "n/a")
        mark = f"**yes**: {'; '.join(d.reasons)}" if d.drifted else "no"
        lines.append(f"| {cell(d.feature)} | {d.kind} | {d.psi:.3f} | {ks[0]} | {ks[1]} | {cell(mark, 400)} |")
    return lines
