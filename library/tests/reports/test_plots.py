"""The loop's drift plots: which features get one, and that each named feature's plot is written; the
confusion matrix's labels."""

import numpy as np
import pandas as pd

from modelkeel.loop.drift import FeatureDrift, reference_stats
from modelkeel.reports import plots


def drift(feature: str, psi: float, drifted: bool) -> FeatureDrift:
    return FeatureDrift(feature, "numeric", psi, None, None, drifted, ("PSI",) if drifted else ())


def test_every_drifted_feature_is_plotted_first_then_the_largest_shifts_up_to_the_limit():
    found = [drift("a", 0.01, False), drift("b", 0.30, True), drift("c", 0.20, False), drift("d", 0.05, True)]
    assert plots.drift_plot_features(found, 3) == ["b", "d", "c"], "drifted by PSI, then the rest by PSI"
    assert plots.drift_plot_features(found, 1) == ["b"]
    assert plots.drift_plot_features(found, 10) == ["b", "d", "c", "a"]
    assert plots.drift_plot_features(found, 0) == []
    # ties are broken by name, so the same data always draws the same plots
    assert plots.drift_plot_features([drift("y", 0.1, False), drift("x", 0.1, False)], 1) == ["x"]


def test_each_named_feature_gets_its_plot_and_no_other(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x1": rng.normal(0, 1, 300), "x2": rng.normal(5, 2, 300), "colour": rng.choice(["red", "blue"], 300)}
    )
    reference = reference_stats(frame, ("x1", "x2"), ("colour",), 0)
    written = plots.plot_drift(reference, frame.assign(x1=frame["x1"] + 3), tmp_path, ["colour", "x1"])
    assert written == [tmp_path / plots.drift_plot_name("colour"), tmp_path / plots.drift_plot_name("x1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_the_confusion_matrix_has_one_row_per_label_of_either_side_a_bool_apart_from_a_number():
    matrix_classes = plots.matrix_classes
    assert matrix_classes(np.array([1, 3, 2]), np.array([1, 1, 4])) == [1, 2, 3, 4]
    assert matrix_classes(np.array([True, False]), np.array([True, True])) == [False, True]
    mixed = matrix_classes(np.array([True, False]), np.array([1, 0]))
    assert len(mixed) == 4 and [type(c) for c in mixed].count(bool) == 2, mixed
    assert matrix_classes(np.array(["b", 2], dtype=object), np.array(["a", 1], dtype=object)) == [1, 2, "a", "b"]
