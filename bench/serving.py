"""Serving over HTTP, side by side: the generated project's `serve` against the FastAPI service a user would write.

For one baked project (after `make install pipeline`), on loopback:

- `serve`: `<package> serve --bundle dist/<project>-<version>` (onnxruntime, the compiled input check);
- the baseline: `bench/baseline_service.py`, FastAPI returning the joblib scikit-learn Pipeline's
  predictions, run by the project's own .venv python (the same library versions) with the same
  uvicorn options (one worker, httptools, uvloop, no access log).

Both servers are pinned to one CPU and the load generator (`bench/loadgen.py`, closed loop over
N keep-alive connections, prebuilt requests) to another, so they do not compete for a core. Each
level runs against both servers in turn (the order alternating), with a fixed warm-up and a fixed
duration or request count, and records every latency: single-row requests at a few concurrency
levels (requests/s, p50, p99) and batches of 1 000 and 100 000 rows (rows/s). The rows are the
project's own data (rows with every feature present), resampled. Memory is each server's resident
set from /proc: after start-up, its peak (VmHWM) and after the load.

`install_sizes` compares what the image installs (a fresh venv with the wheel and its runtime
requirements) with the training install, each measured on its own (`du --apparent-size`).

    python bench/serving.py --project build/bench/linear/my-ml-project [--quick] [--sizes]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_SPEEDUP = 5.0  # serve's single-row requests/s over the baseline's, at every concurrency level

MAKE_BODIES = """
import json, sys
import numpy as np
import pandas as pd

data, signature, out, sizes, singles, seed = sys.argv[1:7]
columns = [entry["name"] for entry in json.load(open(signature))["inputs"]]
frame = pd.read_csv(data) if data.endswith(".csv") else pd.read_parquet(data)
frame = frame[columns].dropna().reset_index(drop=True)
records = json.loads(frame.to_json(orient="records"))
rng = np.random.default_rng(int(seed))
with open(f"{out}/single.jsonl", "w") as f:
    for i in rng.permutation(len(records))[: int(singles)]:
        f.write(json.dumps([records[i]]) + "\\n")
for size in map(int, sizes.split(",")):
    pick = rng.integers(0, len(records), size)
    with open(f"{out}/batch_{size}.jsonl", "w") as f:
        f.write(json.dumps([records[i] for i in pick]) + "\\n")
print(len(records))
"""


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_mib(pid: int) -> dict:
    """The process's resident set now (VmRSS) and its peak so far (VmHWM), in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mib": fields.get("VmRSS"), "peak_mib": fields.get("VmHWM")}


def machine_busy_seconds() -> float:
    """CPU seconds every CPU of the machine has spent busy since boot (all but idle and iowait), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def other_work(busy: float, own: float, wall: float, cpus: int) -> dict:
    """What the rest of the machine used while the bench measured: the busy CPU time no bench process spent."""
    other = max(busy - own, 0.0)
    return {"cpu_s": other, "wall_s": wall, "cpus": cpus, "share": other / (wall * cpus) if wall > 0 else 0.0}


def pin(cpu: int | None):
    """A preexec_fn pinning the child (and every thread it starts) to `cpu`."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Server:
    """One server process, started pinned to a CPU, logged to a file, stopped with SIGINT then SIGKILL."""

    def __init__(self, name: str, command: list[str], port: int, cwd: Path, log: Path, cpu: int | None):
        self.name, self.command, self.port, self.log = name, command, port, log
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold imports without bytecode caching cost seconds
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=pin(cpu),  # this process starts no threads that could hold a lock meanwhile
        )

    def wait_ready(self, timeout: float = 120.0) -> float:
        started = time.perf_counter()
        url = f"http://127.0.0.1:{self.port}/health"
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} was not ready at {url} after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def package_of(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file())


def bundle_of(project: Path) -> Path:
    bundles = sorted(p for p in (project / "dist").iterdir() if p.is_dir() and (p / "SHA256SUMS").is_file())
    if not bundles:
        raise BenchError(f"no bundle in {project / 'dist'}: run `make pipeline` in {project} first")
    return bundles[-1]


def has_serve(project: Path) -> bool:
    """Whether the project's environment has a command line with `serve` (modelkeel's, or an old fat project's)."""
    python = project / ".venv" / "bin" / "python"
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('modelkeel.cli.serve') else 1)"
    if python.is_file() and subprocess.run([str(python), "-c", probe], check=False).returncode == 0:
        return True
    return (project / "src" / package_of(project) / "cli" / "serve.py").is_file()


def serve_params(project: Path, rows: int, body_bytes: int) -> tuple[Path, dict]:
    """A copy of the project's params.yaml whose `serve` limits admit the largest batch of the bench.

    `serve.max_rows` (10 000 by default) and `serve.max_body_bytes` (8 MiB) refuse a 100 000-row
    request (about 13.6 MB of JSON) with 413; the bench raises them to what that batch needs.
    """
    text = (project / "params.yaml").read_text()
    limits = {"max_rows": rows, "max_body_bytes": max(8 * 2**20, 2 * body_bytes)}
    lines = text.splitlines(keepends=True)
    inside, found = False, set()
    for number, line in enumerate(lines):
        if not line.startswith((" ", "#", "\n")):
            inside = line.startswith("serve:")
        for key, value in limits.items():
            if inside and line.startswith(f"  {key}:"):
                comment = line.find("#")
                tail = line[comment:] if comment >= 0 else "\n"
                lines[number] = f"  {key}: {value}".ljust(37) + tail
                found.add(key)
    if found != set(limits):
        missing = sorted(set(limits) - found)
        raise BenchError(f"{project / 'params.yaml'} has no serve.{', serve.'.join(missing)}: cannot raise the limits")
    target = project / "params-serve-bench.yaml"
    target.write_text("".join(lines))
    return target, limits


def plan_levels(quick: bool) -> tuple[list[dict], list[int]]:
    """The load levels: single rows at three concurrency levels, then the two batch sizes.

    Each level runs in rounds alternating between the two servers (A B, B A, ...), so a burst of
    other load on a shared machine falls on both; the first round of each carries the warm-up.
    """
    warm, window, rounds = (0.3, 1.0, 1) if quick else (1.0, 6.0, 3)
    levels = [
        {"name": f"single row, {c} conn", "kind": "single", "body": "single", "rows": 1, "concurrency": c}
        | {"warmup_s": warm, "duration_s": window, "rounds": rounds, "min_requests": 20 if quick else 200}
        for c in (1, 8, 32)
    ]
    levels.append(  # the floor: what each stack costs per request without a model (8 connections)
        {"name": "GET /health, 8 conn", "kind": "floor", "body": "single", "rows": 0, "concurrency": 8}
        | {"warmup_s": warm, "duration_s": window / 2, "rounds": rounds}
        | {"paths": {"serve": "GET /health/live", "baseline": "GET /health"}}
    )
    sizes = [1_000, 10_000] if quick else [1_000, 100_000]
    levels.append(
        {"name": f"batch of {sizes[0]:,}", "kind": "batch", "body": f"batch_{sizes[0]}", "rows": sizes[0]}
        | {"concurrency": 1, "warmup_s": warm, "duration_s": window * 2 / 3, "rounds": min(rounds, 2)}
    )
    levels.append(
        {"name": f"batch of {sizes[1]:,}", "kind": "batch", "body": f"batch_{sizes[1]}", "rows": sizes[1]}
        | {"concurrency": 1, "warmup_requests": 1, "requests": 2 if quick else 4, "rounds": 1 if quick else 4}
    )
    return levels, sizes


def agreement(a: dict | None, b: dict | None) -> dict | None:
    """How far the two servers' answers to the same batch agree: label share, largest numeric difference."""
    if not a or not b:
        return None
    left, right = a["predictions"], b["predictions"]
    same = sum(x.get("prediction") == y.get("prediction") for x, y in zip(left, right, strict=True))
    worst = 0.0
    for x, y in zip(left, right, strict=True):
        for key, value in x.items():
            if isinstance(value, float) and isinstance(y.get(key), int | float):
                worst = max(worst, abs(value - y[key]))
    return {"rows": len(left), "same_prediction": same / len(left), "max_abs_difference": worst}


def measure(project: Path, work: Path, quick: bool = False, serve_args: list[str] | None = None) -> dict:
    """Both servers of `project` under the same load; every figure of the comparison."""
    project, work = project.resolve(), work.resolve()
    if not has_serve(project):
        raise BenchError(
            f"{project} has no `serve` command (modelkeel.cli.serve): re-bake it from a template that has one"
        )
    work.mkdir(parents=True, exist_ok=True)
    python = project / ".venv" / "bin" / "python"
    bundle = bundle_of(project)
    settings = json.loads((bundle / "signature.json").read_text())
    task = settings["task"]
    levels, sizes = plan_levels(quick)
    bodies = work / "bodies"
    bodies.mkdir(exist_ok=True)
    data = project / "data" / "raw" / "penguins.csv"
    sample = [",".join(map(str, sizes)), "256", "16"]  # batch sizes, distinct single rows, seed
    done = subprocess.run(
        [str(python), "-c", MAKE_BODIES, str(data), str(bundle / "signature.json"), str(bodies), *sample],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"could not sample request rows from {data}:\n{done.stderr[-2000:]}")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    package = package_of(project)
    params, limits = serve_params(project, max(sizes), (bodies / f"batch_{max(sizes)}.jsonl").stat().st_size)
    result_limits = {"params": params.name, **limits}
    ports = {"serve": free_port(), "baseline": free_port()}
    commands = {
        "serve": [
            *(str(project / ".venv" / "bin" / package), "--params", str(params), "serve", "--bundle", str(bundle)),
            *("--host", "127.0.0.1", "--port", str(ports["serve"]), *(serve_args or [])),
        ],
        "baseline": [
            *(str(python), str(HERE / "baseline_service.py"), "--model", "artifacts/model.joblib"),
            *("--task", task, "--port", str(ports["baseline"])),
        ],
    }
    servers: dict[str, Server] = {}
    result: dict = {
        "task": task,
        "bundle": bundle.name,
        "pinning": {"server_cpu": server_cpu, "load_generator_cpu": client_cpu},
        "commands": {name: " ".join(c).replace(str(project) + "/", "") for name, c in commands.items()},
        "rows_available": int(done.stdout.strip() or 0),
        "serve_limits": result_limits,
    }
    try:
        for name, command in commands.items():
            servers[name] = Server(name, command, ports[name], project, work / f"{name}.log", server_cpu)
        result["startup_s"] = {name: server.wait_ready() for name, server in servers.items()}
        load_before = os.getloadavg()[0]
        pids = [server.process.pid for server in servers.values()]
        own_before = sum(map(process_cpu_seconds, pids)) + children_cpu_seconds() + time.process_time()
        busy_before, wall_before = machine_busy_seconds(), time.perf_counter()
        result["memory_idle"] = {name: memory_mib(server.process.pid) for name, server in servers.items()}
        plan = {
            "targets": ports,
            "pids": {name: server.process.pid for name, server in servers.items()},
            "cpu": client_cpu,
            "bodies": {level["body"]: str(bodies / f"{level['body']}.jsonl") for level in levels},
            "levels": levels,
        }
        (work / "plan.json").write_text(json.dumps(plan, indent=2))
        load = subprocess.run(
            [str(python), str(HERE / "loadgen.py"), str(work / "plan.json"), str(work / "load.json")],
            text=True,
            check=False,
        )
        if load.returncode != 0:
            raise BenchError(f"the load generator failed ({load.returncode}); see above")
        # the CPU the rest of the machine used meanwhile: busy time less the servers', the load generator's
        # (a finished child) and this process's own
        own = sum(map(process_cpu_seconds, pids)) + children_cpu_seconds() + time.process_time() - own_before
        busy, wall = machine_busy_seconds() - busy_before, time.perf_counter() - wall_before
        result["other_work"] = other_work(busy, own, wall, len(cpus) or os.cpu_count() or 1)
        result["memory_after"] = {name: memory_mib(server.process.pid) for name, server in servers.items()}
        result["load_average"] = {"before": load_before, "after": os.getloadavg()[0], "cpus": len(cpus) or None}
        for name, server in servers.items():
            if server.process.poll() is not None:
                raise BenchError(f"{name} died under load:\n{server.tail()}")
    finally:
        for server in servers.values():
            server.stop()
    outcome = json.loads((work / "load.json").read_text())["levels"]
    for level in outcome:
        first = {name: r.pop("first_answer", None) for name, r in level["results"].items()}
        if level["kind"] == "batch" and level["rows"] <= 1_000:
            result["agreement"] = agreement(first.get("serve"), first.get("baseline"))
    result["levels"] = outcome
    result["goal"] = goal(outcome)
    return result


def goal(levels: list[dict]) -> dict:
    """>= 5x the baseline's requests/s and a lower p99, for single rows at every concurrency level."""
    checks = []
    for level in levels:
        if level["kind"] != "single":
            continue
        serve, base = level["results"]["serve"], level["results"]["baseline"]
        if "failed" in serve or "failed" in base:
            checks.append({"level": level["name"], "met": False, "why": serve.get("failed") or base.get("failed")})
            continue
        speedup = serve["requests_per_s"] / base["requests_per_s"]
        clean = serve["errors"] == 0 and base["errors"] == 0
        met = speedup >= GOAL_SPEEDUP and serve["p99_ms"] < base["p99_ms"] and clean
        checks.append({"level": level["name"], "speedup": speedup, "p99_lower": serve["p99_ms"] < base["p99_ms"]})
        checks[-1]["met"] = met
    return {"met": bool(checks) and all(c["met"] for c in checks), "checks": checks}


# -- install size ---------------------------------------------------------------------------------


def _uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or "uv"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed in {cwd}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise BenchError(f"no site-packages in {venv}")
    return found[0]


def apparent_bytes(path: Path) -> int:
    """`du -s --apparent-size` of one tree, on its own (hard links shared with uv's cache count in full)."""
    done = subprocess.run(
        ["du", "-s", "--apparent-size", "--block-size=1", str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[0])


def distributions(site: Path, top: int = 8) -> list[dict]:
    """The largest installed distributions, by the files their RECORD lists (apparent size)."""
    sizes = []
    for record in site.glob("*.dist-info/RECORD"):
        total = 0
        for line in record.read_text(errors="replace").splitlines():
            relative = line.rsplit(",", 2)[0]
            path = site / relative
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        sizes.append({"name": name, "mib": total / 2**20})
    sizes.sort(key=lambda d: -d["mib"])
    return sizes[:top]


def venv_size(venv: Path) -> dict:
    site = site_packages(venv)
    return {
        "site_packages_mib": apparent_bytes(site) / 2**20,
        "venv_mib": apparent_bytes(venv) / 2**20,
        "distributions": len(list(site.glob("*.dist-info"))),
        "largest": distributions(site),
    }


def wheel_and_requirements(project: Path, work: Path) -> tuple[Path, Path, str]:
    """The project's wheel and its runtime requirements: `make wheel`, else `uv build` and `uv export`."""
    makefile = (project / "Makefile").read_text()
    if "\nwheel:" in makefile:
        _run(["make", "wheel", f"UV={_uv()}"], project)
        wheels = sorted((project / "dist" / "wheel").glob("*.whl"))
        requirements = project / "dist" / "wheel" / "requirements.txt"
        if wheels and requirements.is_file():
            return wheels[-1], requirements, "make wheel"
    out = work / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    _run([_uv(), "build", "--wheel", "--out-dir", str(out)], project)
    requirements = out / "requirements.txt"
    exported = _run([_uv(), "export", "--frozen", "--no-dev", "--no-emit-project"], project)
    requirements.write_text(exported.stdout)
    return sorted(out.glob("*.whl"))[-1], requirements, "uv build --wheel, uv export --frozen --no-dev"


def install_sizes(project: Path, work: Path) -> dict:
    """The runtime install (the image's: wheel + runtime requirements) against the training installs."""
    project, work = project.resolve(), work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = str(project / ".venv" / "bin" / "python")
    wheel, requirements, how = wheel_and_requirements(project, work)
    runtime, training = work / "venv-runtime", work / "venv-training"
    trained = work / "requirements-training.txt"
    exported = _run([_uv(), "export", "--frozen", "--no-dev", "--all-extras", "--no-emit-project"], project)
    trained.write_text(exported.stdout)
    for venv, needs in ((runtime, requirements), (training, trained)):
        shutil.rmtree(venv, ignore_errors=True)
        _run([_uv(), "venv", "--quiet", "--python", python, str(venv)], project)
        # as the Dockerfile installs: hashed requirements, no builds, bytecode compiled; then the wheel alone
        into = ["--quiet", "--compile-bytecode", "--python", str(venv / "bin" / "python")]
        _run([_uv(), "pip", "install", *into, "--require-hashes", "--no-build", "-r", str(needs)], work)
        _run([_uv(), "pip", "install", *into, "--no-deps", str(wheel)], work)
    return {
        "wheel": wheel.name,
        "requirements_from": how,
        "runtime": venv_size(runtime),
        "training": venv_size(training),
        "project_venv": venv_size(project / ".venv"),
    }


# -- the table ------------------------------------------------------------------------------------


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _cpu(result: dict) -> str:
    value = result.get("server_cpu_ms_per_request")
    return f"{value:.2f} ms" if value is not None else "CPU not measured"


# the share of the machine's CPU time that other processes (kernel threads, the host's steal) may use in a quiet run
OTHER_WORK_QUIET = 0.10


def caveat(report: dict) -> list[str]:
    """A warning when other work used the machine while the load ran (measured, not guessed from load averages)."""
    measured = [r["other_work"] for r in (report.get("models") or {}).values() if r.get("other_work")]
    if not measured:  # a report written before the bench measured other work
        return ["Other work on the machine during the load was not measured in this run.", ""]
    cpus = measured[0]["cpus"]
    high = max(m["share"] for m in measured)
    if high <= OTHER_WORK_QUIET:
        return [
            f"The machine was otherwise quiet: while the load ran, processes other than the bench's used at most "
            f"{high:.1%} of its {cpus} CPUs' time.",
            "",
        ]
    return [
        f"**Caveat:** this run shared the {cpus}-CPU machine with other work: while the load ran, processes other",
        f"than the bench's used up to {high:.0%} of its CPU time, so the absolute figures are low and noisy. Both",
        "servers ran side by side in the same run, under the same load, so the ratios are the figures to read;",
        "the server CPU time per request is the least disturbed of them.",
        "",
    ]


def markdown(report: dict) -> str:
    """The generated section of docs/benchmarks.md: one table per model option, then install sizes."""
    lines = [
        "",
        "## Serving over HTTP",
        "",
        "`serve` (onnxruntime) against the FastAPI service a user would write (the joblib scikit-learn",
        "Pipeline), both with uvicorn (1 worker, httptools, uvloop, no access log) on loopback, the",
        "servers pinned to one CPU and the load generator (closed loop, keep-alive connections) to the",
        "other. Goal: at least 5x the requests/s for single rows at every concurrency level, and a lower",
        "p99. Memory is each server's resident set: peak (VmHWM) over the whole run, and after it.",
        "",
    ]
    if report.get("measured_alone"):
        lines += [f"This section was measured on its own (`--http-only`, {report['seconds']:.0f} s).", ""]
    lines += caveat(report)
    for model, r in (report.get("models") or {}).items():
        if "error" in r:
            lines += [f"### {model}", "", f"Not measured: {r['error']}", ""]
            continue
        lines += [f"### {model} ({r['task']})", ""]
        lines += [
            "| load | serve | baseline (scikit-learn) | ratio | goal | met |",
            "|---|---|---|---|---|---|",
        ]
        checks = {c["level"]: c for c in r["goal"]["checks"]}
        for level in r["levels"]:
            s, b = level["results"].get("serve", {}), level["results"].get("baseline", {})
            if "failed" in s or "failed" in b:
                lines.append(f"| {level['name']} | {s.get('failed', 'ok')} | {b.get('failed', 'ok')} | | | **no** |")
                continue
            errors = "" if not (s["errors"] or b["errors"]) else f" ({s['errors']} / {b['errors']} errors)"
            if level["kind"] == "single":
                c = checks[level["name"]]
                lines.append(
                    f"| {level['name']}{errors}: requests/s (server CPU per request) | "
                    f"{_fmt_rate(s['requests_per_s'])} ({_cpu(s)}) | {_fmt_rate(b['requests_per_s'])} ({_cpu(b)}) | "
                    f"{c['speedup']:.1f}x | >= 5x | {'yes' if c['met'] else '**no**'} |"
                )
                lines.append(
                    f"| {level['name']}: p50 / p99 | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} ms | "
                    f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} ms | {b['p99_ms'] / s['p99_ms']:.1f}x (p99) | lower p99 | "
                    f"{'yes' if c['p99_lower'] else '**no**'} |"
                )
            elif level["kind"] == "floor":
                lines.append(
                    f"| {level['name']}{errors} (no model: the stack's floor): requests/s | "
                    f"{_fmt_rate(s['requests_per_s'])} ({_cpu(s)}) | {_fmt_rate(b['requests_per_s'])} ({_cpu(b)}) | "
                    f"{s['requests_per_s'] / b['requests_per_s']:.1f}x | report | |"
                )
            else:
                lines.append(
                    f"| {level['name']} rows{errors}: rows/s (p50) | {_fmt_rate(s['rows_per_s'])} ({s['p50_ms']:.0f} ms) | "
                    f"{_fmt_rate(b['rows_per_s'])} ({b['p50_ms']:.0f} ms) | "
                    f"{s['rows_per_s'] / b['rows_per_s']:.1f}x | report | |"
                )
        m = r["memory_after"]  # VmHWM read after the load is the peak of the whole run
        lines.append(
            f"| memory: peak / after load | {m['serve']['peak_mib']:.0f} / {m['serve']['rss_mib']:.0f} MiB | "
            f"{m['baseline']['peak_mib']:.0f} / {m['baseline']['rss_mib']:.0f} MiB | "
            f"{m['baseline']['peak_mib'] / m['serve']['peak_mib']:.1f}x (peak) | report | |"
        )
        up = r["startup_s"]
        lines.append(
            f"| start-up to ready (`/health` 200) | {up['serve']:.1f} s | {up['baseline']:.1f} s | "
            f"{up['serve'] / up['baseline']:.1f}x | report | |"
        )
        idle = r["memory_idle"]
        lines.append(
            f"| memory: after start-up | {idle['serve']['rss_mib']:.0f} MiB | {idle['baseline']['rss_mib']:.0f} MiB | "
            f"{idle['baseline']['rss_mib'] / idle['serve']['rss_mib']:.1f}x | report | |"
        )
        a = r.get("agreement")
        if a:
            lines.append(
                f"| same {a['rows']:,} rows: same prediction | {a['same_prediction']:.1%} of rows | | "
                f"max difference {a['max_abs_difference']:.1e} | report | |"
            )
        cpu = max((x.get("client_cpu_share", 0) for level in r["levels"] for x in level["results"].values()), default=0)
        lines += [
            "",
            f"Single rows: {'goal met' if r['goal']['met'] else '**goal not met**'}. "
            f"The load generator used at most {cpu:.0%} of its CPU.",
            "",
        ]
    sizes = report.get("install")
    if sizes and "error" not in sizes:
        rt, tr, pv = sizes["runtime"], sizes["training"], sizes["project_venv"]
        lines += [
            "### Install size",
            "",
            f"Each venv on its own (`du -s --apparent-size`); the runtime install is the wheel ({sizes['wheel']}) with",
            f"its runtime requirements ({sizes['requirements_from']}), as the image installs it.",
            "",
            "| install | site-packages | distributions | largest |",
            "|---|---|---|---|",
        ]
        for label, v in (
            ("runtime (the image)", rt),
            ("training (all extras, no dev group)", tr),
            ("`make install` .venv (all extras and the dev group)", pv),
        ):
            largest = ", ".join(f"{d['name']} {d['mib']:.0f}" for d in v["largest"][:6])
            lines.append(f"| {label} | {v['site_packages_mib']:.0f} MiB | {v['distributions']} | {largest} (MiB) |")
        lines += [
            "",
            f"The runtime install is {rt['site_packages_mib'] / tr['site_packages_mib']:.0%} of training's.",
            "",
        ]
    elif sizes:
        lines += ["### Install size", "", f"Not measured: {sizes['error']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked project after `make install pipeline`")
    parser.add_argument("--work", type=Path, help="scratch folder (default: <project>/../serving-bench)")
    parser.add_argument("--quick", action="store_true", help="short levels and 10 000-row batches")
    parser.add_argument("--sizes", action="store_true", help="also measure the install sizes")
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra argument for `serve`")
    args = parser.parse_args(argv)
    work = args.work or args.project.resolve().parent / "serving-bench"
    report: dict = {"models": {}}
    try:
        model = re.search(r"^  type: *(\w+)", (args.project / "params.yaml").read_text(), re.MULTILINE)
        name = model.group(1) if model else args.project.name
        report["models"][name] = measure(args.project, work, args.quick, args.serve_arg)
        if args.sizes:
            report["install"] = install_sizes(args.project, work / "sizes")
    except BenchError as error:
        print(f"serving bench: {error}", file=sys.stderr)
        return 1
    (work / "serving.json").write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
