"""Drift statistics between the data a model was trained on and a new batch.

`reference_stats` summarises the training data when the bundle is built (`reference.json`):
for each numeric feature the decile bin edges, the share of rows per bin, the missing share and
a sample of values; for each categorical feature the share of every category (missing included);
the row count. `feature_drift` compares a new batch with it.

A drift is decided by an effect size, whose bar does not shrink as batches grow, and is counted
only when a test says it is not chance (a p-value alone flags trivial shifts in a large batch):

- effect: the population stability index (PSI) over the bins or categories, missing values as
  their own bucket: sum((new - ref) * ln(new / ref)), shares floored at 1e-4 so an empty bucket
  is finite; for numeric features also the two-sample Kolmogorov-Smirnov distance (scipy, the
  reference sample against the new values);
- evidence: for numeric features the KS test's p-value, or a chi-square test of the bins' counts
  (which also sees a change in the missing share); for categories the chi-square test of the
  categories' counts (scipy's chi2_contingency, the reference shares times its rows against the
  batch's counts).

A numeric feature drifts when (PSI >= `retrain.psi_threshold` or KS distance >=
`retrain.ks_distance`) and a test's p-value < `retrain.ks_pvalue`; a categorical one when PSI >=
`retrain.psi_threshold` and the chi-square p-value < `retrain.ks_pvalue`. The target drifts by
the same rule, or when its labels hold a class the training data did not. A feature listed in
`retrain.drift_exempt` (it moves by construction: a calendar part, a counter) is measured and
shown, never counted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..reports.tables import cell
from ..settings import RetrainSettings

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
        stats["target"] = {"column": column, "kind": kind, "rows": len(labelled), **described}
    return stats


EXEMPT = "exempt: moves by construction"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical | target
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    drifted: bool  # counts towards retraining (an exempt feature never does)
    reasons: tuple[str, ...]  # why it drifts (for an exempt feature: would drift)
    chi2_pvalue: float | None = None  # chi-square test of the buckets' counts (numbers: bins and missing)
    exempt: bool = False  # retrain.drift_exempt: shown, never counted
    notes: tuple[str, ...] = ()  # what moved without deciding anything (an effect that may be chance)


def _ref_rows(ref: dict, reference: dict) -> int | None:
    """The rows the reference shares were counted on (a reference.json written before they were kept: None)."""
    rows = ref.get("rows", reference.get("rows"))
    return int(rows) if rows else None


def chi2_pvalue(ref_shares: list[float] | np.ndarray, new_counts: np.ndarray, ref_rows: int | None) -> float | None:
    """p-value of a chi-square test that the batch's bucket counts come from the reference's distribution.

    Two samples (scipy's chi2_contingency on the reference shares times its rows against the batch's
    counts) when the reference's row count is known; else goodness of fit against the reference
    shares (floored like the PSI's). None when the batch has no row."""
    from scipy import stats as scipy_stats

    new = np.asarray(new_counts, dtype=float)
    if new.sum() <= 0:
        return None
    ref = np.asarray(ref_shares, dtype=float)
    if ref_rows:
        table = np.vstack([np.rint(ref * ref_rows), new])
        table = table[:, table.sum(axis=0) > 0]
        if table[0].sum() <= 0:
            return None
        if table.shape[1] < 2:  # both in one bucket: the same distribution
            return 1.0
        return float(scipy_stats.chi2_contingency(table).pvalue)
    expected = np.maximum(ref, FLOOR)
    return float(scipy_stats.chisquare(new, expected / expected.sum() * new.sum()).pvalue)


def _decide(
    column: str,
    kind: str,
    psi_value: float,
    ks: tuple[float, float] | None,
    chi2: float | None,
    bars: RetrainSettings,
    decisive: tuple[str, ...] = (),
) -> FeatureDrift:
    """The drift rule: an effect at its bar, and a test below the evidence level (or a `decisive` finding)."""
    level = bars.ks_pvalue
    effects = [f"PSI {psi_value:.3g} >= {bars.psi_threshold:.4g}"] if psi_value >= bars.psi_threshold else []
    tests = []
    if ks is not None:
        if ks[0] >= bars.ks_distance:
            effects.append(f"KS distance {ks[0]:.3g} >= {bars.ks_distance:.4g}")
        tests.append(("KS p-value", ks[1]))
    if chi2 is not None:
        tests.append(("chi-square p-value", chi2))
    evidence = [f"{name} {p:.2g} < {level:.4g}" for name, p in tests if p < level]
    reasons, notes = list(decisive), []
    if effects and evidence:
        reasons.insert(0, f"{' and '.join(effects)}, not chance: {' and '.join(evidence)}")
    elif effects:
        shown = ", ".join(f"{name} {p:.2g}" for name, p in tests) or "no test possible"
        notes.append(f"{' and '.join(effects)}, but no test rules out chance ({shown}; level {level:.4g})")
    exempt = kind != "target" and column in bars.drift_exempt
    return FeatureDrift(
        column,
        kind,
        psi_value,
        None if ks is None else ks[0],
        None if ks is None else ks[1],
        bool(reasons) and not exempt,
        tuple(reasons),
        chi2_pvalue=chi2,
        exempt=exempt,
        notes=tuple(notes),
    )


def _numeric_drift(column: str, ref: dict, values: np.ndarray, bars: RetrainSettings, kind: str, rows: int | None):
    clean = values[~np.isnan(values)]
    return numeric_drift_of(column, ref, bin_shares(values, ref["edges"]), values.size, clean, bars, kind, rows)


def numeric_drift_of(
    column: str,
    ref: dict,
    shares: list[float],
    count: int,
    values: np.ndarray,
    bars: RetrainSettings,
    kind: str,
    rows: int | None,
) -> FeatureDrift:
    """A numeric column's drift from its bin shares over `count` rows (bin_shares on the reference's edges) and
    its values without gaps for the KS test (all of them, or a sample: the Dask engine's, cluster/loop.py)."""
    from scipy import stats as scipy_stats

    value = psi(ref["shares"], shares)
    ks = None
    if values.size and ref["sample"]:
        test = scipy_stats.ks_2samp(np.asarray(ref["sample"]), values)
        ks = (float(test.statistic), float(test.pvalue))
    chi2 = chi2_pvalue(ref["shares"], np.asarray(shares) * count, rows) if count else None
    return _decide(column, kind, value, ks, chi2, bars)


def _categorical_drift(column: str, ref: dict, values: pd.Series, bars: RetrainSettings, kind: str, rows: int | None):
    return categorical_drift_of(column, ref, category_shares(values), len(values), bars, kind, rows)


def categorical_drift_of(
    column: str, ref: dict, new: dict[str, float], count: int, bars: RetrainSettings, kind: str, rows: int | None
) -> FeatureDrift:
    """A categorical column's drift from its category shares (category_shares) over `count` rows."""
    buckets = sorted(set(ref["shares"]) | set(new))
    reference = [ref["shares"].get(b, 0.0) for b in buckets]
    current = [new.get(b, 0.0) for b in buckets]
    value = psi(reference, current)
    chi2 = chi2_pvalue(reference, np.asarray(current) * count, rows) if count else None
    unseen = sorted(set(new) - set(ref["shares"]))
    decisive: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if unseen and kind == "target":  # a class the champion cannot predict at all
        decisive = (f"classes not seen in training: {unseen}",)
    elif unseen:
        notes = (f"categories not seen in training: {unseen}",)
    found = _decide(column, kind, value, None, chi2, bars, decisive)
    if not notes:
        return found
    if found.reasons:  # part of why it drifts
        return dataclasses.replace(found, reasons=(*found.reasons, *notes))
    return dataclasses.replace(found, notes=(*found.notes, *notes))


def feature_drift(reference: dict, frame: pd.DataFrame, bars: RetrainSettings) -> list[FeatureDrift]:
    """Drift of every feature in the reference statistics, numeric then categorical, by the bars of `retrain`."""
    found = []
    for column, ref in reference["numeric"].items():
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        found.append(_numeric_drift(column, ref, values, bars, "numeric", _ref_rows(ref, reference)))
    for column, ref in reference["categorical"].items():
        found.append(_categorical_drift(column, ref, frame[column], bars, "categorical", _ref_rows(ref, reference)))
    return found


def target_drift(reference: dict, frame: pd.DataFrame, bars: RetrainSettings) -> FeatureDrift | None:
    """Drift of the target's distribution on the labelled new rows (kind "target"); None for a reference without it."""
    ref = reference.get("target")
    if not ref or ref["column"] not in frame.columns:
        return None
    labels = frame[ref["column"]].dropna()
    if labels.empty:
        return None
    rows = _ref_rows(ref, reference)
    if ref["kind"] == "numeric":
        values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
        return _numeric_drift(ref["column"], ref, values, bars, "target", rows)
    return _categorical_drift(ref["column"], ref, labels, bars, "target", rows)


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _verdict(d: FeatureDrift) -> str:
    if d.exempt:
        moved = f": would drift ({'; '.join(d.reasons)})" if d.reasons else ""
        return f"no ({EXEMPT}{moved})"
    if d.drifted:
        return f"**yes**: {'; '.join(d.reasons)}"
    return f"no ({'; '.join(d.notes)})" if d.notes else "no"


def drift_table(drifts: list[FeatureDrift]) -> list[str]:
    """Every feature's effect sizes and tests, rounded, and what decided."""
    lines = [
        "| feature | kind | PSI | KS distance | KS p-value | chi-square p-value | drifted |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in drifts:
        ks = "n/a" if d.ks_statistic is None else f"{d.ks_statistic:.3g}"
        lines.append(
            f"| {cell(d.feature)} | {d.kind} | {d.psi:.3g} | {ks} | {_p(d.ks_pvalue)} | {_p(d.chi2_pvalue)} "
            f"| {cell(_verdict(d), 400)} |"
        )
    return lines
