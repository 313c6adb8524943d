"""The champion's errors on new labelled rows, beside the same figures at release."""

import math

import pytest

from modelkeel.bundle.reader import open_bundle
from modelkeel.loop.monitor import champion_errors


def test_every_row_comes_first_so_data_without_slices_or_classes_still_shows_its_errors(
    settings, validated, bundle_dir
):
    champion = open_bundle(bundle_dir)
    frame = validated.frame
    errors = champion_errors(settings, champion, frame)
    first = errors[0]
    metric = settings.quality.slice_metric
    labelled = int(frame[settings.data.target].notna().sum())
    assert (first.scope, first.metric, first.rows) == ("all rows", metric, labelled)
    assert first.at_release == champion.metrics["test"][metric], "at release: the champion's own test split"
    assert first.on_new is not None and math.isfinite(first.on_new)
    scopes = [e.scope for e in errors]
    assert len(scopes) == len(set(scopes)), scopes
    slices = sum(
        frame[column].astype(str).where(frame[column].notna(), "(missing)").nunique()
        for column in settings.data.categorical_features
    )
    classes = len(champion.classes) if settings.task == "classification" else 0
    assert len(errors) == 1 + slices + classes, "all rows, then one row per category, then one per class"


def test_no_labelled_row_means_no_errors_to_show(settings, validated, bundle_dir):
    unlabelled = validated.frame.assign(**{settings.data.target: None})
    assert champion_errors(settings, open_bundle(bundle_dir), unlabelled) == ()


def scikit_learn_metric(metric: str, y: list, predicted, proba, classes: list) -> float:
    """scikit-learn's own score of the labels as the data holds them (ROC AUC: each class against the rest,
    averaged; for two classes, both are the AUC of the second)."""
    from sklearn import metrics as skm

    if metric == "roc_auc":
        return float(
            sum(skm.roc_auc_score([v == c for v in y], proba[:, i]) for i, c in enumerate(classes)) / len(classes)
        )
    if metric == "f1_macro":
        return float(skm.f1_score(y, predicted, average="macro"))
    return float(skm.accuracy_score(y, predicted))


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro", "roc_auc"])
def test_the_champions_metric_on_new_rows_is_scikit_learns_on_the_labels_as_they_are(typed, metric):
    """Given a batch of a bool, 0/1, 1/2/3 or text target in which some rows have no label yet; when the
    loop takes the champion's metric on it; then it is scikit-learn's on the labelled rows."""
    from modelkeel.loop.monitor import metric_on
    from modelkeel.runtime.model import Model

    settings = typed.settings.model_copy(
        update={"quality": typed.settings.quality.model_copy(update={"primary_metric": metric})}
    )
    labelled = typed.batch[typed.batch["target"].notna()]
    assert 0 < len(labelled) < len(typed.batch), "the batch has unlabelled rows"
    classes = typed.bundle.classes
    proba = Model(typed.bundle).predict(labelled)[[f"probability_{c}" for c in classes]].to_numpy()
    y = labelled["target"].tolist()
    expected = scikit_learn_metric(metric, y, typed.sklearn_predict(labelled), proba, classes)
    assert metric_on(settings, typed.bundle, typed.batch) == pytest.approx(expected, abs=1e-9)


def test_the_champions_recall_per_class_names_each_class_as_the_data_holds_it(typed):
    """Given the batch with unlabelled rows; when the champion's errors are listed; then there is one recall per
    class, named as the data writes it (class True, class 0, class yes), equal to scikit-learn's recall."""
    from sklearn.metrics import recall_score

    labelled = typed.batch[typed.batch["target"].notna()]
    y = labelled["target"].tolist()
    recalls = recall_score(y, typed.sklearn_predict(labelled), labels=typed.bundle.classes, average=None)
    errors = {e.scope: e for e in champion_errors(typed.settings, typed.bundle, typed.batch)}
    for cls, recall in zip(typed.bundle.classes, recalls, strict=True):
        found = errors[f"class {cls}"]
        assert (found.rows, found.on_new) == (y.count(cls), pytest.approx(recall))
        assert found.at_release == typed.bundle.metrics["classes"][str(cls)]["recall"]


def test_the_monitor_reports_new_rows_outside_the_contracts_expectations(settings, validated, bundle_dir, tmp_path):
    """Given a batch from a later season on a new island; when the loop monitors it; then both are reported."""
    from modelkeel.loop.monitor import monitor

    batch = validated.frame.head(40).assign(year=2009)
    batch["island"] = batch["island"].astype(object)
    batch.loc[batch.index[:10], "island"] = "Anvers"
    found = {b.column: b for b in monitor(settings, open_bundle(bundle_dir), batch, tmp_path).expectations}
    assert (found["year"].rows, found["year"].above) == (40, 40)
    assert found["island"].new_values == (("Anvers", 10),)
