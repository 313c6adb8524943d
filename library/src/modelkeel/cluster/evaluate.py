"""Evaluation on the cluster: metrics.json as the pandas engine writes it, over the whole splits, by reductions
(the train metrics of a training split over TRAIN_METRICS_ROWS rows: on a seeded share of it, said so).

Each partition is scored on its worker by the fitted Pipeline (`stages/estimators.predict`, the pandas engine's
one prediction pass) and summed up there into tables that do not grow with the rows; only those tables reach
the client, merged eight at a time:

- classification: a confusion table (true label, predicted class) per group, where a group is the whole split
  or one value of one categorical feature (the slices). accuracy, balanced accuracy, macro F1 and the per-class
  recalls are exact functions of it, computed as scikit-learn defines them (a true label the model does not
  know is a class of its own). ROC AUC from per-partition histograms of each class's probability (ROC_BINS
  equal bins on [0, 1], split by whether the row is of that class, each bin's count, lowest and highest score):
  pairs in different bins are ordered exactly, pairs in one bin whose ranges do not overlap too, pairs of one
  shared score are ties (counted half, as scikit-learn counts them); only the remaining pairs in one bin are
  counted half without knowing their order, so the AUC is off by at most half their share, recorded as
  `compute.roc_auc_max_error` (a bound, per split, the largest over the slices). A slice's histograms have
  SLICE_ROC_BINS bins (`compute.roc_auc_slice_bins`): a slice value then adds at most 2 * SLICE_ROC_BINS rows per
  class scored to the table, never more than its own rows, whatever the rows; its bound is recorded the same way.
  Every value of every categorical feature is a slice, as the pandas engine reports them (it caps none), so the
  tables grow with the values metrics.json lists, by a constant per value.
- regression: per group the count, mean and sum of squared deviations of the target (merged by Chan's
  formula), and the sums of |error|, error^2 and error^4: r2, rmse and mae exactly (to float rounding).
- the trivial baseline: the most frequent training class (from the training confusion table) or the training
  mean, scored on the whole test split from the same tables (its absolute errors summed by the test pass).
- a slice's interval, asked for by the gates when a slice misses its bar: accuracy's Wilson interval from the
  slice's counts and mae / rmse's t interval from its sums, exactly as quality/gates.py computes them on rows;
  other metrics' bootstrap on the slice's rows of the test sample (below).

What needs rows is computed on a bounded, seeded sample of the test split (`validate.sample`, at most
EVAL_SAMPLE_ROWS rows): permutation importance, the plots, the bootstrap intervals; the export's parity gate
and the bundle's input example use it too. metrics.json says so under `compute.sampled`.

One pass scores both sides (`summarise_sides`, given the split's labelled rows and its mask): each partition
is read, preprocessed and predicted once, its training rows summed into the training tables (the train
metrics metrics.json and the report's table show) and its test rows into the test tables, and the test rows
of smallest seeded hash kept as the sample's candidates, so the sample needs no pass of its own (the same rows
`validate.sample` picks). A regression's baseline (the training mean) comes from the split's own reduction.
Each row is predicted once per pass, on the worker's threads (`stages/estimators.predict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..quality.gates import Interval, metric_interval, quality_gates
from ..quality.importance import permutation_importance
from ..quality.metrics import Predictions, coded, codes
from ..runtime.signature import MISSING_CATEGORY, model_frame
from ..stages.estimators import predict
from ..stages.train import Split
from .validate import sample

if TYPE_CHECKING:
    from ..settings import Settings
    from .session import Cluster
    from .train import ClusterTrained

EVAL_SAMPLE_ROWS = 20_000  # test rows drawn for what needs rows (importance, plots, bootstrap intervals, parity)
TRAIN_METRICS_ROWS = 200_000  # training rows (about: a seeded share of them) the train metrics are scored on
ROC_BINS = 2**16  # equal bins of a class probability on [0, 1] for ROC AUC
SLICE_ROC_BINS = 2**10  # the same for a slice: a table per slice value that stays small (its bound recorded)
MERGE_FANIN = 8  # summaries merged at a time
WHOLE = ("", "")  # the group of every row (a slice is (column, value))
MISSING_SLICE = "(missing)"


@dataclass(frozen=True)
class ClusterEvaluation:
    """metrics.json's content, and the test sample with the model's predictions on it (plots, parity, bundle)."""

    metrics: dict
    sample: Split  # the sampled test rows as X_test / y_test (no training rows)
    test_predictions: Predictions  # on sample.X_test


# on the workers ---------------------------------------------------------------------------------------------------


def target_values(frame: pd.DataFrame, settings: Settings) -> pd.Series:
    """The target as the pandas engine's split hands it to the metrics (nullable types as numpy's)."""
    y = frame[settings.data.target]
    if y.dtype.kind in "biuf" and isinstance(y.dtype, pd.api.extensions.ExtensionDtype):
        y = y.astype(y.dtype.numpy_dtype)
    if settings.task == "classification" and y.dtype.kind == "f" and len(y) and (y == y.round()).all():
        y = y.astype("int64")
    return y


def _groups(X: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(group column, group value) of every row for the whole split and each slice: n * (1 + len(columns)) rows."""
    n = len(X)
    names = [np.full(n, "", dtype=object)]
    values = [np.full(n, "", dtype=object)]
    for column in columns:
        names.append(np.full(n, column, dtype=object))
        shown = np.asarray(X[column].to_numpy(), dtype=object)
        values.append(np.where(shown == MISSING_CATEGORY, MISSING_SLICE, shown.astype(str)).astype(object))
    return np.concatenate(names), np.concatenate(values)


def model_predictions(settings: Settings, model, frame: pd.DataFrame, X: pd.DataFrame) -> Predictions:
    """On a worker: the fitted Pipeline's predictions on X (stages/estimators.predict), or, for a bundle's ONNX
    model shipped to the workers (cluster/score.ShippedModel: the loop's champion), its outputs on the rows, its
    session built once per worker (cluster/score.worker_bundle), as loop/evidence.outputs reads them.

    cluster/score.py (and onnxruntime) is imported for a shipped model only: importing onnxruntime in a worker
    moves LightGBM's probabilities there in their last bits, enough to untie scores the ROC AUC counts as ties."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return predict(settings, model, X, threads=1)  # a worker runs as many such tasks at once as it has threads
    from .score import worker_bundle

    raw = worker_bundle(model).run(frame)
    if settings.task != "classification":
        return Predictions(np.asarray(raw["value"]).ravel(), None)
    return Predictions(np.asarray(raw["label"]), np.asarray(raw["value"]))


def summarise(
    frame: pd.DataFrame,
    settings: Settings,
    model,
    classes: list | None,
    slices: bool,
    baseline: Any,
    predicted: Predictions | None = None,
) -> dict[str, pd.DataFrame]:
    """On a worker: the tables of one partition (see the module's docstring); `baseline` is the training mean
    (regression), whose absolute errors on these rows are summed too; `predicted`: the model's predictions on
    these rows, when made already."""
    columns = list(settings.data.categorical_features) if slices else []
    if len(frame) == 0:
        return {}
    X = model_frame(frame, settings.data.inputs)
    if predicted is None:
        predicted = model_predictions(settings, model, frame, X)
    y = target_values(frame, settings)
    names, values = _groups(X, columns)
    repeat = 1 + len(columns)
    if classes is None:
        truth = y.to_numpy(dtype="float64")
        error = truth - np.asarray(predicted.label, dtype="float64")
        base = np.abs(truth - float(baseline)) if baseline is not None else np.zeros(len(truth))
        long = pd.DataFrame(
            {
                "group": names,
                "value": values,
                "y": np.tile(truth, repeat),
                "abs": np.tile(np.abs(error), repeat),
                "sq": np.tile(error**2, repeat),
                "base_abs": np.tile(base, repeat),
            }
        )
        grouped = long.groupby(["group", "value"], sort=False)
        table = grouped.agg(
            n=("y", "size"),
            mean=("y", "mean"),
            abs_sum=("abs", "sum"),
            sq_sum=("sq", "sum"),
            abs_min=("abs", "min"),
            abs_max=("abs", "max"),
            base_abs_sum=("base_abs", "sum"),
        )
        table["m2"] = grouped["y"].var(ddof=0) * table["n"]
        long["quad"] = long["sq"] ** 2
        table["quad_sum"] = long.groupby(["group", "value"], sort=False)["quad"].sum()
        return {"moments": table}
    true_codes = codes(y, classes)
    true_keys = np.asarray(true_codes, dtype=object)
    unknown = true_codes < 0
    if unknown.any():  # a label the model does not know: a class of its own, named by its value
        true_keys[unknown] = np.asarray(y.to_numpy(), dtype=object)[unknown]
    predicted_codes = codes(predicted.label, classes)
    confusion = (
        pd.DataFrame(
            {
                "group": names,
                "value": values,
                "true": np.tile(true_keys, repeat),
                "pred": np.tile(predicted_codes, repeat),
            }
        )
        .groupby(["group", "value", "true", "pred"], sort=False, dropna=False)
        .size()
        .rename("count")
        .to_frame()
    )
    k = len(classes)
    scored = [1] if k == 2 else list(range(k))
    assert predicted.proba is not None  # a classifier's predictions carry its probabilities
    histograms = []
    for c in scored:
        score = np.asarray(predicted.proba[:, c], dtype="float64")
        whole = np.minimum((score * ROC_BINS).astype(np.int64), ROC_BINS - 1)
        coarse = np.minimum((score * SLICE_ROC_BINS).astype(np.int64), SLICE_ROC_BINS - 1)
        bins = np.concatenate([whole, *[coarse] * len(columns)])  # the whole split's rows first (_groups)
        histograms.append(
            pd.DataFrame(
                {
                    "group": names,
                    "value": values,
                    "cls": c,
                    "pos": np.tile(true_codes == c, repeat),
                    "bin": bins,
                    "score": np.tile(score, repeat),
                }
            )
        )
    roc = (
        pd.concat(histograms, ignore_index=True)
        .groupby(["group", "value", "cls", "pos", "bin"], sort=False)["score"]
        .agg(["size", "min", "max"])
        .rename(columns={"size": "count"})
    )
    return {"confusion": confusion, "roc": roc}


def merge(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Summaries of several partitions as one (the same tables, keys added up)."""
    parts = [p for p in parts if p]
    if not parts:
        return {}
    merged: dict[str, pd.DataFrame] = {}
    if "moments" in parts[0]:
        table = pd.concat([p["moments"] for p in parts])
        keys = list(table.index.names)
        grouped = table.groupby(level=keys, sort=False)
        n = grouped["n"].sum()
        mean = (table["mean"] * table["n"]).groupby(level=keys, sort=False).sum() / n
        spread = table["n"] * (table["mean"] - mean.reindex(table.index).to_numpy()) ** 2
        out = grouped.agg(
            abs_sum=("abs_sum", "sum"),
            sq_sum=("sq_sum", "sum"),
            quad_sum=("quad_sum", "sum"),
            abs_min=("abs_min", "min"),
            abs_max=("abs_max", "max"),
            base_abs_sum=("base_abs_sum", "sum"),
        )
        out["n"] = n
        out["mean"] = mean
        out["m2"] = grouped["m2"].sum() + spread.groupby(level=keys, sort=False).sum()
        merged["moments"] = out
        return merged
    confusion = pd.concat([p["confusion"] for p in parts])
    merged["confusion"] = confusion.groupby(level=list(confusion.index.names), sort=False, dropna=False).sum()
    roc = pd.concat([p["roc"] for p in parts])
    merged["roc"] = roc.groupby(level=list(roc.index.names), sort=False).agg(
        {"count": "sum", "min": "min", "max": "max"}
    )
    return merged


def summarise_sides(
    frame: pd.DataFrame,
    is_test: pd.Series,
    settings: Settings,
    model,
    classes: list | None,
    baseline: Any,
    sample_rows: int,
    train_share: float = 1.0,
) -> dict[str, Any]:
    """On a worker: one labelled partition, each row it scores predicted once. The test rows' tables (with slices
    and the baseline's errors) and their candidates for the sample (the `sample_rows` of smallest seeded hash,
    with their `_hash`: `validate.sample`'s); the training tables (no slices) of the training rows whose seeded
    hash falls in the lowest `train_share` of its range (every training row at 1.0); and, for a classifier, the
    class counts of every training row (the baseline's most frequent class)."""
    from .split import HASH_RANGE
    from .validate import row_hash

    found: dict[str, Any] = {"train": {}, "test": {}, "sample": None, "train_counts": None}
    if len(frame) == 0:
        return found
    mask = is_test.to_numpy(dtype=bool)
    hashes = row_hash(frame, settings.seed, index=True).to_numpy()
    bound = np.uint64(min(int(train_share * HASH_RANGE), HASH_RANGE - 1))
    train = ~mask if train_share >= 1.0 else ~mask & (hashes < bound)
    scored = np.flatnonzero(mask | train)
    rows = frame.iloc[scored]
    predicted = model_predictions(settings, model, rows, model_frame(rows, settings.data.inputs))
    for side, picked, slices, base in (("train", train, False, None), ("test", mask, True, baseline)):
        at = np.flatnonzero(picked[scored])
        if at.size:
            found[side] = summarise(rows.iloc[at], settings, model, classes, slices, base, predicted.take(at))
    if classes is not None:
        labels = codes(target_values(frame[~mask], settings), classes)
        found["train_counts"] = np.bincount(labels[labels >= 0], minlength=len(classes))
    found["sample"] = frame[mask].assign(_hash=hashes[mask]).nsmallest(sample_rows, "_hash")
    return found


def merge_sides(parts: list[dict[str, Any]], sample_rows: int) -> dict[str, Any]:
    """`summarise_sides` of several partitions as one: each side's tables merged, the counts added up, the
    sample's candidates cut."""
    candidates = [p["sample"] for p in parts if p["sample"] is not None]
    counts = [p["train_counts"] for p in parts if p["train_counts"] is not None]
    return {
        "train": merge([p["train"] for p in parts]),
        "test": merge([p["test"] for p in parts]),
        "sample": pd.concat(candidates).nsmallest(sample_rows, "_hash") if candidates else None,
        "train_counts": np.sum(counts, axis=0) if counts else None,
    }


# on the client ----------------------------------------------------------------------------------------------------


def sides_of(
    cluster: Cluster, split, settings: Settings, model, classes, baseline, sample_rows: int, train_share: float
) -> dict:
    """Both sides' merged tables, the training class counts and the test sample by one pass over the labelled
    rows (`summarise_sides`)."""
    from dask import delayed

    shared_model = delayed(model, pure=True)
    shared_settings = delayed(settings, pure=True)
    parts = [
        delayed(summarise_sides)(part, mask, shared_settings, shared_model, classes, baseline, sample_rows, train_share)
        for part, mask in zip(split.labelled.to_delayed(), split.is_test.to_delayed(), strict=True)
    ]
    while len(parts) > 1:
        parts = [
            delayed(merge_sides)(parts[i : i + MERGE_FANIN], sample_rows) for i in range(0, len(parts), MERGE_FANIN)
        ]
    found = cluster.run("scoring the training and test splits", lambda: merge_sides([parts[0].compute()], sample_rows))
    sample = found["sample"]
    if sample is None:  # no test row (split_data refuses that): an empty sample of the right columns
        sample = split.test._meta.assign(_hash=pd.Series(dtype="u8"))
    found["sample"] = sample.sort_index().drop(columns="_hash")
    return found


def summary_of(cluster: Cluster, what: str, frame, settings: Settings, model, classes, slices, baseline) -> dict:
    """The merged tables of a split: one task per partition, then a tree of merges; only tables move."""
    from dask import delayed

    shared_model = delayed(model, pure=True)
    shared_settings = delayed(settings, pure=True)
    parts = [
        delayed(summarise)(part, shared_settings, shared_model, classes, slices, baseline)
        for part in frame.to_delayed()
    ]
    while len(parts) > 1:
        parts = [delayed(merge)(parts[i : i + MERGE_FANIN]) for i in range(0, len(parts), MERGE_FANIN)]
    return cluster.run(what, lambda: merge([parts[0].compute()]))


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _confusion_matrix(table: pd.DataFrame | None, k: int) -> tuple[np.ndarray, list]:
    """The (true, predicted) count matrix over the model's k classes then the unknown true labels (their values)."""
    if table is None or table.empty:
        return np.zeros((k, k), dtype=np.int64), []
    trues = table.index.get_level_values("true")
    unknown = list(dict.fromkeys(t for t in trues if not _is_code(t)))
    size = k + len(unknown)
    matrix = np.zeros((size, size), dtype=np.int64)
    where = {u_key: k + i for i, u_key in enumerate(_keys(unknown))}
    for (true, pred), count in zip(zip(trues, table.index.get_level_values("pred"), strict=True),
                                   table["count"].to_numpy(), strict=True):  # fmt: skip
        row = int(true) if _is_code(true) else where[_key(true)]
        matrix[row, int(pred)] += int(count)
    return matrix, unknown


def _is_code(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _key(value: Any) -> tuple:
    return (type(value).__name__ == "bool" or isinstance(value, np.bool_), value)


def _keys(values: list) -> list[tuple]:
    return [_key(v) for v in values]


def confusion_scores(matrix: np.ndarray) -> dict[str, float | None]:
    """accuracy, balanced accuracy and macro F1 from a confusion matrix, as scikit-learn computes them on rows."""
    n = int(matrix.sum())
    if n == 0:
        return {"accuracy": None, "balanced_accuracy": None, "f1_macro": None}
    hits = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    present = support > 0
    used = (support + predicted) > 0
    denominator = 2 * hits + (predicted - hits) + (support - hits)
    f1 = np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)
    return {
        "accuracy": float(hits.sum() / n),
        "balanced_accuracy": float(np.mean(hits[present] / support[present])),
        "f1_macro": float(np.mean(f1[used])),
    }


def histogram_auc(table: pd.DataFrame) -> tuple[float, float] | None:
    """(ROC AUC, the most it can be off) of one class from its (pos, bin) -> count, min, max table."""
    counts = {pos: table.xs(pos, level="pos") if pos in table.index.get_level_values("pos") else None
              for pos in (True, False)}  # fmt: skip
    positive, negative = counts[True], counts[False]
    if positive is None or negative is None:
        return None
    joined = positive.add_suffix("_p").join(negative.add_suffix("_n"), how="outer").sort_index()
    p = joined["count_p"].fillna(0).to_numpy(dtype=float)
    q = joined["count_n"].fillna(0).to_numpy(dtype=float)
    total_p, total_n = p.sum(), q.sum()
    below = np.concatenate([[0.0], np.cumsum(q)[:-1]])  # negatives in lower bins
    both = (p > 0) & (q > 0)
    low_p, high_p = joined["min_p"].to_numpy(), joined["max_p"].to_numpy()
    low_n, high_n = joined["min_n"].to_numpy(), joined["max_n"].to_numpy()
    above = both & (low_p > high_n)  # every positive of the bin above every negative of it
    under = both & (high_p < low_n)
    tied = both & (low_p == high_p) & (low_n == high_n) & (low_p == low_n)  # one shared score
    unknown = both & ~above & ~under & ~tied
    within = np.where(above, p * q, np.where(under, 0.0, 0.5 * p * q))
    pairs = total_p * total_n
    auc = (np.sum(p * below) + np.sum(within)) / pairs
    return float(auc), float(0.5 * np.sum((p * q)[unknown]) / pairs)


def roc_auc_of(roc: pd.DataFrame | None, group: tuple[str, str], support: np.ndarray, k: int):
    """(ROC AUC, its error bound) of a group as quality/metrics.roc_auc defines it, or (None, 0.0)."""
    if roc is None or (len(support) > k and support[k:].sum() > 0) or (support[:k] == 0).any():
        return None, 0.0
    try:
        rows = roc.xs(group, level=["group", "value"])
    except KeyError:
        return None, 0.0
    found = []
    for c in [1] if k == 2 else range(k):
        one = histogram_auc(rows.xs(c, level="cls"))
        if one is None:
            return None, 0.0
        found.append(one)
    return float(np.mean([a for a, _ in found])), float(np.mean([e for _, e in found]))


def _group_table(table: pd.DataFrame | None, group: tuple[str, str]) -> pd.DataFrame | None:
    if table is None:
        return None
    try:
        return table.xs(group, level=["group", "value"])
    except KeyError:
        return None


def classification_scores(summary: dict, group: tuple[str, str], k: int) -> tuple[dict, float, np.ndarray]:
    """(every classification metric of a group, the ROC AUC's error bound, the confusion matrix)."""
    matrix, _ = _confusion_matrix(_group_table(summary.get("confusion"), group), k)
    scores = confusion_scores(matrix)
    support = matrix.sum(axis=1)
    several = int((support > 0).sum()) > 1
    auc, bound = roc_auc_of(summary.get("roc"), group, support, k) if several else (None, 0.0)
    scores["roc_auc"] = _finite(auc)
    return {name: _finite(v) for name, v in scores.items()}, bound, matrix


def regression_scores(row: pd.Series | None) -> dict[str, float | None]:
    if row is None or int(row["n"]) == 0:
        return {"r2": None, "rmse": None, "mae": None}
    n = int(row["n"])
    residual, total = float(row["sq_sum"]), float(row["m2"])
    if n < 2:
        r2 = None
    elif total == 0:
        r2 = 1.0 if residual == 0 else 0.0  # scikit-learn's r2_score with force_finite
    else:
        r2 = 1 - residual / total
    return {"r2": _finite(r2), "rmse": _finite(math.sqrt(residual / n)), "mae": _finite(float(row["abs_sum"]) / n)}


def _moments_row(summary: dict, group: tuple[str, str]) -> pd.Series:
    """A group's regression sums (every group asked for holds rows: it was found in the same tables)."""
    return summary["moments"].loc[group]


def _slice_values(summary: dict, column: str, classification: bool) -> list[str]:
    table = summary.get("confusion" if classification else "moments")
    if table is None:
        return []
    groups = table.index.get_level_values("group")
    return sorted(set(table.index.get_level_values("value")[groups == column]))


def _mean_interval(n: int, total: float, squares: float, flat: bool, confidence: float) -> tuple[float, float | None]:
    """quality/gates._mean_interval from sums: Student's t interval of a mean of non-negative values."""
    from scipy.stats import t

    mean = total / n
    if n < 2:
        return 0.0, None
    if flat:
        return mean, mean
    variance = max((squares - n * mean * mean) / (n - 1), 0.0)
    half = float(t.ppf((1 + confidence) / 2, n - 1)) * math.sqrt(variance / n)
    return max(mean - half, 0.0), mean + half


def evaluate_model(
    settings: Settings, cluster: Cluster, trained: ClusterTrained, fingerprint: str
) -> ClusterEvaluation:
    """metrics.json's content for the model on the whole splits (see the module's docstring)."""
    split, model, classes = trained.split, trained.model, trained.classes
    task = settings.task
    classification = task == "classification"
    q = settings.quality
    k = len(classes) if classes is not None else 0

    fused = (
        split.labelled is not None
        and split.is_test is not None
        and (classification or split.train_target_mean is not None)
    )
    rows = None
    train_share = min(1.0, TRAIN_METRICS_ROWS / split.train_rows) if split.train_rows else 1.0
    if fused:  # one pass: both sides and the test sample
        sides = sides_of(
            cluster, split, settings, model, classes, None if classification else split.train_target_mean,
            EVAL_SAMPLE_ROWS, train_share,
        )  # fmt: skip
        train_summary, rows = sides["train"], sides["sample"]
    else:
        train_share = 1.0
        train_summary = summary_of(
            cluster, "scoring the training split", split.train, settings, model, classes, False, None
        )
    if classification:
        train_scores, train_bound, train_matrix = classification_scores(train_summary, WHOLE, k)
        train_scored = int(train_matrix.sum())
        counts_of_train = sides["train_counts"] if fused else train_matrix.sum(axis=1)[:k]
        base_value: Any = int(np.argmax(counts_of_train[:k]))  # most frequent class: the first of ties
    else:
        train_row = _moments_row(train_summary, WHOLE) if train_summary else None
        train_scores, train_bound = regression_scores(train_row), 0.0
        train_scored = int(train_row["n"]) if train_row is not None else 0
        base_value = split.train_target_mean if fused else float(train_row["mean"])  # type: ignore[index]
    if fused:
        test_summary = sides["test"]
    else:
        test_summary = summary_of(
            cluster, "scoring the test split", split.test, settings, model, classes, True,
            None if classification else base_value,
        )  # fmt: skip

    slices: dict[str, dict[str, dict]] = {c: {} for c in settings.data.categorical_features}
    slice_bound = 0.0
    if classification:
        test_scores, test_bound, test_matrix = classification_scores(test_summary, WHOLE, k)
        counts = test_matrix.sum(axis=1)
        base_matrix = np.zeros_like(test_matrix)
        base_matrix[:, base_value] = counts
        baseline = confusion_scores(base_matrix)
        several = int((counts > 0).sum()) > 1
        defined = several and not counts[k:].sum() and not (counts[:k] == 0).any()
        baseline["roc_auc"] = 0.5 if defined else None  # one score for every row: every pair a tie
        baseline = {name: _finite(v) for name, v in baseline.items()}
        class_recall = {
            str(c): {
                "rows": int(counts[i]),
                "recall": float(test_matrix[i, i] / counts[i]) if counts[i] else None,
            }
            for i, c in enumerate(classes or [])
        }
        for column in settings.data.categorical_features:
            for value in _slice_values(test_summary, column, True):
                measured, bound, matrix = classification_scores(test_summary, (column, value), k)
                slice_bound = max(slice_bound, bound)
                slices[column][value] = {"rows": int(matrix.sum()), **measured}
    else:
        test_row = _moments_row(test_summary, WHOLE)
        test_scores, test_bound = regression_scores(test_row), 0.0
        n = int(test_row["n"])
        base_sq = float(test_row["m2"]) + n * (float(test_row["mean"]) - base_value) ** 2
        baseline_row = pd.Series({"n": n, "sq_sum": base_sq, "m2": float(test_row["m2"]),
                                  "abs_sum": float(test_row["base_abs_sum"])})  # fmt: skip
        baseline = regression_scores(baseline_row)
        class_recall = {}
        for column in settings.data.categorical_features:
            for value in _slice_values(test_summary, column, False):
                row = _moments_row(test_summary, (column, value))
                slices[column][value] = {"rows": int(row["n"]), **regression_scores(row)}

    if rows is None:
        rows = sample(cluster, split.test, EVAL_SAMPLE_ROWS, settings.seed)
    sampled = Split(
        X_train=model_frame(rows.iloc[:0], settings.data.inputs),
        X_test=model_frame(rows, settings.data.inputs),
        y_train=target_values(rows.iloc[:0], settings),
        y_test=target_values(rows, settings),
        labelled=rows,
        test_rows=np.arange(len(rows)),
        dropped_missing_target=split.dropped,
    )
    sample_predictions = predict(settings, model, sampled.X_test)

    def interval_of(column: str, value: str) -> Interval:
        metric = q.slice_metric
        if classification and metric == "accuracy":
            from scipy.stats import binomtest

            matrix = classification_scores(test_summary, (column, value), k)[2]
            found = binomtest(int(np.trace(matrix)), int(matrix.sum())).proportion_ci(
                confidence_level=q.slice_confidence, method="wilson"
            )
            return float(found.low), float(found.high)
        if not classification and metric in ("mae", "rmse"):
            row = _moments_row(test_summary, (column, value))
            n, flat = int(row["n"]), float(row["abs_min"]) == float(row["abs_max"])
            if metric == "mae":
                return _mean_interval(n, float(row["abs_sum"]), float(row["sq_sum"]), flat, q.slice_confidence)
            low, high = _mean_interval(n, float(row["sq_sum"]), float(row["quad_sum"]), flat, q.slice_confidence)
            return math.sqrt(low), None if high is None else math.sqrt(high)
        # the rest: the bootstrap of quality/gates.py on the slice's rows of the test sample
        picked = np.flatnonzero(_slice_of(sampled.X_test, column) == value)
        y, predicted, labels = coded(task, sampled.y_test.to_numpy()[picked], sample_predictions.take(picked), classes)
        return metric_interval(task, metric, y, predicted, labels, q.slice_confidence, settings.seed)

    metrics = {
        "task": task,
        "model": settings.model.type,
        "primary_metric": q.primary_metric,
        "higher_is_better": q.higher_is_better,
        "train": train_scores,
        "test": test_scores,
        "baseline": {"strategy": "most_frequent" if classification else "mean", "test": baseline},
        "slices": slices,
        "classes": class_recall,
        "rows": {"train": split.train_rows, "test": split.test_rows},
        "feature_importance": permutation_importance(settings, model, sampled, classes),
        "gates": quality_gates(q, test_scores, slices, baseline, interval_of),
        "params_hash": settings.params_hash(),
        "data": {"fingerprint": fingerprint},
        "compute": {
            "engine": "dask",
            "metrics": (
                "whole splits, by reductions"
                if train_share >= 1.0
                else "whole test split, by reductions; train metrics on a seeded share of the training rows"
            ),
            "roc_auc_bins": ROC_BINS if classification else None,
            "roc_auc_slice_bins": SLICE_ROC_BINS if classification else None,
            "roc_auc_max_error": (
                {"train": train_bound, "test": test_bound, "slices": slice_bound} if classification else None
            ),
            "preprocess_rows": trained.preprocess_rows,
            "train_scored": {
                "rows": train_scored,
                "of": split.train_rows,
                "share": train_share,
                "seed": settings.seed,
                "method": "every training row"
                if train_share >= 1.0
                else "training rows whose seeded hash falls "
                "in the lowest `share` of its range (the train metrics only; the baseline counts every row)",
            },
            "sampled": {
                "rows": len(rows),
                "of": split.test_rows,
                "split": "test",
                "seed": settings.seed,
                "for": ["feature_importance", "plots", "slice bootstrap intervals", "parity"],
            },
        },
    }
    return ClusterEvaluation(metrics, sampled, sample_predictions)


def _slice_of(X: pd.DataFrame, column: str) -> np.ndarray:
    shown = np.asarray(X[column].to_numpy(), dtype=object)
    return np.where(shown == MISSING_CATEGORY, MISSING_SLICE, shown.astype(str))
