"""The serving benchmark's own parts: the load generator against a real HTTP server, the goal, the limits it raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "bench"))
import serving  # bench/serving.py

LOADGEN = TEMPLATE / "bench" / "loadgen.py"


class Predictions(BaseHTTPRequestHandler):
    """Answers POST /predict with one prediction per record sent (keep-alive); a body of `[]` gets a 422."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        records = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(len(records))
        status = 200 if records else 422
        body = json.dumps({"rows": len(records), "predictions": [{"prediction": "a"}] * len(records)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Predictions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def run_plan(tmp_path: Path, plan: dict) -> dict:
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(
        [sys.executable, str(LOADGEN), str(tmp_path / "plan.json"), str(tmp_path / "load.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "load.json").read_text())


def test_the_load_generator_counts_every_answer_and_checks_the_first(tmp_path, server):
    (tmp_path / "single.jsonl").write_text('[{"x": 1}]\n[{"x": 2}]\n')
    (tmp_path / "batch.jsonl").write_text(json.dumps([{"x": i} for i in range(500)]) + "\n")
    (tmp_path / "bad.jsonl").write_text("[]\n")
    plan = {
        "targets": {"a": server, "b": server},
        "bodies": {name: str(tmp_path / f"{name}.jsonl") for name in ("single", "batch", "bad")},
        "levels": [
            {"name": "single", "body": "single", "rows": 1, "concurrency": 4}
            | {"warmup_s": 0.1, "duration_s": 0.4, "rounds": 2, "min_requests": 30},
            {"name": "batch", "body": "batch", "rows": 500, "concurrency": 1, "warmup_requests": 1, "requests": 6}
            | {"rounds": 3},
            {"name": "bad", "body": "bad", "rows": 0, "concurrency": 1, "warmup_requests": 0, "requests": 3},
        ],
    }
    Predictions.seen = []
    levels = run_plan(tmp_path, plan)["levels"]
    single, batch, bad = ({t: r for t, r in level["results"].items()} for level in levels)
    for target in ("a", "b"):
        s, b = single[target], batch[target]
        assert s["rounds"] == 2 and s["requests"] >= 30 and s["errors"] == 0
        assert 0 < s["p50_ms"] <= s["p99_ms"] <= s["max_ms"]
        assert s["requests_per_s"] > 0 and s["client_cpu_share"] < 1.5
        assert b["requests"] == 6 and b["rows_per_s"] == pytest.approx(b["requests_per_s"] * 500)
        assert b["first_answer"]["rows"] == 500  # the first answer is parsed and kept for comparison
        assert bad[target]["errors"] == 3 and "HTTP 422" in bad[target]["error_examples"][0]
    assert Predictions.seen.count(500) == 2 * (6 + 1)  # every batch was sent (one warm-up each)


def test_a_server_that_is_not_there_fails_its_level_only(tmp_path, server):
    (tmp_path / "single.jsonl").write_text('[{"x": 1}]\n')
    plan = {
        "targets": {"up": server, "down": serving.free_port()},
        "bodies": {"single": str(tmp_path / "single.jsonl")},
        "levels": [{"name": "one", "body": "single", "rows": 1, "concurrency": 1, "warmup_s": 0, "duration_s": 0.2}],
    }
    results = run_plan(tmp_path, plan)["levels"][0]["results"]
    assert results["up"]["requests"] > 0
    assert "failed" in results["down"] and "ConnectionRefused" in results["down"]["failed"]


def test_the_goal_needs_five_times_the_requests_and_a_lower_p99_at_every_level():
    def level(name, serve_rps, serve_p99, base_rps, base_p99):
        results = {
            "serve": {"requests_per_s": serve_rps, "p99_ms": serve_p99, "errors": 0},
            "baseline": {"requests_per_s": base_rps, "p99_ms": base_p99, "errors": 0},
        }
        return {"name": name, "kind": "single", "results": results}

    met = serving.goal([level("1", 500, 2, 100, 10), level("8", 1000, 9, 150, 60)])
    assert met["met"] and [c["speedup"] for c in met["checks"]] == [5.0, pytest.approx(6.67, abs=0.01)]
    slower = serving.goal([level("1", 500, 2, 100, 10), level("8", 700, 9, 150, 60)])
    assert not slower["met"] and [c["met"] for c in slower["checks"]] == [True, False]
    worse_tail = serving.goal([level("1", 900, 12, 100, 10)])
    assert not worse_tail["met"] and worse_tail["checks"][0]["p99_lower"] is False


def test_the_serve_limits_are_raised_in_a_copy_of_params(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    template = (TEMPLATE / "{{cookiecutter.project_slug}}" / "params.yaml").read_text()
    (project / "params.yaml").write_text(template)
    target, limits = serving.serve_params(project, 100_000, 13_600_000)
    assert limits == {"max_rows": 100_000, "max_body_bytes": 27_200_000}
    text = target.read_text()
    serve = text.split("\nserve:", 1)[1]
    assert "  max_rows: 100000" in serve and "  max_body_bytes: 27200000" in serve
    assert "# rows in one request; more is refused with 413" in serve  # the comments stay
    assert (project / "params.yaml").read_text() == template  # the project's own file is untouched
    (project / "params.yaml").write_text(template.replace("  max_rows:", "  rows_at_most:"))
    with pytest.raises(serving.BenchError, match=r"serve\.max_rows"):
        serving.serve_params(project, 100_000, 13_600_000)


def test_the_table_warns_when_other_work_used_the_machine():
    def report(*shares):
        return {"models": {f"m{i}": {"other_work": {"share": s, "cpus": 2}} for i, s in enumerate(shares)}}

    quiet = serving.caveat(report(0.004, 0.021))
    assert "otherwise quiet" in quiet[0] and "used at most 2.1% of its 2 CPUs' time" in quiet[0]
    busy = " ".join(serving.caveat(report(0.01, 0.43)))
    assert busy.startswith("**Caveat:**") and "used up to 43% of its CPU time" in busy
    assert "not measured" in serving.caveat({"models": {"m": {"error": "no serve"}}})[0]


def test_other_work_is_the_busy_time_no_bench_process_spent():
    # 2 CPUs for 10 s: 20 CPU-seconds; the machine was busy 9, of which the bench's processes spent 8
    assert serving.other_work(busy=9.0, own=8.0, wall=10.0, cpus=2) == {
        "cpu_s": 1.0,
        "wall_s": 10.0,
        "cpus": 2,
        "share": 0.05,
    }
    assert serving.other_work(busy=7.9, own=8.0, wall=10.0, cpus=2)["share"] == 0.0  # clock ticks round


def test_the_machine_and_process_cpu_clocks_advance_with_work():
    busy, own = serving.machine_busy_seconds(), serving.process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert serving.process_cpu_seconds(os.getpid()) - own >= 0.2
    assert serving.machine_busy_seconds() - busy >= 0.2
