"""Opening the cluster the Dask engine runs on, and always closing it.

`compute.dask.address` null starts a LocalCluster for the run (`n_workers` processes of `threads_per_worker`
threads and `memory_limit` each, its dashboard on a free port) and shuts it down after, whatever happened. A `tcp://` or
`tls://` address connects to an existing scheduler (TLS certificates and keys come from Dask's own
configuration, `DASK_DISTRIBUTED__COMM__TLS__*` in the environment); an `https://` address is a dask-gateway
server (its auth from `DASK_GATEWAY__AUTH__*`), on which a cluster is started and stopped for the run.
With no address in params.yaml, `DASK_SCHEDULER_ADDRESS` in the environment (Dask's own setting; a secret in
Actions) names the scheduler instead, so a workflow can target a cluster without its address in the repository.

Before any work, the cluster must run what this client runs: Dask's own check of the packages both sides
need (python, dask, distributed, cloudpickle, msgpack, ...), then the packages our work unpickles on the
workers (modelkeel, pandas, numpy, pyarrow, pandera, onnxruntime and the model's library). Any mismatch is
a ClusterError naming the package and both versions. An unreachable scheduler is a ClusterError within
`connect_timeout` seconds; a worker lost mid-run (killed, or over its memory limit) surfaces as one from
`run` (below), naming the likely cause.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ClusterError
from ..utils.console import say

if TYPE_CHECKING:
    from ..settings import DaskSettings, Settings

T = TypeVar("T")
LOST_WORKER_CHECK_SECONDS = 5  # while tasks pinned to workers run: how often the workers are counted

# the packages a worker unpickles our tasks with, beyond the ones Dask checks itself
WORKER_PACKAGES = ("modelkeel", "pandas", "numpy", "pyarrow", "pandera", "onnxruntime", "lightgbm", "xgboost")


@dataclass
class Cluster:
    """An open cluster: the Dask client, and what lineage records of it."""

    client: Any  # distributed.Client
    kind: str  # local, scheduler, gateway
    address: str  # where it is, as lineage and the log may show it: "local", or the scheme and where it was named

    def facts(self) -> dict:
        """engine, kind, workers and threads, for lineage; never the scheduler's address itself (a secret in
        Actions when DASK_SCHEDULER_ADDRESS names it): its scheme and where it was named."""
        workers = all_workers(self.client)
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        return {
            "engine": "dask",
            "cluster": self.kind,
            "address": self.address,
            "workers": len(workers),
            "threads": threads,
        }

    def run(self, what: str, call: Callable[[], T], pinned_to: list[str] | None = None) -> T:
        """`call()`, with a lost worker or a broken connection turned into a ClusterError that says `what` failed.

        `pinned_to`: the workers `call`'s tasks are restricted to (the training's placement, LightGBM's and
        XGBoost's own training tasks). Dask never moves such a task, so a worker lost under it (killed, or
        restarted by its nanny at a new address) would leave `call` waiting for ever: `call` then runs in a
        thread while the workers are counted every LOST_WORKER_CHECK_SECONDS, and a lost one ends the wait."""
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        try:
            return call() if pinned_to is None else self._while_present(what, call, pinned_to)
        except KilledWorker as error:
            raise ClusterError(
                f"{what}: a worker died while running it ({error.args[0] if error.args else 'a task'}), and so did "
                "every worker it was retried on: most often a partition larger than a worker's memory "
                "(compute.dask.memory_limit); use smaller files or partitions, or more memory per worker. "
                "Nothing was written."
            ) from None
        except (CommClosedError, TimeoutError) as error:  # a task's own OSError (a file, a permission) is its own
            raise ClusterError(
                f"{what}: the connection to the cluster broke ({type(error).__name__}: {error}); nothing was written"
            ) from None

    def _while_present(self, what: str, call: Callable[[], T], workers: list[str]) -> T:
        """`call()` in a thread, or a ClusterError as soon as one of `workers` has left the cluster (or was
        restarted at the same address: a worker is known by its address and its id)."""
        import threading

        present = all_workers(self.client)
        expected = {address: present.get(address, {}).get("id") for address in workers}
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as error:
                outcome["error"] = error

        def lost() -> str | None:
            now = all_workers(self.client)
            gone = [a for a, id_ in expected.items() if a not in now or now[a].get("id") != id_]
            return sorted(gone)[0] if gone else None

        thread = threading.Thread(target=target, name=f"modelkeel: {what}", daemon=True)
        thread.start()
        while True:
            thread.join(LOST_WORKER_CHECK_SECONDS)
            alive = thread.is_alive()
            # also when `call` failed: the other workers' tasks fail fast once a peer is gone (LightGBM's network)
            gone = lost() if alive or "error" in outcome else None
            if gone is not None:
                raise ClusterError(
                    f"{what}: a worker ({gone}) was lost, and this step's tasks are pinned to their "
                    "workers, so it cannot go on (most often a worker over its memory: compute.dask.memory_limit; "
                    "use smaller files or partitions, or more memory per worker). Nothing was written. On a "
                    "cluster of your own, a LightGBM training task may hold its worker's thread until LightGBM's "
                    "time_out (model.time_out, minutes; 120 by default)."
                ) from None
            if not alive:
                break
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def all_workers(client) -> dict[str, dict]:
    """Every worker's information by address. distributed 2025.4 to 2026.6 list at most five workers unless
    asked for all (`n_workers=-1`, dask/distributed#9308); earlier versions take no such argument."""
    try:
        return client.scheduler_info(n_workers=-1).get("workers", {})
    except TypeError:
        return client.scheduler_info().get("workers", {})


def worker_order(client) -> list[str]:
    """The workers' addresses in a fixed order: by name (a LocalCluster names its workers 0, 1, ...; numbers in
    numeric order), so the same cluster shape gives the same order on every run, whatever the addresses. Where
    partition i is kept (validate.py) and trained (train.py): on the i % n-th of them."""
    workers = all_workers(client)
    if not workers:
        raise ClusterError("the cluster has no workers: start some, or check compute.dask")

    def key(address: str) -> tuple:
        name = workers[address].get("name", address)
        return (0, name, "") if isinstance(name, int) else (1, 0, str(name))

    return sorted(workers, key=key)


def package_versions() -> dict[str, str | None]:
    """The versions of WORKER_PACKAGES where this runs (on each worker, through `client.run`)."""
    from ..bundle.lineage import package_version

    return {name: package_version(name) for name in WORKER_PACKAGES}


def _local_versions() -> dict[str, str | None]:
    """This client's versions."""
    return package_versions()


def check_versions(client) -> None:
    """Dask's own check, then ours: a ClusterError naming every package whose version differs."""
    try:
        client.get_versions(check=True)
    except ValueError as error:  # Dask's mismatch report names each package and the versions on each side
        raise ClusterError(
            "the cluster runs other versions than this client, and tasks would fail to unpickle or act differently: "
            f"{str(error).strip()[:2000]}\nInstall the same versions on the cluster (its image) as in uv.lock."
        ) from None
    here = _local_versions()
    problems = []
    for worker, versions in sorted(client.run(package_versions).items()):
        for name, version in versions.items():
            if version != here.get(name):
                problems.append(f"{name} {version or 'missing'} on {worker}, {here.get(name) or 'missing'} here")
    if problems:
        raise ClusterError(
            "the cluster's workers run other versions than this client: "
            + "; ".join(problems[:20])
            + ". Install the project's locked versions on the cluster (its image), then run again."
        )


def _local_cluster(dask: DaskSettings):
    """A LocalCluster whose workers never pause: Dask pauses a worker at 80% of its memory_limit and waits for
    memory that never frees, so a too-small limit hung the run silently. Unpaused, a worker over the limit is
    restarted by its nanny, its task retried elsewhere, and after `allowed-failures` a KilledWorker ends the run
    with a ClusterError naming memory_limit (`Cluster.run`). The workers take this configuration from here."""
    import copy

    import dask as dask_config
    from distributed import LocalCluster

    settings = {
        "distributed.worker.memory.pause": False,
        # pyarrow's default allocator keeps what it freed: workers sat near their limit and were restarted
        "distributed.nanny.pre-spawn-environ.ARROW_DEFAULT_MEMORY_POOL": "system",
    }
    with dask_config.config.set(settings):
        return LocalCluster(
            n_workers=dask.n_workers,
            threads_per_worker=dask.threads_per_worker,
            memory_limit=dask.memory_limit,
            processes=True,
            dashboard_address=":0",  # None still binds the default 8787; a free port never clashes
            silence_logs=logging.ERROR,
            # the nannies keep this for the workers they restart (without it, a restarted worker paused again)
            config=copy.deepcopy(dask_config.config.config),
        )


def _connect(dask: DaskSettings):
    """(client, closer, kind) for an existing scheduler or a dask-gateway server."""
    from distributed import Client

    address = dask.address or ""
    if address.startswith(("http://", "https://")):
        from ..utils.extras import require

        gateway_module = require("dask_gateway", f"compute.dask.address {address} (a dask-gateway server)")
        cluster = None
        try:
            gateway = gateway_module.Gateway(address)
            cluster = gateway.new_cluster()
            cluster.scale(dask.n_workers)
            return cluster.get_client(), cluster.shutdown, "gateway"
        except Exception as error:  # the gateway's client raises its own errors for auth and HTTP
            if cluster is not None:  # started but not usable: never left running (and billed)
                with contextlib.suppress(Exception):
                    cluster.shutdown()
            raise ClusterError(
                f"cannot start a cluster on the dask-gateway ({type(error).__name__}: {error}): check "
                "compute.dask.address (or DASK_SCHEDULER_ADDRESS) and the gateway's auth settings "
                "(DASK_GATEWAY__AUTH__*)"
            ) from None
    try:
        client = Client(address, timeout=dask.connect_timeout)
    except (OSError, TimeoutError) as error:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} within {dask.connect_timeout:g} s ({type(error).__name__}): "
            "check compute.dask.address (or the secret that sets it) and that the scheduler is up; for TLS, the "
            "DASK_DISTRIBUTED__COMM__TLS__* settings"
        ) from None
    return client, None, "scheduler"


def with_address_from_environment(dask: DaskSettings) -> DaskSettings:
    """compute.dask with the scheduler address Dask's own configuration names when params.yaml names none:
    `DASK_SCHEDULER_ADDRESS` in the environment (a secret in Actions), so a workflow can point a job at an
    existing cluster without the address in the repository. An address in params.yaml wins."""
    if dask.address is not None:
        return dask
    import dask as dask_config

    found = dask_config.config.get("scheduler-address", None) or dask_config.config.get("scheduler_address", None)
    if not found:
        return dask
    from ..errors import SettingsError
    from ..settings import DaskSettings

    try:
        return DaskSettings.model_validate({**dask.model_dump(), "address": str(found)})
    except ValueError as error:
        raise SettingsError(f"DASK_SCHEDULER_ADDRESS: {error}") from None


@contextlib.contextmanager
def open_cluster(config: Settings | DaskSettings) -> Iterator[Cluster]:
    """The cluster `compute.dask` names (the settings' own, or `DaskSettings` given directly, as a command without
    a params file does), checked; closed (a LocalCluster or gateway cluster shut down) on exit."""
    from ..settings import DaskSettings
    from ..utils.extras import require

    require("distributed", "compute.engine: dask")
    dask = config if isinstance(config, DaskSettings) else config.compute.dask
    named_by = "compute.dask.address" if dask.address is not None else "DASK_SCHEDULER_ADDRESS"
    dask = with_address_from_environment(dask)
    closers: list[Callable[[], Any]] = []
    try:
        if dask.address is None:
            from distributed import Client

            try:
                cluster = _local_cluster(dask)
                closers.append(cluster.close)
                client = Client(cluster)
            except (RuntimeError, OSError, TimeoutError, ValueError) as error:
                raise ClusterError(
                    f"the LocalCluster did not start ({type(error).__name__}: {error}): check compute.dask.n_workers "
                    f"({dask.n_workers}) and memory_limit ({dask.memory_limit}) against this machine; a Python script "
                    'that starts it must guard its code with `if __name__ == "__main__":` (workers are new processes)'
                ) from None
            kind, address = "local", "local"
        else:
            client, close_cluster, kind = _connect(dask)
            if close_cluster is not None:
                closers.append(close_cluster)
            scheme = dask.address.split("://", 1)[0]
            address = f"{scheme}:// from {named_by}"
        closers.insert(0, client.close)
        check_versions(client)
        opened = Cluster(client, kind, address)
        facts = opened.facts()
        say(f"cluster: {kind} {address}, {facts['workers']} worker(s), {facts['threads']} thread(s)")
        yield opened
    finally:
        for close in closers:
            with contextlib.suppress(Exception):  # closing must not hide what went wrong
                close()
