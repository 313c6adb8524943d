"""A baked project on the Dask engine end to end: one setting switched, data larger than a worker's memory_limit.

The project is baked with LightGBM (the Dask engine trains lightgbm and xgboost only) and installed through the
local index as every generated project is (conftest.py); its data is grown from the penguins to ROWS rows in
FILES Parquet files, each row with a free-text `note` the contract declares and the model does not use, so the
data takes more memory in pandas than one worker's memory_limit (the test measures it as it writes the files,
and asserts it), and params.yaml gets `compute.engine: dask` on a LocalCluster of small workers. Then what
ci.yml's pipeline job runs: `make pipeline` on the cluster (which must stream the files, not keep them in the
workers' memory), `make test-quality` (the project's gates and parity tests, which read the artifacts the
cluster run wrote) and `verify`; the bundle's lineage names the engine, the cluster, the partitions and the
streaming, and the metrics say what was computed over every row and what on a sample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import bake, cli, declare_a_column, explain, make, use_the_dask_engine

pytestmark = pytest.mark.slow

ROWS = 1_500_000  # 6,700 times the sample: about 600 MiB of Parquet, 700 MiB in pandas
FILES = 30  # one partition each (a Parquet file under cluster/data.PARTITION_BYTES): 50,000 rows, 23 MiB in pandas
NOTE_CHARS = 400  # a note's length on average (200 to 600 characters): most of a row's memory
WORKERS = 2
# Measured on this data (2 cores): a worker imports pandas, pyarrow, pandera, scikit-learn and LightGBM (about
# 225 MiB before it holds a row) and peaks near 510 MiB while it streams partitions, trains on its share and
# scores; a worker over 95 % of its limit is restarted. The data must take more than one worker's limit.
MEMORY_LIMIT = "640MiB"
MEMORY_LIMIT_BYTES = 640 * 1024**2
NUMBERS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype=np.uint8)  # a note's characters: words of ~5
TREES = 40  # model.n_estimators (200 as baked)
NOTE_FIELD = 'note: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 1000})'


def notes(rng: np.random.Generator, rows: int, chars: int) -> pa.Array:
    """`rows` distinct free texts of chars/2 to 3*chars/2 random letters and spaces (a high-cardinality text column:
    `infer-schema` would leave it out of the features), built as one Arrow buffer, not `rows` Python strings."""
    lengths = rng.integers(chars // 2, chars * 3 // 2 + 1, rows)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    text = LETTERS[rng.integers(0, len(LETTERS), int(offsets[-1]))]
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text))


def fewer_trees(project: Path, trees: int) -> None:
    """model.n_estimators set to `trees` in params.yaml: the engine is under test here, not the model, and
    LightGBM's trees are most of the fit's and the scoring's time."""
    params = project / "params.yaml"
    text, found = re.subn(r"(\n  n_estimators: )\d+", lambda m: f"{m[1]}{trees}", params.read_text(), count=1)
    assert found == 1, "params.yaml has no model.n_estimators"
    params.write_text(text)


def grow_the_data(project: Path, rows: int, files: int, seed: int = 0) -> tuple[list[Path], int]:
    """`rows` rows drawn with replacement from the project's penguins, each measurement moved by a little noise
    (2 % of its spread, kept non-negative as the contract requires) and a `note` added, written as `files`
    Parquet files under data/raw/big/; the penguins file itself is removed, so the pipeline reads only these.
    Returns the files and the data's size in memory as pandas holds it (`memory_usage(deep=True)` of each file
    read back, summed): one file is in this process at a time, never the whole data."""
    rng = np.random.default_rng(seed)
    sample = project / "data" / "raw" / "penguins.csv"
    base = pd.read_csv(sample)
    sample.unlink()
    folder = project / "data" / "raw" / "big"
    folder.mkdir()
    written, in_memory = [], 0
    for i in range(files):
        part = base.iloc[rng.integers(0, len(base), rows // files)].reset_index(drop=True)
        for column in NUMBERS:
            noise = rng.normal(0.0, 0.02 * base[column].std(), len(part))
            part[column] = (part[column] + noise).clip(lower=0).round(1)
        table = pa.Table.from_pandas(part, preserve_index=False)
        table = table.append_column("note", notes(rng, len(part), NOTE_CHARS))
        path = folder / f"part-{i:02d}.parquet"
        pq.write_table(table, path)
        in_memory += int(pd.read_parquet(path).memory_usage(deep=True).sum())
        written.append(path)
    return written, in_memory


@pytest.mark.long(3)
def test_a_lightgbm_project_runs_its_pipeline_and_quality_tests_on_a_local_dask_cluster(tmp_path):
    project = bake(tmp_path, model="lightgbm")
    done = make(project, "install")
    assert done.returncode == 0, explain(done)
    files, in_memory = grow_the_data(project, ROWS, FILES)
    # the claim this test stands for: more data than one worker may hold (and more than all of them may keep)
    assert in_memory > MEMORY_LIMIT_BYTES, f"{in_memory / 1024**2:.0f} MiB of data, memory_limit {MEMORY_LIMIT}"
    declare_a_column(project, NOTE_FIELD)  # the contract is strict: every column the files carry is declared
    # a glob: the pandas engine, which the project's own tests read the data with, takes no folder
    use_the_dask_engine(project, "data/raw/big/*.parquet", n_workers=str(WORKERS), memory_limit=MEMORY_LIMIT)
    fewer_trees(project, TREES)

    done = make(project, "pipeline")
    assert done.returncode == 0, f"make pipeline\n{explain(done)}"
    assert f"cluster: local local, {WORKERS} worker(s), {WORKERS} thread(s)" in done.stdout, done.stdout
    assert f"validate: {ROWS} rows in {FILES} file(s), {FILES} partition(s)" in done.stdout, done.stdout
    assert "is streamed from the files by every pass" in done.stdout, done.stdout
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
    # the validated data was streamed from the files by every pass, never kept in the workers' memory
    streamed = {
        "kept_in_memory": False,
        "estimated_bytes": lineage["compute"].get("data_in_memory", {}).get("estimated_bytes"),
        "workers_memory_limit_bytes": WORKERS * MEMORY_LIMIT_BYTES,
        "share": 0.25,
    }
    assert lineage["compute"] == {
        "engine": "dask",
        "cluster": "local",
        "address": "local",
        "workers": WORKERS,
        "threads": WORKERS,
        "partitions": FILES,
        "data_in_memory": streamed,
    }
    assert streamed["estimated_bytes"] > streamed["share"] * streamed["workers_memory_limit_bytes"], streamed
    trained = json.loads((project / "artifacts" / "train.json").read_text())
    assert trained["compute"]["data_in_memory"] == streamed
    assert lineage["data"]["rows"] == ROWS
    assert [f["path"] for f in lineage["data"]["files"]] == [f"data/raw/big/{f.name}" for f in files]
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["model"] == "lightgbm" and metrics["gates"]["passed"]
    compute = metrics["compute"]
    assert compute["engine"] == "dask", compute
    # the test metrics over every test row; the train metrics on a seeded share of the (many) training rows
    assert compute["metrics"] == "whole test split, by reductions; train metrics on a seeded share of the training rows"
    assert compute["train_scored"]["rows"] < compute["train_scored"]["of"] == metrics["rows"]["train"], compute
    # the test split is far larger than what was sampled from it for importance, plots and parity
    sampled = metrics["compute"]["sampled"]
    assert sampled["rows"] == 20_000 < sampled["of"], sampled
    parity = json.loads((bundle / "parity.json").read_text())
    assert parity["passed"] and parity["label_mismatches"] == 0
