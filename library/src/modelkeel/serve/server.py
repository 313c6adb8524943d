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


def with_header_timeout(seconds: float) -> type:
    """uvicorn's HTTP protocol (httptools, else h11) with a header timeout, which uvicorn lacks: a connection
    whose request headers are not complete `seconds` after it opened (or after the previous answer) gets
    408 and is closed. The body has its own timeout (`serve/inputs.py` BodyLimit). Checked by a timer per
    connection: a slow client holds no worker, and every other connection is served meanwhile."""
    if importlib.util.find_spec("httptools"):
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]
    text = f"the request's headers did not arrive within {seconds:g} s (serve.header_timeout)".encode()
    answer = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        + f"content-length: {len(text)}\r\nconnection: close\r\n\r\n".encode()
        + text
    )

    class HeaderTimeout(Base):
        _timer: Any = None
        _awaited: Any = None

        def _arm(self) -> None:
            self._awaited = self.cycle  # the headers are in once uvicorn starts a new request cycle
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            busy = self.cycle is not self._awaited or getattr(self, "pipeline", None)
            if busy or (self.cycle is not None and not self.cycle.response_complete):
                return  # a request is being answered: not a slow client
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._timer is None and self._awaited is not None and self._awaited is self.cycle:
                self._arm()  # the first bytes of the next request on a kept-alive connection: its headers are due
            super().data_received(data)
            if self._timer is not None and self.cycle is not self._awaited:
                self._disarm()
                self._awaited = None  # the headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()
            # not re-armed here: an idle kept-alive connection is uvicorn's to close (timeout_keep_alive), silently;
            # the next request's headers are timed from its first byte (data_received)
            self._awaited = self.cycle

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeout


def config(app: Any, host: str, port: int, settings: ServeSettings) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",  # uvloop has no Windows build
        http=with_header_timeout(settings.header_timeout),
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
