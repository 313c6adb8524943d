"""The hooks: every answer is checked before anything is written; a bad one leaves nothing on disk."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from helpers import ANSWERS, METRICS, TEMPLATE, bake


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")


@pytest.mark.parametrize(
    ("answers", "field", "fragment"),
    [
        ({"project_slug": "My Project"}, "project_slug", "lowercase ASCII letters"),
        ({"project_slug": "proj'; rm -rf /"}, "project_slug", "lowercase ASCII letters"),
        ({"project_slug": ""}, "project_slug", "lowercase ASCII letters"),
        ({"package_name": "class"}, "package_name", "keyword"),
        ({"package_name": "match"}, "package_name", "keyword"),
        ({"package_name": "json"}, "package_name", "standard-library module 'json'"),
        ({"package_name": "sklearn"}, "package_name", "dependency 'sklearn'"),
        ({"package_name": "yaml"}, "package_name", "dependency 'yaml'"),
        ({"package_name": "tests"}, "package_name", "taken by the project's own tests"),
        ({"package_name": "2fast"}, "package_name", "Python identifier"),
        ({"package_name": "caf\u00e9"}, "package_name", "Python identifier"),
        ({"package_name": "a\\b"}, "package_name", "Python identifier"),
        ({"author_email": "not-an-email"}, "author_email", "name@example.com"),
        ({"author_email": "a@b"}, "author_email", "name@example.com"),
        ({"github_owner": "-bad-"}, "github_owner", "GitHub user"),
        ({"project_name": ""}, "project_name", "non-empty"),
        ({"project_name": "two\nlines"}, "project_name", "one line"),
        ({"description": "tab\there"}, "description", "one line"),
        ({"retrain_cron": "* * * * *"}, "retrain_cron", "at most every 5 minutes"),
        ({"retrain_cron": "0,2 3 * * *"}, "retrain_cron", "at most every 5 minutes"),
        ({"retrain_cron": "58,1 * * * *"}, "retrain_cron", "at most every 5 minutes"),
        ({"retrain_cron": "17 3 * *"}, "retrain_cron", "five fields"),
        ({"retrain_cron": "61 3 * * *"}, "retrain_cron", "minute field"),
        ({"retrain_cron": "5 3 * * 8"}, "retrain_cron", "day of week field"),
        ({"retrain_cron": "*/0 3 * * *"}, "retrain_cron", "minute field"),
        ({"runs_on": ""}, "runs_on", "one runner label"),
        ({"runs_on": "self-hosted,,gpu"}, "runs_on", "one runner label"),
        ({"runs_on": "my runner"}, "runs_on", "letters, digits"),
        ({"runs_on": "ubuntu-latest}} ${{ secrets.X"}, "runs_on", "letters, digits"),
        ({"runs_on": "'ubuntu-latest'"}, "runs_on", "letters, digits"),
        ({"runs_on": "gpu-"}, "runs_on", "letters, digits"),
        ({"runs_on": ",".join(f"l{i}" for i in range(11))}, "runs_on", "at most 10 labels"),
        ({"runs_on": "self-hosted, GPU, gpu"}, "runs_on", "each label once"),
        ({"runs_on": "windows-latest"}, "runs_on", "a Linux runner"),
        ({"runs_on": "macos-14"}, "runs_on", "a Linux runner"),
        ({"task": "clustering"}, "task", "one of classification, regression"),
        ({"model": "hist_gradient_boosting"}, "model", "one of random_forest"),
        ({"python_version": "3.9"}, "python_version", "one of 3.11"),
        ({"primary_metric": "r2"}, "primary_metric", "for task 'classification'"),
        ({"task": "regression", "primary_metric": "accuracy"}, "primary_metric", "for task 'regression'"),
        ({"primary_metric": "R2"}, "primary_metric", "for task 'classification'"),
        ({"primary_metric": "precision"}, "primary_metric", "choose one of"),
        ({"primary_metric": "roc auc"}, "primary_metric", "choose one of"),
        ({"primary_metric": ""}, "primary_metric", "choose one of"),
        ({"metric_threshold": "1.5"}, "metric_threshold", "at most 1"),
        ({"metric_threshold": "0"}, "metric_threshold", "above 0"),
        ({"metric_threshold": "nan"}, "metric_threshold", "a number"),
        ({"metric_threshold": "high"}, "metric_threshold", "a number"),
        ({"metric_threshold": "\u0660.\u0669"}, "metric_threshold", "a number"),  # Arabic-Indic digits
        ({"primary_metric": "roc_auc", "metric_threshold": "0.4"}, "metric_threshold", "above 0.5"),
        ({"task": "regression", "primary_metric": "r2", "metric_threshold": "1"}, "metric_threshold", "below 1"),
        ({"task": "regression", "primary_metric": "rmse", "metric_threshold": "-3"}, "metric_threshold", "above 0"),
        (
            {"primary_metric": "ROC_AUC", "metric_threshold": "0.4"},
            "metric_threshold",
            "above 0.5 and at most 1 for roc_auc",
        ),
        (
            {"task": "regression", "primary_metric": " R2 ", "metric_threshold": "1"},
            "metric_threshold",
            "below 1 for r2",
        ),
    ],
)
def test_validate_names_the_field_and_the_accepted_form(answers, field, fragment):
    base = defaults()
    base.update(answers)
    with pytest.raises(pre.AnswerError) as caught:
        pre.validate(base)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def defaults() -> dict:
    return {
        "project_name": "My ML Project",
        "project_slug": "my-ml-project",
        "package_name": "my_ml_project",
        "description": "d",
        "author_name": "A",
        "author_email": "a@example.com",
        "github_owner": "octo-org",
        "python_version": "3.11",
        "task": "classification",
        "model": "random_forest",
        "primary_metric": "f1_macro",
        "metric_threshold": "0.9",
        "retrain_cron": "17 3 * * 1",
        "runs_on": "ubuntu-latest",
        "license": "MIT",
        "_metrics": ANSWERS["_metrics"],  # cookiecutter passes the template's private table to the hook
    }


@pytest.mark.parametrize(
    ("task", "metric", "threshold"),
    [
        ("classification", "ROC_AUC", "0.9"),
        ("classification", "F1_Macro", "0.9"),
        ("classification", " accuracy ", "0.9"),
        ("regression", " Mae ", "400"),
        ("regression", "RMSE", "400"),
        ("regression", "R2", "0.7"),
    ],
)
def test_a_metric_in_any_case_is_accepted(task, metric, threshold):
    pre.validate({**defaults(), "task": task, "primary_metric": metric, "metric_threshold": threshold})


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("classification", "r2"),
        ("classification", "MAE"),
        ("regression", "accuracy"),
        ("regression", "Roc_Auc"),
        ("classification", "precision"),
        ("regression", "precision"),
    ],
)
def test_a_metric_that_does_not_fit_the_task_is_refused_with_the_list_that_does(task, metric):
    with pytest.raises(pre.AnswerError) as caught:
        pre.validate({**defaults(), "task": task, "primary_metric": metric})
    message = str(caught.value)
    assert caught.value.field == "primary_metric"
    assert f"primary_metric={metric!r}" in message  # the answer as given
    assert f"for task {task!r}" in message
    offered = message.split("choose one of ", 1)[1].removesuffix(" (any case)").split(", ")
    assert sorted(offered) == sorted(METRICS[task])


@pytest.mark.parametrize("cron", ["17 3 * * 1", "*/5 * * * *", "0,30 * * * *", "3 4-6 1,15 * mon-fri", "55,0 3 * * *"])
def test_valid_crons_pass(cron):
    pre.check_cron(cron)


@pytest.mark.parametrize(
    ("runs_on", "labels"),
    [
        ("ubuntu-latest", ["ubuntu-latest"]),
        ("ubuntu-24.04-16core", ["ubuntu-24.04-16core"]),
        ("self-hosted, linux, x64,gpu", ["self-hosted", "linux", "x64", "gpu"]),
        ("gpu_t4.4-core", ["gpu_t4.4-core"]),
    ],
)
def test_runner_answers_pass_as_their_labels(runs_on, labels):
    assert pre.check_runs_on(runs_on) == labels
    pre.validate({**defaults(), "runs_on": runs_on})


def test_wrapping_minutes_only_count_when_hours_are_consecutive():
    pre.check_cron("58,1 3,12 * * *")  # 03:58 then 12:01: far apart
    with pytest.raises(pre.AnswerError):
        pre.check_cron("58,1 3,4 * * *")  # 03:58 then 04:01: three minutes


HOSTILE = [
    ({"project_name": 'Quote " Project', "project_slug": 'quote"-project'}, "project_slug"),
    ({"package_name": "import os; os.system('echo pwned')"}, "package_name"),
    ({"package_name": "for"}, "package_name"),
    ({"project_name": ""}, "project_name"),
    ({"retrain_cron": "*/2 * * * *"}, "retrain_cron"),
    ({"metric_threshold": "7"}, "metric_threshold"),
    ({"author_email": "me at example dot com"}, "author_email"),
    ({"project_slug": "back\\slash"}, "project_slug"),
    ({"runs_on": "ubuntu-latest\n    permissions: write-all"}, "runs_on"),
]


@pytest.mark.parametrize(("answers", "field"), HOSTILE)
def test_hostile_answer_fails_with_its_message_and_leaves_nothing(tmp_path, capfd, answers, field):
    with pytest.raises(FailedHookException):
        bake(tmp_path, relock=False, **answers)
    err = capfd.readouterr().err
    assert f"ERROR: {field}=" in err
    assert err.count("ERROR:") == 1
    assert list(tmp_path.iterdir()) == [], "a failed bake must leave nothing on disk"


@pytest.mark.parametrize(
    ("answers", "metric", "threshold", "wording"),
    [
        ({"primary_metric": "ROC_AUC"}, "roc_auc", 0.9, "at least: higher is better for roc_auc"),
        (
            {"task": "regression", "primary_metric": " Mae ", "metric_threshold": "400"},
            "mae",
            400,
            "lower is better for mae",
        ),
        ({"task": "regression", "primary_metric": "R2"}, "r2", 0.7, "higher is better for r2"),  # the r2 default
    ],
)
def test_a_metric_in_any_case_bakes_in_lower_case(tmp_path, answers, metric, threshold, wording):
    project = bake(tmp_path, relock=False, **answers)
    text = (project / "params.yaml").read_text()
    quality = yaml.safe_load(text)["quality"]
    assert quality["primary_metric"] == metric
    assert quality["threshold"] == threshold
    assert f"primary_metric: {metric}\n" in text
    assert wording in text


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("classification", "precision"),
        ("regression", "Precision"),
        ("classification", "r2"),
        ("regression", "ACCURACY"),
    ],
)
def test_a_wrong_metric_on_the_command_line_gives_the_list_not_a_traceback(tmp_path, task, metric):
    """The real CLI: a wrong metric must reach the hook (no Jinja error while rendering cookiecutter.json's
    defaults or params.yaml), and the hook's one message on stderr names the metrics that fit the task.

    cookiecutter itself then logs the hook's failure on stdout, traceback included (logger.exception in
    cookiecutter.hooks.run_hook_from_repo_dir): that one is checked to be the hook's exit, nothing else."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(out), str(TEMPLATE)]
    done = subprocess.run(
        [*command, f"task={task}", f"primary_metric={metric}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "UndefinedError" not in done.stdout + done.stderr, done.stdout
    assert done.stderr.count("ERROR:") == 1, done.stderr
    expected = f"ERROR: primary_metric={metric!r} is not accepted: for task {task!r} choose one of "
    assert expected in done.stderr, done.stderr
    offered = done.stderr.split(expected, 1)[1].splitlines()[0].removesuffix(" (any case)").split(", ")
    assert sorted(offered) == sorted(METRICS[task]), done.stderr
    assert "FailedHookException: Hook script failed (exit status: 1)" in done.stdout, done.stdout
    assert not out.exists() or list(out.iterdir()) == [], "a failed bake must leave nothing on disk"


def test_quotes_backslashes_and_unicode_in_free_text_are_escaped(tmp_path):
    name = 'Zoë\'s "Quoted" \\ Model'
    description = 'Predicts "things" 🐧 with a backslash \\ and an apostrophe \' and ünïcode'
    project = bake(  # static checks only: no install, no relock
        tmp_path,
        relock=False,
        project_name=name,
        project_slug="zoe-model",
        description=description,
        author_name='O\'Brien "Bob" \\',
        author_email="bob@example.org",
    )
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == description
    assert meta["authors"] == [{"name": 'O\'Brien "Bob" \\', "email": "bob@example.org"}]
    answers = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert answers["project_name"] == name
    compile((project / "src" / "zoe_model" / "__init__.py").read_text(), "__init__.py", "exec")


def test_post_gen_removes_only_what_an_option_disables(tmp_path):
    (tmp_path / "LICENSE").write_text("x")
    (tmp_path / "README.md").write_text("x")
    post.remove_disabled(tmp_path, {"license": "MIT"})
    assert (tmp_path / "LICENSE").exists()
    post.remove_disabled(tmp_path, {"license": "Proprietary"})
    assert not (tmp_path / "LICENSE").exists()
    assert (tmp_path / "README.md").exists()


def test_recorded_answers_leave_out_machine_paths():
    recorded = post.recorded_answers(
        {"task": "regression", "_output_dir": "/home/me", "__prompts__": {}, "_template": "gh:x/y"}
    )
    assert recorded == {"task": "regression", "_template": "gh:x/y"}


def test_recorded_answers_regenerate_the_same_project(tmp_path):
    from cookiecutter.main import cookiecutter

    first = bake(
        tmp_path / "first",
        relock=False,
        task="regression",
        model="linear",
        primary_metric="mae",
        metric_threshold="300",
    )
    second_dir = tmp_path / "second"
    cookiecutter(str(TEMPLATE), replay=str(first / ".cookiecutter.json"), output_dir=str(second_dir))
    second = second_dir / first.name

    def tree(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert tree(first) == tree(second)


def test_the_training_runner_replaces_exactly_one_marked_line_per_workflow(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    line = "    runs-on: ubuntu-latest" + post.TRAINING_RUNNER_MARK + "\n"
    for name in ("ci.yml", "release.yml", "retrain.yml"):
        (workflows / name).write_text("jobs:\n  a:\n" + line + "  b:\n    runs-on: ubuntu-latest\n")
    post.set_training_runner(tmp_path, "self-hosted, gpu")
    retrain = (workflows / "retrain.yml").read_text()
    assert "    runs-on: [self-hosted, gpu]" + post.TRAINING_RUNNER_MARK in retrain
    assert retrain.endswith("  b:\n    runs-on: ubuntu-latest\n"), "an unmarked job keeps its runner"
    assert "fork && 'ubuntu-latest' || fromJSON('[\"self-hosted\", \"gpu\"]')" in (workflows / "ci.yml").read_text()
    # a template whose workflow lost its mark, or has two, stops the bake instead of training on the wrong runner
    fresh, doubled = "jobs:\n" + line, "jobs:\n" + line + line
    for name in ("ci.yml", "retrain.yml"):
        (workflows / name).write_text(fresh)
    (workflows / "release.yml").write_text(doubled)
    with pytest.raises(RuntimeError, match=r"release\.yml: expected one marked training `runs-on:` line, found 2"):
        post.set_training_runner(tmp_path, "ubuntu-24.04-16core")
    assert (workflows / "release.yml").read_text() == doubled
    assert (workflows / "ci.yml").read_text() == fresh, "checked before anything is written"
