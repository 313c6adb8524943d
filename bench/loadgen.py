"""A bounded, closed-loop HTTP/1.1 load generator for `bench/serving.py` (standard library; uvloop if present).

    python bench/loadgen.py PLAN.json RESULT.json

N keep-alive connections over loopback each send one request, wait for the whole answer, and
send the next (closed loop: the load never exceeds N requests in flight). Requests are written
as prebuilt bytes and answers are framed by Content-Length without parsing the body, so the
generator costs far less CPU than the servers it measures (its CPU share is reported per level).

The plan (JSON): {"targets": {name: port}, "bodies": {name: path}, "levels": [level, ...]} where a
body file holds one JSON request body per line (cycled through), and a level is
{"name", "body", "rows", "concurrency", "targets": [names], and either "duration_s" with
"warmup_s" (and "min_requests": the window stretches until that many are recorded), or "requests" with "warmup_requests"}; optional "cpu" (pin the generator to it) and
"pids": {name: server pid} (the server's CPU time over each window, from /proc), and "rounds":
the level is split into that many rounds per target (ABBA order), so a burst of other load on the
machine falls on both sides alike; the first round of each target carries the full warm-up. Each level runs against each target in turn,
the order alternating from one level to the next. The result holds, per level and target, every
latency's summary, requests/s, rows/s, errors and the generator's own CPU share; the first answer
of each level is checked (HTTP 200, as many predictions as rows sent) and kept for comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

HEADER_END = b"\r\n\r\n"


class HttpError(RuntimeError):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive connection: `request(payload)` sends prebuilt bytes and waits for one answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.body_start = -1
        self.end = -1
        self.status = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection closed by the server: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.end < 0:
            head_end = self.buffer.find(HEADER_END)
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).lower()
            self.status = int(head[9:12])
            if b"transfer-encoding: chunked" in head:
                self.waiter.set_exception(HttpError("chunked answers are not supported by this generator"))
                return
            marker = head.find(b"content-length:")
            if marker < 0:
                self.waiter.set_exception(HttpError("answer without Content-Length"))
                return
            line_end = head.find(b"\r\n", marker)
            length = int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
            self.body_start = head_end + 4
            self.end = self.body_start + length
        if len(self.buffer) >= self.end:
            body = bytes(self.buffer[self.body_start : self.end])
            del self.buffer[: self.end]
            self.end = -1
            self.waiter.set_result((self.status, body))

    def request(self, payload: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


def request_bytes(body: bytes, port: int, path: str = "/predict") -> bytes:
    """A POST of `body` as JSON to `path`; with path "GET <path>", a GET without a body (the floor of a stack)."""
    if path.startswith("GET "):
        return f"GET {path[4:]} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode("ascii")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process `pid` so far, from /proc (None when unknown)."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[int], share: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1] / 1e6


def check_first(body: bytes, rows: int, target: str, level: str) -> dict:
    answer = json.loads(body)
    if rows == 0:  # not a prediction (a health check): any JSON answer will do
        return answer
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != rows:
        got = len(predictions) if isinstance(predictions, list) else type(answer).__name__
        raise HttpError(f"{target}, {level}: expected {rows} predictions, got {got}: {body[:300]!r}")
    return answer


async def run_round(port: int, payloads: list[bytes], level: dict, target: str, pid: int | None, first_round: bool):
    """One round of a level against one target: the raw latencies, errors and CPU seconds of its window."""
    loop = asyncio.get_running_loop()
    connections: list[Connection] = []
    try:
        for _ in range(int(level["concurrency"])):
            _, protocol = await loop.create_connection(Connection, "127.0.0.1", port)
            connections.append(protocol)
        return await measure(connections, payloads, level, target, pid, first_round)
    finally:
        for connection in connections:
            connection.transport.close()


async def measure(
    connections: list[Connection], payloads: list[bytes], level: dict, target: str, pid: int | None, first_round: bool
) -> dict:
    concurrency, rounds = len(connections), int(level.get("rounds", 1))
    latencies: list[int] = []
    errors: list[str] = []
    first: dict = {}
    rows = int(level["rows"])
    marks: dict = {}

    def start_window() -> None:
        marks.update(cpu=time.process_time(), server=cpu_seconds(pid), wall=time.perf_counter_ns())

    async def exchange(connection: Connection, payload: bytes, record: bool) -> None:
        started = time.perf_counter_ns()
        status, body = await connection.request(payload)
        elapsed = time.perf_counter_ns() - started
        if status != 200:
            errors.append(f"HTTP {status}: {body[:300]!r}")
        elif not first and first_round:
            first["answer"] = check_first(body, rows, target, level["name"])
        if record:
            latencies.append(elapsed)

    if "duration_s" in level:
        warm_ns = int(float(level["warmup_s"]) * 1e9 if first_round else min(float(level["warmup_s"]), 0.2) * 1e9)
        window_ns = int(float(level["duration_s"]) / rounds * 1e9)
        least = int(level.get("min_requests", 0)) // rounds
        begin = time.perf_counter_ns()
        warm_end, end = begin + warm_ns, begin + warm_ns + window_ns

        async def worker(index: int, connection: Connection) -> None:
            i = index * 7919 + len(payloads) // 2 * (not first_round)
            while True:
                now = time.perf_counter_ns()
                if now >= end and len(latencies) >= least:
                    return
                await exchange(connection, payloads[i % len(payloads)], now >= warm_end)
                i += 1

        async def mark() -> None:
            await asyncio.sleep(warm_ns / 1e9)
            start_window()

        marker = asyncio.ensure_future(mark())
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        await marker
    else:
        total = int(level["requests"]) // rounds or 1
        for i in range(int(level.get("warmup_requests", 1)) if first_round else 0):
            await exchange(connections[i % concurrency], payloads[i % len(payloads)], False)
        counter = iter(range(total))

        async def worker(index: int, connection: Connection) -> None:
            for i in counter:
                await exchange(connection, payloads[(index + i) % len(payloads)], True)

        start_window()
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    server = cpu_seconds(pid)
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": (time.perf_counter_ns() - marks["wall"]) / 1e9,
        "client_cpu_s": time.process_time() - marks["cpu"],
        "server_cpu_s": server - marks["server"] if server is not None and marks["server"] is not None else None,
        "first_answer": first.get("answer"),
    }


def summary(target: str, rows: int, raws: list[dict]) -> dict:
    """Every round of one level and target, as one figure: rates over the summed windows, percentiles of all."""
    latencies = sorted(x for raw in raws for x in raw["latencies"])
    errors = [e for raw in raws for e in raw["errors"]]
    wall = sum(raw["seconds"] for raw in raws)
    count = len(latencies)
    server = [raw["server_cpu_s"] for raw in raws]
    server_s = sum(server) if None not in server else None
    return {
        "target": target,
        "rounds": len(raws),
        "requests": count,
        "errors": len(errors),
        "error_examples": errors[:3],
        "seconds": wall,
        "requests_per_s": count / wall if wall > 0 else float("nan"),
        "rows_per_s": count * rows / wall if wall > 0 else float("nan"),
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        "mean_ms": sum(latencies) / count / 1e6 if count else float("nan"),
        "client_cpu_share": sum(raw["client_cpu_s"] for raw in raws) / wall if wall > 0 else float("nan"),
        "server_cpu_share": server_s / wall if server_s is not None and wall > 0 else None,
        "server_cpu_ms_per_request": server_s / count * 1e3 if server_s is not None and count else None,
        "first_answer": next((raw["first_answer"] for raw in raws if raw["first_answer"]), None)
        if rows <= 1000
        else None,
    }


async def run_plan(plan: dict) -> dict:
    """Each level against each target, in rounds whose order alternates (A B, B A, A B, ...)."""
    bodies = {
        name: [line.encode() for line in Path(path).read_text().splitlines() if line]
        for name, path in plan["bodies"].items()
    }
    results = []
    for number, level in enumerate(plan["levels"]):
        targets = list(level.get("targets") or plan["targets"])
        raws: dict[str, list[dict]] = {target: [] for target in targets}
        failed: dict[str, str] = {}
        payloads = {
            target: [
                request_bytes(body, int(plan["targets"][target]), (level.get("paths") or {}).get(target, "/predict"))
                for body in bodies[level["body"]]
            ]
            for target in targets
        }
        for round_number in range(int(level.get("rounds", 1))):
            order = targets if (number + round_number) % 2 == 0 else targets[::-1]
            for target in order:
                if target in failed:
                    continue
                port, pid = int(plan["targets"][target]), plan.get("pids", {}).get(target)
                try:
                    raws[target].append(await run_round(port, payloads[target], level, target, pid, round_number == 0))
                except (HttpError, OSError, ValueError) as error:
                    failed[target] = f"{type(error).__name__}: {error}"
                    print(f"loadgen: {level['name']} {target}: FAILED {error}", file=sys.stderr, flush=True)
        outcome = {key: value for key, value in level.items() if key != "targets"}
        outcome["results"] = {}
        for target in targets:
            if target in failed:
                outcome["results"][target] = {"target": target, "failed": failed[target]}
                continue
            r = outcome["results"][target] = summary(target, int(level["rows"]), raws[target])
            print(
                f"loadgen: {level['name']:>24} {target:>9}: {r['requests_per_s']:9.1f} req/s, "
                f"p50 {r['p50_ms']:8.2f} ms, p99 {r['p99_ms']:8.2f} ms",
                file=sys.stderr,
                flush=True,
            )
        results.append(outcome)
    return {"levels": results}


def main() -> int:
    plan_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    plan = json.loads(plan_path.read_text())
    if plan.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(plan["cpu"])})
    try:
        import uvloop  # the same event loop as the servers, and cheaper than asyncio's own
    except ImportError:
        uvloop = None
    runner = uvloop.run if uvloop is not None and hasattr(uvloop, "run") else asyncio.run
    result = runner(run_plan(plan))
    temporary = result_path.with_name(f".{result_path.name}.tmp")
    temporary.write_text(json.dumps(result, indent=2))
    temporary.replace(result_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
