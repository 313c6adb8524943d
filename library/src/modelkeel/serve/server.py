"""Running the app: one uvicorn worker on uvloop and httptools, and a graceful stop.

uvicorn binds the port only here, after the bundle was opened, verified and warmed (`cli/serve.py`):
a bad bundle never listens. On SIGTERM or SIGINT it stops accepting connections, gives in-flight
requests `serve.graceful_shutdown` seconds to finish, runs the app's shutdown (the reload task
stops), and `run` returns the signal: the command then exits 0, as an orchestrator expects of a
requested stop.

Why uvicorn and FastAPI: FastAPI is the common Python way to put a model behind HTTP (typed routes,
an OpenAPI document, TestClient) and runs on Starlette, whose plain Response lets the hot path skip
validation models; uvicorn is the ASGI server it is made with, and with uvloop and httptools one
worker answers single rows in a fraction of a millisecond. One worker: onnxruntime already runs a
batch on every core, and a second process would hold a second copy of the model.
"""

from __future__ import annotations

import importlib.util
import signal
import threading
from types import FrameType
from typing import Any

from ..settings import ServeSettings


def config(app: Any, host: str, port: int, settings: ServeSettings) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",  # uvloop has no Windows build
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        workers=1,
        lifespan="on",
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown,
        server_header=False,
        proxy_headers=False,
    )


def run(app: Any, host: str, port: int, settings: ServeSettings) -> int | None:
    """Serve until SIGTERM or SIGINT; the signal that stopped it (None if it stopped otherwise)."""
    import uvicorn

    server = uvicorn.Server(config(app, host, port, settings))
    received: list[int] = []

    def remember(sig: int, _: FrameType | None) -> None:
        received.append(sig)

    # uvicorn handles the signals while it runs, then restores these handlers and raises the signal again
    # into them: without them the default action would kill the process (SIGTERM) or raise KeyboardInterrupt.
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = (
        {sig: signal.signal(sig, remember) for sig in handled}
        if threading.current_thread() is threading.main_thread()
        else {}
    )
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else None
