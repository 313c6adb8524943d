"""Your model's safeguards: the quality gates of params.yaml, overall and on every slice, the trivial
baseline, and the ONNX export's parity. The same gates stop `make pipeline` before a model is bundled."""

import pytest
from modelkeel.testing import (
    assert_beats_baseline,
    assert_every_slice_passes,
    assert_onnx_parity,
    assert_primary_metric_passes,
)


@pytest.mark.quality
def test_the_model_reaches_its_quality_threshold(project_metrics):
    assert_primary_metric_passes(project_metrics)


@pytest.mark.quality
def test_every_slice_reaches_its_threshold(project_metrics):
    assert_every_slice_passes(project_metrics)


@pytest.mark.quality
def test_the_model_beats_the_trivial_baseline(project_metrics):
    assert_beats_baseline(project_metrics)


@pytest.mark.parity
def test_the_onnx_export_predicts_like_the_trained_model(project_settings, project_model):
    assert_onnx_parity(project_settings, project_model)
