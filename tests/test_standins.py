"""The stand-ins for GitHub (marketplace actions, `gh`) refuse what they do not understand, so a workflow
change cannot pass the act tests silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
        ("actions/attest-build-provenance", {"subject-digest": "sha256:00"}, "only understands subject-path"),
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
