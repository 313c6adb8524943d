"""The person's half of the loop: a challenger kept in the data store until a person releases or rejects it,
and batches judged once, never again.

Tests that take `store_url` run on a local folder and on a real S3 server on loopback (SeaweedFS)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from modelkeel.bundle.reader import open_bundle
from modelkeel.data.contract import load_schema_model
from modelkeel.data.store import DataStore
from modelkeel.errors import CorruptObject, DataStoreError
from modelkeel.loop import approval, run
from modelkeel.loop.demo import SHIFTED, demo_batches
from modelkeel.loop.ingest import Batch, ingest
from modelkeel.loop.outcome import Outcome
from modelkeel.loop.report import LoopResult, report_markdown
from modelkeel.settings import PathSettings, load_settings
from modelkeel.stages.validate import validate

from ..conftest import PROJECT_ROOT

RUN_1 = approval.RunInfo("1001", "https://github.com/o/p/actions/runs/1001")
RUN_2 = approval.RunInfo("1002", "https://github.com/o/p/actions/runs/1002")


@pytest.fixture(scope="module")
def project():
    """The fixed project's classification settings (a random forest: a shifted batch makes it lose)."""
    return load_settings(PROJECT_ROOT / "params.yaml")


@pytest.fixture(scope="module")
def champion_dir(project, tmp_path_factory):
    from modelkeel.stages.pipeline import run_pipeline

    scratch = tmp_path_factory.mktemp("champion")
    isolated = project.model_copy(
        update={"paths": PathSettings(artifacts=str(scratch / "artifacts"), dist=str(scratch / "dist"))}
    )
    return run_pipeline(isolated).bundle.folder


@pytest.fixture(scope="module")
def batch_files(project, tmp_path_factory):
    """The demo's batches made from the project's data: name -> path."""
    folder = tmp_path_factory.mktemp("batches")
    made = demo_batches(project, validate(project).frame, load_schema_model(project).to_schema())
    return {b.name: b.write(folder) for b in made}


def open_store(where) -> DataStore:
    return DataStore(where.url, where.storage_options)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def waiting(project, champion_dir, batch_path, version="0.2.0", reasons=("no trusted evaluation set",)):
    """A needs-approval result whose challenger is the pipeline's bundle (as version `version`) and whose one new
    batch is `batch_path`."""
    import tempfile
    from pathlib import Path

    from ..conftest import released_as

    folder = released_as(champion_dir, version, Path(tempfile.mkdtemp(dir=batch_path.parent)))
    batch = Batch(str(batch_path), sha(batch_path), 10, True)
    return LoopResult(
        champion="0.1.0",
        outcome=Outcome.NEEDS_APPROVAL,
        reasons=reasons,
        batches=(batch,),
        challenger_version=version,
        challenger_bundle=str(folder),
        challenger=open_bundle(folder),
    )


def record(store, name) -> dict | None:
    data = store.get_record(name)
    return None if data is None else json.loads(data)


def test_a_kept_challenger_comes_back_byte_for_byte_by_version_or_run_id(
    project, champion_dir, batch_files, store_url, tmp_path
):
    store = open_store(store_url)
    result = waiting(project, champion_dir, batch_files[SHIFTED])
    kept = approval.keep_challenger(project, result, store, RUN_1)

    original = {p.name: sha(p) for p in result.challenger.folder.iterdir()}
    assert {name: entry["sha256"] for name, entry in kept["files"].items()} == original
    assert kept["version"] == "0.2.0" and kept["champion"] == "0.1.0" and kept["run"] == "1001"
    assert kept["run_url"] == RUN_1.url and kept["reasons"] == ["no trusted evaluation set"]
    assert kept["batches"] == [{"sha256": sha(batch_files[SHIFTED]), "path": str(batch_files[SHIFTED]), "rows": 10}]
    assert record(store, "challengers/0.2.0.json") == kept
    assert record(store, "runs/1001.json")["version"] == "0.2.0"
    assert kept["manifest_sha256"] == result.challenger.lineage["data_manifest"]["sha256"]
    assert all(store.has(entry["sha256"]) for entry in kept["data"]), "its data is in the store"
    assert store.records("manifests") == [], "no release's manifest record: only its own record keeps the data"
    assert kept["checksums_sha256"] == sha(result.challenger.folder / "SHA256SUMS")
    pending = record(store, f"judged/{sha(batch_files[SHIFTED])}.json")
    assert pending["decision"] == "pending" and pending["version"] == "0.2.0" and pending["run"] == "1001"

    for ref, dest in (("0.2.0", tmp_path / "by-version"), ("v0.2.0", tmp_path / "by-tag"), ("1001", tmp_path / "run")):
        got, bundle = approval.fetch_challenger(store, ref, dest)
        assert got == kept and bundle.folder == dest / f"{kept['name']}-0.2.0" and bundle.version == "0.2.0"
        assert {p.name: sha(p) for p in bundle.folder.iterdir()} == original
        tarball = dest / f"{kept['name']}-0.2.0.tar.gz"
        assert (tarball.with_name(tarball.name + ".sha256")).read_text().split()[0] == sha(tarball)


def test_a_corrupted_object_is_refused_and_nothing_lands_in_dist(project, champion_dir, batch_files, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    kept = approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    model = store.key(kept["files"]["model.onnx"]["sha256"])
    from pathlib import Path

    data = bytearray(Path(model).read_bytes())
    data[100] ^= 1
    Path(model).write_bytes(bytes(data))
    with pytest.raises(CorruptObject, match="refused"):
        approval.fetch_challenger(store, "0.2.0", tmp_path / "dist")
    assert not (tmp_path / "dist").exists() or not any(p.name.endswith("0.2.0") for p in (tmp_path / "dist").iterdir())


def test_a_record_naming_another_version_than_its_bundle_is_refused(project, champion_dir, batch_files, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    kept = approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    store.put_record("challengers/0.3.0.json", json.dumps({**kept, "version": "0.3.0"}).encode())
    from modelkeel.errors import VerificationError

    with pytest.raises(VerificationError, match=r"says it is version 0\.2\.0"):
        approval.fetch_challenger(store, "0.3.0", tmp_path / "dist")
    assert not (tmp_path / "dist" / f"{kept['name']}-0.3.0").exists()
    store.put_record("challengers/0.4.0.json", json.dumps(kept).encode())  # a record kept under another name
    with pytest.raises(VerificationError, match=r"challengers/0\.4\.0\.json records challenger 0\.2\.0; refused"):
        approval.fetch_challenger(store, "0.4.0", tmp_path / "dist")


def test_unknown_references_are_clear_errors_that_list_what_waits(project, champion_dir, batch_files, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    with pytest.raises(DataStoreError, match=r"no challenger 0\.2\.0 waits.*waiting for a person: none"):
        approval.find(store, "0.2.0")
    approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    with pytest.raises(DataStoreError, match=r"no challenger 0\.9\.0 waits.*0\.2\.0 \(run 1001\)"):
        approval.find(store, "0.9.0")
    with pytest.raises(DataStoreError, match=r"no run 77 kept a challenger"):
        approval.find(store, "77")
    with pytest.raises(DataStoreError, match=r"names no challenger: give its version"):
        approval.find(store, "../../etc/passwd")


def test_one_challenger_of_a_version_waits_at_a_time_so_a_decision_names_exactly_one(
    project, champion_dir, batch_files, tmp_path
):
    store = DataStore(str(tmp_path / "store"))
    first = approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    later = waiting(project, champion_dir, batch_files["1_unchanged"])
    assert approval.keep_challenger(project, later, store, RUN_2) is None, "not kept while 0.2.0 waits"
    assert approval.find(store, "0.2.0") == first and store.get_record("runs/1002.json") is None
    assert approval.judged_batches(store) == {sha(batch_files[SHIFTED])}, "the later run's batch stays new"
    approval.reject(store, "1001", RUN_1)
    assert approval.keep_challenger(project, later, store, RUN_2)["run"] == "1002", "kept once the first is decided"


def test_a_digest_other_than_the_kept_one_is_refused(project, champion_dir, batch_files, tmp_path):
    from modelkeel.errors import VerificationError

    store = DataStore(str(tmp_path / "store"))
    kept = approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    with pytest.raises(VerificationError, match="is not the one reviewed"):
        approval.fetch_challenger(store, "0.2.0", tmp_path / "dist", digest="0" * 64)
    assert not (tmp_path / "dist").exists()
    _, bundle = approval.fetch_challenger(store, "0.2.0", tmp_path / "dist", digest=kept["checksums_sha256"].upper())
    assert bundle.version == "0.2.0"


def test_rejecting_records_the_batches_as_judged_and_ends_the_wait(project, champion_dir, batch_files, store_url):
    store = open_store(store_url)
    kept = approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    objects = {s.sha256 for s in store.objects()}
    person = approval.RunInfo("2001", "https://github.com/o/p/actions/runs/2001")
    assert approval.reject(store, "1001", person) == kept
    judged = record(store, f"judged/{sha(batch_files[SHIFTED])}.json")
    assert judged["decision"] == "rejected" and judged["version"] == "0.2.0" and judged["run"] == "2001"
    assert store.get_record("challengers/0.2.0.json") is None and store.get_record("runs/1001.json") is None
    assert {s.sha256 for s in store.objects()} == objects, "the objects stay for gc"
    assert approval.judged_batches(store) == {sha(batch_files[SHIFTED])}
    with pytest.raises(DataStoreError, match=r"no challenger 0\.2\.0 waits \(it was rejected"):
        approval.find(store, "0.2.0")
    assert approval.pending(store) == []


def test_a_released_challenger_is_judged_approved(project, champion_dir, batch_files, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)
    approval.released(store, "v0.2.0", RUN_2)
    assert record(store, f"judged/{sha(batch_files[SHIFTED])}.json")["decision"] == "approved"
    assert approval.pending(store) == [] and store.records("runs") == []


def test_settle_judges_a_kept_champions_batches_and_leaves_other_outcomes_alone(project, batch_files, tmp_path):
    store = DataStore(str(tmp_path / "store"))
    batch = Batch("data/incoming/b.csv", sha(batch_files[SHIFTED]), 5, True)
    seen = Batch("data/incoming/a.csv", "a" * 64, 5, False)
    for outcome in (Outcome.PROMOTE, Outcome.NO_RETRAIN, Outcome.NOTHING_NEW, Outcome.REFUSED):
        assert approval.settle(project, LoopResult("0.1.0", outcome, batches=(batch,)), store, RUN_1) is None
    assert approval.judged_batches(store) == frozenset()
    from modelkeel.loop.challenger import Scores

    def kept(rows: int, challenger: float) -> LoopResult:
        scores = Scores("f1_macro", rows, 0.9, challenger, 0.01, (-0.1, 0.05), min_rows=20)
        return LoopResult(
            "0.1.0", Outcome.KEEP_CHAMPION, batches=(seen, batch), challenger_version="0.2.0", scores=scores
        )

    approval.settle(project, kept(rows=5, challenger=0.8), store, RUN_1)  # too few rows: no evidence either way
    approval.settle(project, LoopResult("0.1.0", Outcome.KEEP_CHAMPION, batches=(batch,)), store, RUN_1)  # a gate
    assert approval.judged_batches(store) == frozenset(), "kept for want of evidence: judged again with more rows"
    approval.settle(project, kept(rows=50, challenger=0.8), store, RUN_1)  # lost on enough rows
    assert approval.judged_batches(store) == {batch.sha256}, "only the batches this run judged"
    assert record(store, f"judged/{batch.sha256}.json")["decision"] == "kept-champion"


def test_the_run_that_runs_in_actions_is_named_by_its_id_and_url():
    env = {"GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "o/p", "GITHUB_SERVER_URL": "https://ghe.example"}
    assert approval.RunInfo.from_env(env) == approval.RunInfo("42", "https://ghe.example/o/p/actions/runs/42")
    assert approval.RunInfo.from_env({"GITHUB_RUN_ID": "../x"}) == approval.RunInfo()
    assert approval.RunInfo.from_env({}) == approval.RunInfo()


def test_ingest_takes_a_judged_batch_for_not_new(project, champion_dir, batch_files, tmp_path):
    s = project.model_copy(update={"retrain": project.retrain.model_copy(update={"source": str(batch_files[SHIFTED])})})
    champion = open_bundle(champion_dir)
    [fresh] = ingest(s, champion, tmp_path / "a")
    assert fresh.new and not fresh.judged
    [again] = ingest(s, champion, tmp_path / "b", frozenset({fresh.sha256}))
    assert not again.new and again.judged


def loop_settings(project, tmp_path, batch_files, *names):
    """The project copied to tmp_path (its batches must be inside it: the data store keeps only what a rebuild can
    put back), with batches in data/incoming."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    incoming = root / "data" / "incoming"
    incoming.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(batch_files[name], incoming / f"{name}.csv")
    return project.model_copy(
        update={
            "root": root,
            "paths": PathSettings(artifacts="artifacts", dist="dist"),
            "retrain": project.retrain.model_copy(update={"source": "data/incoming/*.csv", "trusted": None}),
        }
    )


def test_a_challenger_that_waits_is_kept_and_its_batch_is_not_judged_again_until_a_person_decides(
    project, champion_dir, batch_files, tmp_path
):
    """The loop itself: without a trusted set a winning challenger needs approval; it is kept, and the next runs
    find nothing new, before and after a person rejects it."""
    store = DataStore(str(tmp_path / "store"))
    s = loop_settings(project, tmp_path, batch_files, SHIFTED)
    champion = open_bundle(champion_dir)
    first = run.run_loop(s, champion, judged=approval.judged_batches(store))
    assert first.outcome == "needs-approval" and first.challenger is not None, first.reasons
    kept = approval.settle(s, first, store, RUN_1)
    assert kept is not None and kept["version"] == first.challenger_version
    assert [b["sha256"] for b in kept["batches"]] == [b.sha256 for b in first.new]

    waits = run.run_loop(s, champion, judged=approval.judged_batches(store))
    assert waits.outcome == "nothing-new" and waits.skipped_as_judged == 1, waits.reasons
    assert "nor one judged before (1 skipped as judged)" in waits.reasons[-1]
    report = report_markdown(waits, s.quality.primary_metric)
    assert "Batches skipped as judged: 1" in report and "| judged before |" in report
    assert json.loads((run.state_dir(s) / run.LOOP_FILE).read_text())["skipped_as_judged"] == 1

    approval.reject(store, first.challenger_version, RUN_2)
    after = run.run_loop(s, champion, judged=approval.judged_batches(store))
    assert after.outcome == "nothing-new" and after.skipped_as_judged == 1


def test_the_challenger_command_lists_fetches_and_rejects(project, champion_dir, batch_files, tmp_path, capsys):
    from modelkeel.cli.main import main

    root = tmp_path / "project"
    root.mkdir()
    (root / "data").symlink_to(PROJECT_ROOT / "data")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / "params.yaml", root / "params.yaml")
    params = str(root / "params.yaml")
    store = DataStore(str(root / ".data-store"))  # data_store.url's default, beside params.yaml
    approval.keep_challenger(project, waiting(project, champion_dir, batch_files[SHIFTED]), store, RUN_1)

    assert main(["--params", params, "challenger", "list"]) == 0
    assert "0.2.0" in capsys.readouterr().out
    store.put_record("challengers/0.3.0.json", b"{not json")  # one broken record hides none of the others
    assert main(["--params", params, "challenger", "list"]) == 1
    listed = capsys.readouterr().out
    assert "0.2.0" in listed and "unreadable: " in listed and "0.3.0.json" in listed
    with pytest.raises(DataStoreError, match=r"0\.2\.0 \(run 1001\); 1 unreadable record\(s\).*0\.3\.0\.json"):
        approval.find(store, "0.9.0")
    store.remove_record("challengers/0.3.0.json")
    outputs = tmp_path / "outputs"
    assert main(["--params", params, "challenger", "fetch", "1001", "--outputs", str(outputs)]) == 0
    assert outputs.read_text() == "version=0.2.0\ntag=v0.2.0\nrun=1001\n"
    name = json.loads(store.get_record("challengers/0.2.0.json"))["name"]
    assert open_bundle(root / "dist" / f"{name}-0.2.0").version == "0.2.0"
    assert main(["--params", params, "challenger", "reject", "0.2.0"]) == 0
    assert main(["--params", params, "challenger", "fetch", "0.2.0"]) == 1
    assert "no challenger 0.2.0 waits (it was rejected" in capsys.readouterr().err
