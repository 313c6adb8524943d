"""The model being served: warmed before it serves, swapped atomically, reloaded from a real folder registry.

Given a local fsspec registry with 0.1.0 being served, when 0.2.0 is published the reload swaps it
in; when a tampered 0.3.0 is published the reload refuses it, counts the failure, and 0.2.0 keeps
answering.
"""

import json
import re
import time

import pytest

from modelkeel.bundle.checksums import render
from modelkeel.bundle.reader import open_bundle
from modelkeel.errors import VerificationError
from modelkeel.registry.folder import FolderRegistry
from modelkeel.runtime.model import Model
from modelkeel.serve.app import create_app
from modelkeel.serve.holder import (
    ModelHolder,
    Reloader,
    prepare,
)
from modelkeel.settings import ServeSettings

from ..conftest import released_as
from .conftest import (
    TestClient,
    breaking_value,
    samples,
)


@pytest.fixture()
def registry(signed_bundle_dir, release_key, tmp_path, monkeypatch):
    """A folder registry holding 0.1.0, read with its signer (registry.signer), and a holder serving it as
    fetched from there; publishing signs with the signer's key ($MODEL_SIGNING_KEY), as releases are."""
    monkeypatch.setenv("MODEL_SIGNING_KEY", release_key.private.read_text())
    registry = release_key.on(FolderRegistry(str(tmp_path / "registry")))
    registry.publish(open_bundle(signed_bundle_dir))
    holder = ModelHolder(prepare(Model(registry.fetch("latest", tmp_path / "cache")), "registry 0.1.0"))
    return registry, holder


def publish(registry, bundle_dir, version, parent):
    registry.publish(open_bundle(released_as(bundle_dir, version, parent)))  # signed by publish


def reloads(holder) -> dict[str, float]:
    registry = holder.metrics.registry
    return {
        o: registry.get_sample_value("serve_model_reloads_total", dict(outcome=o))
        for o in ("swapped", "unchanged", "failed")
    }


def test_a_new_release_is_swapped_in_and_a_tampered_one_is_refused_while_the_old_keeps_serving(
    registry, bundle_dir, rows, tmp_path
):
    registry, holder = registry
    reloader = Reloader(holder, registry, tmp_path / "cache", every=60)
    client = TestClient(create_app(holder, ServeSettings()))
    assert reloader.check() == "unchanged" and holder.version == "0.1.0"

    publish(registry, bundle_dir, "0.2.0", tmp_path)
    assert reloader.check() == "swapped" and holder.version == "0.2.0"
    answer = client.post("/predict", json=rows[0])
    assert answer.json()["version"] == answer.headers["x-model-version"] == "0.2.0"

    publish(registry, bundle_dir, "0.3.0", tmp_path)
    (tmp_path / "registry" / "0.3.0" / "metrics.json").write_text("{}")  # tampered after publishing
    assert reloader.check() == "failed" and holder.version == "0.2.0"
    assert reloader.check() == "failed", "tried again on the next check, refused again"
    answer = client.post("/predict", json=rows[0])
    assert answer.status_code == 200 and answer.json()["version"] == "0.2.0"
    assert reloads(holder) == {"swapped": 1, "unchanged": 1, "failed": 2}
    found = samples(client)
    assert found["serve_model_reloads_total", (("outcome", "failed"),)] == 2
    assert found["serve_model_info", (("version", "0.2.0"),)] == 1
    assert ("serve_model_info", (("version", "0.1.0"),)) not in found, "the old version is no longer served"
    assert not (tmp_path / "cache" / "0.3.0").exists(), "nothing refused is kept in the cache"


def test_the_reload_runs_on_its_schedule_while_the_app_serves(registry, bundle_dir, rows, tmp_path):
    registry, holder = registry
    reloader = Reloader(holder, registry, tmp_path / "cache", every=0.05)
    with TestClient(create_app(holder, ServeSettings(), reloader)) as client:  # the lifespan starts the schedule
        publish(registry, bundle_dir, "0.2.0", tmp_path)
        deadline = time.monotonic() + 30
        while client.get("/health").json()["version"] != "0.2.0":
            assert time.monotonic() < deadline, "the scheduled reload never swapped in 0.2.0"
            time.sleep(0.05)
        assert client.post("/predict", json=rows).json()["version"] == "0.2.0"
    assert reloads(holder)["swapped"] == 1


def test_an_unreachable_registry_is_a_failed_reload_and_nothing_else(registry, tmp_path):
    _, holder = registry
    gone = FolderRegistry(str(tmp_path / "nowhere"))  # no release at all
    gone.signer = registry[0].signer
    assert Reloader(holder, gone, tmp_path / "cache", every=60).check() == "failed"
    assert holder.version == "0.1.0" and reloads(holder)["failed"] == 1


def test_a_bundle_whose_own_example_does_not_score_is_not_served(bundle_dir, tmp_path, served):
    column, value = breaking_value(served.model.bundle)
    broken = released_as(bundle_dir, "0.9.0", tmp_path)
    example = json.loads((broken / "input_example.json").read_text())
    example["rows"][0][column] = value
    (broken / "input_example.json").write_text(json.dumps(example))
    (broken / "SHA256SUMS").write_text(render(broken))  # checksummed: only the warm-up can tell
    with pytest.raises(VerificationError, match=r"(?s)input example does not score.*" + re.escape(column)):
        prepare(Model(open_bundle(broken)), "broken")


def test_a_swap_replaces_the_one_reference_and_the_version_it_reports(served, bundle_dir, tmp_path):
    holder = ModelHolder(served)
    newer = prepare(Model(open_bundle(released_as(bundle_dir, "0.2.0", tmp_path))), "newer")
    taken = holder.current  # what a request in flight holds
    assert holder.swap(newer) is served
    assert holder.current is newer and holder.version == "0.2.0" and taken.version == served.version


def test_a_release_start_up_would_refuse_is_never_swapped_in(registry, bundle_dir, rows, tmp_path, caplog):
    """Unsigned, signed by another key, or another project's self-consistent bundle under this version: each is
    refused by the same signer start-up used, logged, and the old model keeps answering."""
    import shutil

    from modelkeel.bundle.signing import make_key_pair, sign

    registry, holder = registry
    reloader = Reloader(holder, registry, tmp_path / "cache", every=60)
    client = TestClient(create_app(holder, ServeSettings()))
    unsigned = released_as(bundle_dir, "0.2.0", tmp_path / "unsigned")  # checksummed, not signed
    shutil.copytree(unsigned, tmp_path / "registry" / "0.2.0")  # placed by someone who can write the folder
    foreign = released_as(bundle_dir, "0.3.0", tmp_path / "foreign")
    lineage = json.loads((foreign / "lineage.json").read_text())
    lineage["name"] = "another-project"
    (foreign / "lineage.json").write_text(json.dumps(lineage))
    (foreign / "SHA256SUMS").write_text(render(foreign))  # self-consistent, and signed with its own key
    other, _ = make_key_pair(tmp_path / "other")
    with caplog.at_level("WARNING", logger="modelkeel.serve.holder"):
        assert reloader.check() == "failed" and holder.version == "0.1.0"
        assert "bundle.sig is missing" in caplog.text
        sign(foreign, other)
        shutil.copytree(foreign, tmp_path / "registry" / "0.3.0")
        assert reloader.check() == "failed" and holder.version == "0.1.0"
        assert "not a valid signature of the expected signer" in caplog.text
    answer = client.post("/predict", json=rows[0])
    assert answer.status_code == 200 and answer.json()["version"] == "0.1.0"
    assert answer.headers["x-model-signature"] == "verified"
    assert reloads(holder)["failed"] == 2 and not (tmp_path / "cache" / "0.3.0").exists()


def test_a_reloader_needs_a_signer(registry, tmp_path):
    registry, holder = registry
    registry.signer = None
    with pytest.raises(VerificationError, match=r"no signer is configured"):
        Reloader(holder, registry, tmp_path / "cache", every=60)
