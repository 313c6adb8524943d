"""Markdown tables: every metric and gate, directions from the metric table, comparisons with a release."""

from modelkeel.reports.tables import (
    comparison_table,
    metrics_table,
    report_markdown,
)


def test_the_metrics_table_shows_every_metric_and_gate_with_its_direction(metrics, settings):
    lines = metrics_table(metrics, settings.quality.slice_min_rows)
    text = "\n".join(lines)
    for metric in metrics["test"]:
        assert f"| {metric} |" in text or f"| **{metric}** |" in text
    bound = ">=" if settings.quality.higher_is_better else "<="
    assert f"| {settings.quality.primary_metric} on test |" in text and f"{bound} {settings.quality.threshold}" in text
    assert sum(" on slice " in line for line in lines) == len(metrics["gates"]["slices"])


def test_a_comparison_says_which_way_each_change_went():
    ours = {"primary_metric": "rmse", "test": dict(rmse=1.0, r2=0.5)}
    theirs = {"test": dict(rmse=2.0, r2=0.75)}
    rows = {line.split("|")[1].strip(): line for line in comparison_table(ours, theirs, "v0.1.0")[2:]}
    assert rows["**rmse**"].endswith("-1.0000 (better) |"), "lower rmse is better"
    assert rows["r2"].endswith("-0.2500 (worse) |"), "lower r2 is worse"
    assert "n/a" in comparison_table(ours, {"test": dict()}, "v0.1.0")[2]


def test_the_report_adds_the_comparison_or_says_why_there_is_none(metrics, settings):
    plain = report_markdown(metrics, settings.quality.slice_min_rows)
    assert plain.startswith(f"### {metrics['model']} ({metrics['task']})")
    noted = report_markdown(metrics, settings.quality.slice_min_rows, "No published release yet.")
    assert noted.endswith("No published release yet.")
    compared = report_markdown(metrics, settings.quality.slice_min_rows, ("release v0.1.0", metrics))
    assert "#### Compared with release v0.1.0" in compared


def test_values_from_data_are_inert_in_a_cell():
    from modelkeel.reports.tables import CELL_LIMIT, cell

    hostile = (
        "@octo-org/admins <img src=x onerror=alert(1)> | [click](https://evil.example) `x` www.evil.example "
        "other/repo#12\n**bold**"
    )
    shown = cell(hostile, 400)
    zw = "\u200b"
    assert "@octo" not in shown and f"@{zw}octo-org" in shown, "no mention reaches anyone (GitHub decodes &#64;)"
    assert "<" not in shown and ">" not in shown and "\n" not in shown
    assert "| " not in shown.replace("\\| ", ""), "a pipe cannot end the cell"
    assert f"\\[click\\](https:{zw}//evil" in shown and "\\`x\\`" in shown, "no link, no code span"
    assert f"www{zw}.evil" in shown and f"repo#{zw}12" in shown, "no autolink, no cross-reference"
    long = cell("x" * 500)
    assert len(long) == CELL_LIMIT and long.endswith("…")
    assert cell("plain name_1 (m²)") == "plain name_1 (m²)", "ordinary names read as they are"


def test_a_slice_that_misses_its_bar_shows_its_interval_and_whether_it_fails_beyond_it():
    slice_gate = {"column": "carrier", "rows": 20, "metric": "mae", "threshold": 25.6, "gated": True}
    slice_gate |= {"measured": 29.912239061046318, "confidence": 0.95}
    metrics = {
        "primary_metric": "mae",
        "higher_is_better": False,
        "train": {"mae": 1.0},
        "test": {"mae": 2.0},
        "baseline": {"test": {"mae": 3.0}},
        "gates": {
            "threshold": {"value": 2.0, "threshold": 5.0, "passed": True},
            "baseline": {"value": 2.0, "baseline": 3.0, "min_improvement": 0.5, "passed": True},
            "slices": [
                {**slice_gate, "value": "HA", "interval": [18.21, 41.6], "passed": True},
                {**slice_gate, "value": "UA", "rows": 2000, "interval": [27.5, 32.3], "passed": False},
            ],
        },
    }
    rows = [line for line in metrics_table(metrics, 10) if " on slice " in line]
    assert rows == [
        "| mae on slice carrier=HA (20 rows) | 29.9122 (95 % interval 18.21 to 41.6) | <= 25.6 | yes (within its "
        "uncertainty) |",
        "| mae on slice carrier=UA (2000 rows) | 29.9122 (95 % interval 27.5 to 32.3) | <= 25.6 | **NO** |",
    ]
