"""Rows outside the contract's expectations: counted per column, reported, never refused."""

import importlib.util
import json

import numpy as np
import pandas as pd

from modelkeel.data.contract import contract_expectations, validate_frame
from modelkeel.data.infer import plan, render_module
from modelkeel.loop.expectations import SHOWN_VALUES, outside_expectations
from modelkeel.loop.outcome import Outcome
from modelkeel.loop.report import LoopResult, report_markdown


def test_rows_past_a_range_and_new_categories_are_counted_per_column():
    # given expectations for a month, a carrier, a delay, and one column the batch does not hold
    expectations = {
        "month": {"ge": 1, "le": 6},
        "carrier": {"isin": ["AA", "UA"]},
        "delay": {"ge": 0.0, "le": 10.5},
        "gone": {"isin": ["x"]},
    }
    batch = pd.DataFrame(
        {
            "month": [7, 8, 9, 10, 3, None],
            "carrier": ["DL", "DL", "AA", "WN", "DL", None],
            "delay": [0.0, 1.5, 10.5, 3.0, 4.0, 5.0],
        }
    )
    # when the loop looks at it
    found = {b.column: b for b in outside_expectations(expectations, batch)}
    # then the months past 6 and the new carriers are reported, with counts; the delay and gaps are not
    assert set(found) == {"month", "carrier"}
    month = found["month"]
    assert (month.rows, month.checked, month.below, month.above) == (4, 5, 0, 4) and month.share == 0.8
    assert month.expected == "1..6"
    carrier = found["carrier"]
    assert (carrier.rows, carrier.checked) == (4, 5) and carrier.new_values == (("DL", 3), ("WN", 1))
    assert carrier.new_distinct == 2 and carrier.expected == "one of 2 values"


def test_classes_read_the_same_as_int_float_or_bool_and_many_new_values_are_cut_short():
    expectations = {"label": {"isin": [0, 1]}, "flag": {"isin": [False, True]}, "city": {"isin": ["a"]}}
    batch = pd.DataFrame(
        {
            "label": [1.0, 0.0, np.nan, 2.0] * 5,  # a gap makes pandas read the 0/1 labels as floats
            "flag": [True, False] * 10,
            "city": [f"c{i}" for i in range(20)],
        }
    )
    found = {b.column: b for b in outside_expectations(expectations, batch)}
    assert set(found) == {"label", "city"}
    assert found["label"].new_values == (("2", 5),) and found["label"].checked == 15
    city = found["city"]
    assert city.rows == 20 and city.new_distinct == 20 and len(city.new_values) == SHOWN_VALUES
    assert outside_expectations(None, batch) == () == outside_expectations({}, batch)


def load_schema(tmp_path, source):
    path = tmp_path / "months.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("months", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Schema


def test_a_later_month_passes_the_inferred_contract_and_is_reported_outside_its_expectations(tmp_path):
    # given a contract inferred from January to June
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"month": np.repeat(np.arange(1, 7), 20), "y": rng.normal(0, 1, 120)})
    schema = load_schema(tmp_path, render_module(plan(train, "y", "regression"), "months.csv"))
    expectations = contract_expectations(schema)
    assert expectations["month"] == {"ge": 1, "le": 6}
    # when July to December arrive
    later = pd.DataFrame({"month": np.repeat(np.arange(7, 13), 5), "y": rng.normal(0, 1, 30)})
    validated = validate_frame(later, schema, "later.csv")
    # then no row is refused, and every one is reported outside the expected months
    assert len(validated) == 30
    (month,) = outside_expectations(expectations, validated)
    assert (month.column, month.rows, month.above, month.share) == ("month", 30, 30, 1.0)


def test_the_report_and_loop_json_carry_the_rows_outside_expectations():
    batch = pd.DataFrame({"carrier": ["DL|<b>", "AA"], "month": [7, 1]})
    breaches = outside_expectations({"carrier": {"isin": ["AA"]}, "month": {"ge": 1, "le": 6}}, batch)
    result = LoopResult(champion="0.1.0", outcome=Outcome.NO_RETRAIN, expectations=breaches)
    text = report_markdown(result, "accuracy")
    assert "### Outside expectations (reported, not refused)" in text
    assert "| month | 1..6 | 1 of 2 | 50.0% | 0 below, 1 above |" in text
    assert "<b>" not in text and "DL\\|" in text, "a value from the batch is made inert"
    saved = json.loads(json.dumps(result.as_json()))["expectations"]
    assert [b["column"] for b in saved] == ["carrier", "month"] and saved[1]["share"] == 0.5
    assert saved[0]["new_values"][0]["rows"] == 1
    assert "Outside expectations" not in report_markdown(LoopResult(champion="0.1.0", outcome=Outcome.NO_RETRAIN), "a")
