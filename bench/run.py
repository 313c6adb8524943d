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
   runtime install's size against the training install's (skip with --no-http).

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

import serving as http_serving  # bench/serving.py, next to this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import localindex  # tests/localindex.py: this checkout's library, served on loopback as baked projects get it

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("random_forest", "linear", "gradient_boosting", "lightgbm", "xgboost")
PACKAGE = "my_ml_project"

MAKE_DATA = """
import sys
import numpy as np
import pandas as pd

source, rows, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
frame = pd.read_csv(source)
rng = np.random.default_rng(rows)
big = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
noise = {"bill_length_mm": 0.3, "bill_depth_mm": 0.15, "flipper_length_mm": 1.0, "body_mass_g": 25.0}
for column, scale in noise.items():
    values = big[column] + rng.normal(0, scale, rows)
    big[column] = values.clip(frame[column].min(), frame[column].max()).round(1)
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
sys.stderr.write(done.stderr[-4000:])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
raise SystemExit(done.returncode)
"""


def environment() -> dict:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold imports without bytecode caching cost seconds
    if not env.get("UV"):
        env["UV"] = shutil.which("uv") or "uv"
    return env


def run(cmd: list[str], cwd: Path, timeout: int = 7200) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)
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
            row(
                f"{model}: batch of {b['rows']:,} rows",
                f"{b['onnx_ms']:.2f} ms",
                f"{b['sklearn_ms']:.2f} ms",
                f"{b['ratio']:.2f}x",
                ">= 1x",
                b["ratio"] >= 1,
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
    if report.get("http"):
        lines.append(http_serving.markdown(report["http"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add the 10-million-row scale run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one model: checks that the bench runs")
    parser.add_argument(
        "--no-http", dest="http", action="store_false", help="skip serving over HTTP and the install sizes"
    )
    parser.add_argument(
        "--http-only",
        action="store_true",
        help="measure only serving over HTTP and the install sizes, replacing that section of the existing report",
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
    else:
        models, rows, validation_rows, budget = MODELS, "1,100,10000,100000", 1_000_000, 3.0
        overhead_sizes, scale_sizes = [100_000, 1_000_000], [1_000_000, 3_000_000]
        if args.full:
            scale_sizes.append(10_000_000)
    if args.http_only:
        return http_only(args, models)
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


def install_sizes(work: Path) -> dict:
    print("bench: install sizes (runtime against training)", flush=True)
    try:
        return http_serving.install_sizes(work / "linear" / "my-ml-project", work / "sizes")
    except http_serving.BenchError as error:
        print(f"bench: install sizes not measured: {error}", flush=True)
        return {"error": str(error).splitlines()[0]}


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
