"""modelkeel.testing: the rows that break a contract are derived from it, and each assertion fails with a
message that names what broke and the params.yaml key to look at."""

from __future__ import annotations

import pandas as pd
import pytest

from modelkeel.testing import (
    assert_beats_baseline,
    assert_every_slice_passes,
    assert_onnx_parity,
    assert_primary_metric_passes,
    assert_refused,
    broken_rows,
)
from modelkeel.testing.assertions import UNKNOWN_COLUMN, BrokenRows


def test_every_check_of_the_penguins_contract_gives_a_case_and_each_is_refused(settings, validated):
    cases = broken_rows(settings, validated.frame)
    kinds = {case.what for case in cases}
    assert "a required column is missing" in kinds and "a column the contract does not know" in kinds
    # penguins: four measurements never negative and a study that began in 2007, closed sets of sexes and
    # species, and three columns without gaps; the observed ranges and islands are expectations, which break nothing
    assert {c.column for c in cases if "past its" in c.what} == {
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "year",
    }
    assert {c.column for c in cases if "does not list" in c.what} == {"sex", "species"}
    assert {c.column for c in cases if "allows none" in c.what} == {"species", "island", "year"}
    for case in cases:
        assert len(case.frame) == 3
        assert_refused(settings, case)


def test_rows_the_contract_accepts_fail_the_assertion_with_the_file_to_tighten(settings, validated):
    harmless = BrokenRows("nothing broken at all", "island", validated.frame.head(3))
    with pytest.raises(AssertionError, match=r"accepted it\. Tighten schemas/penguins\.py \(column 'island'\)"):
        assert_refused(settings, harmless)


def test_a_report_that_names_another_column_fails_the_assertion(settings, validated):
    broken = validated.frame.head(3).assign(**{UNKNOWN_COLUMN: 1})
    with pytest.raises(AssertionError, match="does not name 'island'"):
        assert_refused(settings, BrokenRows("an extra column, blamed on island", "island", broken))


def test_a_contract_with_only_types_still_has_a_missing_and_an_unknown_column(settings, monkeypatch):
    import pandera.pandas as pa

    class Loose(pa.DataFrameModel):
        x: float
        label: str

        class Config:
            strict = True
            coerce = True

    monkeypatch.setattr("modelkeel.data.contract.load_schema_model", lambda _settings: Loose)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]})
    cases = broken_rows(settings, frame)
    assert [c.what for c in cases][:2] == ["a required column is missing", "a column the contract does not know"]
    assert {c.column for c in cases} == {"x", UNKNOWN_COLUMN, "label"}  # x: text in a number; label: a gap
    for case in cases:
        assert_refused(settings, case)


def test_a_bool_column_gets_no_unknown_category_case_but_its_gap_is_refused(settings, monkeypatch):
    import pandera.pandas as pa

    class Flags(pa.DataFrameModel):
        late: bool = pa.Field(isin=[False, True])
        x: float

        class Config:
            strict = True
            coerce = True

    monkeypatch.setattr("modelkeel.data.contract.load_schema_model", lambda _settings: Flags)
    cases = broken_rows(settings, pd.DataFrame({"late": [True, False, True], "x": [1.0, 2.0, 3.0]}))
    assert not [c for c in cases if c.column == "late" and "does not list" in c.what]
    assert [c.what for c in cases if c.column == "late"] == [
        "a required column is missing",
        "a gap in 'late', which allows none",
    ]
    for case in cases:
        assert_refused(settings, case)


def gates(threshold=True, baseline=True, slices=()) -> dict:
    return {
        "gates": {
            "threshold": {"metric": "f1_macro", "value": 0.71, "threshold": 0.9, "passed": threshold},
            "baseline": {
                "metric": "f1_macro",
                "value": 0.71,
                "baseline": 0.7,
                "min_improvement": 0.05,
                "passed": baseline,
            },
            "slices": list(slices),
        }
    }


def test_gate_assertions_pass_on_passing_gates_and_name_the_key_when_not():
    assert_primary_metric_passes(gates())
    assert_beats_baseline(gates())
    assert_every_slice_passes(gates())
    with pytest.raises(AssertionError, match=r"f1_macro = 0\.71 misses 0\.9 \(quality\.threshold"):
        assert_primary_metric_passes(gates(threshold=False))
    with pytest.raises(AssertionError, match=r"baseline 0\.7 by 0\.05 \(quality\.min_improvement_over_baseline"):
        assert_beats_baseline(gates(baseline=False))
    slice_entry = {"column": "island", "value": "Dream", "rows": 20, "metric": "mae", "measured": 500.0}
    failed = gates(slices=[{**slice_entry, "threshold": 450, "gated": True, "passed": False}])
    with pytest.raises(AssertionError, match=r"island=Dream \(20 rows\): mae 500 exceeds the maximum 450"):
        assert_every_slice_passes(failed)


def test_the_slice_assertion_applies_the_gates_rule_a_slice_fails_only_beyond_its_uncertainty():
    entry = {"column": "island", "value": "Dream", "rows": 20, "metric": "mae", "measured": 500.123456}
    entry |= {"threshold": 450, "gated": True, "confidence": 0.95}
    assert_every_slice_passes(gates(slices=[{**entry, "interval": [401.5, 598.7]}]))  # the bar is inside it
    beyond = r"mae 500.1 \(95 % interval 460.2 to 540.1\) exceeds the maximum 450 beyond its uncertainty"
    with pytest.raises(AssertionError, match=beyond):
        assert_every_slice_passes(gates(slices=[{**entry, "interval": [460.2, 540.1]}]))


def test_onnx_parity_passes_for_the_projects_model_and_fails_outside_the_tolerance(trained):
    settings, model = trained
    assert_onnx_parity(settings, model)
    impossible = settings.model_copy(update={"parity": settings.parity.model_copy(update={"atol": 0.0, "rtol": 0.0})})
    if settings.task == "classification":  # probabilities: float32 in ONNX, float64 in scikit-learn
        with pytest.raises(AssertionError, match="parity gate failed"):
            assert_onnx_parity(impossible, model)


def test_onnx_parity_holds_for_a_target_of_any_kind_as_the_project_test_runs_it(typed):
    """The project's parity test converts the model itself: a bool target's graph answers 0/1, which the
    classes the conversion records map back to True/False, as in every bundle."""
    from modelkeel.stages.pipeline import trained_from_artifacts

    assert_onnx_parity(typed.settings, trained_from_artifacts(typed.settings))


def test_rows_come_from_hard_checks_only_a_value_outside_an_expectation_is_not_broken(settings, monkeypatch):
    import pandera.pandas as pa

    class Expecting(pa.DataFrameModel):
        month: int = pa.Field(ge=1, le=12, metadata={"expect": {"ge": 1, "le": 6}})
        colour: str = pa.Field(metadata={"expect": {"isin": ["red", "blue"]}})

        class Config:
            strict = True
            coerce = True

    monkeypatch.setattr("modelkeel.data.contract.load_schema_model", lambda _settings: Expecting)
    frame = pd.DataFrame({"month": [1, 2, 6], "colour": ["red", "blue", "red"]})
    cases = broken_rows(settings, frame)
    # the month's domain gives a case, its expected 1..6 none; the colour's expected set gives none
    (past,) = [c for c in cases if "past its" in c.what]
    assert past.column == "month" and (past.frame["month"] < 1).all()
    assert not [c for c in cases if "does not list" in c.what]
    for case in cases:
        assert_refused(settings, case)
