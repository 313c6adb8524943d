"""One LocalCluster for the cluster tests (each costs seconds to start): `dask_cluster`, two worker processes.

Tests that break a cluster (kill a worker, patch what workers run) start their own with `dask_settings`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelkeel.cluster.session import Cluster, open_cluster
from modelkeel.settings import ComputeSettings, DaskSettings, Settings, load_settings

from ..conftest import PROJECT_ROOT


def dask_settings(settings: Settings | None = None, **dask) -> Settings:
    """`settings` (default: the fixed project's) with compute.engine dask and compute.dask as given."""
    base = settings if settings is not None else load_settings(PROJECT_ROOT / "params.yaml")
    return base.model_copy(update={"compute": ComputeSettings(engine="dask", dask=DaskSettings(**dask))})


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Cluster]:
    """A LocalCluster of two single-threaded workers, shared by the session's cluster tests, shut down after."""
    with open_cluster(dask_settings(n_workers=2, threads_per_worker=1, memory_limit="1GiB")) as cluster:
        yield cluster
