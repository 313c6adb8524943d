"""The cluster is opened as compute.dask says, checked against this client's versions, and always closed."""

from __future__ import annotations

import os
import socket
import time

import dask
import pytest

from modelkeel.cluster import session
from modelkeel.errors import ClusterError, SettingsError
from modelkeel.settings import ComputeSettings, DaskSettings


def on(settings, **dask):
    return settings.model_copy(update={"compute": ComputeSettings(engine="dask", dask=DaskSettings(**dask))})


def test_a_local_cluster_is_started_for_the_run_and_shut_down_after_it(settings):
    with session.open_cluster(on(settings, n_workers=2, memory_limit="512MiB")) as cluster:
        facts = cluster.facts()
        assert facts == {"engine": "dask", "cluster": "local", "address": "local", "workers": 2, "threads": 2}
        assert cluster.client.submit(sum, [1, 2]).result() == 3
        # its workers never pause at 80% of memory_limit (a paused worker stalled runs): they are restarted instead
        assert set(cluster.client.run(dask.config.get, "distributed.worker.memory.pause").values()) == {False}
        # and so do the workers their nannies start again (a worker over its limit is restarted); pyarrow's
        # allocator there gives freed memory back
        cluster.client.restart()
        assert set(cluster.client.run(dask.config.get, "distributed.worker.memory.pause").values()) == {False}
        pools = cluster.client.run(os.environ.get, "ARROW_DEFAULT_MEMORY_POOL")
        assert set(pools.values()) == {"system"}
        client = cluster.client
    assert client.status == "closed"


def test_the_cluster_is_shut_down_when_the_work_fails(settings):
    with (
        pytest.raises(RuntimeError, match="the stage broke"),
        session.open_cluster(on(settings, n_workers=1)) as cluster,
    ):
        client = cluster.client
        raise RuntimeError("the stage broke")
    assert client.status == "closed"


def test_an_unreachable_scheduler_is_a_clear_error_within_the_timeout(settings):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    unreachable = on(settings, address=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    with (
        pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s"),
        session.open_cluster(unreachable),
    ):
        pass
    assert time.monotonic() - started < 30


def test_workers_running_other_versions_are_refused_naming_the_package(settings, monkeypatch):
    real = session._local_versions()
    # this client believes it runs another pandas than the workers (which import the real function)
    monkeypatch.setattr(session, "_local_versions", lambda: {**real, "pandas": "0.0.1"})
    with (
        pytest.raises(ClusterError, match=rf"pandas {real['pandas']} on tcp://\S+, 0\.0\.1 here"),
        session.open_cluster(on(settings, n_workers=1)),
    ):
        pass


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        ("ftp://scheduler:8786", "use tcp://HOST:PORT"),
        ("scheduler:8786", "use tcp://HOST:PORT"),
        ("tls://user:secret@scheduler:8786", "credentials"),
        ("https://gateway.example/?token=s3cr3t", "query or fragment"),
    ],
)
def test_an_address_that_is_no_scheduler_or_carries_credentials_is_refused_in_params(address, complaint):
    with pytest.raises(ValueError, match=complaint):
        DaskSettings(address=address)


def test_a_memory_limit_must_be_a_size():
    with pytest.raises(ValueError, match="memory_limit"):
        DaskSettings(memory_limit="lots")


def test_dask_scheduler_address_in_the_environment_names_the_cluster_when_params_name_none(settings, monkeypatch):
    import dask

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setitem(dask.config.config, "scheduler-address", f"tcp://127.0.0.1:{port}")
    named = session.with_address_from_environment(DaskSettings(connect_timeout=1))
    assert named.address == f"tcp://127.0.0.1:{port}" and named.connect_timeout == 1
    assert session.with_address_from_environment(DaskSettings(address="tls://other:8786")).address == "tls://other:8786"
    with (
        pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"),
        session.open_cluster(on(settings, connect_timeout=1)),
    ):
        pass
    monkeypatch.setitem(dask.config.config, "scheduler-address", "ftp://nowhere")
    with pytest.raises(SettingsError, match="DASK_SCHEDULER_ADDRESS"):
        session.with_address_from_environment(DaskSettings())


def test_lineage_and_the_log_name_a_schedulers_scheme_never_its_address(settings, capsys):
    running = session._local_cluster(DaskSettings(n_workers=1, memory_limit="512MiB"))
    try:
        with session.open_cluster(on(settings, address=running.scheduler_address)) as cluster:
            facts = cluster.facts()
        assert facts["address"] == "tcp:// from compute.dask.address" and facts["cluster"] == "scheduler"
        port = running.scheduler_address.rsplit(":", 1)[1]
        assert port not in capsys.readouterr().out
    finally:
        running.close()
