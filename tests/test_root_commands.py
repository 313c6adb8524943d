"""The template repository's own make targets, run in a copy of the repository as a new user would."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from helpers import TEMPLATE, explain, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("checkout") / "template"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns(".venv", ".tools", "build", ".git", "__pycache__"))
    os.symlink(TEMPLATE / ".tools", copy / ".tools")  # the bootstrapped uv; installing it again only costs time
    return copy


def test_help_lists_the_targets(checkout):
    done = run(["make", "help"], cwd=checkout)
    assert done.returncode == 0
    assert set(re.findall(r"make ([a-z-]+)", done.stdout)) == {
        "help",
        "install",
        "demo",
        "bake",
        "test",
        "test-fast",
        "bench",
        "lint",
        "lock",
        "clean",
    }


def test_demo_bakes_installs_and_runs_the_pipeline(checkout):
    done = run(["make", "demo"], cwd=checkout)
    assert done.returncode == 0, explain(done)
    bundle = checkout / "build" / "demo" / "dist" / "my-ml-project-0.1.0"
    assert f"Bundle: {bundle}/" in done.stdout
    assert "| quality gate | measured | required | passed |" in done.stdout
    assert (bundle / "SHA256SUMS").is_file()


def test_bake_takes_answers_with_spaces_and_commas_and_installs_against_the_checkouts_library(checkout, tmp_path):
    out = tmp_path / "baked"
    args = "project_name=My Own Model task=regression model=lightgbm runs_on=self-hosted, linux, x64"
    done = run(["make", "bake", f"OUT={out}", f"ARGS={args}"], cwd=checkout)
    assert done.returncode == 0, explain(done)
    answers = json.loads((out / ".cookiecutter.json").read_text())["cookiecutter"]
    assert answers["project_name"] == "My Own Model" and answers["runs_on"] == "self-hosted, linux, x64"
    assert answers["model"] == "lightgbm" and (out / ".venv" / "bin" / "my_own_model").is_file()
    done = run([str(out / ".venv" / "bin" / "python"), "-m", "modelkeel", "--help"], cwd=out)
    assert done.returncode == 0 and "infer-schema" in done.stdout, explain(done)
    done = run(["make", "bake", f"OUT={tmp_path / 'refused'}", "ARGS=Model task=regression"], cwd=checkout)
    assert done.returncode == 2 and "'Model': answers are key=value" in done.stderr, explain(done)
    done = run(["make", "bake", f"OUT={tmp_path / 'refused'}", "ARGS=task=clustering"], cwd=checkout)
    assert done.returncode != 0 and "task" in done.stderr and not (tmp_path / "refused").exists(), explain(done)


def test_lint_lock_and_clean(checkout):
    lock = checkout / "{{cookiecutter.project_slug}}" / "uv.lock"
    before = lock.read_text()
    for target in ("lint", "lock", "clean"):
        done = run(["make", target], cwd=checkout)
        assert done.returncode == 0, f"make {target}\n{explain(done)}"
    assert lock.read_text() == before, "re-locking unchanged dependencies must not change the lock"
    assert not (checkout / "build").exists()


@pytest.mark.long(3)
def test_bench_writes_the_table_and_the_json(checkout, tmp_path):
    out = tmp_path / "out"
    args = f"--quick --out {out} --work {tmp_path / 'work'}"
    done = run(["make", "bench", f"BENCH_ARGS={args}"], cwd=checkout)
    assert done.returncode == 0, explain(done)
    table = (out / "benchmarks.md").read_text()
    report = json.loads((out / "benchmarks.json").read_text())
    assert "| figure | ours | reference | ratio | goal | met |" in table
    for figure in (
        "single row, median",
        "batch of 100 rows",
        "validate 20,000 rows",
        "fingerprint",
        "pipeline overhead, 5,000 rows",
        "pipeline fixed cost, ",
        "1 % broken, full failure report",
        "validate 30,000 rows",
        "time to first model",
    ):
        assert figure in table, figure
    assert report["mode"] == "quick" and report["serving"]["linear"]["serving"]["batches"][1]["rows"] == 100
    assert all(o["pipeline_s"] > 0 and o["bare_s"] > 0 for o in report["overhead"])
    assert all(s["peak_mib"] > 0 for s in report["scale"])
    # serving over HTTP: serve against the scikit-learn service, both answering every request
    assert "## Serving over HTTP" in table and "Not measured" not in table
    for figure in ("single row, 32 conn: requests/s", "batch of 10,000 rows", "memory: peak", "### Install size"):
        assert figure in table, figure
    http = report["http"]["models"]["linear"]
    assert http["agreement"]["same_prediction"] == 1.0
    assert all(r["errors"] == 0 for level in http["levels"] for r in level["results"].values())
    sizes = report["http"]["install"]
    assert sizes["runtime"]["site_packages_mib"] < sizes["training"]["site_packages_mib"]
    # the loop per batch: a batch of the champion's population changes nothing, a shifted one trains a challenger
    assert "## The loop per batch" in table
    same, shifted = report["loop"]["runs"]
    assert same["outcome"] == "no-retrain" and not same["drifted"], same
    assert shifted["drifted"] and shifted["challenger"]["version"], shifted
    assert all(r["seconds"] > 0 and r["peak_mib"] > 0 for r in (same, shifted))
