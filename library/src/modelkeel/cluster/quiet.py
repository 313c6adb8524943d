"""A worker plugin that drops one harmless log record: LightGBM's Dask training hands each worker a future of a
listening socket (`lightgbm.dask._RemoteSocket`), and when Dask tries to move or spill it, pickling fails and
`distributed.protocol.pickle` logs "Failed to serialize ..." with a traceback, although nothing is lost (the
socket stays where it was opened and training goes on). Only that record, for that type, is dropped."""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

LOGGER = "distributed.protocol.pickle"
MESSAGE = "Failed to serialize %s."


def is_remote_socket(value: Any) -> bool:
    """LightGBM's socket, or a tuple holding one (its port-acquiring task returns (socket, port))."""
    if isinstance(value, tuple):
        return any(is_remote_socket(v) for v in value)
    kind = type(value)
    return kind.__name__ == "_RemoteSocket" and kind.__module__ == "lightgbm.dask"


class RemoteSocketFilter(logging.Filter):
    """False for the pickle failure of a LightGBM socket; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != MESSAGE or not isinstance(record.args, tuple):
            return True
        return not any(is_remote_socket(a) for a in record.args)


class QuietRemoteSockets(WorkerPlugin):
    """Installs RemoteSocketFilter on each worker's `distributed.protocol.pickle` logger (once)."""

    name = "modelkeel-quiet-remote-sockets"

    def setup(self, worker) -> None:
        logger = logging.getLogger(LOGGER)
        if not any(isinstance(f, RemoteSocketFilter) for f in logger.filters):
            logger.addFilter(RemoteSocketFilter())

    def teardown(self, worker) -> None:
        logger = logging.getLogger(LOGGER)
        for found in [f for f in logger.filters if isinstance(f, RemoteSocketFilter)]:
            logger.removeFilter(found)


def quiet_remote_sockets(client) -> None:
    """Register the plugin (again: idempotent by name) on every worker, present and future."""
    client.register_plugin(QuietRemoteSockets())
