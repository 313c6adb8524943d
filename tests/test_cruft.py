"""Template updates with cruft: the `.cruft.json` the post-gen hook writes is what cruft needs, and a
generated project takes a real template update.

The update test makes a git repository of this template whose first commit is an older version of it
(the changes below reverted), bakes from it, commits a user's own changes in the project, commits the
template as it is now on top, and runs `cruft check` and `cruft update` as a user would.

The engine's move into the modelkeel library is the largest update a project takes: a project baked from
the last template that carried the engine (FAT_TEMPLATE) is updated by cruft to today's thin project,
with a user's edits of params.yaml, pyproject.toml, uv.lock and the engine's preprocessing kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import localindex
import pytest
from cookiecutter.main import cookiecutter
from helpers import TEMPLATE, explain, make, package_name, run

SLUG = "{{cookiecutter.project_slug}}"
# git as a user's, without this machine's configuration (signing, conflict style, default branch)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
CRUFT_SKIP = [".cruft.json", "data"]
COMMIT_UNKNOWN = "unrecorded-the-template-was-not-a-git-checkout-see-README-Template-updates"


def git(cwd: Path, *args: str) -> str:
    done = run(["git", *args], cwd=cwd, env=GIT_ENV)
    assert done.returncode == 0, explain(done)
    return done.stdout.strip()


def cruft(project: Path, *args: str) -> subprocess.CompletedProcess:
    # wide enough that cruft's error panels do not wrap the messages the tests look for
    return run([sys.executable, "-m", "cruft", *args], cwd=project, env={**GIT_ENV, "COLUMNS": "200"}, timeout=300)


def copy_template(dest: Path) -> Path:
    """This template's working tree (what git would commit: tracked and new files, minus ignored ones)."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=TEMPLATE, env=GIT_ENV)
    if listed.returncode == 0:
        for name in listed.stdout.split("\0"):
            if name and (TEMPLATE / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(TEMPLATE / name, dest / name)
    else:  # not a git checkout (an unpacked archive of the template)
        ignored = shutil.ignore_patterns(".git", ".venv", ".tools", "build", "__pycache__", ".*_cache", "*.py[cod]")
        shutil.copytree(TEMPLATE, dest, ignore=ignored, dirs_exist_ok=True)
    return dest


def template_repo(dest: Path) -> tuple[Path, str]:
    repo = copy_template(dest)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "The template")
    return repo, git(repo, "rev-parse", "HEAD")


def bake_from(template: Path | str, out: Path, **answers: str) -> Path:
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(out), extra_context=answers))


def commit_all(project: Path, message: str) -> str:
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", message)
    return git(project, "rev-parse", "HEAD")


def record(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text())


def relock(project: Path) -> None:
    """What a baked project's lock is once the library is on the public index: modelkeel resolved from the
    session's local index (conftest.py), as `uv lock` resolves it from PyPI."""
    done = localindex.relock(project, os.environ["UV_INDEX"])
    assert done.returncode == 0, explain(done)


# --- what the hook records --------------------------------------------------------------------------


def test_the_hooks_record_is_what_cruft_create_writes(tmp_path):
    """The hook's .cruft.json (plain `cookiecutter`) holds what `cruft create` would write, plus `skip`."""
    repo, commit = template_repo(tmp_path / "template")
    baked = bake_from(repo, tmp_path / "cookiecutter", task="regression", primary_metric="mae", metric_threshold="300")
    created = cruft(
        tmp_path,
        "create",
        str(repo),
        "--output-dir",
        str(tmp_path / "cruft"),
        "--no-input",
        "--extra-context",
        json.dumps({"task": "regression", "primary_metric": "mae", "metric_threshold": "300"}),
    )
    assert created.returncode == 0, explain(created)
    by_cruft = tmp_path / "cruft" / baked.name
    ours = record(baked)
    assert ours.pop("skip") == CRUFT_SKIP
    assert ours == record(by_cruft), "the hook's record differs from cruft's own"
    assert ours["template"] == str(repo) and ours["commit"] == commit and ours["directory"] is None
    answers = ours["context"]["cookiecutter"]
    assert answers["task"] == "regression" and answers["_commit"] == commit and "_output_dir" not in answers
    # cruft's key order too, so its rewrite after an update is a small diff
    assert list(answers) == list(record(by_cruft)["context"]["cookiecutter"])

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    # cruft renders the template the same way when it updates: every other file matches byte for byte
    # (a file that did not would have no base in the project's history for the three-way merge)
    ours_tree, cruft_tree = tree(baked), tree(by_cruft)
    assert ours_tree.pop(".cruft.json") and cruft_tree.pop(".cruft.json")
    assert ours_tree == cruft_tree


def test_a_relative_path_and_a_git_url_with_a_checkout_are_recorded_as_cruft_clones_them(tmp_path):
    repo, first = template_repo(tmp_path / "template")
    git(repo, "tag", "v1.0.0")
    (repo / "NEWS.md").write_text("a later commit\n")
    later = commit_all(repo, "Later")
    # `cookiecutter .` in the template folder: the hook runs in the new project, yet records the absolute path
    done = run([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / "rel"), "."], cwd=repo)
    assert done.returncode == 0, explain(done)
    relative = record(tmp_path / "rel" / "my-ml-project")
    assert (relative["template"], relative["commit"], relative["checkout"]) == (str(repo), later, None)
    assert "note:" not in done.stderr and "warning:" not in done.stderr, done.stderr
    # an abbreviation from the user's cookiecutter config, a git+ URL and a tag: cookiecutter clones it
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path / 'replay'}\n"
        f"abbreviations:\n  here: git+file://{tmp_path}/{{0}}\n"
    )
    done = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(tmp_path / "url"),
            "here:template",
            "-c",
            "v1.0.0",
        ],
        cwd=tmp_path,
        env={"COOKIECUTTER_CONFIG": str(config)},
    )
    assert done.returncode == 0, explain(done)
    project = tmp_path / "url" / "my-ml-project"
    cloned = record(project)
    assert (cloned["template"], cloned["commit"], cloned["checkout"]) == (f"file://{repo}", first, "v1.0.0")
    replay = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert replay["_template"] == cloned["template"] and "_commit" not in replay
    check = cruft(project, "check")  # against the default branch, which has moved on
    assert check.returncode == 1 and "out of date" in check.stdout, explain(check)
    check = cruft(project, "check", "--checkout", "v1.0.0")
    assert check.returncode == 0 and "up to date" in check.stdout, explain(check)


def test_uncommitted_template_changes_are_noted(tmp_path):
    repo, commit = template_repo(tmp_path / "template")
    (repo / "README.md").write_text("edited, not committed\n")
    done = run([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / "out"), str(repo)], tmp_path)
    assert done.returncode == 0, explain(done)
    assert f"note: {repo} has uncommitted changes: .cruft.json records its last commit {commit[:12]}" in done.stderr
    assert record(tmp_path / "out" / "my-ml-project")["commit"] == commit


def test_a_zip_is_recorded_without_a_commit_and_cruft_link_repairs_it(tmp_path):
    repo, commit = template_repo(tmp_path / "template")
    archive = tmp_path / "template.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("template/", "")  # cookiecutter wants one top-level folder, listed first
        for path in sorted(repo.rglob("*")):
            if path.is_file() and ".git" not in path.relative_to(repo).parts:
                bundle.write(path, Path("template") / path.relative_to(repo))
    done = run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / "out"), str(archive)], tmp_path
    )
    assert done.returncode == 0, explain(done)
    assert f"'{archive}' is not a git repository" in done.stderr and "cruft link" in done.stderr, done.stderr
    project = tmp_path / "out" / "my-ml-project"
    recorded = record(project)
    assert recorded["template"] == str(archive) and recorded["commit"] == COMMIT_UNKNOWN
    check = cruft(project, "check")  # git cannot clone a zip
    assert check.returncode == 1 and "Failed to clone the repo" in check.stderr, explain(check)
    # pointed at the repository, a null commit would pass `cruft check`; this one fails it, naming itself
    (project / ".cruft.json").write_text(json.dumps(recorded | {"template": str(repo)}))
    check = cruft(project, "check")
    assert check.returncode == 1 and COMMIT_UNKNOWN in check.stderr and "SUCCESS" not in check.stdout, explain(check)
    # the fix the hook prints and the README documents
    (project / ".cruft.json").unlink()
    answers = json.dumps(json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"])
    linked = cruft(project, "link", str(repo), "--checkout", commit, "--no-input", "--extra-context", answers)
    assert linked.returncode == 0, explain(linked)
    assert record(project)["commit"] == commit
    assert record(project)["context"]["cookiecutter"]["project_slug"] == "my-ml-project"
    check = cruft(project, "check")
    assert check.returncode == 0 and "up to date" in check.stdout, explain(check)


# --- a real update ---------------------------------------------------------------------------------

# The older template: each (file, text now, text then). Every change is a real one: the older version
# lacks the template-check target and job and the README's section on updates, the dependabot file,
# and had other defaults for two thresholds and another title for the data notes.
MAKEFILE_TARGET = re.compile(r"^template-check: ##.*?\n\n", re.MULTILINE | re.DOTALL)
CI_JOB = re.compile(r"^  # Not a gate: a newer template.*?(?=^  ci-passed:)", re.MULTILINE | re.DOTALL)
README_SECTION = re.compile(r"^## Template updates\n.*?(?=^## )", re.MULTILINE | re.DOTALL)
OLDER = [
    (f"{SLUG}/params.yaml", "  slice_threshold: 0.8               #", "  slice_threshold: 0.75              #"),
    (f"{SLUG}/params.yaml", "  psi_threshold: 0.25                #", "  psi_threshold: 0.2                 #"),
    (f"{SLUG}/data/README.md", "# Sample data: Palmer penguins\n", "# Sample data\n"),
    (f"{SLUG}/Makefile", MAKEFILE_TARGET, ""),
    (f"{SLUG}/.github/workflows/ci.yml", CI_JOB, ""),
    (f"{SLUG}/README.md", README_SECTION, ""),
]
ADDED_LATER = f"{SLUG}/.github/dependabot.yml"


def make_older(repo: Path) -> dict[str, bytes]:
    """Turn the template in `repo` into its older version; return the files as they are now."""
    now: dict[str, bytes] = {}
    for name, new, old in OLDER:
        path = repo / name
        now.setdefault(name, path.read_bytes())
        text = path.read_text()
        if isinstance(new, re.Pattern):
            assert len(new.findall(text)) == 1, f"{name}: the test expects one match of {new.pattern!r}"
            text = new.sub(old, text)
        else:
            assert text.count(new) == 1, f"{name}: the test expects the line {new!r} once (was it changed?)"
            text = text.replace(new, old)
        path.write_text(text)
    now[ADDED_LATER] = (repo / ADDED_LATER).read_bytes()
    (repo / ADDED_LATER).unlink()
    return now


def resolve_keeping_ours(path: Path) -> None:
    text = path.read_text()
    resolved = re.sub(r"<<<<<<< ours\n(.*?)=======\n.*?>>>>>>> theirs\n", r"\1", text, flags=re.DOTALL)
    assert resolved != text
    path.write_text(resolved)


@pytest.mark.slow
@pytest.mark.long(1)
def test_a_project_takes_a_template_update_keeping_the_users_changes(tmp_path):
    repo = copy_template(tmp_path / "template")
    now = make_older(repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    older = commit_all(repo, "The template, an older version")

    # the user's project, baked from the older template, with their own changes committed
    project = bake_from(repo, tmp_path / "bake")
    assert record(project)["commit"] == older and record(project)["skip"] == CRUFT_SKIP
    relock(project)
    git(project, "init", "--quiet", "--initial-branch=main")
    commit_all(project, "Start from the template")
    params = project / "params.yaml"
    text = params.read_text()
    for line, theirs in (
        ("  threshold: 0.9\n", "  threshold: 0.85\n"),
        ("slice_threshold: 0.75 ", "slice_threshold: 0.7  "),
    ):
        assert text.count(line) == 1, line
        text = text.replace(line, theirs)
    params.write_text(text)
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("# My ML Project\n", "# Penguin species at Palmer Station\n", 1))
    notes = project / "data" / "README.md"
    notes.write_text(notes.read_text().replace("# Sample data\n", "# Our measurements\n", 1))
    batch = project / "data" / "incoming" / "2010-01.csv"
    batch.write_text("".join((project / "data" / "samples" / "penguins_2009.csv").open().readlines()[:31]))
    mine = {p: p.read_bytes() for p in (params, readme, notes, batch)}
    commit_all(project, "Our data and thresholds")
    (project / "scratch.txt").write_text("not committed\n")

    # the template moves on: the version this test runs in
    for name, content in now.items():
        (repo / name).write_bytes(content)
    newer = commit_all(repo, "The template, now")

    check = cruft(project, "check")
    assert check.returncode == 1 and "out of date" in check.stdout, explain(check)

    refused = cruft(project, "update", "--skip-apply-ask")
    assert refused.returncode == 1 and "unclean git project" in refused.stdout, explain(refused)
    assert record(project)["commit"] == older

    updated = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert updated.returncode == 0, explain(updated)
    # the conflict, as cruft reports it: git apply -3's conflict markers, the file unmerged in the index
    assert "Applied patch to 'params.yaml' with conflicts." in updated.stderr, explain(updated)
    assert "U params.yaml" in updated.stderr
    status = git(project, "status", "--porcelain")
    assert "UU params.yaml" in status.splitlines(), status
    assert not list(project.rglob("*.rej")), "a three-way merge leaves no .rej files"
    merged = params.read_text()
    conflict = re.search(r"<<<<<<< ours\n(.*?)=======\n(.*?)>>>>>>> theirs\n", merged, re.DOTALL)
    assert conflict, merged
    assert conflict[1].startswith("  slice_threshold: 0.7 ") and conflict[2].startswith("  slice_threshold: 0.8 ")
    assert merged.count("<<<<<<<") == 1, "only the line both changed conflicts"
    # the same file also took the template's other change and kept the user's
    assert "  threshold: 0.85\n" in merged and "  psi_threshold: 0.25 " in merged
    # the template's changes arrived in files the user did not touch, and next to the user's own edit
    assert "\ntemplate-check: ##" in (project / "Makefile").read_text()
    assert "  template-check:\n" in (project / ".github" / "workflows" / "ci.yml").read_text()
    assert (project / ".github" / "dependabot.yml").is_file()
    assert "## Template updates" in readme.read_text() and "# Penguin species at Palmer Station\n" in readme.read_text()
    # what `skip` leaves alone: the user's data and notes, though the template changed those notes too
    assert notes.read_bytes() == mine[notes] and batch.read_bytes() == mine[batch]
    assert (project / "scratch.txt").read_text() == "not committed\n"
    after = record(project)
    assert after["commit"] == newer and after["skip"] == CRUFT_SKIP
    assert after["context"]["cookiecutter"]["_commit"] == newer

    # resolved (the user keeps their slice threshold) and committed: the project is up to date
    resolve_keeping_ours(params)
    assert "  slice_threshold: 0.7 " in params.read_text() and "<<<<<<<" not in params.read_text()
    commit_all(project, "Take the template's update")
    check = cruft(project, "check")
    assert check.returncode == 0 and "up to date" in check.stdout, explain(check)

    # the project's own tests pass on the merged params.yaml and the user's data: the settings load
    # strictly, the data passes its contract (test_data.py), a model trained now passes the user's
    # thresholds and exports with parity (test_model.py)
    done = make(project, "install", "test")
    assert done.returncode == 0, explain(done)
    assert "6 passed" in done.stdout, explain(done)
    # and the target the update brought runs: up to date, so no notice
    done = make(project, "template-check", env=GIT_ENV)
    assert done.returncode == 0 and "up to date" in done.stdout and "::notice" not in done.stdout, explain(done)


# --- from the engine in the project to the engine in the library -------------------------------------

# The last template whose projects carried the engine in src/<package>/ (and its tests in tests/); the next
# commit moved it into library/ as modelkeel
FAT_TEMPLATE = "f3d5b894d118ee7622a186519eede302dea0be14"
CONFLICT = re.compile(r"<<<<<<< ours\n(.*?)=======\n(.*?)>>>>>>> theirs\n", re.DOTALL)


def template_at(commit: str, dest: Path) -> Path:
    """A clone of this template's repository with `main` at `commit` (its real history, so .cruft.json
    records the commit a user's project records)."""
    if run(["git", "rev-parse", "--git-dir"], cwd=TEMPLATE, env=GIT_ENV).returncode != 0:
        pytest.skip(
            "the template is not a git checkout: this update needs its history (the template before the library)"
        )
    if run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=TEMPLATE, env=GIT_ENV).returncode != 0:
        pytest.fail(
            f"commit {commit[:12]} is not in this checkout (a shallow clone?): the update from the template "
            "before the library needs the template's history (actions/checkout: fetch-depth: 0)"
        )
    git(dest.parent, "clone", "--quiet", "--no-checkout", str(TEMPLATE), dest.name)
    git(dest, "checkout", "--quiet", "-B", "main", commit)
    return dest


def move_on_to_now(repo: Path) -> str:
    """Commit this template's working tree (HEAD plus uncommitted changes) on top of `repo`'s main."""
    git(repo, "rm", "-r", "--quiet", ".")
    copy_template(repo)
    return commit_all(repo, "The template, now: the engine is the modelkeel library")


def files_under(root: Path, *folders: str) -> set[str]:
    return {
        str(path.relative_to(root))
        for folder in folders
        for path in (root / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.slow
@pytest.mark.long(1)
def test_a_project_baked_with_the_engine_updates_to_the_thin_project(tmp_path):
    """A project baked before the engine moved into modelkeel takes the update with cruft and runs.

    The user had changed the preprocessing in the engine's stages/features.py, a threshold, and added a
    dependency (so their uv.lock differs too). The straight `cruft update` cannot merge the removal of a
    file the user changed: git apply -3 refuses the whole patch, and cruft's fallback (`git apply --reject`)
    leaves *.rej files, the changed file, and a .cruft.json already naming the new commit. The way through,
    the one a user with such edits is told to take (README, Template updates), is what this test does next:
    undo that, set the edits of the files the update deletes aside and delete those files (cruft leaves a
    file the project deleted alone), update (a three-way merge: conflict markers where both sides changed a
    line), resolve, and carry the edit into model.py.
    """
    repo = template_at(FAT_TEMPLATE, tmp_path / "template")
    project = bake_from(repo, tmp_path / "bake")
    package = package_name(project)
    assert record(project)["commit"] == FAT_TEMPLATE and record(project)["template"] == str(repo)
    features = f"src/{package}/stages/features.py"
    assert (project / features).is_file() and (project / "tests" / "conftest.py").is_file()
    git(project, "init", "--quiet", "--initial-branch=main")
    start = commit_all(project, "Start from the template")
    fat = files_under(project, "src", "tests")

    # the user's changes: a looser threshold, their own dependency (locked), their preprocessing
    params = project / "params.yaml"
    assert params.read_text().count("  threshold: 0.9\n") == 1
    params.write_text(params.read_text().replace("  threshold: 0.9\n", "  threshold: 0.85\n"))
    pyproject = project / "pyproject.toml"
    last_runtime_dependency = '    "prometheus-client>=0.20",  # serve: /metrics\n'
    assert pyproject.read_text().count(last_runtime_dependency) == 1
    ours = last_runtime_dependency + '    "requests>=2.31",  # our data download\n'
    pyproject.write_text(pyproject.read_text().replace(last_runtime_dependency, ours))
    done = run([localindex.uv(), "lock"], project)  # requests is locked already (a dependency of sigstore)
    assert done.returncode == 0, explain(done)
    median, mean = 'SimpleImputer(strategy="median")', 'SimpleImputer(strategy="mean")'
    engine_file = project / features
    assert engine_file.read_text().count(median) == 1
    engine_file.write_text(engine_file.read_text().replace(median, mean))
    commit_all(project, "Our threshold, dependency and preprocessing")
    assert set(git(project, "diff", "--name-only", start, "HEAD").split()) == {
        "params.yaml",
        "pyproject.toml",
        "uv.lock",
        features,
    }

    newer = move_on_to_now(repo)
    fresh = bake_from(repo, tmp_path / "fresh")
    thin = files_under(fresh, "src", "tests")
    engine = fat - thin
    assert features in engine and f"src/{package}/cli/main.py" in engine and "tests/conftest.py" in engine
    assert thin == {
        f"src/{package}/__init__.py",
        f"src/{package}/__main__.py",
        f"src/{package}/model.py",
        f"src/{package}/schemas/__init__.py",
        f"src/{package}/schemas/penguins.py",
        "tests/test_data.py",
        "tests/test_model.py",
    }

    check = cruft(project, "check")
    assert check.returncode == 1 and "out of date" in check.stdout, explain(check)

    # 1. straight away: the removal of the changed features.py does not apply, so nothing merges three-way
    updated = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert updated.returncode == 0, explain(updated)
    assert f"error: {features}: patch does not apply" in updated.stderr, explain(updated)
    assert "removal patch leaves file contents" in updated.stderr, explain(updated)
    assert "Retrying again with a different update strategy" in updated.stdout, explain(updated)
    assert "Project directory may have *.rej files" in updated.stdout, explain(updated)
    # the hunks next to the user's lines in .rej files, the changed engine file left as it was
    assert {str(p.relative_to(project)) for p in project.rglob("*.rej")} == {"pyproject.toml.rej", "uv.lock.rej"}
    assert engine_file.is_file() and mean in engine_file.read_text()
    assert "UU " not in git(project, "status", "--porcelain"), "no three-way merge, no conflict markers"
    # and cruft records the update as taken: `cruft check` would call this half-applied state up to date
    assert record(project)["commit"] == newer
    # undone: the project as it was before the update
    git(project, "reset", "--quiet", "--hard")
    git(project, "clean", "--quiet", "-d", "--force")
    assert git(project, "status", "--porcelain") == "" and record(project)["commit"] == FAT_TEMPLATE

    # 2. the edits of files the update deletes set aside, those files deleted and committed
    changed = set(git(project, "diff", "--name-only", start, "HEAD", "--", "src", "tests").split())
    assert changed == {features} and changed <= engine
    set_aside = git(project, "diff", start, "HEAD", "--", features)
    assert f'+    numeric_steps = [("impute", {mean})]' in set_aside, set_aside
    git(project, "rm", "--quiet", features)
    commit_all(project, "Before the template's update: our edit of the engine's features.py is set aside")

    updated = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert updated.returncode == 0, explain(updated)
    assert "Applied patch to 'params.yaml' cleanly." in updated.stderr, explain(updated)
    assert "Applied patch to 'pyproject.toml' with conflicts." in updated.stderr, explain(updated)
    assert "Applied patch to 'uv.lock' with conflicts." in updated.stderr, explain(updated)
    assert "Retrying" not in updated.stdout + updated.stderr, explain(updated)
    assert not list(project.rglob("*.rej"))
    status = git(project, "status", "--porcelain").splitlines()
    assert sorted(line for line in status if line.startswith("UU")) == ["UU pyproject.toml", "UU uv.lock"], status
    # the old engine and its tests are gone: what is left under src/ and tests/ is the thin project's
    assert files_under(project, "src", "tests") == thin
    assert record(project)["commit"] == newer
    # params.yaml took the library's `package:` key next to the user's threshold
    assert f"\npackage: {package} " in params.read_text() and "  threshold: 0.85\n" in params.read_text()

    # pyproject.toml: the user's dependency list against the template's pin; keep the pin, add their own
    merged = pyproject.read_text()
    [(mine, theirs)] = CONFLICT.findall(merged)
    pin = f'dependencies = ["modelkeel=={localindex.library_version()}"]\n'
    assert '"requests>=2.31"' in mine and '"pandas>=2.2,<4",' in mine and pin in theirs
    resolved = CONFLICT.sub(lambda _: theirs, merged)
    resolved = resolved.replace(pin, pin.replace('"]', '", "requests>=2.31"]'))
    pyproject.write_text(resolved)
    assert f'train = ["modelkeel[train]=={localindex.library_version()}"]' in resolved
    # uv.lock: not merged by hand: the template's, then locked again for the resolved pyproject.toml
    git(project, "checkout", "--theirs", "uv.lock")
    relock(project)  # a user runs `uv lock`: here modelkeel comes from the local index
    lock = tomllib.loads((project / "uv.lock").read_text())
    [own] = [p for p in lock["package"] if p["name"] == "my-ml-project"]
    assert {d["name"] for d in own["metadata"]["requires-dist"]} >= {"modelkeel", "requests"}
    assert [p["version"] for p in lock["package"] if p["name"] == "modelkeel"] == [localindex.library_version()]
    # the preprocessing edit, carried into model.py (its build_pipeline is the old one's)
    model = project / "src" / package / "model.py"
    assert model.read_text().count(median) == 1
    model.write_text(model.read_text().replace(median, mean))
    commit_all(project, "Take the template's update: the engine is the modelkeel library")

    check = cruft(project, "check")
    assert check.returncode == 0 and "up to date" in check.stdout, explain(check)
    # the project is file for file a fresh bake's (no file of the old engine is left in git or on disk)
    assert set(git(project, "ls-files").splitlines()) == files_under(fresh, ".")
    done = make(project, "install", "pipeline", "test")
    assert done.returncode == 0, explain(done)
    assert "6 passed" in done.stdout and "threshold 0.85" in done.stdout, explain(done)
    assert not any((project / name).exists() for name in engine)
    assert not (project / "src" / package / "stages").exists() and not (project / "tests" / "conftest.py").exists()
    python = str(project / ".venv" / "bin" / "python")
    done = run([python, "-c", "from importlib.metadata import version; print(version('modelkeel'))"], project)
    assert done.returncode == 0 and done.stdout.strip() == localindex.library_version(), explain(done)
    trained = "joblib.load('artifacts/model.joblib')['preprocess'].named_transformers_['numeric']['impute']"
    done = run([python, "-c", f"import joblib; print({trained}.strategy)"], project)
    assert done.returncode == 0 and done.stdout.strip() == "mean", explain(done)


# --- the CI notice ---------------------------------------------------------------------------------


def test_template_check_is_a_notice_when_out_of_date_and_an_error_when_it_cannot_check(tmp_path):
    repo, _ = template_repo(tmp_path / "template")
    project = bake_from(repo, tmp_path / "bake")
    git(project, "init", "--quiet", "--initial-branch=main")
    commit_all(project, "Start from the template")
    (repo / "NEWS.md").write_text("a later commit\n")
    commit_all(repo, "Later")
    done = make(project, "template-check", env={**GIT_ENV, "GITHUB_ACTIONS": "true"})
    assert done.returncode == 0, explain(done)
    assert "out of date" in done.stdout
    assert "::notice title=Template update available::run cruft update" in done.stdout, explain(done)
    done = make(project, "template-check", env={**GIT_ENV, "GITHUB_ACTIONS": ""})
    assert done.returncode == 0 and "::notice" not in done.stdout and "cruft update" in done.stdout, explain(done)
    # the template cannot be reached: a failure naming why (CI's job does not block on it)
    moved = record(project) | {"template": str(tmp_path / "gone")}
    (project / ".cruft.json").write_text(json.dumps(moved))
    done = make(project, "template-check", env=GIT_ENV)
    assert done.returncode != 0, explain(done)
    assert "cruft check could not compare with the template" in done.stderr and "gone" in done.stdout, explain(done)


@pytest.mark.slow
def test_ci_template_check_job_under_act_shows_a_notice_and_passes(tmp_path):
    """ci.yml's job for real (act, host mode, the stand-in actions): cruft clones the template from the
    path .cruft.json names, here a local repository, so nothing reaches GitHub (cruft comes from PyPI)."""
    from workflows import Actions, init_repo, repository

    repo, _ = template_repo(tmp_path / "template")
    project = bake_from(repo, tmp_path / "bake")
    init_repo(project, "owner/my-ml-project")
    actions = Actions(project, tmp_path / "act")
    event = {"ref": "refs/heads/main", "repository": repository("owner/my-ml-project")}
    result = actions.run("push", "ci.yml", event, job="template-check")
    assert result.ok and "make template-check" in result.steps("Success"), result.explain()
    assert "up to date" in result.output and "Template update available" not in result.output, result.explain()
    (repo / "NEWS.md").write_text("a later commit\n")
    commit_all(repo, "Later")
    result = actions.run("push", "ci.yml", event, job="template-check")
    assert result.ok and "make template-check" in result.steps("Success"), result.explain()
    assert "Template update available" in result.output and "run cruft update" in result.output, result.explain()


def test_the_generated_ci_runs_the_cruft_the_template_tests():
    """`make template-check` runs one exact cruft release: the one this template's tests run (uv.lock)."""
    makefile = (TEMPLATE / SLUG / "Makefile").read_text()
    [pinned] = re.findall(r"^CRUFT_VERSION := (\S+)$", makefile, re.MULTILINE)
    locked = tomllib.loads((TEMPLATE / "uv.lock").read_text())["package"]
    assert [p["version"] for p in locked if p["name"] == "cruft"] == [pinned]
