"""The generated project's GitHub Actions workflows: checked statically, then executed offline under act.

Static: zizmor (zero findings, default persona, offline), the GitHub workflow and Dependabot JSON
schemas, shellcheck on every `run:` script, and the rules the template promises (SHA pins with a
version comment, `permissions: {}` then least grants per job, timeouts, concurrency, no
credentials persisted, no expression inside `run:`, every step a `make` target).

Executed: each case runs the real workflow files with act in host mode, marketplace actions and
`gh` replaced by the stand-ins in tests/standins (see tests/workflows.py), the GitHub API by the
generated project's loopback stand-in. What would have been published is read from their state.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import PUSHED_ANSWERS, TEMPLATE, bake, explain, make, run, use_the_dask_engine
from packaging.specifiers import SpecifierSet
from workflows import STANDINS, Actions, git, init_repo, repository, sign_with_a_key_pair

pytestmark = pytest.mark.slow

REPO = "your-github-user-or-org/my-ml-project"
BIN = Path(sys.executable).parent
GENERATED_WORKFLOWS = ("ci.yml", "release.yml", "retrain.yml")
# the template repository's own: its CI, and the release of the engine library to PyPI
TEMPLATE_WORKFLOWS = ("template-ci.yml", "library-release.yml")
CRON = "*/30 6-18 * * mon-fri"


def tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, check=False)


def workflow(project: Path, name: str) -> dict:
    # PyYAML reads the key `on` as True
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def steps_of(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("workflows"), retrain_cron=CRON)


# --- static checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["generated", "template"])
def test_zizmor_reports_zero_findings(baked, where):
    root = baked if where == "generated" else TEMPLATE
    done = tool("zizmor", "--offline", "--no-progress", ".github", cwd=root)
    assert done.returncode == 0 and "No findings to report" in done.stdout + done.stderr, explain(done)


def test_workflows_and_dependabot_match_the_github_schemas(baked):
    workflows = sorted(str(p) for p in (baked / ".github" / "workflows").glob("*.yml"))
    assert [Path(p).name for p in workflows] == sorted(GENERATED_WORKFLOWS)
    template = sorted(str(p) for p in (TEMPLATE / ".github" / "workflows").glob("*.yml"))
    assert [Path(p).name for p in template] == sorted(TEMPLATE_WORKFLOWS), "every template workflow is checked"
    done = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows, *template, cwd=baked)
    assert done.returncode == 0, explain(done)
    for root in (baked, TEMPLATE):
        done = tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml", cwd=root)
        assert done.returncode == 0, explain(done)


def test_run_scripts_pass_shellcheck_and_hold_no_expressions(baked, tmp_path):
    scripts = []
    for root, names in ((baked, GENERATED_WORKFLOWS), (TEMPLATE, TEMPLATE_WORKFLOWS)):
        for name in names:
            for job_id, step in steps_of(workflow(root, name)):
                if "run" in step:
                    assert "${{" not in step["run"], f"{name} {job_id}: pass values to run: through env:"
                    script = tmp_path / f"{name}-{job_id}-{len(scripts)}.sh"
                    script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"])
                    scripts.append(str(script))
    assert len(scripts) > 10
    done = tool("shellcheck", "--severity=style", *scripts, cwd=tmp_path)
    assert done.returncode == 0, explain(done)


def test_workflow_rules_the_template_promises(baked):
    makefile = (baked / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):.*## ", makefile, re.MULTILINE))
    for root, names in ((baked, GENERATED_WORKFLOWS), (TEMPLATE, TEMPLATE_WORKFLOWS)):
        for name in names:
            text = (root / ".github" / "workflows" / name).read_text()
            doc = yaml.safe_load(text)
            assert doc["permissions"] == {}, f"{name}: permissions: {{}} at the top"
            assert "concurrency" in doc, f"{name}: a concurrency group"
            for line in text.splitlines():
                if "uses:" in line and not line.strip().startswith("#") and "uses: ./" not in line:
                    assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$", line), (
                        f"{name}: pin to a full commit SHA with the version in a comment: {line.strip()}"
                    )
            for job_id, job in doc["jobs"].items():
                # a job that calls a reusable workflow cannot set one; the called jobs do
                assert "timeout-minutes" in job or "uses" in job, f"{name} {job_id}: timeout-minutes"
                assert "permissions" in job, f"{name} {job_id}: an explicit (least) grant"
            for job_id, step in steps_of(doc):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{name} {job_id}: persist-credentials"
                if "run" in step and root == baked and job_id != "ci-passed":
                    command = step["run"].strip()
                    assert re.fullmatch(r"make [a-z-]+", command), f"{name} {job_id}: one make target per step"
                    assert command.split()[1] in targets, f"{name}: `{command}` is not a target of the Makefile"
    # the job that parses new batches holds no write token; the issue job holds only issues: write;
    # a retraining release goes through the model-release environment (reviewers can be required there)
    retrain = workflow(baked, "retrain.yml")
    assert retrain["jobs"]["loop"]["permissions"] == {"contents": "read"}
    assert retrain["jobs"]["issue"]["permissions"] == {"issues": "write"}
    assert retrain["jobs"]["release"]["with"]["environment"] == "model-release"
    assert "inputs.environment" in workflow(baked, "release.yml")["jobs"]["release"]["environment"]
    # a person's decision on a kept challenger: fetched and rejected by jobs with no write token, released through
    # model-release, told to the issue by a job holding only issues: write
    release = workflow(baked, "release.yml")
    assert set(release[True]["workflow_dispatch"]["inputs"]) == {"challenger", "decision", "digest"}
    assert release["jobs"]["challenger"]["permissions"] == {"contents": "read"}
    assert release["jobs"]["reject"]["permissions"] == {"contents": "read"}
    assert release["jobs"]["released"]["permissions"] == {"contents": "read"}
    assert release["jobs"]["reject"]["environment"] == "model-release", "a rejection is a person's decision too"
    assert release["jobs"]["issue"]["permissions"] == {"issues": "write"}
    # the reusable workflow receives the data store's credentials from retraining (its release stores data first)
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(release[True]["workflow_call"]["secrets"])
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(retrain["jobs"]["release"]["secrets"])
    assert "'model-release'" in release["jobs"]["release"]["environment"]
    # only the image job pushes packages (retraining's caller job grants it to the workflow it calls); it runs after
    # the release, can be turned off, and logs in to the registry only after every step that runs the project's code
    image = workflow(baked, "release.yml")["jobs"]["image"]
    assert image["needs"] == ["release"] and "vars.PUBLISH_IMAGE != 'false'" in image["if"]
    assert image["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    granted = {
        (name, job_id)
        for name in GENERATED_WORKFLOWS
        for job_id, job in workflow(baked, name)["jobs"].items()
        if "packages" in job.get("permissions", {})
    }
    assert granted == {("release.yml", "image"), ("retrain.yml", "release")}, granted
    uses = [step.get("uses", "").split("@")[0] for step in image["steps"]]
    last_run = max(i for i, step in enumerate(image["steps"]) if "run" in step)
    assert uses.index("docker/login-action") > last_run, "the registry login comes after every make step"
    assert uses[-2:] == ["docker/build-push-action", "actions/attest-build-provenance"]
    # a publishing workflow never restores a cache
    for name in ("release.yml", "retrain.yml"):
        for _, step in steps_of(workflow(baked, name)):
            if step.get("uses", "").startswith("astral-sh/setup-uv@"):
                assert step["with"]["enable-cache"] is False
    # superseded CI runs on branches are cancelled; retraining and releases never are
    assert "default_branch" in str(workflow(baked, "ci.yml")["concurrency"]["cancel-in-progress"])
    for name in ("release.yml", "retrain.yml"):
        assert workflow(baked, name)["concurrency"]["cancel-in-progress"] is False


def test_only_the_cron_and_the_runner_are_rendered_into_the_workflows(baked):
    retrain = workflow(baked, "retrain.yml")
    assert retrain[True]["schedule"] == [{"cron": CRON}]
    assert "workflow_dispatch" in retrain[True]
    for name in GENERATED_WORKFLOWS:
        text = (baked / ".github" / "workflows" / name).read_text()
        assert "${{ github" in text or "${{ inputs" in text or "${{ matrix" in text, name
        assert "{%" not in text and "cookiecutter" not in text, f"{name}: Jinja left in the workflow"
    release = workflow(baked, "release.yml")
    assert release[True]["push"] == {"tags": ["v*.*.*"]} and "workflow_call" in release[True]


TRAINING_JOBS = {("ci.yml", "pipeline"), ("release.yml", "release"), ("retrain.yml", "loop")}


def runners(project: Path) -> dict[tuple[str, str], object]:
    return {
        (name, job_id): job.get("runs-on")
        for name in GENERATED_WORKFLOWS
        for job_id, job in workflow(project, name)["jobs"].items()
        if "uses" not in job  # a job that calls a workflow runs on the called jobs' runners
    }


def test_the_default_runner_is_githubs_standard_runner_for_every_job(baked):
    assert set(runners(baked).values()) == {"ubuntu-latest"}
    assert set(runners(baked)) >= TRAINING_JOBS


@pytest.fixture(scope="module")
def self_hosted(tmp_path_factory) -> Path:
    project = bake(tmp_path_factory.mktemp("runner"), runs_on="self-hosted, linux, gpu")
    init_repo(project, REPO)
    return project


def test_runs_on_reaches_the_training_jobs_and_only_them(self_hosted):
    labels = ["self-hosted", "linux", "gpu"]
    fork_fallback = "${{ github.event.pull_request.head.repo.fork && 'ubuntu-latest' || fromJSON('%s') }}"
    expected = {
        ("ci.yml", "pipeline"): fork_fallback % json.dumps(labels),  # a fork's pull request never reaches it
        ("release.yml", "release"): labels,
        ("retrain.yml", "loop"): labels,
    }
    found = runners(self_hosted)
    assert {key: found[key] for key in TRAINING_JOBS} == expected
    assert {value for key, value in found.items() if key not in TRAINING_JOBS} == {"ubuntu-latest"}
    done = tool("zizmor", "--offline", "--no-progress", ".github", cwd=self_hosted)
    assert done.returncode == 0 and "No findings to report" in done.stdout + done.stderr, explain(done)
    workflows = [str(p) for p in (self_hosted / ".github" / "workflows").glob("*.yml")]
    done = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows, cwd=self_hosted)
    assert done.returncode == 0, explain(done)


def test_a_larger_runner_is_one_label_and_forks_still_fall_back(tmp_path):
    project = bake(tmp_path, runs_on="ubuntu-24.04-16core")
    found = runners(project)
    assert found[("release.yml", "release")] == found[("retrain.yml", "loop")] == "ubuntu-24.04-16core"
    assert found[("ci.yml", "pipeline")] == (
        "${{ github.event.pull_request.head.repo.fork && 'ubuntu-latest' || 'ubuntu-24.04-16core' }}"
    )


def test_act_runs_a_training_job_only_where_its_labels_are_served(self_hosted, tmp_path):
    """With only GitHub's standard runner mapped, act skips the training job before running any step;
    the executed tests below map the labels and run it (and a fork's pull request falls back)."""
    actions = Actions(self_hosted, tmp_path / "act")
    same_repo = {"number": 8, "head": {"ref": "topic", "repo": repository(REPO)}, "base": {"ref": "main"}}
    for event, name, job, payload in [
        ("push", "ci.yml", "pipeline", push("refs/heads/main")),
        ("push", "release.yml", "release", push("refs/tags/v0.1.0")),
        ("workflow_dispatch", "retrain.yml", "loop", {**push("refs/heads/main"), "inputs": {"force": "false"}}),
        ("pull_request", "ci.yml", "pipeline", {**push("refs/pull/8/merge"), "pull_request": same_repo}),
    ]:
        skipped = actions.run(event, name, payload, job=job)
        assert "Skipping unsupported platform -- Try running with `-P self-hosted=...`" in skipped.output, (
            skipped.explain()
        )
        assert "Set up job" not in skipped.output, skipped.explain()


# --- executed under act ----------------------------------------------------------------------------


# The executed tests bake a project whose training jobs run on self-hosted labels and map both those and
# ubuntu-latest to this machine: each training job runs only if its labels reached its runs-on.
TRAINING_RUNNER = "self-hosted, linux, x64"


@pytest.fixture()
def project(tmp_path, request) -> Path:
    """The default bake (other answers when a test parametrizes it indirectly) on the self-hosted training runner."""
    project = bake(tmp_path / "bake", runs_on=TRAINING_RUNNER, **getattr(request, "param", {}))
    init_repo(project, REPO)
    return project


@pytest.fixture()
def actions(project, installed_default, tmp_path):
    standins = TEMPLATE / "library" / "tests"  # the GitHub API stand-in of the library's own tests
    sys.path.insert(0, str(standins))
    try:
        from github_standin import GitHubStandIn
    finally:
        sys.path.remove(str(standins))
    api = GitHubStandIn(REPO, tmp_path / "act" / "state" / "releases" / REPO)
    # releases are signed with a key pair (Sigstore keyless needs GitHub's OIDC token), checked on download
    key = sign_with_a_key_pair(project, tmp_path / "keys")
    yield Actions(
        project,
        tmp_path / "act",
        env={"GITHUB_API_URL": api.api_url},
        secrets={"MODEL_SIGNING_KEY": key},
        platforms=("ubuntu-latest", "self-hosted"),
    )
    api.close()
    assert api.unexpected == [], "the registry client made requests the GitHub API does not document"


def push(ref: str) -> dict:
    return {"ref": ref, "repository": repository(REPO)}


def bundle_files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def verify_with(installed: Path, bundle: Path, *signer: str) -> subprocess.CompletedProcess:
    command = [str(installed / ".venv" / "bin" / "python"), "-m", "my_ml_project", "verify", str(bundle), *signer]
    return run(command, installed)


def signer_key(actions: Actions) -> list[str]:
    """The key pair's public key the project under act signs with, for commands run in `installed_default`
    (whose registry.signer is the release workflow, keyless)."""
    return ["--signer-key", str(actions.project / "keys" / "release.pub")]


PIPELINE_STEPS = [
    "make install",
    "make validate",
    "make pipeline",
    "make test-quality",
    "make verify",
    "make summary",
]


@pytest.mark.long(5)
@pytest.mark.parametrize("project", [PUSHED_ANSWERS], indirect=True, ids=["random_forest-roc_auc"])
def test_push_to_main_runs_ci_green_and_uploads_the_bundle(actions, installed_default):
    result = actions.run("push", "ci.yml", push("refs/heads/main"))
    assert result.ok, result.explain()
    passed = result.steps("Success")
    for target in ("make lint", "make test", *PIPELINE_STEPS):
        assert target in passed, f"{target} did not run green\n{result.explain()}"
    order = [s for s in passed if s in PIPELINE_STEPS[1:]]  # `make install` runs in both jobs
    assert order == PIPELINE_STEPS[1:], order
    assert "every job passed" in passed
    setups = [a for a in result.jsonl("actions.jsonl") if a["action"] == "astral-sh/setup-uv"]
    assert {a["job"]: a["inputs"].get("python-version") for a in setups} == {
        "test": "3.11",
        "pipeline": None,
        "template-check": None,
    }
    assert "make template-check" in passed, "the template check (cruft, against the local template) ran"
    artifact = actions.state / "artifacts" / "bundle"
    bundle = artifact / "my-ml-project-0.1.0"
    assert (artifact / "my-ml-project-0.1.0.tar.gz").is_file() and (bundle / "SHA256SUMS").is_file()
    done = verify_with(installed_default, bundle)
    assert done.returncode == 0, explain(done)
    summary = result.summary()
    assert "| quality gate | measured | required | passed |" in summary and "| roc_auc on test |" in summary
    assert "No published release yet" in summary
    assert result.jsonl("gh_calls.jsonl") == []


@pytest.mark.long(1.5)
def test_pull_request_from_a_fork_runs_ci_green_with_no_write_step(actions):
    payload = {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {
                "ref": "feature",
                "sha": "0" * 40,
                "repo": {"full_name": "fork-owner/my-ml-project", "fork": True},
            },
            "base": {"ref": "main", "repo": repository(REPO)},
        },
        "repository": repository(REPO),
    }
    # the pipeline job, where the artifact, the summary and the registry read happen (the test job
    # runs the same commands as on a push, covered above); a fork's code never reaches the self-hosted
    # training runner: with only ubuntu-latest served, the job runs on the fallback
    result = actions.run("pull_request", "ci.yml", payload, job="pipeline", platforms=("ubuntu-latest",))
    assert result.ok, result.explain()
    assert "make verify" in result.steps("Success") and "make summary" in result.steps("Success")
    assert result.jsonl("gh_calls.jsonl") == [], "a pull request must not call gh"
    assert not (actions.state / "attestation.jsonl").exists(), "a pull request must not attest"
    assert {a["action"] for a in result.jsonl("actions.jsonl")} == {"astral-sh/setup-uv", "actions/upload-artifact"}
    assert not actions.releases.exists()


def test_a_bad_data_commit_turns_ci_red_at_validate_and_uploads_nothing(actions, project):
    data = project / "data" / "raw" / "penguins.csv"
    lines = data.read_text().splitlines()
    lines[1] = lines[1].replace("Adelie", "Dodo", 1)  # a species the schema does not know
    data.write_text("\n".join(lines) + "\n")
    git(project, "commit", "--quiet", "-am", "Add a bad row")
    result = actions.run("push", "ci.yml", push("refs/heads/main"), job="pipeline")
    assert not result.ok
    assert "make validate" in result.steps("Failure"), result.explain()
    assert "make install" in result.steps("Success")
    for later in PIPELINE_STEPS[2:]:
        assert later not in result.steps("Success"), f"{later} ran after validate failed"
    assert "Dodo" in result.output and "species" in result.output, "the failure report names the value and column"
    assert not (actions.state / "artifacts").exists(), "no bundle is uploaded from a red run"


DASK_PROJECT = {"task": "classification", "model": "lightgbm", "primary_metric": "f1_macro"}
NO_SCHEDULER = "tcp://127.0.0.1:9"  # nothing listens on the discard port: a connection is refused at once


@pytest.mark.long(3)
@pytest.mark.parametrize("project", [DASK_PROJECT], indirect=True, ids=["lightgbm-dask"])
def test_push_to_main_runs_the_dask_engine_on_a_local_cluster_inside_the_job(actions, project, installed_default):
    use_the_dask_engine(project)
    git(project, "commit", "--quiet", "-am", "Train on the Dask engine")
    result = actions.run("push", "ci.yml", push("refs/heads/main"))
    assert result.ok, result.explain()
    passed = result.steps("Success")
    for target in ("make lint", "make test", *PIPELINE_STEPS, "every job passed"):
        assert target in passed, f"{target} did not run green\n{result.explain()}"
    # no DASK_SCHEDULER_ADDRESS secret: validate and the pipeline each start a LocalCluster inside the job
    assert result.output.count("cluster: local local, 2 worker(s), 2 thread(s)") == 2, result.explain()
    assert "pipeline: done on the Dask engine" in result.output
    bundle = actions.state / "artifacts" / "bundle" / "my-ml-project-0.1.0"
    assert verify_with(installed_default, bundle).returncode == 0
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert lineage["compute"]["engine"] == "dask" and lineage["compute"]["cluster"] == "local"

    # the secret names the scheduler on a push, and never reaches a pull request's run (its code is untrusted)
    actions.secrets["DASK_SCHEDULER_ADDRESS"] = NO_SCHEDULER
    result = actions.run("push", "ci.yml", push("refs/heads/main"), job="pipeline")
    assert not result.ok and "make validate" in result.steps("Failure"), result.explain()
    # act masks a secret's value in the log as GitHub does
    assert "error: cannot reach the Dask scheduler at *** within 30 s" in result.output, result.explain()
    assert not (actions.state / "artifacts").exists()
    payload = {
        "number": 8,
        "pull_request": {
            "number": 8,
            "head": {"ref": "feature", "sha": "0" * 40, "repo": {"full_name": REPO, "fork": False}},
            "base": {"ref": "main", "repo": repository(REPO)},
        },
        "repository": repository(REPO),
    }
    # a branch of this repository (GitHub gives its pull requests the secrets; a fork's get none)
    result = actions.run("pull_request", "ci.yml", payload, job="pipeline")
    assert result.ok, result.explain()
    assert "cluster: local local, 2 worker(s)" in result.output and "***" not in result.output, result.explain()


@pytest.mark.long(2)
def test_tag_releases_once_and_refuses_mismatched_or_existing_tags(actions, project, installed_default, tmp_path):
    git(project, "tag", "v0.1.0")
    result = actions.run("push", "release.yml", push("refs/tags/v0.1.0"))
    assert result.ok, result.explain()
    published = actions.releases / REPO / "v0.1.0"
    record = json.loads((published / "release.json").read_text())
    calls = result.jsonl("gh_calls.jsonl")
    compared, created = calls[0], [c for c in calls if c["args"][:2] == ["release", "create"]]
    assert compared["args"][:2] == ["api", f"repos/{REPO}/compare/main...{git(project, 'rev-parse', 'HEAD')}"]
    assert compared["exit"] == 0, "release-check: the tagged commit is on the default branch"
    assert len(created) == 1 and created[0]["args"][:3] == ["release", "create", "v0.1.0"] and created[0]["exit"] == 0
    assert "--verify-tag" in created[0]["args"]
    bundle_names = {
        "SHA256SUMS",
        "model.onnx",
        "metrics.json",
        "parity.json",
        "schema.yaml",
        "signature.json",
        "input_example.json",
        "lineage.json",
        "model_card.md",
        "reference.json",
        "data_manifest.json",
        "confusion_matrix.png",
        "feature_importance.png",
    }
    tarballs = {"my-ml-project-0.1.0.tar.gz", "my-ml-project-0.1.0.tar.gz.sha256"}
    runtime = {"my_ml_project-0.1.0-py3-none-any.whl", "requirements.txt"}
    assert set(record["assets"]) == bundle_names | {"bundle.sig"} | tarballs | runtime
    assets = published / "assets"
    assert record["notes"] == (assets / "model_card.md").read_text()
    attested = result.jsonl("attestation.jsonl")
    subjects = {s["name"]: s["sha256"] for a in attested for s in a["subjects"] if not s.get("image")}
    assert set(subjects) == {"SHA256SUMS", "my-ml-project-0.1.0.tar.gz"} | runtime, "SHA256SUMS binds every file"
    for name, sha in subjects.items():
        assert sha == hashlib.sha256((assets / name).read_bytes()).hexdigest()
    check_the_image(result, assets, "0.1.0", git(project, "rev-parse", "HEAD"))
    assert "sign: the signature verifies against registry.signer" in result.output
    # what was published downloads through the registry client and passes verify
    download = run(
        [
            str(installed_default / ".venv" / "bin" / "python"),
            "-m",
            "my_ml_project",
            "download",
            "--version",
            "v0.1.0",
            "--repo",
            REPO,
            "--dest",
            str(tmp_path / "cache"),
            *signer_key(actions),
        ],
        installed_default,
        env={"GITHUB_API_URL": actions.env["GITHUB_API_URL"]},
    )
    assert download.returncode == 0, explain(download)
    done = verify_with(installed_default, tmp_path / "cache" / "0.1.0", *signer_key(actions))
    assert done.returncode == 0, explain(done)
    before = bundle_files(assets)

    # the same tag again: refused before publishing, nothing overwritten
    again = actions.run("push", "release.yml", push("refs/tags/v0.1.0"))
    assert not again.ok and "make release-check" in again.steps("Failure"), again.explain()
    assert "already has a release v0.1.0; releases are never overwritten" in again.output
    assert "make pipeline" not in again.steps("Success"), "a refused tag fails before the pipeline runs"
    assert again.jsonl("gh_calls.jsonl") == [] and again.jsonl("attestation.jsonl") == []
    assert again.jsonl("images.jsonl") == [], "no image without its release"
    assert bundle_files(assets) == before

    # a tag that is not the project version: refused before publishing
    git(project, "tag", "v9.9.9")
    wrong = actions.run("push", "release.yml", push("refs/tags/v9.9.9"))
    assert not wrong.ok and "make release-check" in wrong.steps("Failure"), wrong.explain()
    assert "tag v9.9.9 does not match the project version 0.1.0" in wrong.output
    assert wrong.jsonl("gh_calls.jsonl") == [] and "make pipeline" not in wrong.steps("Success")
    assert sorted(p.name for p in (actions.releases / REPO).iterdir()) == ["v0.1.0"]

    # a tag on a commit that is not on the default branch: refused before the pipeline, even with the right version
    git(project, "checkout", "--quiet", "-b", "unreviewed")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2.0"', 1))
    lock = project / "uv.lock"  # the project's own entry in the lock carries its version
    lock.write_text(
        lock.read_text().replace(
            'name = "my-ml-project"\nversion = "0.1.0"', 'name = "my-ml-project"\nversion = "0.2.0"'
        )
    )
    git(project, "commit", "--quiet", "-am", "An unreviewed change")
    git(project, "tag", "v0.2.0")
    side = actions.run("push", "release.yml", push("refs/tags/v0.2.0"))
    git(project, "checkout", "--quiet", "main")
    assert not side.ok and "make release-check" in side.steps("Failure"), side.explain()
    assert "is not on the default branch main (ahead)" in side.output
    assert "make pipeline" not in side.steps("Success")
    assert sorted(p.name for p in (actions.releases / REPO).iterdir()) == ["v0.1.0"]

    # a manual retraining run against that release: no batch has arrived, so it is green and publishes nothing
    retrain = actions.run(
        "workflow_dispatch", "retrain.yml", {"inputs": {"force": False}, "repository": repository(REPO)}
    )
    assert retrain.ok, retrain.explain()
    assert "make retrain" in retrain.steps("Success") and "make keepalive" in retrain.steps("Success")
    assert "## Retraining: nothing-new" in retrain.summary()
    assert not [
        c for c in retrain.jsonl("gh_calls.jsonl") if c["args"][:2] in (["release", "create"], ["issue", "create"])
    ]
    assert sorted(p.name for p in (actions.releases / REPO).iterdir()) == ["v0.1.0"]


IMAGE = f"ghcr.io/{REPO}"


def check_the_image(result, assets: Path, version: str, commit: str) -> None:
    """The image job ran after the release: its build context held the released wheel and the released bundle
    (downloaded and verified, bundle.sig too), the image was pushed as VERSION and latest, and attested."""
    assert "make image-bundle" in result.steps("Success"), result.explain()
    [image] = result.jsonl("images.jsonl")
    assert image["pushed"] and image["tags"] == [f"{IMAGE}:{version}", f"{IMAGE}:latest"]
    assert image["build-args"] == {"VERSION": version}
    released = bundle_files(assets)
    [wheel] = [name for name in released if name.endswith(".whl")]  # the code's version: 0.1.0 for the loop's 0.2.0
    expected = {f"dist/wheel/{wheel}": released[wheel], "dist/wheel/requirements.txt": released["requirements.txt"]}
    bundle = {n for n in released if n not in (wheel, "requirements.txt") and not n.startswith("my-ml-project-")}
    expected |= {f"dist/image/{version}/{name}": released[name] for name in bundle}
    assert "bundle.sig" in bundle and image["files"] == expected, "the image holds what was released, byte for byte"
    labels = image["labels"]
    assert (
        labels["org.opencontainers.image.version"] == version and labels["org.opencontainers.image.revision"] == commit
    )
    assert labels["org.opencontainers.image.source"] == f"https://github.com/{REPO}"
    [attested] = [s for a in result.jsonl("attestation.jsonl") for s in a["subjects"] if s.get("image")]
    assert attested == {"name": IMAGE, "sha256": image["digest"].removeprefix("sha256:"), "image": True, "pushed": True}
    logins = [a for a in result.jsonl("actions.jsonl") if a["action"] == "docker/login-action"]
    assert [a["inputs"]["password"] for a in logins] == ["***"], "the token is never written down"
    assert {a["job"] for a in result.jsonl("actions.jsonl") if a["action"].startswith("docker/")} == {"image"}


def publish_champion(actions: Actions, installed: Path) -> None:
    """v0.1.0 of the default project, released through the gh stand-in as the tag workflow would."""
    done = make(installed, "pipeline")
    assert done.returncode == 0, explain(done)
    built = installed / "dist" / "my-ml-project-0.1.0"
    bundle = actions.work / "champion" / built.name  # signed as a copy: the shared project's build stays as built
    shutil.copytree(built, bundle)
    for suffix in (".tar.gz", ".tar.gz.sha256"):
        shutil.copy(built.with_name(built.name + suffix), bundle.with_name(bundle.name + suffix))
    key = actions.work / "champion-key.pem"
    key.write_text(actions.secrets["MODEL_SIGNING_KEY"])
    sign = [str(installed / ".venv" / "bin" / "python"), "-m", "my_ml_project", "sign", str(bundle), "--key", str(key)]
    done = run([*sign, *signer_key(actions)], installed)
    assert done.returncode == 0, explain(done)
    files = [str(p) for p in sorted(bundle.iterdir())] + [f"{bundle}.tar.gz", f"{bundle}.tar.gz.sha256"]
    gh = [str(STANDINS / "bin" / "gh"), "release", "create", "v0.1.0", *files, "--repo", REPO]
    done = run(
        [*gh, "--notes-file", str(bundle / "model_card.md")],
        installed,
        env={"STANDINS_STATE": str(actions.state), "GH_TOKEN": "t"},
    )
    assert done.returncode == 0, explain(done)


# the demo batch of that name, made from the project's data and contract by the library the project installs
BATCH_WRITER = """
import sys
from pathlib import Path
from modelkeel.data.contract import load_schema_model
from modelkeel.loop.demo import demo_batches
from modelkeel.settings import load_settings
from modelkeel.stages.validate import validate
s = load_settings("params.yaml")
made = dict((b.name, b) for b in demo_batches(s, validate(s).frame, load_schema_model(s).to_schema()))
made[sys.argv[1]].write(Path("data/incoming"))
"""


def add_batch(project: Path, installed: Path, name: str) -> None:
    done = run([str(installed / ".venv" / "bin" / "python"), "-c", BATCH_WRITER, name], cwd=project)
    assert done.returncode == 0, explain(done)
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", f"New batch {name}")


def released(actions: Actions) -> list[str]:
    return sorted(p.name for p in (actions.releases / REPO).iterdir())


def issues(actions: Actions) -> list[dict]:
    path = actions.state / "issues" / f"{REPO}.json"
    return json.loads(path.read_text()) if path.is_file() else []


@pytest.mark.long(4)
def test_scheduled_retraining_promotes_then_rests_then_refuses_and_reports(actions, project, installed_default):
    publish_champion(actions, installed_default)
    schedule = {"schedule": CRON, "repository": repository(REPO)}

    # a batch on which the champion degrades: retrained, compared, released as the next minor version;
    # the first publish fails after the tag was made: the tag goes, and the next run releases
    add_batch(project, installed_default, "2_shifted")
    (actions.state / "fail_next_release_create").write_text("")
    failed = actions.run("schedule", "retrain.yml", schedule)
    assert not failed.ok and "make release" in failed.steps("Failure"), failed.explain()
    assert failed.jsonl("images.jsonl") == [], "no image without its release"
    assert "make release-tag" in failed.steps("Success") and "make release-untag" in failed.steps("Success")
    assert released(actions) == ["v0.1.0"]
    tags_made = actions.state / "tags" / f"{REPO}.json"
    assert "v0.2.0" not in (json.loads(tags_made.read_text()) if tags_made.is_file() else {}), "the tag was removed"
    result = actions.run("schedule", "retrain.yml", schedule)
    assert result.ok, result.explain()
    assert released(actions) == ["v0.1.0", "v0.2.0"]
    assets = actions.releases / REPO / "v0.2.0" / "assets"
    lineage = json.loads((assets / "lineage.json").read_text())
    assert lineage["version"] == "0.2.0"
    assert "data/incoming/2_shifted.csv" in [f["path"] for f in lineage["data"]["files"]]
    summary = result.summary()
    assert "## Retraining: promote" in summary and "### Champion versus challenger" in summary
    assert "| bill_length_mm | numeric |" in summary
    calls = [c["args"][:3] for c in result.jsonl("gh_calls.jsonl")]
    assert ["api", "--method", "POST"] in calls and ["release", "create", "v0.2.0"] in calls
    assert sorted(s["name"] for a in result.jsonl("attestation.jsonl") for s in a["subjects"]) == [
        "SHA256SUMS",
        IMAGE,
        "my-ml-project-0.2.0.tar.gz",
        "my_ml_project-0.1.0-py3-none-any.whl",  # the project's code is still 0.1.0; the model is 0.2.0
        "requirements.txt",
    ]
    check_the_image(result, assets, "0.2.0", git(project, "rev-parse", "HEAD"))
    assert (assets / "bundle.sig").is_file(), "the loop's release is signed too"
    assert issues(actions) == []

    # the same data again: nothing new, nothing published
    again = actions.run("schedule", "retrain.yml", schedule)
    assert again.ok, again.explain()
    assert "## Retraining: nothing-new" in again.summary()
    assert released(actions) == ["v0.1.0", "v0.2.0"]
    assert not [
        c for c in again.jsonl("gh_calls.jsonl") if c["args"][:2] in (["release", "create"], ["issue", "create"])
    ]

    # corrupted rows: the run fails, nothing is released, one issue carries the quarantine report
    add_batch(project, installed_default, "3_corrupted")
    refused = actions.run("schedule", "retrain.yml", schedule)
    assert not refused.ok and "make retrain" in refused.steps("Failure"), refused.explain()
    assert "make retrain-issue" in refused.steps("Success")
    assert released(actions) == ["v0.1.0", "v0.2.0"]
    [issue] = issues(actions)
    assert issue["labels"] == ["model-health"] and "not-a-category" in issue["body"] and issue["comments"] == []
    assert (actions.state / "artifacts" / "retrain-report" / "quarantine.json").is_file()
    assert not (actions.state / "artifacts" / "challenger").exists()

    # failing again: the same issue gets a comment, no second issue
    still = actions.run("schedule", "retrain.yml", schedule)
    assert not still.ok
    [issue] = issues(actions)
    assert len(issue["comments"]) == 1 and "not-a-category" in issue["comments"][0]


# one half of the shifted demo batch (its even rows, or its odd ones): two batches with no row in common, each
# one the champion loses on
SHIFTED_WRITER = """
import dataclasses
import sys
from pathlib import Path
from modelkeel.data.contract import load_schema_model
from modelkeel.loop.demo import SHIFTED, demo_batches
from modelkeel.settings import load_settings
from modelkeel.stages.validate import validate
s = load_settings("params.yaml")
[made] = [b for b in demo_batches(s, validate(s).frame, load_schema_model(s).to_schema()) if b.name == SHIFTED]
rows = made.frame.iloc[int(sys.argv[2]) :: 2]
dataclasses.replace(made, name=sys.argv[1], frame=rows).write(Path("data/incoming"))
"""


def add_shifted_batch(project: Path, installed: Path, name: str, half: int) -> Path:
    done = run([str(installed / ".venv" / "bin" / "python"), "-c", SHIFTED_WRITER, name, str(half)], cwd=project)
    assert done.returncode == 0, explain(done)
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", f"New batch {name}")
    return project / "data" / "incoming" / f"{name}.csv"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_record(store: Path, name: str) -> dict | None:
    path = store / name
    return json.loads(path.read_text()) if path.is_file() else None


@pytest.mark.long(8)
def test_a_challenger_that_waits_for_a_person_is_rejected_or_released_exactly_as_kept(
    actions, project, installed_default, tmp_path
):
    """No trusted set: a winning challenger needs a person. The loop keeps it in the data store (a folder outside
    the act workspace, shared by the runs); a rejection records its batch as judged and the next run finds nothing
    new; the next waiting challenger, named by its run id, is released by the release workflow, the bundle it kept."""
    store = tmp_path / "data-store"
    params = project / "params.yaml"
    text = re.sub(r"  trusted:.*\n    path: .*\n    sha256: .*\n", "  trusted: null\n", params.read_text())
    text = re.sub(r"(?m)^  url: \.data-store", f"  url: {store}", text)
    text = re.sub(r"(?m)^  min_new_rows: 30 ", "  min_new_rows: 10 ", text)  # half a demo batch holds out ~25 rows
    assert "trusted: null" in text and str(store) in text and "min_new_rows: 10" in text
    params.write_text(text)
    git(
        project, "commit", "--quiet", "-am", "No trusted set yet, smaller batches; the data store outside the workspace"
    )
    publish_champion(actions, installed_default)
    schedule = {"schedule": CRON, "repository": repository(REPO)}

    def dispatch(challenger: str, decision: str):
        payload = {"inputs": {"challenger": challenger, "decision": decision}, "repository": repository(REPO)}
        return actions.run("workflow_dispatch", "release.yml", payload)

    # a batch the champion loses on: the challenger waits, kept in the data store with its data
    first = add_shifted_batch(project, installed_default, "4_shifted", 0)
    waits = actions.run("schedule", "retrain.yml", schedule)
    assert waits.ok, waits.explain()
    assert "## Retraining: needs-approval" in waits.summary(), waits.summary()
    kept = store_record(store, "challengers/0.2.0.json")
    assert kept is not None and [b["sha256"] for b in kept["batches"]] == [sha256_of(first)]
    assert store_record(store, f"judged/{sha256_of(first)}.json")["decision"] == "pending"
    assert released(actions) == ["v0.1.0"]
    [issue] = issues(actions)
    assert "needs-approval" in issue["body"]

    # a person rejects it: its batch is judged, the next run does not judge it again
    rejected = dispatch("0.2.0", "reject")
    assert rejected.ok, rejected.explain()
    assert "make challenger-reject" in rejected.steps("Success") and "make challenger-issue" in rejected.steps(
        "Success"
    )
    assert "make challenger-fetch" not in rejected.steps("Success") and released(actions) == ["v0.1.0"]
    judged = store_record(store, f"judged/{sha256_of(first)}.json")
    assert judged["decision"] == "rejected" and judged["version"] == "0.2.0"
    assert store_record(store, "challengers/0.2.0.json") is None
    [issue] = issues(actions)
    assert "challenger 0.2.0 rejected" in issue["comments"][-1]
    assert {c["job"] for c in rejected.jsonl("gh_calls.jsonl")} == {"issue"}, "only the issue job calls gh"
    rests = actions.run("schedule", "retrain.yml", schedule)
    assert rests.ok, rests.explain()
    summary = rests.summary()
    assert "## Retraining: nothing-new" in summary and "(1 skipped as judged)" in summary, summary

    # another batch: the next challenger waits; released by the id of the run that kept it
    second = add_shifted_batch(project, installed_default, "5_shifted", 1)
    assert sha256_of(second) != sha256_of(first)
    again = actions.run("schedule", "retrain.yml", schedule)
    assert again.ok and "## Retraining: needs-approval" in again.summary(), again.explain()
    kept = store_record(store, "challengers/0.2.0.json")
    assert [b["sha256"] for b in kept["batches"]] == [sha256_of(second)] and kept["run"], kept
    result = dispatch(kept["run"], "release")
    assert result.ok, result.explain()
    passed = result.steps("Success")
    for step in ("make challenger-fetch", "make release-check", "make sign", "make release-tag", "make release"):
        assert step in passed, f"{step} did not run green\n{result.explain()}"
    assert "make pipeline" not in passed, "the kept bundle is released, not a new one"
    assert released(actions) == ["v0.1.0", "v0.2.0"]
    assets = actions.releases / REPO / "v0.2.0" / "assets"
    for name, entry in kept["files"].items():
        assert sha256_of(assets / name) == entry["sha256"], f"{name} is not the file the loop kept"
    assert (assets / "bundle.sig").is_file(), "the approved challenger is signed"
    bundle = tmp_path / "released" / "my-ml-project-0.2.0"  # the bundle's files, without the other assets
    bundle.mkdir(parents=True)
    for name in [*kept["files"], "bundle.sig"]:
        shutil.copy(assets / name, bundle / name)
    done = verify_with(installed_default, bundle, *signer_key(actions))
    assert done.returncode == 0, explain(done)
    check_the_image(result, assets, "0.2.0", git(project, "rev-parse", "HEAD"))
    tags = json.loads((actions.state / "tags" / f"{REPO}.json").read_text())
    assert tags["v0.2.0"] == git(project, "rev-parse", "HEAD"), "tagged on the dispatch's commit, as retraining tags"
    assert store_record(store, f"judged/{sha256_of(second)}.json")["decision"] == "approved"
    assert store_record(store, "challengers/0.2.0.json") is None
    [issue] = issues(actions)
    assert "releases/tag/v0.2.0" in issue["comments"][-1] and "released" in issue["comments"][-1]
    assert {c["job"] for c in result.jsonl("gh_calls.jsonl") if c["args"][:2] == ["issue", "comment"]} == {"issue"}


# --- action pins: the verified SHA-tag table ----------------------------------------------------


ACTION_PINS = TEMPLATE / "tests" / "action_pins.json"
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)")


def test_every_pin_is_the_verified_commit_of_its_tag_with_only_declared_inputs(baked):
    """tests/action_pins.json holds, per action, the commit its tag pointed at and the inputs its action.yml
    declares there (checked against the action's own repository); every workflow must use exactly that."""
    table = {entry["repo"]: entry for entry in json.loads(ACTION_PINS.read_text())["actions"]}
    for repo, entry in table.items():
        assert re.fullmatch(r"[0-9a-f]{40}", entry["sha"]) and re.fullmatch(r"v\d+\.\d+\.\d+", entry["tag"]), repo
        assert entry["runtime"] in ("node24", "composite"), f"{repo} {entry['tag']} runs on {entry['runtime']}"
        for inner in entry.get("wraps", []):
            assert inner["runtime"] == "node24", f"{repo} wraps {inner['repo']} on {inner['runtime']}"
        assert entry["inputs"], repo
    used = set()
    for root, names in ((baked, GENERATED_WORKFLOWS), (TEMPLATE, TEMPLATE_WORKFLOWS)):
        for name in names:
            text = (root / ".github" / "workflows" / name).read_text()
            for line in text.splitlines():
                match = USES_LINE.match(line)
                if not match or match[1].startswith("./"):
                    continue
                repo = match[1].split("@")[0]
                assert repo in table, f"{name}: {repo} is not in {ACTION_PINS.name}"
                expected = f"uses: {repo}@{table[repo]['sha']} # {table[repo]['tag']}"
                assert line.strip().removeprefix("- ") == expected, f"{name}: {line.strip()} is not {expected}"
                used.add(repo)
            for job_id, step in steps_of(yaml.safe_load(text)):
                if "uses" not in step or step["uses"].startswith("./"):
                    continue
                entry = table[step["uses"].split("@")[0]]
                assert step["uses"] == f"{entry['repo']}@{entry['sha']}", f"{name} {job_id}: {step['uses']}"
                undeclared = sorted(set(step.get("with", {})) - set(entry["inputs"]))
                assert not undeclared, f"{name} {job_id}: {entry['repo']} {entry['tag']} declares no {undeclared}"
    assert used == set(table), f"{ACTION_PINS.name} lists actions no workflow uses: {sorted(set(table) - used)}"


def test_setup_uv_installs_one_pinned_uv_release(baked):
    versions = []
    for name in GENERATED_WORKFLOWS:
        for job_id, step in steps_of(workflow(baked, name)):
            if step.get("uses", "").startswith("astral-sh/setup-uv@"):
                version = step.get("with", {}).get("version")
                assert isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version), (
                    f"{name} {job_id}: setup-uv needs version: one exact uv release, not {version!r}"
                )
                versions.append(version)
    assert len(versions) >= 5 and len(set(versions)) == 1, f"one uv version in every workflow: {versions}"
    required = tomllib.loads((baked / "pyproject.toml").read_text())["tool"]["uv"]["required-version"]
    assert versions[0] in SpecifierSet(required), f"uv {versions[0]} is outside required-version {required}"
