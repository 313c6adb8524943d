"""The parity check itself: answers match within atol + rtol * |reference|, labels exactly."""

import numpy as np
import pytest

from modelkeel.quality.parity import compare

pytestmark = pytest.mark.parity


def test_compare_catches_a_probability_shift_and_label_flips():
    reference = {"label": np.array(["a", "b"]), "value": np.array([[0.9, 0.1], [0.2, 0.8]])}
    shifted = {"label": np.array(["a", "b"]), "value": np.array([[0.86, 0.14], [0.2, 0.8]])}
    flipped = {"label": np.array(["a", "a"]), "value": reference["value"]}
    assert compare("classification", reference, reference, 1e-4, 0).passed
    assert not compare("classification", reference, shifted, 1e-4, 0).passed
    assert compare("classification", reference, flipped, 1e-4, 0).label_mismatches == 1


def test_with_same_kind_a_bool_label_is_not_the_number_1():
    """Given True/False labels and the same as 0/1: by value they agree (a bundle recorded with 0/1 still
    verifies); the export gate, asking for the same kind, counts every row as a mismatch."""
    from modelkeel.quality.parity import label_kind

    value = np.array([[0.9, 0.1], [0.2, 0.8]])
    as_bools = {"label": np.array([False, True]), "value": value}
    as_numbers = {"label": np.array([0, 1]), "value": value}
    assert compare("classification", as_bools, as_numbers, 1e-4, 0).passed
    assert compare("classification", as_bools, as_numbers, 1e-4, 0, same_kind=True).label_mismatches == 2
    assert compare("classification", as_bools, as_bools, 1e-4, 0, same_kind=True).passed
    labels = [np.array([True]), np.array([True, None], dtype=object), np.array([1, 2]), np.array([1.0]), ["a"]]
    assert [label_kind(v) for v in labels] == ["bool", "bool", "number", "number", "text"]
