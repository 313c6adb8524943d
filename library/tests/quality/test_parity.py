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
