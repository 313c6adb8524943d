"""The champion's errors on new labelled rows, beside the same figures at release."""

import math

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
