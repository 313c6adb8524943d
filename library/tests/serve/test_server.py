"""The real `serve` process: it listens only once the bundle is verified, and stops gracefully on SIGTERM.

Given the project's bundle, when `serve` runs on a free port, then it becomes ready, predicts,
finishes a request that is in flight when SIGTERM arrives, and exits 0. Given a tampered bundle,
it exits non-zero with the verification error, without ever listening. Given a folder registry,
`serve --version latest --reload-every` swaps in a newer release while it runs.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from modelkeel import PACKAGE
from modelkeel.bundle.reader import open_bundle
from modelkeel.registry.folder import FolderRegistry

from ..conftest import PROJECT_ROOT, released_as

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python -m <package> serve ARGS` on a free port, its output in files (a pipe could fill up and block it)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict | None = None, params: Path | None = None) -> None:
        self.port = free_port()
        self.out, self.err = tmp_path / "serve.out", tmp_path / "serve.err"
        params = params or PROJECT_ROOT / "params.yaml"
        command = [sys.executable, "-m", PACKAGE, "--params", str(params), "serve", *args]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], stdout=out, stderr=err, env={**os.environ, **(env or {})}
            )

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.url(path), timeout=10) as answer:
            return answer.read().decode()

    def get(self, path: str) -> dict:
        return json.loads(self.text(path))

    def post(self, path: str, payload: object) -> tuple[int, dict, dict]:
        request = urllib.request.Request(
            self.url(path), data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"serve exited with {self.process.returncode}:\n{self.stderr}"
            try:
                if self.get("/health/ready")["ready"]:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"serve was not ready within {timeout} s:\n{self.stderr}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture()
def server(tmp_path):
    started: list[Server] = []

    def start(*args: str, env: dict | None = None, params: Path | None = None) -> Server:
        started.append(Server(tmp_path, *args, env=env, params=params))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def test_serve_predicts_and_finishes_the_request_in_flight_when_sigterm_comes(server, bundle_dir, rows):
    running = server("--bundle", str(bundle_dir), "--allow-unsigned")  # not this checkout's own dist/: said
    running.wait_ready()
    version = open_bundle(bundle_dir).version
    status, headers, body = running.post("/predict", rows)
    assert status == 200 and body["version"] == headers["x-model-version"] == version
    assert headers["x-model-signature"] == "not-checked" and "--allow-unsigned" in running.stderr
    assert body["rows"] == len(rows) and running.get("/metadata")["version"] == version

    payload = json.dumps(rows[0]).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as leaving:
        leaving.sendall(head + payload[:5])  # a client that goes away in the middle of its body
    deadline = time.monotonic() + 30
    refused = 'serve_requests_total{method="POST",path="/predict",status="400"} 1.0'
    while refused not in (metrics := running.text("/metrics")):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)
    assert "Traceback" not in running.stderr, running.stderr

    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as in_flight:
        in_flight.sendall(head + payload[:5])  # the request has begun; its body is not all there yet
        time.sleep(0.3)
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert running.process.poll() is None, "serve waits for the request in flight"
        in_flight.sendall(payload[5:])
        answer = b""
        while chunk := in_flight.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert f'"version":"{version}"'.encode() in answer
    assert running.process.wait(timeout=30) == 0, running.stderr
    assert "serve: stopped on SIGTERM" in running.stderr


def test_a_tampered_bundle_stops_start_up_before_the_port_is_bound(server, bundle_dir, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle_dir, tampered)
    (tampered / "metrics.json").write_text("{}")
    running = server("--bundle", str(tampered))
    assert running.process.wait(timeout=60) == 1
    said = running.stderr
    assert "error: " in said and "metrics.json: checksum mismatch" in said, said
    assert "Uvicorn running" not in said and "serve: http://" not in said, "it never listened"


def signed_params(tmp_path: Path, public_key: Path) -> Path:
    """The project's params.yaml naming a key pair's public key as registry.signer."""
    from ruamel.yaml import YAML

    yaml = YAML()  # YAML 1.2, as infer-schema writes params.yaml
    params = yaml.load((PROJECT_ROOT / "params.yaml").read_text())
    params["registry"]["signer"] = {"public_key": str(public_key)}
    copy = tmp_path / "params.yaml"  # serving from a registry reads no path of the project's
    with copy.open("w") as handle:
        yaml.dump(params, handle)
    return copy


def test_serve_latest_from_a_registry_swaps_in_a_newer_release_on_schedule(
    server, signed_bundle_dir, release_key, rows, tmp_path, monkeypatch
):
    bundle_dir = signed_bundle_dir
    params = signed_params(tmp_path, Path(str(release_key.signer.public_key)))
    monkeypatch.setenv("MODEL_SIGNING_KEY", release_key.private.read_text())  # publish signs, as releases are
    registry = release_key.on(FolderRegistry(str(tmp_path / "registry")))
    registry.publish(open_bundle(bundle_dir))
    running = server(
        "--version",
        "latest",
        "--url",
        str(tmp_path / "registry"),
        "--reload-every",
        "0.2",
        env={"MODEL_REGISTRY_CACHE": str(tmp_path / "cache")},
        params=params,
    )
    running.wait_ready()
    assert running.get("/health")["version"] == "0.1.0"
    registry.publish(open_bundle(released_as(bundle_dir, "0.2.0", tmp_path)))
    deadline = time.monotonic() + 60
    while running.get("/health")["version"] != "0.2.0":
        assert time.monotonic() < deadline, f"0.2.0 was never swapped in:\n{running.stderr}"
        time.sleep(0.1)
    assert running.post("/predict", rows[0])[2]["version"] == "0.2.0"
    assert "reload: now serving" in running.stderr
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0, running.stderr


# ---- slow clients: a real uvicorn on loopback, raw sockets ------------------------------------------------


@pytest.fixture()
def in_process(served):
    """The app on uvicorn as `serve` configures it (serve/server.py), in a thread, with short timeouts."""
    import threading

    import uvicorn

    from modelkeel.serve.app import create_app
    from modelkeel.serve.holder import ModelHolder
    from modelkeel.serve.server import config
    from modelkeel.settings import ServeSettings

    settings = ServeSettings(header_timeout=0.5, body_timeout=0.5)
    port = free_port()
    server = uvicorn.Server(config(create_app(ModelHolder(served), settings), "127.0.0.1", port, settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)  # a bound for the test, not what it measures: the server closes long before
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=10) as answer:
        return answer.status == 200


def test_a_client_that_never_finishes_its_headers_gets_408_and_is_closed(in_process):
    with (
        socket.create_connection(("127.0.0.1", in_process)) as silent,
        socket.create_connection(("127.0.0.1", in_process)) as slow,
    ):
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # and no more
        assert healthy(in_process), "the worker answers others meanwhile"
        for sock in (silent, slow):
            answer = read_all(sock)
            assert answer.startswith(b"HTTP/1.1 408 ") and b"serve.header_timeout" in answer


def test_a_client_that_dribbles_its_body_gets_408_and_is_closed(in_process, rows):
    body = json.dumps(rows).encode()
    with socket.create_connection(("127.0.0.1", in_process)) as slow:
        head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        slow.sendall(head.encode() + body[:10])  # the rest never comes
        assert healthy(in_process), "the worker answers others meanwhile"
        answer = read_all(slow)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"serve.body_timeout" in answer
    assert b"connection: close" in answer.lower()


def test_an_idle_kept_alive_connection_gets_no_stale_408_and_a_slow_second_request_does(in_process):
    """After an answer the connection is idle, not slow: the next request on it is answered (uvicorn closes an
    idle connection itself, silently, after timeout_keep_alive); its headers are timed from their first byte."""
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", in_process)) as kept:
        kept.settimeout(10)
        kept.sendall(request)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # three header timeouts (0.5 s) of idling, within uvicorn's 5 s keep-alive
        kept.sendall(request)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200 "), "the second request is answered, not a stale 408"
        kept.sendall(b"GET /health/live HTTP/1.1\r\n")  # a third request whose headers never finish
        answer = read_all(kept)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"serve.header_timeout" in answer
