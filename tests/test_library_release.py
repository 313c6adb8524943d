"""The engine library's release (.github/workflows/library-release.yml), executed offline under act.

The workflow runs in a throwaway git repository holding this checkout's files, tagged as a release would
be. Its publish step (the pypa/gh-action-pypi-publish stand-in) uploads with `uv publish` to a real package
index on loopback (pypiserver accepting uploads) standing in for PyPI, so what a release publishes is read
back from the index's folder: the wheel and the sdist, the wheel byte for byte the one this checkout builds
(the one `make lock` hashed into the generated project's uv.lock), both attested.

The stand-in's own refusals (a token instead of trusted publishing, no id-token grant, stray files, metadata
that does not match the filename) are checked first, without act.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import TEMPLATE, uv_binary
from localindex import build_wheel, library_version, serve
from workflows import STANDINS, Actions, git, init_repo, repository

REPO = "your-github-user-or-org/mlops-cookiecutter-template"
WORKFLOW = "library-release.yml"
PUBLISH = "pypa/gh-action-pypi-publish"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def push(ref: str) -> dict:
    return {"ref": ref, "repository": repository(REPO)}


def template_repository(target: Path) -> Path:
    """A git repository of this checkout's files as git sees them (tracked, and untracked but not ignored: what
    hatchling builds from here too), its origin on github.com, committed on main."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE / name
        if source.is_file():  # a tracked file deleted in the work tree stays out, as committing it would
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    init_repo(target, REPO)
    return target


def served_hashes(simple: str, project: str) -> dict[str, str]:
    """filename -> sha256, as the index's simple page for `project` links them."""
    with urllib.request.urlopen(f"{simple}{project}/", timeout=10) as page:
        html = page.read().decode()
    return dict(re.findall(r'href="[^"#]*/([^"/#]+)#sha256=([0-9a-f]{64})"', html))


# --- executed under act ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.long(0.2)
def test_a_version_tag_publishes_the_attested_reproducible_wheel_and_sdist_and_a_wrong_tag_nothing(tmp_path):
    project = template_repository(tmp_path / "template")
    index = tmp_path / "pypi"
    index.mkdir()
    version = library_version()
    wheel, sdist = f"modelkeel-{version}-py3-none-any.whl", f"modelkeel-{version}.tar.gz"
    with serve(index, uploads=True) as simple:
        upload = simple.removesuffix("simple/")
        # the publish stand-in reads the job's permissions from the workflow files act runs
        standins = {"STANDINS_PYPI_UPLOAD_URL": upload, "STANDINS_WORKFLOWS": str(project / ".github" / "workflows")}
        actions = Actions(project, tmp_path / "act", env=standins)

        # a tag that is not the library's version: refused by the build job before anything is built or published
        git(project, "tag", "modelkeel-v9.9.9")
        wrong = actions.run("push", WORKFLOW, push("refs/tags/modelkeel-v9.9.9"))
        assert not wrong.ok and "The tag names the library's version" in wrong.steps("Failure"), wrong.explain()
        assert (
            f"tag modelkeel-v9.9.9 does not match the library version: library/pyproject.toml says {version}, "
            f"so the tag must be modelkeel-v{version}"
        ) in wrong.output, wrong.explain()
        assert "Build the wheel and the sdist" not in wrong.steps("Success")
        ran = {a["action"] for a in wrong.jsonl("actions.jsonl")}
        assert ran == {"astral-sh/setup-uv"}, "no artifact, and the publish job never ran"
        assert not (actions.state / "artifacts").exists() and wrong.jsonl("attestation.jsonl") == []
        assert list(index.iterdir()) == [], "nothing reached the index"

        # the library's version: built once, attested, published by trusted publishing
        tag = f"modelkeel-v{version}"
        git(project, "tag", tag)
        result = actions.run("push", WORKFLOW, push(f"refs/tags/{tag}"))
        assert result.ok, result.explain()
        published = {p.name: sha256(p) for p in sorted(index.iterdir())}
        assert sorted(published) == sorted([wheel, sdist])
        assert served_hashes(simple, "modelkeel") == published, "the index serves what was uploaded"
        reference = build_wheel(tmp_path / "checkout")
        assert published[wheel] == sha256(reference), "the published wheel is this checkout's, byte for byte"
        assert sorted(p.name for p in (actions.state / "artifacts" / "modelkeel-dist").iterdir()) == sorted(published)
        [attestation] = result.jsonl("attestation.jsonl")
        attested = {s["path"]: s["sha256"] for s in attestation["subjects"]}
        assert attested == {f"dist/{name}": digest for name, digest in published.items()}
        [publish] = [a for a in result.jsonl("actions.jsonl") if a["action"] == PUBLISH]
        assert publish["job"] == "publish" and publish["inputs"] == {"packages-dir": "dist/"}, "no token, no password"
        assert {f["name"]: f["sha256"] for f in publish["did"]["files"]} == published
        assert publish["did"]["id-token"] == f"{WORKFLOW}: job publish"
        assert publish["did"]["repository-url"] == "https://upload.pypi.org/legacy/"
        jobs = {a["action"]: a["job"] for a in result.jsonl("actions.jsonl")}
        assert jobs["actions/attest-build-provenance"] == "publish" and jobs["actions/upload-artifact"] == "build"

        # the same tag again: the index keeps the files it has (PyPI never replaces a file either)
        again = actions.run("push", WORKFLOW, push(f"refs/tags/{tag}"))
        assert not again.ok and "Server returned status code 409 Conflict" in again.output, again.explain()
        assert {p.name: sha256(p) for p in sorted(index.iterdir())} == published


# --- the pypi-publish stand-in, without act ------------------------------------------------------------------


def publish_job(permissions: object, *, at: str = "job") -> dict:
    job: dict = {"runs-on": "ubuntu-latest", "steps": [{"uses": PUBLISH}]}
    doc: dict = {"name": "release", "on": "push", "jobs": {"publish": job}}
    if permissions is not None:
        (job if at == "job" else doc)["permissions"] = permissions
    return doc


def wheel_file(folder: Path, filename: str, metadata_name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    with zipfile.ZipFile(path, "w") as wheel:
        name, file_version = filename.split("-")[:2]
        wheel.writestr(
            f"{name}-{file_version}.dist-info/METADATA",
            f"Metadata-Version: 2.4\nName: {metadata_name}\nVersion: {version}\n",
        )
    return path


def run_standin(tmp_path: Path, inputs: dict[str, str], workflow: dict) -> subprocess.CompletedProcess:
    workspace, state = tmp_path / "ws", tmp_path / "state"
    (workspace / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (workspace / ".github" / "workflows" / "release.yml").write_text(yaml.safe_dump(workflow))
    state.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env |= {f"INPUT_{k.upper()}": v for k, v in inputs.items()}
    env |= {
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_WORKFLOW": "release",
        "GITHUB_JOB": "publish",
        "STANDINS_STATE": str(state),
        "STANDINS_UV": uv_binary(),
        "STANDINS_PYPI_UPLOAD_URL": "http://127.0.0.1:9/",  # nothing listens: every case here fails before it
        "UV_HTTP_RETRIES": "0",
    }
    return subprocess.run(
        [sys.executable, str(STANDINS / "actions.py"), PUBLISH], env=env, capture_output=True, text=True, check=False
    )


GRANTED = {"id-token": "write"}


@pytest.mark.parametrize(
    ("inputs", "permissions", "message"),
    [
        ({"password": "pypi-token"}, GRANTED, "['password'] given; this workflow must publish by trusted publishing"),
        ({"user": "__token__"}, GRANTED, "['user'] given"),
        ({"packages_dir": "dist/"}, GRANTED, "['packages_dir'] are deprecated aliases"),
        ({"packages-dir": "dist/", "repo-url": "x"}, GRANTED, "does not understand input(s) ['repo-url']"),
        ({"repository-url": "https://example.org/legacy/"}, GRANTED, "trusted publishing works with"),
        ({"skip-existing": "true"}, GRANTED, "skip-existing: true is not supported"),
        ({"attestations": "yes"}, GRANTED, "is not one of ['false', 'true']"),
        ({}, {"contents": "read"}, "do not grant id-token: write"),
        ({}, {}, "do not grant id-token: write"),
        ({}, "read-all", "do not grant id-token: write"),
        ({}, None, "sets no permissions; the default never grants id-token: write"),
        ({"packages-dir": "empty/"}, GRANTED, "holds no file to upload"),
    ],
)
def test_pypi_publish_standin_refuses_what_trusted_publishing_would_not_do(tmp_path, inputs, permissions, message):
    done = run_standin(tmp_path, inputs, publish_job(permissions))
    assert done.returncode == 1 and message in done.stderr, done.stderr
    [entry] = [json.loads(line) for line in (tmp_path / "state" / "actions.jsonl").read_text().splitlines()]
    assert "did" not in entry and message in entry["refused"]
    assert "pypi-token" not in json.dumps(entry), "a password is never written down"


def test_pypi_publish_standin_reads_the_workflow_grant_and_checks_each_files_metadata(tmp_path):
    dist = tmp_path / "ws" / "dist"
    wheel_file(dist, "modelkeel-1.0.0-py3-none-any.whl", "other-name", "1.0.0")
    done = run_standin(tmp_path, {}, publish_job(GRANTED, at="workflow"))  # the workflow-level grant applies
    assert done.returncode == 1 and "its metadata names 'other-name', not 'modelkeel'" in done.stderr, done.stderr
    shutil.rmtree(dist)
    wheel_file(dist, "modelkeel-1.0.0-py3-none-any.whl", "modelkeel", "1.0.1")
    done = run_standin(tmp_path, {}, publish_job(GRANTED))
    assert done.returncode == 1 and "its metadata says version '1.0.1', not '1.0.0'" in done.stderr, done.stderr
    shutil.rmtree(dist)
    wheel_file(dist, "modelkeel-1.0.0-py3-none-any.whl", "modelkeel", "1.0.0")
    (dist / "modelkeel-1.0.0.zip").write_bytes(b"not a distribution this action uploads")
    done = run_standin(tmp_path, {}, publish_job(GRANTED))
    assert done.returncode == 1 and "packages-dir holds only wheels (.whl) and sdists (.tar.gz)" in done.stderr
    (dist / "modelkeel-1.0.0.zip").unlink()
    done = run_standin(tmp_path, {"verify-metadata": "false"}, publish_job({"id-token": "write"}))
    assert done.returncode == 1 and "the upload to http://127.0.0.1:9/ failed" in done.stderr, "it got as far as uv"
