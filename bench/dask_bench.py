"""The Dask engine's figures (issue #25), side by side in one run on one machine: `bench/run.py --only dask`.

On a baked lightgbm project, on generated Parquet folders of 20 numeric features and a binary label (one
500 000-row file and row group per partition; `--quick`: 50 000), every command a fresh process:

1. cost: `pipeline` with `compute.engine: dask` (a LocalCluster of 2 workers x 1 thread started for the run,
   the user's default) against a bare script doing the same `lightgbm.dask` fit and predict (the Pipeline's
   own estimator parameters, the same test share, the same LocalCluster) on 10 and 30 million rows; the
   pipeline's own step times say where the extra goes;
2. memory: the pandas engine's `pipeline` on the same folders, its whole process's resident set sampled,
   against the Dask engine's (the client and every worker of its LocalCluster); which step was running when
   pandas passed a runner's memory (LIMIT_GIB), and a pandas run past the safety cap is stopped;
3. the client: `pipeline` pointed at a LocalCluster started in another process (compute.dask.address), so the
   pipeline process is the client alone; its peak is `ru_maxrss` from `os.wait4` on it (a process's own
   high-water mark: it has no cluster among its children);
4. batch scoring: `predict --engine dask` on a Parquet folder against a bare `map_partitions` that builds one
   onnxruntime session per worker and runs the same model.onnx, both writing Parquet, in rows per second.

Generated data stays in `build/bench/dask-data/` and is reused by later runs; a folder is written whole (a
staging folder renamed) with a `_spec.json` saying how, so a changed generator writes it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

PACKAGE = "my_ml_project"
FEATURES = 20  # numeric columns; the label makes 21
TARGET = "label"
SEED = 7  # the generator's; the pipeline's own seed is params.yaml's
GENERATOR_VERSION = 1  # bump when GENERATE changes: folders of another version are written again
WORKERS, THREADS = 2, 1
LIMIT_GIB = 7.0  # a GitHub-hosted runner's memory
RATIO_GOAL = 1.3  # the engine's time over the bare script's, at most
CLIENT_GOAL_MIB = 1024  # the client's peak at the largest size, below
SCORING_GOAL = 0.8  # the engine's rows/s over the bare map_partitions', at least
SAMPLE_ROWS = 20_000  # rows of the file infer-schema writes the contract from
KIB = 1024
STEP_NAMES = {"score": "evaluate", "convert": "ONNX and parity", "assemble": "bundle"}  # a step's first word, shown


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    rows_per_file: int
    memory_limit: str  # per LocalCluster worker
    scoring_rows: int  # the folder batch scoring reads
    scoring_repeats: int
    timeout: int  # seconds one run may take before it is stopped


FULL = Plan((10_000_000, 30_000_000), 500_000, "10GiB", 10_000_000, 2, 3 * 3600)
QUICK = Plan((200_000, 600_000), 50_000, "2GiB", 600_000, 1, 900)

# Run with the project's python: one file at a time, so no process holds more than one file's rows.
GENERATE = """
import sys
from pathlib import Path
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

folder, rows, per_file, seed, features, target = sys.argv[1:7]
folder, rows, per_file, seed, features = Path(folder), int(rows), int(per_file), int(seed), int(features)
weights = np.random.default_rng(seed).normal(size=features)
scale = np.linspace(1.0, 100.0, features)
folder.mkdir(parents=True)
for i, start in enumerate(range(0, rows, per_file)):
    n = min(per_file, rows - start)
    rng = np.random.default_rng([seed, i])
    x = rng.normal(size=(n, features))
    logit = 0.8 * x @ weights + 1.5 * np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]  # learnable, not linear
    columns = {f"f{j:02d}": x[:, j] * scale[j] + scale[j] for j in range(features)}
    columns[target] = (logit + 0.5 * rng.logistic(size=n) > 0).astype("int64")
    pq.write_table(pa.table(columns), folder / f"part-{i:05d}.parquet", row_group_size=n)
"""

MODEL_PARAMS = """
import json, sys
from modelkeel.project import build_pipeline
from modelkeel.settings import load_settings
print(json.dumps(build_pipeline(load_settings(sys.argv[1])).steps[-1][1].get_params(deep=False)))
"""

# What a user writes with lightgbm.dask: read the folder, split, fit, predict the test rows, score them.
BARE_FIT = """
import json, logging, sys
import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from distributed import Client, LocalCluster
from lightgbm.dask import DaskLGBMClassifier

def main():
    folder, params, target, test_size, seed, workers, threads, memory = sys.argv[1:9]
    with dask.config.set({"distributed.worker.memory.pause": False}):  # as the engine's LocalCluster
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads), memory_limit=memory,
                               processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        frame = dd.read_parquet(folder)
        train, test = frame.random_split([1 - float(test_size), float(test_size)], random_state=int(seed))
        features = [c for c in frame.columns if c != target]
        model = DaskLGBMClassifier(client=client, **json.loads(params))
        model.fit(train[features], train[target])
        predicted = model.predict(test[features])
        correct = da.map_blocks(np.equal, predicted, test[target].to_dask_array(), dtype=bool)
        print("BARE", frame.npartitions, float(correct.mean().compute()), flush=True)

if __name__ == "__main__":
    main()
"""

# The same model.onnx on every partition, one onnxruntime session per worker (kept on the worker object),
# the input columns and the predictions written as Parquet, one file per partition.
BARE_SCORE = """
import logging, sys
import dask
import dask.dataframe as dd
import numpy as np
import onnxruntime as ort
from distributed import Client, LocalCluster, get_worker

def session(model, threads):
    worker = get_worker()
    found = getattr(worker, "_bench_session", None)
    if found is None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        found = worker._bench_session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return found

def score(part, model, threads, classes):
    if not len(part):
        return part.assign(prediction=np.zeros(0, "i8"), **{f"probability_{k}": np.zeros(0, "f4") for k in classes})
    sess = session(model, threads)
    feed = {i.name: part[i.name].to_numpy(dtype=np.float32).reshape(-1, 1) for i in sess.get_inputs()}
    label, probabilities = sess.run(None, feed)
    return part.assign(prediction=label, **{f"probability_{k}": probabilities[:, i] for i, k in enumerate(classes)})

def main():
    folder, model, output, workers, threads, memory = sys.argv[1:7]
    classes = [0, 1]
    with dask.config.set({"distributed.worker.memory.pause": False}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads), memory_limit=memory,
                               processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster, Client(cluster):
        frame = dd.read_parquet(folder)
        meta = score(frame._meta, model, int(threads), classes)
        scored = frame.map_partitions(score, model, int(threads), classes, meta=meta)
        scored.to_parquet(output, write_index=False)
        print("BARE", frame.npartitions, flush=True)

if __name__ == "__main__":
    main()
"""

# A LocalCluster in a process of its own (figure 3): its address on stdout, closed when stdin closes.
CLUSTER = """
import logging, sys
import dask
from distributed import LocalCluster

if __name__ == "__main__":
    workers, threads, memory = sys.argv[1:4]
    with dask.config.set({"distributed.worker.memory.pause": False}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads), memory_limit=memory,
                               processes=True, dashboard_address=":0", silence_logs=logging.ERROR,
                               host="127.0.0.1")
    print("ADDRESS", cluster.scheduler_address, flush=True)
    sys.stdin.read()
    cluster.close()
"""


class BenchError(RuntimeError):
    pass


# ---- watching a process and its children -------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        found[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def status_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a live process in KiB; zeros when it is gone."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


class Watch(threading.Thread):
    """Samples a process and its descendants every `interval` seconds: the sum of their resident sets (its peak,
    and the step running when it first passed `limit_kib`), the largest single process's high-water mark, and
    the root's own. Reads the root's stderr as it grows for the steps the pipeline announces (`  ... <title>`
    when one starts, `  ok  <title> (<s>s)` when it ends). Kills the process group past `cap_kib` or `timeout`."""

    def __init__(self, pid: int, log: Path | None, limit_kib=None, cap_kib=None, timeout=None, interval=0.25):
        super().__init__(daemon=True)
        self.pid, self.log, self.limit, self.cap, self.timeout, self.interval = (
            pid,
            log,
            limit_kib,
            cap_kib,
            timeout,
            interval,
        )
        self.started = time.perf_counter()
        self.finished = threading.Event()
        self.peak_tree = self.peak_process = self.peak_child = self.own_hwm = 0
        self.peak_step: str | None = None
        self.crossed: dict | None = None
        self.stopped: str | None = None  # why the watch killed the run: "cap" or "timeout"
        self.steps: dict[str, float] = {}
        self.current: str | None = None
        self.last_done: str | None = None
        self._offset, self._partial = 0, ""

    def where(self) -> str:
        if self.current:
            return self.current
        return f"between steps, after {self.last_done!r}" if self.last_done else "before the first step"

    def _read_log(self) -> None:
        if self.log is None:
            return
        with contextlib.suppress(OSError), open(self.log, errors="replace") as handle:
            handle.seek(self._offset)
            text = handle.read()
            self._offset = handle.tell()
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith("  ... "):
                self.current = line[6:]
            elif line.startswith("  ok  ") and line.endswith("s)") and " (" in line:
                title, _, seconds = line[6:-2].rpartition(" (")
                with contextlib.suppress(ValueError):
                    self.steps[title] = float(seconds)
                self.current, self.last_done = None, title

    def sample(self) -> None:
        self._read_log()
        total = 0
        for pid in tree(self.pid):
            rss, hwm = status_kib(pid)
            total += rss
            self.peak_process = max(self.peak_process, hwm)
            if pid == self.pid:
                self.own_hwm = max(self.own_hwm, hwm)
            else:
                self.peak_child = max(self.peak_child, hwm)
        elapsed = time.perf_counter() - self.started
        if total > self.peak_tree:
            self.peak_tree, self.peak_step = total, self.where()
        if self.limit and total > self.limit and self.crossed is None:
            self.crossed = {"after_s": elapsed, "step": self.where()}
        if self.cap and total > self.cap:
            self.kill("cap")
        if self.timeout and elapsed > self.timeout:
            self.kill("timeout")

    def kill(self, why: str) -> None:
        self.stopped = self.stopped or why
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # its own session: the run and every process it started

    def run(self) -> None:
        while not self.finished.is_set():
            self.sample()
            self.finished.wait(self.interval)
        self._read_log()


def measured(
    cmd: list[str], cwd: Path, env: dict, logs: Path, name: str, *, limit_kib=None, cap_kib=None, timeout=None
) -> dict:
    """Run `cmd` as a fresh process (its own session) watched by Watch; wall time, exit code, memory, steps.
    `ru_maxrss` is os.wait4's for this child: its own peak, or a reaped child's when that was larger."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        watch = Watch(process.pid, err, limit_kib, cap_kib, timeout)
        watch.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    watch.finished.set()
    watch.join()
    with contextlib.suppress(ProcessLookupError, PermissionError):  # whatever it left behind (a killed run's workers)
        os.killpg(process.pid, signal.SIGKILL)
    return {
        "seconds": seconds,
        "exit_code": process.returncode,
        "stopped": watch.stopped,
        "ru_maxrss_mib": usage.ru_maxrss / KIB,
        "own_peak_mib": watch.own_hwm / KIB,
        "peak_all_mib": watch.peak_tree / KIB,
        "peak_all_step": watch.peak_step,
        "largest_process_mib": watch.peak_process / KIB,
        "largest_child_mib": watch.peak_child / KIB,  # with an in-process LocalCluster: the largest worker or nanny
        "crossed": watch.crossed,
        "steps": watch.steps,
        "stdout": out.read_text(errors="replace"),
        "stderr_tail": err.read_text(errors="replace")[-3000:],
    }


def require_ok(found: dict, what: str) -> dict:
    if found["exit_code"] != 0:
        raise BenchError(
            f"bench: {what} failed (exit {found['exit_code']}, {found['stopped'] or 'not stopped'}):\n"
            f"{found['stdout'][-2000:]}\n{found['stderr_tail']}"
        )
    return found


# ---- the project, its data and its params ------------------------------------------------------------------


def python_of(project: Path) -> str:
    return str(project / ".venv" / "bin" / "python")


def _check(done: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        raise BenchError(f"bench: {what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def dataset(project: Path, root: Path, rows: int, rows_per_file: int, env: dict) -> Path:
    """The folder of `rows` generated rows, reused when a folder of the same spec is there already."""
    spec = {
        "version": GENERATOR_VERSION,
        "rows": rows,
        "rows_per_file": rows_per_file,
        "seed": SEED,
        "features": FEATURES,
    }
    folder = root / f"rows-{rows}-per-{rows_per_file}"
    marker = folder / "_spec.json"
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return folder
    print(f"bench: dask, generating {rows:,} rows into {folder}", flush=True)
    staging = root / f".{folder.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    args = [str(staging), str(rows), str(rows_per_file), str(SEED), str(FEATURES), TARGET]
    _check(
        subprocess.run([python_of(project), "-c", GENERATE, *args], env=env, capture_output=True, text=True),
        f"generating {rows} rows",
    )
    (staging / "_spec.json").write_text(json.dumps(spec) + "\n")  # `_`: Parquet readers skip it
    staging.rename(folder)
    return folder


def contract(project: Path, env: dict) -> None:
    """The project's contract for the generated columns: `infer-schema` on a small file of the same generator
    (in the project: params.yaml's data.path then names it), which also points params.yaml at it."""
    sample = project / "data" / "bench-sample"
    shutil.rmtree(sample, ignore_errors=True)
    args = [str(sample), str(SAMPLE_ROWS), str(SAMPLE_ROWS), str(SEED + 1), str(FEATURES), TARGET]
    _check(
        subprocess.run([python_of(project), "-c", GENERATE, *args], env=env, capture_output=True, text=True),
        "generating the schema's sample",
    )
    cmd = [
        python_of(project),
        "-m",
        PACKAGE,
        "infer-schema",
        str(sample / "part-00000.parquet"),
        "--target",
        TARGET,
        "--name",
        "bench",
        "--force",
    ]
    _check(subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True), "infer-schema")


def params_file(project: Path, name: str, data: Path, engine: str, memory_limit: str, address: str | None = None):
    """A params file of the project: `data`'s Parquet files, the engine, compute.dask, its own artifacts and dist."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["path"] = str(data / "*.parquet")  # a glob: the pandas engine takes no folder
    params["compute"]["engine"] = engine
    params["compute"]["dask"].update(
        {"address": address, "n_workers": WORKERS, "threads_per_worker": THREADS, "memory_limit": memory_limit}
    )
    params["paths"]["artifacts"] = f"artifacts-{name}"
    params["paths"]["dist"] = f"dist-{name}"
    target = project / f"params-{name}.yaml"
    target.write_text(yaml.safe_dump(params, sort_keys=False))
    return target


def pipeline_cli(project: Path, params: Path) -> list[str]:
    return [python_of(project), "-m", PACKAGE, "--params", str(params), "pipeline"]


def test_metrics(project: Path, name: str) -> dict:
    path = project / f"artifacts-{name}" / "metrics.json"
    return json.loads(path.read_text())["test"] if path.is_file() else {}


def in_memory_mib(rows: int) -> float:
    """The data as one pandas frame: FEATURES float64 columns and an int64 label."""
    return rows * (FEATURES + 1) * 8 / KIB**2


def available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def separate_cluster(project: Path, env: dict, memory_limit: str, logs: Path, timeout: int):
    """A LocalCluster in a process of its own; yields (its address, the Watch on it and its workers)."""
    log = logs / "cluster.err"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [python_of(project), "-c", CLUSTER, str(WORKERS), str(THREADS), memory_limit],
            cwd=project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    watch = Watch(process.pid, None, timeout=timeout)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("ADDRESS "):
            raise BenchError(f"bench: the separate LocalCluster did not start:\n{log.read_text()[-3000:]}")
        watch.start()
        yield line.split()[1], watch
    finally:
        watch.finished.set()
        with contextlib.suppress(OSError):
            if process.stdin:
                process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)  # the cluster closes its workers
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ---- the four figures --------------------------------------------------------------------------------------


def measure(project: Path, data_root: Path, quick: bool, env: dict, rows: list[int] | None = None) -> dict:
    """Every figure on `project` (baked with model=lightgbm and installed). `env`: the environment runs get;
    `rows`: other sizes than the plan's (--dask-rows)."""
    plan = QUICK if quick else FULL
    if rows:
        plan = dataclasses.replace(plan, sizes=tuple(sorted(rows)))
    started = time.perf_counter()
    env = {k: v for k, v in env.items() if k != "DASK_SCHEDULER_ADDRESS"}  # each run names its own cluster
    logs = project / "bench-logs"
    shutil.rmtree(logs, ignore_errors=True)
    print("bench: dask, the contract (infer-schema on a sample of the generator)", flush=True)
    contract(project, env)
    folders = {rows: dataset(project, data_root, rows, plan.rows_per_file, env) for rows in plan.sizes}
    if plan.scoring_rows not in folders:
        folders[plan.scoring_rows] = dataset(project, data_root, plan.scoring_rows, plan.rows_per_file, env)
    params = json.loads(
        _check(
            subprocess.run(
                [python_of(project), "-c", MODEL_PARAMS, str(project / "params.yaml")],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            ),
            "reading the model's parameters",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    settings = yaml.safe_load((project / "params.yaml").read_text())
    test_size, seed = float(settings["data"]["test_size"]), int(settings["seed"])

    cost, runs = [], {}
    for rows in plan.sizes:
        folder = folders[rows]
        name = f"dask-{rows}"
        print(f"bench: dask, {rows:,} rows: pipeline on the Dask engine", flush=True)
        engine = require_ok(
            measured(
                pipeline_cli(project, params_file(project, name, folder, "dask", plan.memory_limit)),
                project,
                env,
                logs,
                name,
                timeout=plan.timeout,
            ),
            f"the Dask engine's pipeline on {rows:,} rows",
        )
        engine["test"] = test_metrics(project, name)
        print(f"bench:   {engine['seconds']:.1f} s; bare lightgbm.dask fit and predict", flush=True)
        bare_cmd = [
            python_of(project),
            "-c",
            BARE_FIT,
            str(folder),
            json.dumps(params),
            TARGET,
            str(test_size),
            str(seed),
            str(WORKERS),
            str(THREADS),
            plan.memory_limit,
        ]
        bare = require_ok(
            measured(bare_cmd, project, env, logs, f"bare-{rows}", timeout=plan.timeout), f"the bare script on {rows:,}"
        )
        line = [x for x in bare["stdout"].splitlines() if x.startswith("BARE ")][-1].split()
        bare["partitions"], bare["accuracy"] = int(line[1]), float(line[2])
        print(f"bench:   {bare['seconds']:.1f} s", flush=True)
        runs[rows] = engine
        cost.append(
            {
                "rows": rows,
                "files": len(list(folder.glob("*.parquet"))),
                "engine": slim(engine),
                "bare": slim(bare),
                "ratio": engine["seconds"] / bare["seconds"],
            }
        )

    limit_kib = int(LIMIT_GIB * KIB * KIB)
    cap_kib = min(2 * limit_kib, int(0.75 * available_kib()))
    memory = []
    for rows in plan.sizes:
        name = f"pandas-{rows}"
        print(f"bench: dask, {rows:,} rows: pipeline on the pandas engine", flush=True)
        cmd = pipeline_cli(project, params_file(project, name, folders[rows], "pandas", plan.memory_limit))
        found = measured(cmd, project, env, logs, name, limit_kib=limit_kib, cap_kib=cap_kib, timeout=plan.timeout)
        if found["exit_code"] != 0 and found["stopped"] != "cap":
            require_ok(found, f"the pandas engine's pipeline on {rows:,} rows")
        print(f"bench:   {found['seconds']:.1f} s, peak {found['peak_all_mib']:,.0f} MiB", flush=True)
        memory.append({"rows": rows, "pandas": slim(found), "dask": slim(runs[rows]), "cap_mib": cap_kib / KIB})
        if found["crossed"] or found["stopped"]:
            break  # the size where pandas no longer fits: a larger one would not either

    rows = plan.sizes[-1]
    print(f"bench: dask, {rows:,} rows: the client alone, against a LocalCluster in another process", flush=True)
    with separate_cluster(project, env, plan.memory_limit, logs, plan.timeout) as (address, cluster):
        name = f"client-{rows}"
        params_path = params_file(project, name, folders[rows], "dask", plan.memory_limit, address)
        found = require_ok(
            measured(pipeline_cli(project, params_path), project, env, logs, name, timeout=plan.timeout),
            f"the Dask engine's pipeline against a separate cluster on {rows:,} rows",
        )
        cluster.sample()
        workers_mib = cluster.peak_process / KIB
    client = {"rows": rows, "data_mib": in_memory_mib(rows), "workers_largest_mib": workers_mib, **slim(found)}
    print(f"bench:   client peak {client['ru_maxrss_mib']:,.0f} MiB", flush=True)

    scoring = score(project, folders[plan.scoring_rows], plan, env, logs)
    return {
        "plan": {
            "quick": quick,
            "sizes": list(plan.sizes),
            "rows_per_file": plan.rows_per_file,
            "memory_limit": plan.memory_limit,
            "workers": WORKERS,
            "threads_per_worker": THREADS,
            "features": FEATURES,
            "limit_gib": LIMIT_GIB,
        },
        "model_params": params,
        "cost": cost,
        "memory": memory,
        "client": client,
        "scoring": scoring,
        "seconds": time.perf_counter() - started,
    }


def slim(found: dict) -> dict:
    """A run's figures without its output."""
    return {k: v for k, v in found.items() if k not in ("stdout", "stderr_tail")}


def score(project: Path, folder: Path, plan: Plan, env: dict, logs: Path) -> dict:
    """predict --engine dask against the bare map_partitions on `folder`, alternating, best of each."""
    rows = json.loads((folder / "_spec.json").read_text())["rows"]
    name = f"dask-{plan.sizes[0]}"
    bundles = [p for p in (project / f"dist-{name}").iterdir() if p.is_dir()]
    if len(bundles) != 1:
        raise BenchError(f"bench: expected one bundle in dist-{name}, found {bundles}")
    bundle = bundles[0]
    params = project / f"params-{name}.yaml"  # its dist holds the bundle: `predict` takes it as this checkout's own
    out = project / "bench-scores"
    engine_cmd = [
        python_of(project),
        "-m",
        PACKAGE,
        "--params",
        str(params),
        "predict",
        "--engine",
        "dask",
        "--bundle",
        str(bundle),
        "--input",
        str(folder),
        "--output",
        str(out / "engine"),
        "--overwrite",
    ]
    bare_cmd = [
        python_of(project),
        "-c",
        BARE_SCORE,
        str(folder),
        str(bundle / "model.onnx"),
        str(out / "bare"),
        str(WORKERS),
        str(THREADS),
        plan.memory_limit,
    ]
    engine, bare = [], []
    for repeat in range(plan.scoring_repeats):
        order = [("engine", engine_cmd, engine), ("bare", bare_cmd, bare)]
        for side, cmd, found in order if repeat % 2 == 0 else order[::-1]:
            print(f"bench: dask, batch scoring {rows:,} rows ({side})", flush=True)
            shutil.rmtree(out / side, ignore_errors=True)
            done = require_ok(
                measured(cmd, project, env, logs, f"score-{side}-{repeat}", timeout=plan.timeout),
                f"batch scoring ({side})",
            )
            written = sum(1 for _ in (out / side).glob("*.parquet"))
            found.append({**slim(done), "files_written": written})
            print(f"bench:   {done['seconds']:.1f} s", flush=True)
    best_engine = min(r["seconds"] for r in engine)
    best_bare = min(r["seconds"] for r in bare)
    shutil.rmtree(out, ignore_errors=True)  # millions of scored rows: not kept
    return {
        "rows": rows,
        "files": len(list(folder.glob("*.parquet"))),
        "bundle_trained_on": plan.sizes[0],
        "engine": {"runs": engine, "seconds": best_engine, "rows_per_s": rows / best_engine},
        "bare": {"runs": bare, "seconds": best_bare, "rows_per_s": rows / best_bare},
        "ratio": best_bare / best_engine,
    }


# ---- the section of benchmarks.md --------------------------------------------------------------------------


def _mib(value: float) -> str:
    return f"{value / KIB:.2f} GiB" if value >= KIB else f"{value:,.0f} MiB"


def _steps_line(run: dict) -> str:
    taken = run["steps"]
    first = [title.split(" ")[0].rstrip(",") for title in taken]
    named = ", ".join(f"{STEP_NAMES.get(w, w)} {s:.1f} s" for w, s in zip(first, taken.values(), strict=True))
    return f"{named}; rest {run['seconds'] - sum(taken.values()):.1f} s" if taken else ""


def markdown(section: dict) -> str:
    plan = section["plan"]
    cluster = f"{plan['workers']} workers x {plan['threads_per_worker']} thread, memory_limit {plan['memory_limit']}"
    lines = [
        "",
        "## The Dask engine (issue #25)",
        "",
        f"A baked lightgbm project on generated Parquet: {plan['features']} float64 features and a 0/1 label, one",
        f"file (and partition) per {plan['rows_per_file']:,} rows, in build/bench/dask-data. Every command is a",
        f"fresh process on a LocalCluster of {cluster}; measured in {section['seconds']:.0f} s.",
        *(
            ["**`--quick` sizes**: the fixed costs dominate; the goals are for 10 and 30 million rows."]
            if plan["quick"]
            else []
        ),
        *(["This section was measured on its own (`--only dask`)."] if section.get("measured_alone") else []),
        "",
        "| figure | ours | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]

    def row(figure, ours, reference, ratio, goal, met):
        lines.append(f"| {figure} | {ours} | {reference} | {ratio} | {goal} | {'yes' if met else '**no**'} |")

    for c in section["cost"]:
        e, b = c["engine"], c["bare"]
        accuracy = e.get("test", {}).get("accuracy")
        row(
            f"{c['rows']:,} rows: `pipeline` (Dask engine) against bare `lightgbm.dask` fit + predict",
            f"{e['seconds']:.1f} s" + (f", test accuracy {accuracy:.4f}" if accuracy is not None else ""),
            f"{b['seconds']:.1f} s, test accuracy {b['accuracy']:.4f}",
            f"{c['ratio']:.2f}x",
            f"<= {RATIO_GOAL:g}x",
            c["ratio"] <= RATIO_GOAL,
        )
    for m in section["memory"]:
        p, d = m["pandas"], m["dask"]
        if p["stopped"] == "cap":
            pandas = f"stopped at {_mib(p['peak_all_mib'])} after {p['seconds']:.0f} s (safety cap)"
        else:
            pandas = f"{p['seconds']:.1f} s, peak {_mib(p['peak_all_mib'])}"
        where = p["crossed"]
        fits = where is None and not p["stopped"]
        passed = "" if fits else f"; passed {plan['limit_gib']:g} GiB at {where['after_s']:.0f} s in {where['step']}"
        time_ratio = "" if p["stopped"] else f"{p['seconds'] / d['seconds']:.2f}x time"
        lines.append(
            f"| {m['rows']:,} rows: pandas engine against Dask engine, wall time and peak memory "
            f"| pandas: {pandas}{passed} "
            f"| Dask: {d['seconds']:.1f} s, peak {_mib(d['peak_all_mib'])} in all (client and scheduler "
            f"{_mib(d['own_peak_mib'])}, largest worker {_mib(d['largest_child_mib'])}) "
            f"| {time_ratio} | report: fits {plan['limit_gib']:g} GiB? "
            f"| {'pandas fits' if fits else 'pandas does not'} |"
        )
    c = section["client"]
    # "never holds the whole data": checkable once the data outweighs what the client imports (quick sizes do not)
    holds = c["data_mib"] > CLIENT_GOAL_MIB and c["ru_maxrss_mib"] >= c["data_mib"]
    met = c["ru_maxrss_mib"] < CLIENT_GOAL_MIB and not holds
    row(
        f"{c['rows']:,} rows: the client's peak (`pipeline` against a LocalCluster in another process)",
        f"{_mib(c['ru_maxrss_mib'])} (ru_maxrss)",
        f"the data as one frame: {_mib(c['data_mib'])}; largest worker {_mib(c['workers_largest_mib'])}",
        f"{c['ru_maxrss_mib'] / c['data_mib']:.2f}x the data",
        f"< {CLIENT_GOAL_MIB / KIB:g} GiB, below the data",
        met,
    )
    s = section["scoring"]
    row(
        f"batch scoring {s['rows']:,} rows in {s['files']} files: `predict --engine dask` against bare "
        "`map_partitions` + onnxruntime",
        f"{s['engine']['rows_per_s'] / 1e6:.2f} M rows/s ({s['engine']['seconds']:.1f} s)",
        f"{s['bare']['rows_per_s'] / 1e6:.2f} M rows/s ({s['bare']['seconds']:.1f} s)",
        f"{s['ratio']:.2f}x",
        f">= {SCORING_GOAL:g}x",
        s["ratio"] >= SCORING_GOAL,
    )
    lines += [
        "",
        "Where the Dask engine's time went (the pipeline's own steps; the rest is start-up, the LocalCluster,",
        "the split's counts, the samples and writing the artifacts):",
        "",
        "| rows | pipeline | bare script | steps |",
        "|---|---|---|---|",
    ]
    for c in section["cost"]:
        lines.append(
            f"| {c['rows']:,} | {c['engine']['seconds']:.1f} s | {c['bare']['seconds']:.1f} s | "
            f"{_steps_line(c['engine'])} |"
        )
    lines += [
        "",
        "How each figure is measured:",
        "",
        "- time: wall time of the whole process, cluster start-up included on both sides, one run each. The bare",
        "  script reads the folder with `dd.read_parquet` (one partition per file), `random_split`s it with the",
        "  pipeline's test share and seed, fits `DaskLGBMClassifier` with the parameters of the Pipeline's own",
        "  estimator (`get_params()`) on every training row and scores the test rows; the engine does that and",
        "  validates, fingerprints, evaluates by reductions, exports with the parity gate and bundles.",
        "- memory: the resident sets of the process and all its children summed, sampled every 0.25 s (shared",
        "  pages count once per process): the pandas engine is one process; the Dask engine's sum is the client",
        "  with its in-process scheduler, the nannies and the workers. A pandas run past the safety cap",
        f"  ({_mib(section['memory'][0]['cap_mib'])}, to spare the machine) is stopped; the step named is the one",
        f"  running when the sum first passed {plan['limit_gib']:g} GiB (a hosted GitHub runner's memory).",
        "- the client: the LocalCluster runs in a separate process (`dask` LocalCluster, the same workers) and the",
        "  project points at it with compute.dask.address; `ru_maxrss` from `os.wait4` on the `pipeline` process",
        "  is then the client's own peak (with an in-process LocalCluster it would be the largest worker's:",
        "  wait4 reports the largest of a process and its reaped children).",
        "- scoring: the bundle of the smallest run; rows/s = rows / wall time of the whole command (cluster",
        f"  start-up included), best of {len(s['engine']['runs'])} alternating run(s) each. The bare script builds one",
        f"  onnxruntime session per worker ({THREADS} intra-op thread, as the worker has) kept on the worker, feeds",
        "  the columns as float32 and writes the input columns and the predictions with `to_parquet`.",
    ]
    return "\n".join(lines)
