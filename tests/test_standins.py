"""The stand-ins for GitHub (marketplace actions, `gh`) refuse what they do not understand, so a workflow
change cannot pass the act tests silently."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import bake, uv_binary
from workflows import STANDINS, Actions, git, init_repo

GH = STANDINS / "bin" / "gh"


def action(name: str, inputs: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    workspace, state = tmp_path / "ws", tmp_path / "state"
    workspace.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env |= {f"INPUT_{k.upper()}": v for k, v in inputs.items()}
    env |= {"GITHUB_WORKSPACE": str(workspace), "STANDINS_STATE": str(state), "STANDINS_UV": uv_binary()}
    for name_ in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT"):
        env[name_] = str(tmp_path / name_)
    return subprocess.run(
        [sys.executable, str(STANDINS / "actions.py"), name], env=env, capture_output=True, text=True, check=False
    )


def gh(args: list[str], tmp_path: Path, cwd: Path | None = None, token: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    env["STANDINS_STATE"] = str(tmp_path / "state")
    if token:
        env["GH_TOKEN"] = "t"
    (tmp_path / "state").mkdir(exist_ok=True)
    return subprocess.run([str(GH), *args], cwd=cwd or tmp_path, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("name", "inputs", "message"),
    [
        ("actions/upload-artifact", {"path": "dist/", "bogus": "1"}, "does not understand input(s) ['bogus']"),
        ("actions/upload-artifact", {"name": "x"}, "required input(s) ['path'] not given"),
        ("actions/upload-artifact", {"path": "dist/", "if-no-files-found": "maybe"}, "is not one of"),
        ("actions/upload-artifact", {"path": "nothing/", "if-no-files-found": "error"}, "no files were found"),
        ("astral-sh/setup-uv", {"enable-cache": "true", "cache-dependency-glob": "uv.lock"}, "matches no file"),
        ("astral-sh/setup-uv", {"python-versions": "3.11"}, "does not understand input(s) ['python-versions']"),
        ("actions/attest-build-provenance", {"subject-path": "dist/*.onnx"}, "matches no file"),
        ("actions/attest-build-provenance", {"subject-digest": "sha256:" + "0" * 64}, "subject-name must be provided"),
        (
            "actions/attest-build-provenance",
            {"subject-digest": "sha256:00", "subject-name": "ghcr.io/o/r"},
            "is not sha256:<64 hex digits>",
        ),
        (
            "actions/attest-build-provenance",
            {"subject-digest": "sha256:" + "0" * 64, "subject-path": "x"},
            "exactly one of subject-path, subject-digest or subject-checksums",
        ),
        (
            "actions/attest-build-provenance",
            {"subject-digest": "sha256:" + "0" * 64, "subject-name": "ghcr.io/O/R", "push-to-registry": "true"},
            "no image ghcr.io/o/r@sha256:",
        ),
        ("docker/setup-buildx-action", {"version": "v0.20.0"}, "does not understand input(s) ['version']"),
        ("docker/setup-buildx-action", {"driver": "docker"}, "is not one of ['docker-container']"),
        ("docker/login-action", {"registry": "ghcr.io", "username": "u"}, "required input(s) ['password'] not given"),
        ("docker/login-action", {"registry-auth": "x"}, "does not understand input(s) ['registry-auth']"),
        ("docker/metadata-action", {"images": "ghcr.io/o/r", "tags": "type=ref,event=tag"}, "not 'ref'"),
        (
            "docker/metadata-action",
            {"images": "ghcr.io/o/r", "tags": r"type=match,pattern=^v(\d+\.\d+\.\d+)$,group=1,value=main"},
            "does not match 'main'",
        ),
        ("docker/metadata-action", {"images": "name=ghcr.io/o/r,enable=true", "tags": "type=raw,value=x"}, "plain"),
        ("docker/metadata-action", {"images": "o/r", "tags": "type=raw,value=x"}, "is not REGISTRY/NAME"),
        ("docker/build-push-action", {"context": ".", "push": "true"}, "needs docker/setup-buildx-action earlier"),
        ("docker/build-push-action", {"cache-from": "type=gha"}, "does not understand input(s) ['cache-from']"),
        ("actions/checkout", {"ref": "v1.0.0"}, "only for a checkout of the triggering commit"),
        ("actions/cache", {"path": "x"}, "no stand-in for action 'actions/cache'"),
    ],
)
def test_action_standins_refuse_what_they_do_not_understand(tmp_path, name, inputs, message):
    done = action(name, inputs, tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    log = [json.loads(line) for line in (tmp_path / "state" / "actions.jsonl").read_text().splitlines()]
    assert log[-1]["action"] == name and message in log[-1]["refused"]


def test_upload_artifact_standin_copies_files_and_refuses_a_second_upload(tmp_path):
    dist = tmp_path / "ws" / "dist" / "b"
    dist.mkdir(parents=True)
    (dist / "model.onnx").write_bytes(b"onnx")
    done = action("actions/upload-artifact", {"name": "bundle", "path": "dist/"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "state" / "artifacts" / "bundle" / "b" / "model.onnx").read_bytes() == b"onnx"
    again = action("actions/upload-artifact", {"name": "bundle", "path": "dist/"}, tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["release", "delete", "v1.0.0"], 2, "unsupported command"),
        (["release", "create", "v1.0.0", "--clobber"], 2, "unknown flag '--clobber'"),
        (["release", "create", "v1.0.0", "--notes-file", "n.md"], 2, "pass --repo OWNER/NAME"),
        (["release", "create", "v1.0.0", "--repo", "o/r"], 2, "pass --notes-file"),
        (["release", "create", "v1.0.0", "--repo", "o/r", "--notes-file", "n.md", "missing.bin"], 1, "no such file"),
    ],
)
def test_gh_standin_refuses_what_it_does_not_understand(tmp_path, args, code, message):
    (tmp_path / "n.md").write_text("notes")
    done = gh(args, tmp_path)
    assert done.returncode == code and message in done.stderr, done.stderr
    assert not (tmp_path / "state" / "releases").exists()


def test_gh_standin_needs_a_token_verifies_tags_and_never_overwrites(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.bin").write_bytes(b"first")
    (repo / "n.md").write_text("notes")
    git(repo, "init", "--quiet")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "x")
    create = ["release", "create", "v1.0.0", "a.bin", "--repo", "o/r", "--verify-tag", "--notes-file", "n.md"]
    done = gh(create, tmp_path, cwd=repo, token=False)
    assert done.returncode == 4 and "set the GH_TOKEN environment variable" in done.stderr
    done = gh(create, tmp_path, cwd=repo)
    assert done.returncode == 1 and "tag v1.0.0 doesn't exist" in done.stderr
    git(repo, "tag", "v1.0.0")
    done = gh(create, tmp_path, cwd=repo)
    assert done.returncode == 0, done.stderr
    stored = tmp_path / "state" / "releases" / "o" / "r" / "v1.0.0"
    assert (stored / "assets" / "a.bin").read_bytes() == b"first"
    (repo / "a.bin").write_bytes(b"second")
    done = gh(create, tmp_path, cwd=repo)
    assert done.returncode == 1 and "already exists" in done.stderr
    assert (stored / "assets" / "a.bin").read_bytes() == b"first"
    assert [p.name for p in stored.parent.iterdir()] == ["v1.0.0"], "a refused call leaves no staging folder"


@pytest.mark.slow
def test_a_workflow_with_an_input_the_standin_does_not_know_fails_under_act(tmp_path):
    project = bake(tmp_path / "bake")
    ci = (project / ".github" / "workflows" / "ci.yml").read_text()
    pin = next(line.strip() for line in ci.splitlines() if "actions/upload-artifact@" in line)
    probe = {
        "name": "probe",
        "on": "push",
        "permissions": {},
        "jobs": {
            "probe": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"run": "mkdir -p dist && echo x > dist/file"},
                    {
                        "uses": pin.removeprefix("- uses: ").split(" #")[0],
                        "with": {"path": "dist/", "compress": "true"},
                    },
                ],
            }
        },
    }
    (project / ".github" / "workflows" / "probe.yml").write_text(json.dumps(probe))
    init_repo(project, "your-github-user-or-org/my-ml-project")
    result = Actions(project, tmp_path / "act").run("push", "probe.yml", {"ref": "refs/heads/main"})
    assert not result.ok
    assert "does not understand input(s) ['compress']" in result.output, result.explain()
    assert not (tmp_path / "act" / "state" / "artifacts").exists()


# --- the docker stand-ins: the build context of the generated Dockerfile ----------------------------

WHEEL = "dist/wheel/my_ml_project-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def dockerfile_project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("docker"))


def build_context(project: Path, tmp_path: Path) -> Path:
    """A workspace holding the generated Dockerfile and .dockerignore and what `make wheel` and
    `make image-bundle` would put there (small stand-ins for the wheel and the bundle), plus files
    that .dockerignore must keep out."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(project / name, workspace / name)
    (workspace / "dist" / "wheel").mkdir(parents=True)
    with zipfile.ZipFile(workspace / WHEEL, "w") as wheel:
        wheel.writestr("my_ml_project/__init__.py", "")
        wheel.writestr("my_ml_project-0.1.0.dist-info/RECORD", "")
    (workspace / "dist" / "wheel" / "requirements.txt").write_text(f"numpy==2.0.0 \\\n    --hash=sha256:{'0' * 64}\n")
    bundle = workspace / "dist" / "image" / "0.1.0"
    bundle.mkdir(parents=True)
    (bundle / "model.onnx").write_bytes(b"onnx")
    (bundle / "SHA256SUMS").write_text(f"{hashlib.sha256(b'onnx').hexdigest()}  model.onnx\n")
    for kept_out in ("src/pkg/code.py", ".venv/bin/python", "dist/my-ml-project-0.1.0.tar.gz", "params.yaml"):
        (workspace / kept_out).parent.mkdir(parents=True, exist_ok=True)
        (workspace / kept_out).write_text("not for the image")
    return workspace


BUILD = {"context": ".", "file": "Dockerfile", "build-args": "VERSION=0.1.0", "push": "false"}


@pytest.mark.parametrize(
    ("change", "inputs", "message"),
    [
        (lambda ws: (ws / WHEEL).unlink(), {}, "/build/my_ml_project-*-py3-none-any.whl names no file the COPYs"),
        (lambda ws: shutil.rmtree(ws / "dist" / "image"), {}, "dist/image/0.1.0/ is not in the build context"),
        (lambda ws: (ws / WHEEL).write_bytes(b"no zip"), {}, "is not a wheel (not a zip file)"),
        (
            lambda ws: (ws / "dist/wheel/requirements.txt").write_text("numpy==2.0.0\n"),
            {},
            "every requirement needs --hash",
        ),
        (lambda ws: (ws / "dist/image/0.1.0/model.onnx").write_bytes(b"other"), {}, "does not match its SHA256SUMS"),
        (lambda ws: (ws / ".dockerignore").write_text("*\n"), {}, "holds no file that .dockerignore lets into"),
        (lambda ws: None, {"build-args": "VERSION=0.1.0\nDEBUG=1"}, "build-args ['DEBUG'] are not declared"),
        (lambda ws: None, {"build-args": ""}, "$VERSION has no value"),
        (lambda ws: None, {"context": "https://github.com/o/r.git"}, "builds a path context only"),
        (lambda ws: None, {"push": "true"}, "push: true needs tags"),
    ],
)
def test_build_push_standin_refuses_an_incomplete_build_context(dockerfile_project, tmp_path, change, inputs, message):
    workspace = build_context(dockerfile_project, tmp_path)
    change(workspace)
    assert action("docker/setup-buildx-action", {}, tmp_path).returncode == 0
    done = action("docker/build-push-action", {**BUILD, **inputs}, tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "state" / "images.jsonl").exists(), "nothing was pushed"


@pytest.mark.slow
def test_build_push_standin_lints_pushes_after_login_and_its_digest_follows_the_context(
    dockerfile_project, installed_default, tmp_path
):
    workspace = build_context(dockerfile_project, tmp_path)
    (workspace / ".venv" / "bin" / "python").unlink()
    (workspace / ".venv" / "bin" / "hadolint").symlink_to(installed_default / ".venv" / "bin" / "hadolint")
    tags = "ghcr.io/o/r:0.1.0\nghcr.io/o/r:latest"
    push = {**BUILD, "push": "true", "tags": tags, "labels": "org.opencontainers.image.version=0.1.0"}
    assert action("docker/setup-buildx-action", {"cache-binary": "false"}, tmp_path).returncode == 0
    done = action("docker/build-push-action", push, tmp_path)
    assert done.returncode == 1 and "push to ['ghcr.io'] without docker/login-action" in done.stderr, done.stderr
    login = action("docker/login-action", {"registry": "ghcr.io", "username": "u", "password": "s3cret"}, tmp_path)
    assert login.returncode == 0, login.stderr
    done = action("docker/build-push-action", push, tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in (tmp_path / "GITHUB_OUTPUT").read_text().splitlines() if "=" in line)
    digest = outputs["digest"]
    [image] = [json.loads(line) for line in (tmp_path / "state" / "images.jsonl").read_text().splitlines()]
    assert image["digest"] == digest and image["pushed"] and image["tags"] == tags.split("\n")
    assert sorted(image["files"]) == [
        "dist/image/0.1.0/SHA256SUMS",
        "dist/image/0.1.0/model.onnx",
        *[
            "dist/wheel/my_ml_project-0.1.0-py3-none-any.whl",
            "dist/wheel/requirements.txt",
        ],
    ], "only what the Dockerfile copies, nothing .dockerignore keeps out"
    assert "s3cret" not in (tmp_path / "state" / "actions.jsonl").read_text(), "no password in the state"
    # the attestation names a pushed image by its digest; a digest that was never pushed is refused
    attest = {"subject-name": "ghcr.io/O/R", "subject-digest": digest, "push-to-registry": "true"}
    done = action("actions/attest-build-provenance", attest, tmp_path)
    assert done.returncode == 0, done.stderr
    [recorded] = json.loads((tmp_path / "state" / "attestation.jsonl").read_text())["subjects"]
    assert recorded == {"name": "ghcr.io/o/r", "sha256": digest.removeprefix("sha256:"), "image": True, "pushed": True}
    # the same context builds the same digest; a changed bundle file, another
    (tmp_path / "GITHUB_OUTPUT").write_text("")
    assert action("docker/build-push-action", push, tmp_path).returncode == 0
    assert f"digest={digest}" in (tmp_path / "GITHUB_OUTPUT").read_text()
    (workspace / "dist/image/0.1.0/model.onnx").write_bytes(b"onnx2")
    sums = f"{hashlib.sha256(b'onnx2').hexdigest()}  model.onnx\n"
    (workspace / "dist/image/0.1.0/SHA256SUMS").write_text(sums)
    (tmp_path / "GITHUB_OUTPUT").write_text("")
    assert action("docker/build-push-action", push, tmp_path).returncode == 0
    assert f"digest={digest}" not in (tmp_path / "GITHUB_OUTPUT").read_text()
    # hadolint runs on the Dockerfile: a finding fails the build
    dockerfile = workspace / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN cd /srv && ls\n")
    done = action("docker/build-push-action", push, tmp_path)
    assert done.returncode == 1 and "hadolint Dockerfile failed" in done.stderr and "DL3003" in done.stderr
