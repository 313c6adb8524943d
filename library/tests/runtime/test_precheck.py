"""The compiled input check agrees with pandera: what it accepts pandera accepts, with the same model input.

The rows are generated from the bundled contract itself (its ranges, categories, gaps and time
columns), so these tests follow the project's data. The reference is the pandera path on
`pd.DataFrame.from_records(records)`: validate, `model_frame`, `onnx_feed`. Predictions are
compared exactly: the same float32 feed through the same onnxruntime session gives the same bits.
Each property runs 30 examples (a few seconds); PRECHECK_EXAMPLES=500 searches longer.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelkeel.bundle.checksums import render
from modelkeel.data.contract import (
    schema_from_yaml,
    validate_frame,
)
from modelkeel.errors import (
    DataError,
    DataValidationError,
)
from modelkeel.runtime.calendar import PARTS
from modelkeel.runtime.model import load_model
from modelkeel.runtime.precheck import (
    ACCEPT,
    REJECT,
    UNSURE,
    CategoricalColumn,
    NumericColumn,
    TimeColumn,
    coerced,
    compile_schema,
    outputs_as_json,
    validated_records,
)
from modelkeel.runtime.scoring import predictions_frame
from modelkeel.runtime.signature import (
    ModelInputs,
    model_frame,
    onnx_feed,
)

from ..conftest import toy_frame

NO_KEY = object()  # the record leaves the key out
EXTRA = "note"  # a key the model does not take
QUICK = settings(
    max_examples=int(os.environ.get("PRECHECK_EXAMPLES", "30")),  # e.g. PRECHECK_EXAMPLES=500 to search longer
    deadline=None,
    database=None,  # writes nothing into the project
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def model(bundle_dir):
    return load_model(path=bundle_dir, allow_unsigned=True)


@pytest.fixture(scope="module")
def compiled(model):
    check = model.bundle.precheck
    if not check.compiled:
        pytest.skip(f"the bundled contract is not compiled ({check.fallback}): every call is checked by pandera")
    return check


# ---- the reference: pandera on pd.DataFrame.from_records ------------------------------------------


def reference(bundle, records):
    """(ACCEPT, feed, answer, checked rows) or (REJECT, report, None, None), as the pandera path has it."""
    try:
        checked = validated_records(bundle, records, "test")
    except DataValidationError as error:
        return REJECT, error.report, None, None
    feed = onnx_feed(model_frame(checked, bundle.inputs), bundle.inputs)
    return ACCEPT, feed, outputs_as_json(bundle, bundle.run(checked)), checked


def same_feed(fast, slow):
    assert list(fast) == list(slow), "the graph's inputs, in its order"
    for name, array in slow.items():
        got = fast[name]
        assert got.shape == array.shape and got.dtype == array.dtype, name
        if array.dtype == object:
            assert got.tolist() == array.tolist(), name
        else:
            np.testing.assert_array_equal(got, array, err_msg=name)  # NaN equals NaN here, bits otherwise


def records_of(rows):
    return [{k: v for k, v in row.items() if v is not NO_KEY} for row in rows]


def typed_frame(check, records) -> pd.DataFrame | None:
    """The records as a frame whose model columns have the plain dtypes a file gives (float64 or int64, pandas
    strings, numpy bools, naive datetime64[ns]) where their values allow it; other columns stay as pandas has them.
    It is a frame of its own: the properties compare the vectorised check with pandera on this same frame.
    None for text with a lone surrogate, which pandas cannot make a frame of."""
    try:
        frame = pd.DataFrame.from_records(records)
    except UnicodeEncodeError:
        return None
    kinds = {c.name: "number" for c in check.numeric} | {c.name: "time" for c in check.time}
    kinds |= {c.name: "bool" if c.boolean else "text" for c in check.categorical}
    for name in frame.columns:
        values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in frame[name]]
        found = {type(v) for v in values if v is not None}
        kind = kinds.get(name)
        try:
            if kind == "number" and found <= {int, float}:
                whole = found == {int} and None not in values
                frame[name] = pd.Series(values, dtype="int64" if whole else "float64")
            elif kind == "bool" and found == {bool} and None not in values:
                frame[name] = pd.Series(values, dtype=bool)
            elif kind == "text" and found <= {str}:
                frame[name] = pd.Series(values, dtype="str")
            elif kind == "time" and found <= {str}:
                times = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True, errors="coerce")
                frame[name] = times.dt.tz_convert(None).astype("datetime64[ns]")
        except (TypeError, ValueError, OverflowError):  # a gap among integers, 2**70: the column stays as it is
            continue
    return frame


def typed_agrees(check, schema, frame):
    """The vectorised check on `frame` (as `Model.predict` checks a large one): what it accepts, pandera accepts,
    with the same feed and the same coerced rows; what it refuses, pandera refuses. Returns its verdict."""
    if frame is None:
        return UNSURE
    inputs = check.inputs
    verdict, feed = check.check_typed_frame(frame)
    try:
        expected = validate_frame(frame, schema, "test", list(inputs.time))
    except (DataValidationError, UnicodeEncodeError):
        expected = None
    if verdict == ACCEPT:
        assert expected is not None, frame
        same_feed(feed, onnx_feed(model_frame(expected, inputs), inputs))
        pd.testing.assert_frame_equal(coerced(schema, check, frame), expected)
    elif verdict == REJECT:
        assert expected is None, frame
    return verdict


def agree(model, records, *, in_domain):
    """The compiled verdict is pandera's; predict_records and predict answer what the pandera path does."""
    bundle = model.bundle
    verdict, feed = bundle.precheck.check_records(records)
    expected, found, answer, checked = reference(bundle, records)
    if in_domain:
        assert verdict != UNSURE, records
    if verdict == ACCEPT:
        assert expected == ACCEPT, (records, found)
        same_feed(feed, found)
    elif verdict == REJECT:
        assert expected == REJECT, records
    if expected == ACCEPT:
        assert model.predict_records(records) == answer
    else:
        with pytest.raises(DataValidationError) as error:
            model.predict_records(records, source="test")
        assert error.value.report == found
    try:
        frame = pd.DataFrame.from_records(records)
    except UnicodeEncodeError:  # text with a lone surrogate: pandas cannot make a frame of it
        assert expected == REJECT and found["failures"][0]["check"] == "valid_unicode_text"
        return
    if bundle.precheck.check_frame(frame)[0] == ACCEPT:  # otherwise predict takes the pandera path, as before
        assert expected == ACCEPT, records
        pd.testing.assert_frame_equal(model.predict(frame), predictions_frame(bundle, checked, bundle.run(checked)))
    typed_agrees(bundle.precheck, bundle.input_schema, typed_frame(bundle.precheck, records))


# ---- values around the contract's edges ----------------------------------------------------------------


def _edges(low, high):
    points = [0.0, -0.0, 1.0, -1.0]
    for bound in (low, high):
        if bound is not None:
            b = float(bound)
            points += [b, math.nextafter(b, -math.inf), math.nextafter(b, math.inf), b - 1, b + 1]
    return points


def numeric_values(column: NumericColumn, in_domain: bool):
    b = column.bounds
    low = -1e6 if b.low is None else float(b.low)
    high = 1e6 if b.high is None else float(b.high)
    span = max(high - low, 1.0)
    edges = _edges(b.low, b.high)
    whole = st.integers(math.floor(low - span / 4) - 2, math.ceil(high + span / 4) + 2)
    gaps = st.sampled_from([None, NO_KEY] + ([] if column.integer else [math.nan]))
    if column.integer:
        exact = st.sampled_from([int(e) for e in edges])
        plain = st.one_of(whole, exact, whole.map(float), exact.map(float), gaps)  # 3.0 is the int 3 to pandera
    else:
        plain = st.one_of(
            st.floats(low - span / 4, high + span / 4),
            st.sampled_from([*edges, math.inf, -math.inf]),
            whole,
            st.integers(-(2**53), 2**53),
            gaps,
        )
    if in_domain:
        return plain
    odd = st.one_of(
        st.booleans(),
        st.sampled_from(edges).map(str),  # numbers written as text
        st.sampled_from([" 40 ", "nan", "1e3", "1_000", "", "abc", "\ud800", 2**60, 2**70, 3.5, 3.0, [1], {"a": 1}]),
        st.floats(allow_nan=False).map(repr),
    )
    return st.one_of(plain, odd)


def category_values(column: CategoricalColumn, in_domain: bool):
    if column.boolean:
        plain = st.booleans()
        odd = st.sampled_from([None, NO_KEY, 0, 1, "True", "false", 1.0, ""])
        return plain if in_domain else st.one_of(plain, odd)
    allowed = sorted(column.bounds.allowed or []) or ["a"]
    known = st.sampled_from(allowed)
    plain = st.one_of(
        known,
        known,
        known.map(str.upper),
        known.map(lambda v: f" {v}"),
        st.text(max_size=6),  # unknown categories (no lone surrogate: st.text leaves them out)
        st.sampled_from(["", None, NO_KEY, math.nan]),
    )
    if in_domain:
        return plain
    return st.one_of(plain, st.sampled_from([1, 0.5, True, False, ["x"], {"x": 1}, "\ud800", allowed[0] + "\udc00"]))


FORMS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%MZ",
]


@st.composite
def iso_text(draw):
    moment = draw(st.datetimes(min_value=datetime(1680, 1, 1), max_value=datetime(2260, 12, 31)))
    text = moment.strftime(draw(st.sampled_from(FORMS)))
    if "." in text and draw(st.booleans()):
        text += draw(st.sampled_from(["0", "999", "123"]))  # up to nanoseconds
    if "T" in text and not text.endswith("Z") and draw(st.booleans()):
        minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
        sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
        text += f"{sign}{minutes // 60:02d}{draw(st.sampled_from([':', '']))}{minutes % 60:02d}"
    return text


def time_values(column: TimeColumn, in_domain: bool):
    plain = st.one_of(iso_text(), iso_text(), st.sampled_from([None, NO_KEY, math.nan]))
    if in_domain:
        return plain
    odd = st.sampled_from(
        [
            "2024-02-30",
            "2024-03-05T24:00",
            "2024-03-05T14:30:60",
            "2024-03-05T14:30+24:00",
            "2024-03-05T14:30.5",
            "20240305",
            "2024-03",
            "2024",
            "2024-03-05t14:30",
            " 2024-03-05",
            "２０２４-03-05",
            "03/05/2024",
            "1600-01-01",
            "2300-01-01",
            "2024-03-05T14:30:00.1234567891",
            "now",
            "",
            "NaT",
            "\ud800",
            1_700_000_000,
            1.5,
            True,
        ]
    )
    return st.one_of(plain, odd)


def column_values(check, in_domain: bool) -> dict:
    strategies = {c.name: numeric_values(c, in_domain) for c in check.numeric}
    strategies |= {c.name: category_values(c, in_domain) for c in check.categorical}
    strategies |= {c.name: time_values(c, in_domain) for c in check.time}
    return strategies


@st.composite
def valid_records(draw, check):
    """Rows the contract accepts: in range (bounds included), known categories, gaps where allowed, ISO times."""
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row: dict = {}
        for c in check.numeric:
            b = c.bounds
            low = -1e6 if b.low is None else float(b.low)
            high = 1e6 if b.high is None else float(b.high)
            whole = st.integers(math.ceil(low) + b.low_open, math.floor(high) - b.high_open)
            closed = [v for v, is_open in ((b.low, b.low_open), (b.high, b.high_open)) if v is not None and not is_open]
            if c.integer:
                exact = st.sampled_from([int(v) for v in closed if v == int(v)] or [math.ceil(low)])
                value = st.one_of(whole, exact, whole.map(float), exact.map(float))  # whole floats: never UNSURE
            else:
                value = st.one_of(
                    st.floats(low, high, exclude_min=b.low_open, exclude_max=b.high_open),
                    whole,  # JSON has integers: 181 for 181.0
                    st.sampled_from(closed or [(low + high) / 2]),
                )
            row[c.name] = draw(value)
            if c.nullable and not c.integer and draw(st.integers(0, 5)) == 0:
                row[c.name] = draw(st.sampled_from([None, NO_KEY] if rows else [None]))  # one row has the key
        for c in check.categorical:
            allowed = c.bounds.allowed
            choices = sorted(allowed) if allowed is not None else [True, False] if c.boolean else ["a", "b"]
            row[c.name] = draw(st.sampled_from(choices))
            if c.nullable and not c.boolean and draw(st.integers(0, 5)) == 0:
                row[c.name] = draw(st.sampled_from([None, NO_KEY] if rows else [None]))  # one row has the key
        for c in check.time:
            row[c.name] = draw(iso_text())
            if c.nullable and draw(st.integers(0, 5)) == 0:
                row[c.name] = None
        rows.append(row)
    return records_of(rows)


@st.composite
def records(draw, check, in_domain: bool):
    """Valid rows with about one value in six replaced by one around the contract's edges (or beyond)."""
    rows = draw(valid_records(check))
    values = column_values(check, in_domain)
    for row in rows:
        for name, strategy in values.items():
            if draw(st.integers(0, 5)) == 0:
                row[name] = draw(strategy)
        if draw(st.integers(0, 4)) == 0:
            row[EXTRA] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=4)))
    if draw(st.integers(0, 9)) == 0:  # a column no record has
        gone = draw(st.sampled_from(sorted(values)))
        rows = [{k: v for k, v in row.items() if k != gone} for row in rows]
    return records_of(rows)


# ---- the properties ---------------------------------------------------------------------------------------


def test_rows_the_contract_accepts_take_the_compiled_path_and_predict_alike(model, compiled):
    @QUICK
    @given(valid_records(compiled))
    def check(rows):
        verdict, _ = compiled.check_records(rows)
        assert verdict == ACCEPT, rows
        agree(model, rows, in_domain=True)
        typed = typed_frame(compiled, rows)  # as read from a file: the vectorised check accepts it too
        assert typed_agrees(compiled, model.bundle.input_schema, typed) == ACCEPT, typed.dtypes

    check()


def test_json_values_around_the_edges_get_pandera_s_verdict(model, compiled):
    """Numbers, gaps, categories and ISO times, in range and out, bounds exactly: never left to pandera."""

    @QUICK
    @given(st.data())
    def check(data):
        agree(model, data.draw(records(compiled, in_domain=True)), in_domain=True)

    check()


@pytest.mark.filterwarnings("ignore:Parsing integer or float values")  # numbers in a time column
def test_any_value_gets_pandera_s_answer(model, compiled):
    """Bools for numbers, numbers as text, other time forms, lists, lone surrogates: pandera decides."""

    @QUICK
    @given(st.data())
    def check(data):
        agree(model, data.draw(records(compiled, in_domain=False)), in_domain=False)

    check()


# ---- a synthetic contract with every dtype and check the compiler models --------------------------------

SYNTHETIC_INPUTS = ModelInputs(numeric=("f", "i"), categorical=("s", "b"), time={"t": PARTS})


@pytest.fixture(scope="module")
def synthetic():
    schema = pa.DataFrameSchema(
        {
            "f": pa.Column(
                float, [pa.Check.in_range(-2.5, 10, include_min=False), pa.Check.notin([3.0])], nullable=True
            ),
            "i": pa.Column(int, [pa.Check.ge(0), pa.Check.lt(100), pa.Check.isin([0, 1, 2, 5, 99, 100])]),
            "s": pa.Column(str, pa.Check.isin(["x", "y", ""]), nullable=True),
            "b": pa.Column(bool, pa.Check.isin([True])),
            "t": pa.Column(pa.DateTime, nullable=True),
        },
        coerce=True,
    )
    check = compile_schema(schema, SYNTHETIC_INPUTS)
    assert check.compiled, check.fallback
    return schema, check


def synthetic_reference(schema, records):
    try:
        checked = validate_frame(pd.DataFrame.from_records(records), schema, "test", ["t"])
    except (DataValidationError, UnicodeEncodeError):  # (a lone surrogate: predict_records reports it)
        return REJECT, None
    return ACCEPT, onnx_feed(model_frame(checked, SYNTHETIC_INPUTS), SYNTHETIC_INPUTS)


@pytest.mark.filterwarnings("ignore:Parsing integer or float values")  # numbers in a time column
def test_every_compiled_dtype_and_check_agrees_with_pandera(synthetic):
    schema, check = synthetic

    @QUICK
    @given(st.data())
    def run(data):
        in_domain = data.draw(st.booleans())
        rows = data.draw(records(check, in_domain=in_domain))
        verdict, feed = check.check_records(rows)
        expected, found = synthetic_reference(schema, rows)
        if in_domain:
            assert verdict != UNSURE, rows
        if verdict == ACCEPT:
            assert expected == ACCEPT, rows
            same_feed(feed, found)
        elif verdict == REJECT:
            assert expected == REJECT, rows
        typed_agrees(check, schema, typed_frame(check, rows))  # the vectorised check of a large frame
        if expected != ACCEPT:
            return
        frame = pd.DataFrame.from_records(rows)
        if check.check_frame(frame)[0] == ACCEPT:  # the rows Model.predict returns, built without pandera
            pd.testing.assert_frame_equal(coerced(schema, check, frame), validate_frame(frame, schema, "test", ["t"]))

    run()


def test_open_bounds_sets_and_bools_are_compiled_exactly(synthetic):
    _, check = synthetic
    base = {"f": 1.0, "i": 5, "s": "x", "b": True, "t": "2024-03-05T14:30+01:00"}
    assert check.check_records([base])[0] == ACCEPT
    for change, verdict in [
        ({"f": -2.5}, REJECT),  # include_min=False
        ({"f": math.nextafter(-2.5, 0)}, ACCEPT),
        ({"f": 10}, ACCEPT),
        ({"f": 3}, REJECT),  # notin
        ({"i": 99}, ACCEPT),
        ({"i": 100}, REJECT),  # isin allows it, lt(100) does not
        ({"i": 3}, REJECT),
        ({"i": 5.0}, ACCEPT),  # a whole float is the int64 5 to pandera
        ({"i": 3.0}, REJECT),
        ({"i": -0.0}, ACCEPT),
        ({"i": 5.5}, UNSURE),  # pandera's int64 coercion truncates a fraction: it decides
        ({"i": float(2**60)}, UNSURE),  # beyond what float64 holds exactly
        ({"i": math.inf}, UNSURE),
        ({"s": ""}, ACCEPT),
        ({"s": None}, ACCEPT),
        ({"b": False}, REJECT),
        ({"b": 1}, UNSURE),
        ({"t": None}, ACCEPT),
        ({"t": "2024-02-30"}, UNSURE),
    ]:
        assert check.check_records([{**base, **change}])[0] == verdict, change
    _, feed = check.check_records([base])
    assert feed["t.hour"].tolist() == [[13.0]] and feed["t.day_of_week"].tolist() == [[1.0]]  # UTC; a Tuesday
    assert feed["b"].tolist() == [["True"]]


def test_whole_floats_in_an_integer_column_take_the_compiled_path(synthetic):
    """A frame whose int64 column was read as float64 (3.0): the compiled check accepts it, feeds the model
    what the pandera path feeds it, and returns the rows as pandera coerces them."""
    schema, check = synthetic
    rows = [{"f": 1.0, "i": 5, "s": "x", "b": True, "t": "2024-03-05"}, {"f": 2.0, "i": 99, "s": "y", "b": True}]
    frame = pd.DataFrame.from_records(rows).astype({"i": "float64"})
    verdict, feed = check.check_frame(frame)
    assert verdict == ACCEPT
    expected = validate_frame(frame, schema, "test", ["t"])
    same_feed(feed, onnx_feed(model_frame(expected, SYNTHETIC_INPUTS), SYNTHETIC_INPUTS))
    pd.testing.assert_frame_equal(coerced(schema, check, frame), expected)
    assert coerced(schema, check, frame)["i"].tolist() == [5, 99]
    assert check.check_frame(frame.assign(i=[5.0, 99.5]))[0] == UNSURE
    times = pd.to_datetime(frame["t"]).astype("datetime64[ns]")
    typed = frame.assign(s=frame["s"].astype("str"), t=times, b=frame["b"].astype(bool))
    for i, verdict in [
        ([5.0, 99.0], ACCEPT),
        ([-0.0, 99.0], ACCEPT),  # the int64 0 to pandera: the model gets +0.0, as on the pandera path
        ([5.0, 99.5], UNSURE),  # pandera's coercion truncates the fraction: it decides
        ([5.0, math.nan], REJECT),
        ([5.0, 3.0], REJECT),
        ([5.0, float(2**60)], UNSURE),
        (np.array([5, 2**60], dtype=np.int64), UNSURE),
        (np.array([5, 100], dtype=np.int64), REJECT),
    ]:
        case = typed.assign(i=i)
        assert typed_agrees(check, schema, case) == verdict, i
    _, feed = check.check_typed_frame(typed.assign(i=[-0.0, 99.0]))
    assert np.signbit(feed["i"]).tolist() == [[False], [False]]


# ---- what falls back to pandera ----------------------------------------------------------------------------


def test_a_check_the_compiler_does_not_know_sends_every_call_to_pandera(model, bundle_dir, tmp_path):
    """The same rows, the same answers; only slower. `fallback` names the column and the check."""
    full = schema_from_yaml((bundle_dir / "schema.yaml").read_text())
    column = model.bundle.features[0]
    full.columns[column].checks.append(pa.Check.not_equal_to(-123456.5))
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    (copy / "schema.yaml").write_text(full.to_yaml())
    (copy / "SHA256SUMS").write_text(render(copy))
    other = load_model(path=copy, allow_unsigned=True)
    check = other.bundle.precheck
    assert not check.compiled
    assert repr(column) in check.fallback and "not_equal_to" in check.fallback
    rows = model.bundle.input_example["rows"]
    assert check.check_records(rows)[0] == UNSURE
    assert other.predict_records(rows) == model.predict_records(rows)


@pytest.mark.parametrize(
    "schema_options",
    [dict(unique=["f"]), dict(ordered=True), dict(checks=[pa.Check(lambda df: df["f"] > 0)]), dict(coerce=False)],
)
def test_schema_options_the_compiler_does_not_model_fall_back(schema_options):
    schema = pa.DataFrameSchema({"f": pa.Column(float)}, **({"coerce": True} | schema_options))
    check = compile_schema(schema, ModelInputs(numeric=("f",)))
    assert not check.compiled and check.check_records([{"f": 1.0}])[0] == UNSURE


@pytest.mark.parametrize(
    "column",
    [
        pa.Column(float, pa.Check(lambda s: s > 0)),  # a custom check
        pa.Column(float, pa.Check.ge(0, raise_warning=True)),
        pa.Column(float, pa.Check.ge(0, ignore_na=False)),
        pa.Column(float, pa.Check.ge(2**60)),  # a bound float64 does not hold exactly
        pa.Column(float, unique=True),
        pa.Column(float, required=False),
        pa.Column("float32"),
        pa.Column("Float64"),
        pa.Column("category"),
    ],
)
def test_column_options_and_dtypes_the_compiler_does_not_model_fall_back(column):
    check = compile_schema(pa.DataFrameSchema({"f": column}, coerce=True), ModelInputs(numeric=("f",)))
    assert not check.compiled, column
    assert "'f'" in check.fallback


# ---- the report on failure, and the guards ---------------------------------------------------------------------


def test_a_failing_row_gets_pandera_s_report_naming_the_column(model, compiled):
    example = model.bundle.input_example["rows"][:3]
    bounded = [c for c in compiled.numeric if c.bounds.low is not None]
    if not bounded:
        pytest.skip("the contract has no lower bound on a numeric input, so no value can be below one")
    column = bounded[0]
    rows = [dict(r) for r in example]
    rows[1][column.name] = float(column.bounds.low) - 1000
    assert compiled.check_records(rows)[0] == REJECT
    with pytest.raises(DataValidationError) as error:
        model.predict_records(rows, source="POST /predict")
    failures = error.value.report["failures"]
    assert error.value.report["source"] == "POST /predict"
    assert [f["column"] for f in failures] == [column.name]
    assert failures[0]["rows"] == 1 and failures[0]["examples"][0]["row"] == 1
    assert column.name in str(error.value)


def test_a_missing_column_and_a_lone_surrogate_are_reports_not_crashes(model):
    rows = [dict(r) for r in model.bundle.input_example["rows"][:2]]
    first = model.bundle.features[0]
    with pytest.raises(DataValidationError, match="column_in_dataframe") as error:
        model.predict_records([{k: v for k, v in r.items() if k != first} for r in rows])
    assert first in str(error.value)
    rows[0][first] = "\ud800"  # JSON can carry one ("\\ud800"); pandas' Arrow strings cannot
    with pytest.raises(DataValidationError) as error:
        model.predict_records(rows)
    assert first in [f["column"] for f in error.value.report["failures"]]


@pytest.mark.parametrize(
    "records, message",
    [
        ([], "no records to score"),
        ({"a": 1}, "expected a list of records"),
        ([{"a": 1}, 5], "record 1 is int, not an object"),
        ([{1: 2}], "record 0 has the key 1, which is not text"),
    ],
)
def test_predict_records_refuses_what_is_not_a_list_of_records(model, records, message):
    with pytest.raises(DataError, match=message):
        model.predict_records(records)


def test_predict_records_has_the_row_limit_of_predict(model):
    rows = model.bundle.input_example["rows"][:5]
    with pytest.raises(DataError, match=r"5 rows, more than the limit of 4 rows"):
        model.predict_records(rows, max_rows=4)
    assert len(model.predict_records(rows, max_rows=5)["prediction"]) == 5


def test_predict_records_answers_in_plain_json_what_predict_writes(model, validated, settings):
    rows = validated.frame[list(settings.data.features)].head(7)
    records = json.loads(rows.to_json(orient="records", date_format="iso"))  # as a client sends them
    answer = model.predict_records(records)
    assert json.loads(json.dumps(answer)) == answer, "plain JSON types only"
    scored = model.predict(pd.DataFrame.from_records(records))
    assert answer["prediction"] == scored["prediction"].tolist()
    if model.bundle.task == "classification":
        assert list(answer["probabilities"]) == [str(cls) for cls in model.bundle.classes]  # JSON keys are text
        for cls, values in answer["probabilities"].items():
            assert values == scored[f"probability_{cls}"].tolist()
    else:
        assert set(answer) == {"prediction"}


def test_predict_on_a_frame_as_read_from_files_matches_the_pandera_path(model, validated, settings):
    bundle = model.bundle
    rows = validated.frame[list(settings.data.features)].sample(20, random_state=1).assign(order=range(20))
    checked = bundle.validate_input(rows, "test")
    pd.testing.assert_frame_equal(model.predict(rows), predictions_frame(bundle, checked, bundle.run(checked)))
    typed = rows.astype({c: object for c in rows.columns if c not in bundle.numeric})  # object, not str
    checked = bundle.validate_input(typed, "test")
    pd.testing.assert_frame_equal(model.predict(typed), predictions_frame(bundle, checked, bundle.run(checked)))


def test_a_large_frame_as_read_from_files_is_checked_as_arrays_and_predicts_as_the_pandera_path(
    model, validated, settings
):
    """More rows than the value-by-value check takes: the vectorised check accepts them, the answer is the
    pandera path's; one value out of range or a gap where none is allowed gets pandera's full report."""
    from modelkeel.runtime.precheck import FAST_FRAME_ROWS

    bundle, check = model.bundle, model.bundle.precheck
    rows = validated.frame[list(settings.data.features)].sample(FAST_FRAME_ROWS * 3, replace=True, random_state=2)
    rows = rows.assign(order=range(len(rows)))
    assert check.check_typed_frame(rows)[0] == ACCEPT, rows.dtypes
    checked = bundle.validate_input(rows, "test")
    pd.testing.assert_frame_equal(model.predict(rows), predictions_frame(bundle, checked, bundle.run(checked)))
    bounded = [c for c in check.numeric if c.bounds.low is not None]
    strict = [c for c in check.categorical if not c.nullable and not c.boolean]
    cases = [*((c.name, float(c.bounds.low) - 1) for c in bounded[:1]), *((c.name, None) for c in strict[:1])]
    assert cases, "the test contracts bound a number and forbid a gap in a category"
    for name, value in cases:
        bad = rows.copy()
        bad.iloc[5, bad.columns.get_loc(name)] = value
        assert check.check_typed_frame(bad)[0] == REJECT
        with pytest.raises(DataValidationError) as error:
            model.predict(bad)
        with pytest.raises(DataValidationError) as expected:
            bundle.validate_input(bad, "input")
        assert error.value.report == expected.value.report
        assert [f["column"] for f in error.value.report["failures"]] == [name]


def test_the_contracts_the_template_writes_compile(settings, toy_settings, tmp_path):
    """The penguins contract and one infer-schema writes (numbers with gaps, a category, a time) compile."""
    import importlib.util

    from modelkeel.data.infer import (
        plan,
        render_module,
    )

    frame = toy_frame(toy_settings.task)
    frame["when"] = frame["when"].dt.strftime("%Y-%m-%dT%H:%M")
    path = tmp_path / "inferred.py"
    path.write_text(render_module(plan(frame, "target", toy_settings.task), "toy.csv"))
    spec = importlib.util.spec_from_file_location("inferred", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    inferred = module.Schema.to_schema()
    inputs = toy_settings.data.inputs
    narrowed = inferred.remove_columns([c for c in inferred.columns if c not in inputs.raw])
    narrowed.strict = False
    check = compile_schema(narrowed, inputs)
    assert check.compiled, check.fallback
    assert {c.name for c in check.time} == {"when"} and check.check_records(
        json.loads(frame.head(5).to_json(orient="records"))
    )[0] in (ACCEPT, REJECT)
    if True:  # the fixed project's penguins contract
        from modelkeel.data.contract import load_schema_model

        schema = load_schema_model(settings).to_schema()
        features = ("bill_length_mm", "island", "sex")
        narrowed = schema.remove_columns([c for c in schema.columns if c not in features])
        narrowed.strict = False
        check = compile_schema(narrowed, ModelInputs(numeric=("bill_length_mm",), categorical=("island", "sex")))
        assert check.compiled, check.fallback


def test_time_text_in_every_compiled_form_gives_pandas_calendar_parts():
    from modelkeel.runtime.calendar import calendar_parts
    from modelkeel.runtime.precheck import (
        _calendar,
        _instants,
    )

    texts = [
        "2024-03-05",
        "2024-03-05T14:30",
        "2024-03-05 14:30:59",
        "2024-03-05T23:59:59.999999999",
        "2024-12-31T23:30-01:00",  # the next year in UTC
        "2024-03-01T00:30+0100",  # the day before, in a leap year
        "1678-01-01T00:00Z",
        "2261-12-31T23:59",
    ]
    expected = calendar_parts(pd.Series(texts, dtype=object), "t", PARTS)
    for i, text in enumerate(texts):
        assert _calendar(text, PARTS) == tuple(float(expected[f"t.{p}"][i]) for p in PARTS), text
    instants = pd.to_datetime(pd.Series([*texts, None], dtype=object), format="ISO8601", utc=True)
    expected_instants = instants.dt.tz_localize(None).astype("datetime64[ns]")
    pd.testing.assert_series_equal(pd.Series(_instants([*texts, None])), expected_instants)
    moment = datetime(2024, 12, 31, 23, 30) + timedelta(hours=1)
    assert _calendar("2024-12-31T23:30-01:00", ("year", "day_of_year")) == (moment.year, 1.0)
