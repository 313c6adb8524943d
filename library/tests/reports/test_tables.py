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
