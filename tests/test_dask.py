"""A baked project on the Dask engine end to end: one setting switched, more data than the sample, a LocalCluster.

The project is baked with LightGBM (the Dask engine trains lightgbm and xgboost only) and installed through the
local index as every generated project is (conftest.py); its data is grown from the penguins to ROWS rows in
FILES CSV files, and params.yaml gets `compute.engine: dask` on a LocalCluster of small workers. Then what ci.yml's
pipeline job runs: `make pipeline` on the cluster, `make test-quality` (the project's gates and parity tests, which
read the artifacts the cluster run wrote) and `verify`; the bundle's lineage names the engine, the cluster and the
partitions, and the metrics say what was computed over every row and what on a sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import bake, cli, explain, make, use_the_dask_engine

pytestmark = pytest.mark.slow

ROWS = 400_000  # 2,000 times the sample: about 18 MiB of CSV, 31 MiB as one pandas frame
FILES = 4  # one partition each (a CSV file is read whole by one worker)
WORKERS = 2
# Measured on this data (2 cores): a worker imports pandas, pyarrow, pandera, scikit-learn and LightGBM (about
# 225 MiB before it holds a row) and peaks near 415 MiB while LightGBM trains on its share; Dask pauses a worker at
# 80 % of its limit, and a worker paused for good stalls the run (384 MiB did). The pandas engine's pipeline on the
# same rows peaks at about 520 MiB in one process.
MEMORY_LIMIT = "640MiB"
NUMBERS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


def grow_the_data(project: Path, rows: int, files: int, seed: int = 0) -> list[Path]:
    """`rows` rows drawn with replacement from the project's penguins, each measurement moved by a little noise
    (2 % of its spread, kept non-negative as the contract requires), written as `files` CSV files under
    data/raw/big/; the penguins file itself is removed, so the pipeline reads only these."""
    rng = np.random.default_rng(seed)
    sample = project / "data" / "raw" / "penguins.csv"
    base = pd.read_csv(sample)
    sample.unlink()
    folder = project / "data" / "raw" / "big"
    folder.mkdir()
    written = []
    for i in range(files):
        part = base.iloc[rng.integers(0, len(base), rows // files)].reset_index(drop=True)
        for column in NUMBERS:
            noise = rng.normal(0.0, 0.02 * base[column].std(), len(part))
            part[column] = (part[column] + noise).clip(lower=0).round(1)
        path = folder / f"part-{i:02d}.csv"
        part.to_csv(path, index=False)
        written.append(path)
    return written


@pytest.mark.long(2)
def test_a_lightgbm_project_runs_its_pipeline_and_quality_tests_on_a_local_dask_cluster(tmp_path):
    project = bake(tmp_path, model="lightgbm")
    done = make(project, "install")
    assert done.returncode == 0, explain(done)
    files = grow_the_data(project, ROWS, FILES)
    # a glob: the pandas engine, which the project's own tests read the data with, takes no folder
    use_the_dask_engine(project, "data/raw/big/*.csv", n_workers=str(WORKERS), memory_limit=MEMORY_LIMIT)

    done = make(project, "pipeline")
    assert done.returncode == 0, f"make pipeline\n{explain(done)}"
    assert f"cluster: local local, {WORKERS} worker(s), {WORKERS} thread(s)" in done.stdout, done.stdout
    assert f"validate: {ROWS} rows in {FILES} file(s), {FILES} partition(s)" in done.stdout, done.stdout
    assert "pipeline: done on the Dask engine" in done.stdout
    # ci.yml's pipeline job runs these next: the project's gates and parity on the artifacts the cluster wrote
    done = make(project, "test-quality")
    assert done.returncode == 0, f"make test-quality\n{explain(done)}"
    assert "4 passed" in done.stdout, done.stdout[-3000:]

    bundles = [p for p in (project / "dist").iterdir() if p.is_dir()]
    assert [b.name for b in bundles] == ["my-ml-project-0.1.0"]
    bundle = bundles[0]
    done = cli(project, "verify", str(bundle))
    assert done.returncode == 0, explain(done)
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert lineage["compute"] == {
        "engine": "dask",
        "cluster": "local",
        "address": "local",
        "workers": WORKERS,
        "threads": WORKERS,
        "partitions": FILES,
    }
    assert lineage["data"]["rows"] == ROWS
    assert [f["path"] for f in lineage["data"]["files"]] == [f"data/raw/big/{f.name}" for f in files]
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["model"] == "lightgbm" and metrics["gates"]["passed"]
    assert metrics["compute"]["engine"] == "dask" and metrics["compute"]["metrics"] == "whole splits, by reductions"
    # the test split is far larger than what was sampled from it for importance, plots and parity
    sampled = metrics["compute"]["sampled"]
    assert sampled["rows"] == 20_000 < sampled["of"], sampled
    parity = json.loads((bundle / "parity.json").read_text())
    assert parity["passed"] and parity["label_mismatches"] == 0
