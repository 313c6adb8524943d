"""`make bench`: the template-wide benchmark table, measured side by side in one run.

Bakes projects from this template, installs them from their lock file and measures:

1. serving, validation and fingerprinting for each model option (the generated project's own
   `bench` command: onnxruntime against scikit-learn, pandera throughput, hashing against sha256sum);
2. pipeline overhead: `pipeline` (validate, train, evaluate, export with parity, bundle, verify)
   against a bare script that only reads the same CSV, fits the same scikit-learn model and
   predicts, both as fresh processes (best of two runs each), on the sample data itself (the
   fixed cost of starting and of each gate) and resampled with noise to larger sizes;
3. scale: `validate` (read, contract, fingerprint) on 1 and 3 million rows (and 10 million with
   --full), wall time and peak memory;
4. time to first model: bake, install (dependencies already in uv's cache), pipeline and verify;
5. serving over HTTP (`bench/serving.py`): each model option's `serve` against the FastAPI service
   a user would write around the joblib scikit-learn Pipeline, under one load generator, and the
   runtime install's size against the training install's (skip with --no-http);
6. the loop per batch: one `retrain` (a fresh process, wall time and peak memory) against a lightgbm
   champion in a folder registry, for one new batch of 10 000, 100 000 and 1 000 000 rows, from
   the champion's own population (the loop decides not to retrain) and shifted (it trains and
   compares a challenger; at 1 000 000 rows with --full only); `--only loop` measures just this section;
7. the Dask engine (`bench/dask_bench.py`, issue #25; with --dask or --full only, it takes long): `pipeline` on
   the Dask engine against a bare `lightgbm.dask` script at 10 and 30 million rows, the pandas engine against
   it in memory, the client's peak, and `predict --engine dask` against a bare `map_partitions`;
   `--only dask` measures just this section (with --quick, at small sizes).

Writes `benchmarks.md` and `benchmarks.json` (default: docs/). Ratios are the figures to read:
absolute times on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dask_bench  # bench/dask_bench.py, next to this script
import serving as http_serving  # bench/serving.py, next to this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import localindex  # tests/localindex.py: this checkout's library, served on loopback as baked projects get it
from helpers import key_pair  # tests/helpers.py: an offline signing key pair

ROOT = Path(__file__).resolve().parents[1]
PREDICT_ONE_ROW_GOAL = 5  # load_model(...).predict on one row against the Pipeline's predict (issue #27)
BATCH_GOAL = 2  # 100 000-row batches: onnxruntime, and load_model(...).predict, against scikit-learn (issue #27)
MODELS = ("random_forest", "linear", "gradient_boosting", "lightgbm", "xgboost")
PACKAGE = "my_ml_project"

MAKE_DATA = """
import sys
import numpy as np
import pandas as pd

source, rows, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else rows
shift = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0  # numeric features moved by this many standard deviations
frame = pd.read_csv(source)
rng = np.random.default_rng(seed)
big = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
noise = {"bill_length_mm": 0.3, "bill_depth_mm": 0.15, "flipper_length_mm": 1.0, "body_mass_g": 25.0}
for column, scale in noise.items():
    values = big[column] + rng.normal(0, scale, rows)
    values = values.clip(frame[column].min(), frame[column].max()) + shift * frame[column].std()
    big[column] = values.round(1)
big.to_csv(target, index=False)
"""

BARE_SCRIPT = """
import sys
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

frame = pd.read_csv(sys.argv[1])
frame = frame[frame["species"].notna()]
numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
categorical = ["island", "sex"]
X, y = frame[numeric + categorical], frame["species"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
model = Pipeline([
    ("features", ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),  # a missing value is a category
    ])),
    ("model", LogisticRegression(C=1.0, max_iter=1000, random_state=42)),
])
model.fit(X_train, y_train)
print((model.predict(X_test) == y_test).mean())
"""

PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout[-2000:])
sys.stderr.write(done.stderr[-20000:])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
raise SystemExit(done.returncode)
"""


def environment() -> dict:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold imports without bytecode caching cost seconds
    if not env.get("UV"):
        env["UV"] = shutil.which("uv") or "uv"
    return env


def run(
    cmd: list[str], cwd: Path, timeout: int = 7200, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, env={**environment(), **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(cmd)}` failed in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done


# the seconds each bake spent re-resolving modelkeel from the local index: a step a user's bake does not
# have (its lock names the public index's file), so time to first model leaves it out
RELOCK_SECONDS: dict[Path, float] = {}


def bake(out: Path, **answers: str) -> Path:
    """A baked project whose modelkeel pin resolves from the local index `main` serves (UV_INDEX)."""
    shutil.rmtree(out, ignore_errors=True)
    extra = [f"{k}={v}" for k, v in answers.items()]
    run([sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(out), str(ROOT), *extra], ROOT)
    project = out / "my-ml-project"
    started = time.perf_counter()
    done = localindex.relock(project, os.environ["UV_INDEX"])
    RELOCK_SECONDS[project] = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: uv lock of {project} against the local index failed:\n{done.stderr[-3000:]}")
    return project


def python_of(project: Path) -> str:
    return str(project / ".venv" / "bin" / "python")


def http_bench(folder: Path, quick: bool) -> dict:
    """`bench/serving.py` on the project baked in `folder`: its figures, or the reason it could not run."""
    try:
        return http_serving.measure(folder / "my-ml-project", folder / "http", quick)
    except http_serving.BenchError as error:
        print(f"bench: serving over HTTP not measured: {error}", flush=True)
        return {"error": str(error).splitlines()[0]}


def time_to_first_model(work: Path) -> dict:
    warm = bake(work / "warm")
    run(["make", "install"], warm)  # fills uv's cache: dependency download is not part of the figure
    started = time.perf_counter()
    project = bake(work / "first")
    run(["make", "install"], project)
    run(["make", "pipeline"], project)  # ends with verify
    return {"seconds": time.perf_counter() - started - RELOCK_SECONDS[project]}


def baked(work: Path, model: str) -> Path:
    """A fresh project of `model`, installed, its pipeline run (a bundle in dist/)."""
    project = bake(work / model, model=model)
    run(["make", "install"], project)
    run(["make", "pipeline"], project)
    return project


def serving(work: Path, model: str, rows: str, validation_rows: int, budget: float) -> dict:
    project = baked(work, model)
    args = ["bench", "--rows", rows, "--validation-rows", str(validation_rows), "--budget", str(budget)]
    run([python_of(project), "-m", PACKAGE, *args], project)
    return json.loads((project / "artifacts" / "bench.json").read_text())


def scaled_data(project: Path, rows: int | None, work: Path) -> Path:
    """The sample data resampled with noise to `rows` rows (None: the sample data itself)."""
    if rows is None:
        return project / "data" / "raw" / "penguins.csv"
    target = work / f"penguins_{rows}.csv"
    if not target.is_file():
        run([python_of(project), "-c", MAKE_DATA, "data/raw/penguins.csv", str(rows), str(target)], project)
    return target


def params_for(project: Path, data: Path, name: str) -> Path:
    """A params file of the project reading `data`, writing to its own artifacts and dist folders."""
    text = (project / "params.yaml").read_text()
    text = text.replace("path: data/raw/penguins.csv", f"path: {data}")
    text = text.replace("artifacts: artifacts", f"artifacts: artifacts-{name}").replace(
        "dist: dist", f"dist: dist-{name}"
    )
    target = project / f"params-{name}.yaml"
    target.write_text(text)
    return target


def scaled(work: Path, rows: int | None, purpose: str) -> tuple[Path, Path, list[str]]:
    """The linear project, its data resampled to `rows` rows (None: as shipped), and its CLI reading that data."""
    project = work / "linear" / "my-ml-project"
    data = scaled_data(project, rows, work)
    params = params_for(project, data, f"{purpose}-{rows or 'sample'}")
    return project, data, [python_of(project), "-m", PACKAGE, "--params", str(params)]


def overhead(work: Path, sizes: list[int], repeats: int) -> list[dict]:
    """`pipeline` against the bare script on the sample data (the fixed cost) and on each size.

    Each side runs `repeats` times, alternating, and keeps its fastest run: the shared machine
    only ever adds time.
    """
    results = []
    for rows in [None, *sizes]:
        project, data, cli = scaled(work, rows, "overhead")
        ours, bare = [], []
        for _ in range(repeats):
            ours.append(run([*cli, "pipeline"], project)[0])
            bare.append(run([python_of(project), "-c", BARE_SCRIPT, str(data)], project)[0])
        results.append(
            {
                "rows": rows or len(data.read_text().splitlines()) - 1,
                "sample": rows is None,
                "pipeline_s": min(ours),
                "bare_s": min(bare),
                "ratio": min(ours) / min(bare),
                "runs": {"pipeline_s": ours, "bare_s": bare},
            }
        )
    return results


def scale(work: Path, sizes: list[int]) -> list[dict]:
    results = []
    for rows in sizes:
        project, data, cli = scaled(work, rows, "scale")
        seconds, done = run([python_of(project), "-c", PEAK, *cli, "validate"], project)
        peak_kb = int(done.stdout.rsplit("PEAK_KB", 1)[1].split()[0])
        results.append({"rows": rows, "seconds": seconds, "peak_mib": peak_kb / 1024, "bytes": data.stat().st_size})
    return results


LOOP_MODEL = "lightgbm"
LOOP_SHIFT_STDS = 1.5  # the shifted batch: every numeric feature moved by this many standard deviations, labels kept
LOOP_CASES = {"same": 0.0, "shifted": LOOP_SHIFT_STDS}
LOOP_STEPS = {"convert": "ONNX and parity", "assemble": "bundle", "score": "scores"}  # the pipeline's steps, shown
LOOP_EXPECTED = {"same": ("no-retrain",), "shifted": ("promote", "needs-approval", "keep-champion")}


def batch_data(project: Path, rows: int, shift: float, work: Path) -> Path:
    """A batch of `rows` rows resampled with MAKE_DATA's noise (a seed of its own), numeric features moved by `shift`
    standard deviations: the same rows for every shift, so the shifted batch differs only by the shift."""
    seed = rows + 1  # not the seed of any training file (MAKE_DATA seeds those with their row count)
    target = work / "loop-batches" / f"penguins_{rows}_seed{seed}_shift{shift:g}.csv"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        source = "data/raw/penguins.csv"
        run([python_of(project), "-c", MAKE_DATA, source, str(rows), str(target), str(seed), str(shift)], project)
    return target


def steps(stderr: str) -> dict[str, float]:
    """The seconds of each step the pipeline announced (`  ok  <title> (<s>s)`, modelkeel's console.step)."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith("  ok  ") and line.endswith("s)") and " (" in line:
            title, _, seconds = line[6:-2].rpartition(" (")
            try:
                found[title] = float(seconds)
            except ValueError:
                continue
    return found


def loop_run(
    project: Path, cli: list[str], registry: Path, env: dict[str, str], batch: Path, signer: list[str]
) -> dict:
    """One `retrain` on `batch` alone in data/incoming/: wall time, the child's peak memory, what loop.json says."""
    incoming = project / "data" / "incoming"
    state = project / "artifacts-loop" / "retrain"
    for old in incoming.glob("*.csv"):
        old.unlink()
    shutil.rmtree(state, ignore_errors=True)
    shutil.copyfile(batch, incoming / batch.name)
    command = [python_of(project), "-c", PEAK, *cli, "retrain", "--url", str(registry), *signer]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, env={**environment(), **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (incoming / batch.name).unlink()
    record = state / "loop.json"
    if not record.is_file():  # a crash before the loop could write its record: nothing to report
        raise SystemExit(f"bench: `retrain` wrote no loop.json for {batch.name}:\n{done.stdout}\n{done.stderr}")
    found = json.loads(record.read_text())
    peak_kb = int(done.stdout.rsplit("PEAK_KB", 1)[1].split()[0]) if "PEAK_KB" in done.stdout else 0
    numeric = [d for d in found["drift"] if d["ks_statistic"] is not None]
    return {
        "seconds": seconds,
        "peak_mib": peak_kb / 1024,
        "exit_code": done.returncode,
        "outcome": found["outcome"],
        "reasons": found["reasons"],
        "drifted": [d["feature"] for d in found["drift"] if d["drifted"]],
        "largest_psi": max((d["psi"] for d in found["drift"]), default=None),
        "largest_ks": max((d["ks_statistic"] for d in numeric), default=None),
        "drift": [
            {k: d[k] for k in ("feature", "kind", "psi", "ks_statistic", "ks_pvalue", "chi2_pvalue", "drifted")}
            for d in found["drift"]
        ],
        "trend": {k: v for k, v in (found.get("trend") or {}).items() if k not in ("rule", "by_batch")},
        "scores": {k: v for k, v in (found.get("scores") or {}).items() if k != "rule"},
        "challenger": found.get("challenger") or {},
        "challenger_steps": steps(done.stderr),
    }


def loop(work: Path, model: str, training_rows: int, cases: list[tuple[int, str]], fresh: bool = False) -> dict:
    """`retrain` per batch: a champion trained on `training_rows` rows and published to a folder registry, then
    one batch per (rows, case) of LOOP_CASES (the same population or shifted), each alone in data/incoming/.

    Reuses the project of `model` this run baked (`fresh`: bakes it anew, so it installs this checkout's library).
    """
    started = time.perf_counter()
    project = work / model / "my-ml-project"
    if fresh or not (project / ".venv").is_dir():
        baked(work, model)
    scaled = scaled_data(project, training_rows, work)
    training = project / "data" / "bench" / scaled.name  # inside the project: a release's data must be (rebuild)
    if scaled != training:
        training.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(scaled, training)
    cli = [python_of(project), "-m", PACKAGE, "--params", str(params_for(project, training, "loop"))]
    registry, cache = work / "loop-registry", work / "loop-cache"
    for folder in (registry, cache, project / "artifacts-loop", project / "dist-loop"):
        shutil.rmtree(folder, ignore_errors=True)
    # offline, a key pair signs the champion (a baked project's signer is its release workflow, keyless)
    public, private = key_pair(work / "loop-keys")
    signer = ["--signer-key", str(public)]
    env = {"MODEL_REGISTRY_CACHE": str(cache), "MODEL_SIGNING_KEY": private}  # the champion's cache stays here
    pipeline_s, _ = run([*cli, "pipeline"], project)
    run([*cli, "publish", "--url", str(registry), *signer], project, env=env)
    run([*cli, "download", "--url", str(registry), *signer], project, env=env)  # every timed run finds it cached
    runs = []
    for rows, case in cases:
        print(f"bench: loop, {rows:,}-row batch ({case})", flush=True)
        shift = LOOP_CASES[case]
        found = loop_run(project, cli, registry, env, batch_data(project, rows, shift, work), signer)
        runs.append({"rows": rows, "case": case, "shift_stds": shift, **found})
        print(f"bench:   {found['seconds']:.1f} s, peak {found['peak_mib']:,.0f} MiB: {found['outcome']}", flush=True)
    return {
        "model": model,
        "training_rows": training_rows,
        "shift_stds": LOOP_SHIFT_STDS,
        "pipeline_s": pipeline_s,
        "runs": runs,
        "seconds": time.perf_counter() - started,
    }


def loop_markdown(section: dict) -> str:
    """The loop per batch: a section of benchmarks.md of its own."""
    training = f"{section['training_rows']:,}"
    lines = [
        "",
        "## The loop per batch",
        "",
        f"One `retrain` (a fresh process) per line: a {section['model']} champion trained on {training} rows (the",
        "sample resampled with noise) and published to a folder registry, one new batch alone in",
        "data/incoming/. A batch of the same population is ingested, validated, checked for copies",
        "of the trusted set, measured for drift and the champion's metric on its rows, and should",
        f"change nothing (no-retrain); in the shifted one every numeric feature moved by {section['shift_stds']:g}",
        "standard deviations (labels kept), so the loop also trains a challenger on the training rows",
        "plus the batch through every gate of the pipeline and compares both on its held-out new rows.",
        "Wall time and peak memory are the `retrain` process's; the outcome is the one loop.json",
        f"recorded. The champion's own pipeline on {training} rows took {section['pipeline_s']:.1f} s.",
        *(
            ["This section was measured on its own (`--only loop`), after the rest."]
            if section.get("measured_alone")
            else []
        ),
        "",
        "The last column splits the time of a run that trained a challenger: its pipeline's steps, and the rest",
        "(start-up, ingest, validation, drift, the champion's metric, comparing both models, the trusted set).",
        "",
        "| batch | wall time | peak memory | outcome | goal | met | drift (largest) | where the time went |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in section["runs"]:
        case = "same population" if r["case"] == "same" else f"shifted {r['shift_stds']:g} sd"
        outcome = r["outcome"]
        if r["case"] == "shifted" and r["scores"].get("gain") is not None:
            s = r["scores"]
            interval = f" [{s['interval'][0]:.3g}, {s['interval'][1]:.3g}]" if s.get("interval") else ""
            outcome += f" (gain {s['gain']:.3g}{interval} on {s['rows']:,} rows)"
        expected = LOOP_EXPECTED[r["case"]]
        goal = expected[0] if len(expected) == 1 else "a challenger compared"
        met = r["outcome"] in expected and (r["case"] == "same" or bool(r["challenger"].get("version")))
        psi = "" if r["largest_psi"] is None else f"PSI {r['largest_psi']:.3g}"
        ks = "" if r["largest_ks"] is None else f", KS {r['largest_ks']:.3g}"
        drifted = f"; drifted: {', '.join(r['drifted'])}" if r["drifted"] else ""
        if r["outcome"] not in expected and r["reasons"]:
            outcome += f": {r['reasons'][0][:160]}"
        taken = r["challenger_steps"]
        named = {t.split(" ")[0].rstrip(","): sec for t, sec in taken.items()}  # the step's first word
        pipeline = ", ".join(f"{LOOP_STEPS.get(name, name)} {sec:.1f} s" for name, sec in named.items())
        if taken:
            pipeline = f"pipeline: {pipeline}; rest {r['seconds'] - sum(taken.values()):.1f} s"
        lines.append(
            f"| {r['rows']:,} rows, {case} | {r['seconds']:.1f} s | {r['peak_mib']:,.0f} MiB | {outcome} "
            f"| {goal} | {'yes' if met else '**no**'} | {psi}{ks}{drifted} | {pipeline} |"
        )
    for case in LOOP_CASES:
        runs = [r for r in section["runs"] if r["case"] == case]
        if len(runs) >= 2:
            small, large = runs[0], runs[-1]
            per = (large["seconds"] - small["seconds"]) / (large["rows"] - small["rows"]) * 100_000
            lines.append("")
            lines.append(
                f"{'Same population' if case == 'same' else 'Shifted'}: {small['seconds']:.1f} s at {small['rows']:,} "
                f"rows to {large['seconds']:.1f} s at {large['rows']:,}, {per:.2f} s per extra 100,000 rows."
            )
    return "\n".join(lines)


def machine() -> dict:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = None
    if Path("/proc/meminfo").is_file():
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {"python": platform.python_version(), "cpus": cpus, "memory_gib": memory, "system": platform.platform()}


def table(report: dict) -> str:
    m = report["machine"]
    where = f"{m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` ({report['mode']} run, {report['seconds']:.0f} s) on {where}.",
        "Ratios compare two things measured side by side in the same run; absolute times on a shared",
        "machine are noisy. `docs/benchmarks.json` holds every number.",
        "",
        "| figure | ours | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]

    def row(figure, ours, reference, ratio, goal, met):
        lines.append(f"| {figure} | {ours} | {reference} | {ratio} | {goal} | {'yes' if met else '**no**'} |")

    for model, r in report["serving"].items():
        s = r["serving"]["single_row"]
        ratio = s["ratio_median"]
        row(
            f"{model}: single row, median",
            f"{s['onnx']['median_ms']:.3f} ms (onnxruntime)",
            f"{s['sklearn']['median_ms']:.3f} ms (scikit-learn)",
            f"{ratio:.1f}x",
            ">= 20x",
            ratio >= 20,
        )
        p99 = s["sklearn"]["p99_ms"] / s["onnx"]["p99_ms"]
        row(
            f"{model}: single row, p99",
            f"{s['onnx']['p99_ms']:.3f} ms",
            f"{s['sklearn']['p99_ms']:.3f} ms",
            f"{p99:.1f}x",
            "report",
            True,
        )
        for b in r["serving"]["batches"]:
            goal = BATCH_GOAL if b["rows"] >= 100_000 else 1  # the issue #27 goal is for 100 000-row batches
            row(
                f"{model}: batch of {b['rows']:,} rows",
                f"{b['onnx_ms']:.2f} ms",
                f"{b['sklearn_ms']:.2f} ms",
                f"{b['ratio']:.2f}x",
                f">= {goal:g}x",
                b["ratio"] >= goal,
            )
        e = r.get("end_to_end")
        if e:
            row(
                f"{model}: `load_model(...).predict`, one row, median",
                f"{e['one_row_runtime_ms']:.3f} ms",
                f"{e['one_row_sklearn_ms']:.3f} ms (Pipeline.predict)",
                f"{e['one_row_ratio']:.1f}x",
                f">= {PREDICT_ONE_ROW_GOAL:g}x",
                e["one_row_ratio"] >= PREDICT_ONE_ROW_GOAL,
            )
            row(
                f"{model}: `load_model(...).predict`, {e['rows']:,} rows",
                f"{e['batch_runtime_ms']:.1f} ms",
                f"{e['batch_sklearn_ms']:.1f} ms (Pipeline.predict)",
                f"{e['batch_ratio']:.2f}x",
                f">= {BATCH_GOAL:g}x",
                e["batch_ratio"] >= BATCH_GOAL,
            )
        v = r["validation"]
        row(
            f"{model}: validate {v['rows']:,} rows",
            f"{v['rows_per_s'] / 1e6:.2f} M rows/s",
            "3.3 M rows/s (plain pandera, 22 columns, issue #6)",
            f"{v['rows_per_s'] / 3.3e6:.2f}x",
            ">= 3 M rows/s",
            v["rows_per_s"] >= 3e6,
        )
        b = v["bad_data"]
        row(
            f"{model}: validate {b['rows']:,} rows, 1 % broken, full failure report",
            f"{b['rows_per_s'] / 1e6:.2f} M rows/s, {b['failing_rows']:,} failures in {b['problems']} problems",
            f"{v['rows_per_s'] / 1e6:.2f} M rows/s (good data)",
            f"{b['rows_per_s'] / v['rows_per_s']:.2f}x",
            "report",
            True,
        )
        f = r["fingerprint"]
        if "ratio" in f:
            row(
                f"{model}: fingerprint {f['bytes'] / 1e6:.0f} MB",
                f"{f['ours_s']:.3f} s",
                f"{f['sha256sum_s']:.3f} s (sha256sum)",
                f"{f['ratio']:.2f}",
                ">= 0.9",
                f["ratio"] >= 0.9,
            )
    sized = [o for o in report["overhead"] if not o.get("sample")]
    for o in report["overhead"]:
        fixed = o.get("sample")
        row(
            f"pipeline fixed cost, {o['rows']:,} rows (the sample data, linear)"
            if fixed
            else f"pipeline overhead, {o['rows']:,} rows (linear)",
            f"{o['pipeline_s']:.1f} s (pipeline)",
            f"{o['bare_s']:.1f} s (bare fit + predict)",
            f"{o['ratio']:.2f}x",
            "report" if fixed else "<= 1.5x",
            fixed or o["ratio"] <= 1.5,
        )
    if len(sized) >= 2:
        small, large = sized[0], sized[-1]
        ours = large["pipeline_s"] - small["pipeline_s"]
        bare = large["bare_s"] - small["bare_s"]
        row(
            f"pipeline time per extra row, {small['rows']:,} to {large['rows']:,} rows (linear)",
            f"{ours:.1f} s more (pipeline)",
            f"{bare:.1f} s more (bare fit + predict)",
            f"{ours / bare:.2f}x",
            "report",
            True,
        )
    first = report["scale"][0] if report["scale"] else None
    for s in report["scale"]:
        growth = (s["seconds"] / first["seconds"]) / (s["rows"] / first["rows"])
        row(
            f"validate {s['rows']:,} rows",
            f"{s['seconds']:.1f} s, peak {s['peak_mib']:,.0f} MiB",
            f"{first['rows']:,} rows: {first['seconds']:.1f} s",
            f"{growth:.2f} (time per row vs smallest)",
            "<= 1 (linear), < 8 GiB",
            growth <= 1.1 and s["peak_mib"] < 8192,
        )
    t = report["time_to_first_model"]
    row(
        "time to first model (bake, install from cache, pipeline, verify)",
        f"{t['seconds']:.0f} s",
        "",
        "",
        "< 60 s",
        t["seconds"] < 60,
    )
    if report.get("scoring_alone"):
        lines += [
            "",
            f"The scoring rows (single row, batches, `load_model(...).predict`) were measured on their own "
            f"(`--only scoring`, {report['scoring_alone']['seconds']:.0f} s), after the rest.",
        ]
    lines += [
        "",
        "`load_model(...).predict` rows: the bundle's whole path (the input check, the feed, onnxruntime, the",
        "output frame) against the scikit-learn Pipeline's `predict` on the same rows, which it gets already",
        "typed as the model sees them (its conversion is not timed). Tree models in onnxruntime run its",
        "TreeEnsemble kernel; ai.onnx.ml opset 5's TreeEnsemble operator measured the same (docs/performance.md).",
        "Threads: onnxruntime uses both cores (its default); the tree baselines predict on one (the template",
        "trains the random forest, LightGBM and XGBoost with `n_jobs: 1`; scikit-learn's gradient boosting uses",
        "one), the linear one's matrix product OpenBLAS's two. Frames of more than 64 rows are checked as numpy",
        "arrays, not by pandera (docs/performance.md).",
    ]
    if report.get("http"):
        lines.append(http_serving.markdown(report["http"]))
    if report.get("loop"):
        lines.append(loop_markdown(report["loop"]))
    if report.get("dask"):
        lines.append(dask_bench.markdown(report["dask"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="add the 10-million-row scale run and the loop's 1-million-row retraining"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one model: checks that the bench runs")
    parser.add_argument(
        "--no-http", dest="http", action="store_false", help="skip serving over HTTP and the install sizes"
    )
    parser.add_argument(
        "--http-only",
        action="store_true",
        help="measure only serving over HTTP and the install sizes, replacing that section of the existing report",
    )
    parser.add_argument(
        "--only",
        choices=("loop", "scoring", "dask"),
        help="measure only this section (loop: retrain per batch; scoring: each model's onnxruntime and "
        "load_model(...).predict figures against scikit-learn; dask: the Dask engine's figures, small with "
        "--quick), replacing it in the existing report",
    )
    parser.add_argument(
        "--dask",
        action="store_true",
        help="add the Dask engine's figures (10 and 30 million rows: long; --full adds them too)",
    )
    parser.add_argument(
        "--dask-rows",
        type=int,
        nargs="+",
        help="the Dask engine's sizes instead of 10 and 30 million rows (the client's peak is read at the largest)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for benchmarks.md and .json")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench", help="scratch folder for the bakes")
    args = parser.parse_args(argv)
    packages = args.work / "index"
    shutil.rmtree(packages, ignore_errors=True)
    localindex.build_wheel(packages)
    with localindex.serve(packages) as index:
        os.environ["UV_INDEX"] = index
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.quick:
        models, rows, validation_rows, budget = ("linear",), "1,100", 20_000, 0.2
        overhead_sizes, scale_sizes = [5_000], [10_000, 30_000]
        loop_model, loop_training = "linear", 5_000  # the project quick bakes anyway
        loop_cases = [(2_000, "same"), (2_000, "shifted")]
    else:
        models, rows, validation_rows, budget = MODELS, "1,100,10000,100000", 1_000_000, 3.0
        overhead_sizes, scale_sizes = [100_000, 1_000_000], [1_000_000, 3_000_000]
        # retraining on a 1 000 000-row batch alone takes minutes (docs/performance.md): --full
        loop_model, loop_training = LOOP_MODEL, 20_000
        loop_cases = [(size, case) for size in (10_000, 100_000, 1_000_000) for case in LOOP_CASES]
        if args.full:
            scale_sizes.append(10_000_000)
        else:
            loop_cases.remove((1_000_000, "shifted"))
    if args.http_only:
        return http_only(args, models)
    if args.only == "loop":
        return only(args, "loop", lambda: loop(args.work, loop_model, loop_training, loop_cases, fresh=True))
    if args.only == "scoring":
        return scoring_only(args, models, rows, budget)
    if args.only == "dask":
        return only(args, "dask", lambda: dask_section(args.work, args.quick, args.dask_rows))
    report: dict = {"machine": machine(), "mode": "quick" if args.quick else "full" if args.full else "default"}
    print("bench: time to first model", flush=True)
    report["time_to_first_model"] = time_to_first_model(args.work)
    report["serving"] = {}
    report["http"] = {"models": {}} if args.http else None
    for model in ("linear", *[m for m in models if m != "linear"]):
        print(f"bench: serving, validation and fingerprint ({model})", flush=True)
        report["serving"][model] = serving(args.work, model, rows, validation_rows, budget)
        if args.http:
            print(f"bench: serving over HTTP, serve against the scikit-learn service ({model})", flush=True)
            report["http"]["models"][model] = http_bench(args.work / model, args.quick)
    if args.http:
        report["http"]["install"] = install_sizes(args.work)
    print("bench: pipeline overhead", flush=True)
    report["overhead"] = overhead(args.work, overhead_sizes, 1 if args.quick else 2)
    print("bench: scale", flush=True)
    report["scale"] = scale(args.work, scale_sizes)
    print("bench: the loop per batch", flush=True)
    report["loop"] = loop(args.work, loop_model, loop_training, loop_cases)
    if args.dask or args.full:
        print("bench: the Dask engine", flush=True)
        report["dask"] = dask_section(args.work, args.quick, args.dask_rows)
    report["seconds"] = time.perf_counter() - started
    return write(report, args.out)


def write(report: dict, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    text = table(report)
    for name, content in (("benchmarks.json", json.dumps(report, indent=2) + "\n"), ("benchmarks.md", text)):
        temporary = out / f".{name}.tmp"
        temporary.write_text(content)
        temporary.replace(out / name)
    print(text)
    print(f"bench: wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'}")
    return 0


def dask_section(work: Path, quick: bool, rows: list[int] | None = None) -> dict:
    """bench/dask_bench.py on a lightgbm project baked for it; its generated data kept in work/dask-data."""
    project = bake(work / "dask", model="lightgbm")
    run(["make", "install"], project)
    try:
        return dask_bench.measure(project, work / "dask-data", quick, environment(), rows)
    except dask_bench.BenchError as error:
        raise SystemExit(str(error)) from None


def install_sizes(work: Path) -> dict:
    print("bench: install sizes (runtime against training)", flush=True)
    try:
        return http_serving.install_sizes(work / "linear" / "my-ml-project", work / "sizes")
    except http_serving.BenchError as error:
        print(f"bench: install sizes not measured: {error}", flush=True)
        return {"error": str(error).splitlines()[0]}


def only(args: argparse.Namespace, section: str, measure_section) -> int:
    """--only SECTION: measure that section alone and replace it in the last report."""
    previous = args.out / "benchmarks.json"
    if not previous.is_file():
        raise SystemExit(f"bench: --only replaces a section of {previous}, which does not exist: run `make bench`")
    report = json.loads(previous.read_text())
    report[section] = {**measure_section(), "measured_alone": True}
    return write(report, args.out)


SCORING = ("serving", "public_api", "end_to_end")  # the parts of a model's figures --only scoring replaces


def scoring_only(args: argparse.Namespace, models: tuple[str, ...], rows: str, budget: float) -> int:
    """--only scoring: bake each model, measure only its scoring figures (the project's `bench` with a small
    validation run), and replace those in the last report; validation and fingerprint figures stay."""
    previous = args.out / "benchmarks.json"
    if not previous.is_file():
        raise SystemExit(f"bench: --only replaces a section of {previous}, which does not exist: run `make bench`")
    report = json.loads(previous.read_text())
    started = time.perf_counter()
    for model in ("linear", *[m for m in models if m != "linear"]):
        print(f"bench: scoring ({model})", flush=True)
        found = serving(args.work, model, rows, 20_000, budget)
        kept = report["serving"].get(model, found)
        report["serving"][model] = {**kept, **{k: found[k] for k in SCORING}, "scoring_measured_alone": True}
    report["scoring_alone"] = {"seconds": time.perf_counter() - started, "machine": machine()}
    return write(report, args.out)


def http_only(args: argparse.Namespace, models: tuple[str, ...]) -> int:
    """--http-only: bake each model, measure serving over HTTP, and replace that section of the last report."""
    previous = args.out / "benchmarks.json"
    if not previous.is_file():
        raise SystemExit(f"bench: --http-only replaces a section of {previous}, which does not exist: run `make bench`")
    report = json.loads(previous.read_text())
    started = time.perf_counter()
    http: dict = {"models": {}}
    for model in ("linear", *[m for m in models if m != "linear"]):
        print(f"bench: serving over HTTP, serve against the scikit-learn service ({model})", flush=True)
        baked(args.work, model)
        http["models"][model] = http_bench(args.work / model, args.quick)
    http["install"] = install_sizes(args.work)
    http["seconds"] = time.perf_counter() - started
    http["measured_alone"] = True
    report["http"] = http
    return write(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
