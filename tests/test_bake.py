"""Bake a pairwise matrix of the options (every pair of answers together once) and check what comes out,
without installing anything."""

from __future__ import annotations

import itertools
import json
import py_compile
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import CHOICES, METRICS, bake, pairwise_combinations, valid_combinations

COMMON = {
    ".cookiecutter.json",
    ".cruft.json",
    ".dockerignore",
    ".gitignore",
    "Dockerfile",
    ".python-version",
    "Makefile",
    "README.md",
    "params.yaml",
    "pyproject.toml",
    "uv.lock",
    "data/README.md",
    "data/raw/penguins.csv",
    "data/samples/penguins_2009.csv",
    "data/incoming/README.md",
    "tests/__init__.py",
    "tests/bundle/__init__.py",
    "tests/bundle/test_lineage.py",
    "tests/bundle/test_reader.py",
    "tests/bundle/test_signing.py",
    "tests/bundle/test_tarball.py",
    "tests/bundle/test_verify.py",
    "tests/cli/__init__.py",
    "tests/cli/test_main.py",
    "tests/cli/test_serve.py",
    "tests/conftest.py",
    "tests/data/__init__.py",
    "tests/data/test_contract.py",
    "tests/data/test_files.py",
    "tests/data/test_infer.py",
    "tests/data/test_remote.py",
    "tests/data/test_snapshot.py",
    "tests/data/test_trusted.py",
    "tests/github/__init__.py",
    "tests/github/test_actions.py",
    "tests/github/test_issue.py",
    "tests/github/test_rest.py",
    "tests/github_standin.py",
    "tests/loop/__init__.py",
    "tests/loop/test_demo.py",
    "tests/loop/test_drift.py",
    "tests/loop/test_evidence.py",
    "tests/loop/test_ingest.py",
    "tests/loop/test_monitor.py",
    "tests/loop/test_run.py",
    "tests/quality/__init__.py",
    "tests/quality/test_gates.py",
    "tests/quality/test_importance.py",
    "tests/quality/test_metrics.py",
    "tests/quality/test_parity.py",
    "tests/quality/test_thresholds.py",
    "tests/registry/__init__.py",
    "tests/registry/test_diff.py",
    "tests/registry/test_folder.py",
    "tests/registry/test_github_releases.py",
    "tests/registry/test_release.py",
    "tests/registry/test_versions.py",
    "tests/reports/__init__.py",
    "tests/reports/test_plots.py",
    "tests/reports/test_tables.py",
    "tests/runtime/__init__.py",
    "tests/runtime/test_calendar.py",
    "tests/runtime/test_model.py",
    "tests/runtime/test_precheck.py",
    "tests/runtime/test_scoring.py",
    "tests/serve/__init__.py",
    "tests/serve/conftest.py",
    "tests/serve/test_app.py",
    "tests/serve/test_holder.py",
    "tests/serve/test_openapi.py",
    "tests/serve/test_server.py",
    "tests/stages/__init__.py",
    "tests/stages/test_boosters.py",
    "tests/stages/test_bundle.py",
    "tests/stages/test_evaluate.py",
    "tests/stages/test_export.py",
    "tests/stages/test_train.py",
    "tests/test_settings.py",
    "tests/utils/__init__.py",
    "tests/utils/test_atomic.py",
    "tests/utils/test_extras.py",
    ".github/dependabot.yml",
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/workflows/retrain.yml",
}
PACKAGE_FILES = {
    "__init__.py",
    "__main__.py",
    "bench.py",
    "bundle/__init__.py",
    "bundle/checksums.py",
    "bundle/layout.py",
    "bundle/lineage.py",
    "bundle/model_card.py",
    "bundle/reader.py",
    "bundle/signing.py",
    "bundle/tarball.py",
    "bundle/verify.py",
    "cli/__init__.py",
    "cli/context.py",
    "cli/loop.py",
    "cli/main.py",
    "cli/registry.py",
    "cli/release.py",
    "cli/serve.py",
    "cli/stages.py",
    "data/__init__.py",
    "data/contract.py",
    "data/files.py",
    "data/infer.py",
    "data/remote.py",
    "data/snapshot.py",
    "data/trusted.py",
    "errors.py",
    "github/__init__.py",
    "github/actions.py",
    "github/gh.py",
    "github/issue.py",
    "github/rest.py",
    "loop/__init__.py",
    "loop/challenger.py",
    "loop/decide.py",
    "loop/demo.py",
    "loop/drift.py",
    "loop/evidence.py",
    "loop/ingest.py",
    "loop/monitor.py",
    "loop/outcome.py",
    "loop/report.py",
    "loop/run.py",
    "quality/__init__.py",
    "quality/gates.py",
    "quality/importance.py",
    "quality/metrics.py",
    "quality/parity.py",
    "quality/thresholds.py",
    "registry/__init__.py",
    "registry/base.py",
    "registry/diff.py",
    "registry/folder.py",
    "registry/github_releases.py",
    "registry/release.py",
    "registry/versions.py",
    "reports/__init__.py",
    "reports/plots.py",
    "reports/tables.py",
    "runtime/__init__.py",
    "runtime/calendar.py",
    "runtime/model.py",
    "runtime/precheck.py",
    "runtime/scoring.py",
    "runtime/session.py",
    "runtime/signature.py",
    "schemas/__init__.py",
    "serve/__init__.py",
    "serve/app.py",
    "serve/holder.py",
    "serve/inputs.py",
    "serve/metrics.py",
    "serve/openapi.py",
    "serve/server.py",
    "schemas/penguins.py",
    "settings.py",
    "stages/__init__.py",
    "stages/boosters.py",
    "stages/bundle.py",
    "stages/evaluate.py",
    "stages/export.py",
    "stages/features.py",
    "stages/pipeline.py",
    "stages/train.py",
    "stages/validate.py",
    "utils/__init__.py",
    "utils/atomic.py",
    "utils/console.py",
    "utils/extras.py",
    "utils/hashing.py",
}
JINJA_MARKERS = ("{{", "}}", "{%", "%}", "{#")


def expected_files(combo: dict) -> set[str]:
    files = COMMON | {f"src/my_ml_project/{name}" for name in PACKAGE_FILES}
    if combo["license"] != "Proprietary":
        files.add("LICENSE")
    return files


COMBOS = pairwise_combinations()


def combo_id(combo: dict) -> str:
    return "-".join(combo[k] for k in CHOICES)


def test_the_matrix_covers_every_pair_of_choices():
    assert len(valid_combinations()) == 3 * 2 * 5 * 4
    assert len(COMBOS) <= 24, "a pairwise matrix, not the whole product"
    for first, second in itertools.combinations(CHOICES, 2):
        wanted = set(itertools.product(CHOICES[first], CHOICES[second]))
        assert {(c[first], c[second]) for c in COMBOS} == wanted, (first, second)


@pytest.fixture(scope="module")
def bakes(tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    root = tmp_path_factory.mktemp("matrix")
    baked = {}
    for combo in COMBOS:
        answers = dict(combo)
        answers["primary_metric"] = METRICS[combo["task"]][0]
        answers["metric_threshold"] = "0.8" if answers["primary_metric"] != "rmse" else "500"
        baked[combo_id(combo)] = (answers, bake(root / combo_id(combo), **answers))
    return baked


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_bake_has_exact_files_and_no_template_leftovers(bakes, combo):
    _answers, project = bakes[combo_id(combo)]
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert files == expected_files(combo)
    for path in project.rglob("*"):
        if path.is_file() and path.suffix != ".csv":
            text = path.read_text(encoding="utf-8")
            if ".github" in path.parts:  # GitHub's own ${{ expressions }} stay; Jinja's must not
                text = re.sub(r"\$\{\{.*?\}\}", "", text)
            leftovers = [m for m in JINJA_MARKERS if m in text]
            assert not leftovers, f"{path.relative_to(project)} keeps template markers {leftovers}"


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_bake_is_consistent_with_its_answers(bakes, combo):
    answers, project = bakes[combo_id(combo)]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "my-ml-project"
    assert pyproject["project"]["scripts"] == {"my_ml_project": "my_ml_project.cli:main"}
    assert ("license" in pyproject["project"]) == (combo["license"] != "Proprietary")
    assert (project / ".python-version").read_text().strip() == combo["python_version"]
    image = (project / "Dockerfile").read_text()
    assert image.count(f"FROM python:{combo['python_version']}-slim-trixie") == 2, "the image's Python is the project's"
    assert ('image.licenses="' in image) == (combo["license"] != "Proprietary")
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["task"] == combo["task"]
    assert params["model"]["type"] == combo["model"]
    assert params["quality"]["primary_metric"] == answers["primary_metric"]
    assert params["quality"]["threshold"] == float(answers["metric_threshold"])
    assert params["data"]["target"] == ("species" if combo["task"] == "classification" else "body_mass_g")
    recorded = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert {k: recorded[k] for k in answers} == answers
    assert "_output_dir" not in recorded
    cruft = json.loads((project / ".cruft.json").read_text())  # tests/test_cruft.py: what cruft needs
    assert cruft["context"]["cookiecutter"] == recorded | {"_commit": cruft["commit"]}
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert any(p["name"] == "my-ml-project" and p["source"] == {"editable": "."} for p in lock["package"])


@pytest.mark.parametrize("metric", [m for ms in METRICS.values() for m in ms])
def test_every_metric_renders_valid_params(tmp_path, metric):
    task = next(t for t, ms in METRICS.items() if metric in ms)
    threshold = "400" if metric in ("rmse", "mae") else "0.75"
    project = bake(tmp_path, task=task, primary_metric=metric, metric_threshold=threshold)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["quality"]["primary_metric"] == metric
    assert params["quality"]["threshold"] == float(threshold)
    assert isinstance(params["quality"]["slice_threshold"], int | float)


def test_every_python_file_compiles_and_passes_ruff(bakes, tmp_path):
    longest = "a" * 30 + "-" + "b" * 33  # the longest accepted slug: lines that name the package still fit
    projects = [project for _, project in bakes.values()] + [bake(tmp_path, project_name="x", project_slug=longest)]
    for project in projects:
        for path in project.rglob("*.py"):
            py_compile.compile(str(path), doraise=True)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, projects)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *map(str, projects)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("metric", "expected"), [("r2", 0.7), ("rmse", 450), ("mae", 450)])
def test_default_threshold_fits_the_regression_metric(tmp_path, metric, expected):
    project = bake(tmp_path, task="regression", primary_metric=metric)
    assert yaml.safe_load((project / "params.yaml").read_text())["quality"]["threshold"] == expected


def test_generated_tests_mirror_the_package_one_to_one():
    """tests/<subpackage>/test_<module>.py tests src/<package>/<subpackage>/<module>.py; nothing else is a test."""
    tests = sorted(t for t in COMMON if t.startswith("tests/") and t.rsplit("/", 1)[-1].startswith("test_"))
    assert tests, "the generated project has tests"
    for test in tests:
        folder, _, name = test.removeprefix("tests/").rpartition("/")
        module = f"{folder}/{name.removeprefix('test_')}" if folder else name.removeprefix("test_")
        assert module in PACKAGE_FILES, f"{test} has no module {module} to mirror in src/"
    subpackages = {f.split("/")[0] for f in PACKAGE_FILES if "/" in f} - {"schemas"}
    assert subpackages <= {t.removeprefix("tests/").split("/")[0] for t in tests}, "every subpackage has tests"


def test_generated_readme_shows_every_module_of_the_tree(tmp_path):
    project = bake(tmp_path)
    layout = (project / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in PACKAGE_FILES:
        if (name.endswith("__init__.py") and name != "__init__.py") or name.startswith("schemas/"):
            continue
        assert name.rsplit("/", 1)[-1] in layout, f"the README's layout does not show {name}"
