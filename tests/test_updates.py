"""Library updates: a fix in modelkeel reaches a generated project as a version bump of its pin, the way
Dependabot proposes it (pyproject.toml's pins and uv.lock), with no other file of the project changed.

The fix is a real release: this checkout's library copied, its patch version bumped and one observable
change made (the command line's description), built as a wheel and served with the current version's by
a package index on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path

import localindex
import pytest
from helpers import bake, cli, explain, make, run

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
DESCRIPTION = 'description="Validate, train, evaluate, export (with the parity gate), bundle, verify, release and serve the model.",'


def git(cwd: Path, *args: str) -> str:
    done = run(["git", *args], cwd=cwd, env=GIT_ENV)
    assert done.returncode == 0, explain(done)
    return done.stdout.strip()


def patch_release(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def build_fixed_library(packages: Path, work: Path, version: str, fix: str) -> Path:
    """This checkout's library at `version`, its command line describing itself with `fix` added."""
    source = work / "library"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(localindex.LIBRARY / name, source / name)
    shutil.copytree(localindex.LIBRARY / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pyproject = source / "pyproject.toml"
    current = f'\nversion = "{localindex.library_version()}"\n'
    assert pyproject.read_text().count(current) == 1
    pyproject.write_text(pyproject.read_text().replace(current, f'\nversion = "{version}"\n'))
    main = source / "src" / "modelkeel" / "cli" / "main.py"
    assert main.read_text().count(DESCRIPTION) == 1, "the test changes the command line's description"
    main.write_text(main.read_text().replace(DESCRIPTION, DESCRIPTION.replace('.",', f' {fix}",')))
    env = {"SOURCE_DATE_EPOCH": localindex.FIXED_EPOCH}
    done = run([localindex.uv(), "build", "--wheel", "--quiet", "--out-dir", str(packages), str(source)], work, env)
    assert done.returncode == 0, explain(done)
    [wheel] = packages.glob(f"modelkeel-{version}-*.whl")
    return wheel


def installed_version(project: Path) -> str:
    python = str(project / ".venv" / "bin" / "python")
    done = run([python, "-c", "from importlib.metadata import version; print(version('modelkeel'))"], project)
    assert done.returncode == 0, explain(done)
    return done.stdout.strip()


def help_text(project: Path) -> str:
    done = cli(project, "--help")
    assert done.returncode == 0, explain(done)
    return " ".join(done.stdout.split())  # argparse wraps the description to the terminal's width


def locked(project: Path) -> dict[str, str]:
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


@pytest.mark.slow
@pytest.mark.long(1)
def test_a_library_fix_reaches_a_project_by_a_version_bump(tmp_path):
    current = localindex.library_version()
    fixed = patch_release(current)
    fix = f"(modelkeel {fixed}: the fix this test releases.)"
    packages = tmp_path / "index"
    localindex.build_wheel(packages)
    build_fixed_library(packages, tmp_path / "build", fixed, fix)
    assert sorted(p.name.split("-")[1] for p in packages.glob("modelkeel-*.whl")) == [current, fixed]

    with localindex.serve(packages) as index:
        index_env = {"UV_INDEX": index}
        # a project baked today: it pins the current version although the index has a newer one
        project = bake(tmp_path / "bake", relock=False)
        done = localindex.relock(project, index)
        assert done.returncode == 0, explain(done)
        assert locked(project)["modelkeel"] == current
        git(project, "init", "--quiet", "--initial-branch=main")
        git(project, "add", "-A")
        git(project, "commit", "--quiet", "-m", "Start from the template")
        done = make(project, "install", env=index_env)
        assert done.returncode == 0, explain(done)
        assert installed_version(project) == current and fix not in help_text(project)
        before = locked(project)

        # Dependabot's pull request: every pin in pyproject.toml, and uv.lock with modelkeel alone upgraded
        pyproject = project / "pyproject.toml"
        text = pyproject.read_text()
        assert text.count(f'=={current}"]') == 5, "the runtime pin and the train, fsspec, signing and dask extras'"
        pyproject.write_text(text.replace(f'=={current}"]', f'=={fixed}"]'))
        done = run([localindex.uv(), "lock", "--upgrade-package", "modelkeel"], project, index_env)
        assert done.returncode == 0, explain(done)
        after = locked(project)
        assert after.pop("modelkeel") == fixed and before.pop("modelkeel") == current
        assert after == before, "only modelkeel moves"

        done = make(project, "install", "test", "pipeline", env=index_env)
        assert done.returncode == 0, explain(done)
        assert "6 passed" in done.stdout, explain(done)

    # the environment runs the fixed library, and the fix shows
    assert installed_version(project) == fixed
    assert fix in help_text(project)
    # the bundle was made with the bumped lock
    [bundle] = [p for p in (project / "dist").iterdir() if p.is_dir()]
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert lineage["lock_sha256"] == hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    # and the update changed the two files Dependabot's pull request changes, nothing else of the project
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], project, GIT_ENV).stdout
    assert sorted(status.splitlines()) == [" M pyproject.toml", " M uv.lock"], status
    diff = git(project, "diff", "--unified=0", "pyproject.toml").splitlines()
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    assert [line.replace(current, fixed) for line in removed] == added and len(added) == 5, diff
