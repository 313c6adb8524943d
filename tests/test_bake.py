"""Bake a pairwise matrix of the options (every pair of answers together once) and check what comes out,
without installing anything."""

from __future__ import annotations

import hashlib
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
from helpers import ANSWERS, CHOICES, METRICS, TEMPLATE, bake, pairwise_combinations, valid_combinations
from localindex import build_wheel, library_version, public_url

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
    "tests/test_data.py",
    "tests/test_model.py",
    ".github/dependabot.yml",
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/workflows/retrain.yml",
}
# the user's part of the package; the rest is the modelkeel library (library/), pinned in pyproject.toml
PACKAGE_FILES = {
    "__init__.py",
    "__main__.py",
    "model.py",
    "schemas/__init__.py",
    "schemas/penguins.py",
}
# what a data scientist reads in one sitting (issue #23): Python in src/ besides the contract, tests, README
MAX_SRC_LINES, MAX_TEST_LINES, MAX_README_LINES = 400, 600, 210
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
        baked[combo_id(combo)] = (answers, bake(root / combo_id(combo), relock=False, **answers))
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
            if path.suffix == ".py":  # a nested dict literal closes two braces ({"expect": {"ge": 0}}); a Jinja
                text = re.sub(r"[\]\w\"'.]\}\}", "", text)  # leftover would still show its {{ or {%
            leftovers = [m for m in JINJA_MARKERS if m in text]
            assert not leftovers, f"{path.relative_to(project)} keeps template markers {leftovers}"


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_bake_is_consistent_with_its_answers(bakes, combo):
    answers, project = bakes[combo_id(combo)]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "my-ml-project"
    assert pyproject["project"]["scripts"] == {"my_ml_project": "modelkeel.cli:main"}
    library = library_version()
    assert pyproject["project"]["dependencies"] == [f"modelkeel=={library}"], "the library, pinned exactly"
    assert pyproject["project"]["optional-dependencies"] == {
        extra: [f"modelkeel[{extra}]=={library}"] for extra in ("train", "fsspec", "signing", "dask")
    }
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
    (locked,) = [p for p in lock["package"] if p["name"] == "modelkeel"]
    assert locked["version"] == library and locked["source"] == {"registry": "https://pypi.org/simple"}
    assert params["package"] == "my_ml_project"


@pytest.mark.parametrize("metric", [m for ms in METRICS.values() for m in ms])
def test_every_metric_renders_valid_params(tmp_path, metric):
    task = next(t for t, ms in METRICS.items() if metric in ms)
    threshold = "400" if metric in ("rmse", "mae") else "0.75"
    project = bake(tmp_path, relock=False, task=task, primary_metric=metric, metric_threshold=threshold)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["quality"]["primary_metric"] == metric
    assert params["quality"]["threshold"] == float(threshold)
    assert isinstance(params["quality"]["slice_threshold"], int | float)


def test_a_bake_trusts_only_bundles_its_own_release_workflow_signed(tmp_path):
    """Signed by default: registry.signer names the project's release.yml on its tags and main (the loop's
    releases run it as a reusable workflow, so their certificates name it too), and nothing else."""
    from modelkeel.settings import load_settings

    project = bake(tmp_path, relock=False, github_owner="acme-ml", project_slug="churn-model")
    signer = load_settings(project / "params.yaml").registry.signer
    assert signer is not None and signer.public_key is None and signer.unsigned_before is None
    workflow = "https://github.com/acme-ml/churn-model/.github/workflows/release.yml"
    assert signer.identities("1.2.3") == [f"{workflow}@refs/tags/v1.2.3", f"{workflow}@refs/heads/main"]
    retrain = yaml.safe_load((project / ".github" / "workflows" / "retrain.yml").read_text())
    assert retrain["jobs"]["release"]["uses"] == "./.github/workflows/release.yml", "the loop releases through it"


def test_every_python_file_compiles_and_passes_ruff(bakes, tmp_path):
    longest = "a" * 30 + "-" + "b" * 33  # the longest accepted slug: lines that name the package still fit
    projects = [project for _, project in bakes.values()] + [
        bake(tmp_path, relock=False, project_name="x", project_slug=longest)
    ]
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


def test_ruff_passes_for_package_names_of_every_length(tmp_path):
    """`make lint` failed right after baking for package names of 14 to 19 characters (issue #24): a string
    naming the package crossed 120 characters for those lengths only, where ruff format wraps it in
    parentheses. Bakes whose package names are 1 to 40 characters long, the band among them, pass ruff."""
    lengths = (1, 14, 16, 19, 40)
    projects = [
        bake(tmp_path / str(n), relock=False, project_name="x", project_slug="p" + "a" * (n - 1)) for n in lengths
    ]
    assert [len(next((p / "src").iterdir()).name) for p in projects] == list(lengths)
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", *map(str, projects)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("metric", "expected"), [("r2", 0.7), ("rmse", 450), ("mae", 450)])
def test_default_threshold_fits_the_regression_metric(tmp_path, metric, expected):
    project = bake(tmp_path, relock=False, task="regression", primary_metric=metric)
    assert yaml.safe_load((project / "params.yaml").read_text())["quality"]["threshold"] == expected


def test_a_baked_project_is_small_enough_to_read_in_one_sitting(bakes):
    """Only what its owner edits: the model builder and a few lines of package; tests of their data and model."""
    for _answers, project in bakes.values():
        package = project / "src" / "my_ml_project"
        src = sum(len(p.read_text().splitlines()) for p in package.rglob("*.py") if p.parent.name != "schemas")
        tests = sum(len(p.read_text().splitlines()) for p in (project / "tests").rglob("*.py"))
        readme = len((project / "README.md").read_text().splitlines())
        assert src <= MAX_SRC_LINES and tests <= MAX_TEST_LINES and readme <= MAX_README_LINES, (src, tests, readme)


def test_the_librarys_fixed_project_is_the_defaults_bake_of_the_users_part(tmp_path):
    """library/tests/project runs the library's tests on the model builder and contract a default bake ships:
    when the template's model.py or penguins contract changes, that copy must change with it."""
    project = bake(tmp_path, relock=False)
    fixed = TEMPLATE / "library" / "tests" / "project" / "src" / "penguins_project"
    baked = project / "src" / "my_ml_project"
    for name in ("model.py", "schemas/penguins.py", "schemas/__init__.py", "__main__.py"):
        assert (fixed / name).read_text() == (baked / name).read_text(), f"library/tests/project: {name} differs"


def test_the_library_the_template_pins_is_the_one_in_this_repository():
    """One version: library/pyproject.toml, cookiecutter.json's _library_version and the template's own."""
    template = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]["version"]
    assert ANSWERS["_library_version"] == library_version() == template


def test_the_metric_table_of_the_hook_is_the_librarys():
    """The hook and params.yaml read cookiecutter.json's _metrics; the gates read the library's METRICS."""
    from modelkeel.quality.metrics import METRICS as LIBRARY_METRICS

    assert set(LIBRARY_METRICS) == set(ANSWERS["_metrics"])
    for name, facts in ANSWERS["_metrics"].items():
        metric = LIBRARY_METRICS[name]
        assert (metric.task, metric.lower_is_better, metric.best) == (
            facts["task"],
            facts["better"] == "lower",
            facts["best"],
        ), name


def test_the_shipped_lock_names_the_wheel_this_checkout_builds(tmp_path):
    """A baked project's uv.lock pins modelkeel by the sha256 of the wheel the release workflow will publish
    (built reproducibly from this checkout) at the address the public index will serve it: `make lock`."""
    wheel = build_wheel(tmp_path)
    lock = tomllib.loads((TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock").read_text())
    (locked,) = [p for p in lock["package"] if p["name"] == "modelkeel"]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert locked["wheels"] == [{"url": public_url(wheel), "hash": f"sha256:{digest}", "size": wheel.stat().st_size}], (
        "the library changed since the template's uv.lock was made: run `make lock`"
    )
