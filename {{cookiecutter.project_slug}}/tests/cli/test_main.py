import json
import shutil
import subprocess
import sys

import pytest

from ..conftest import PROJECT_ROOT

COMMANDS = (
    "validate",
    "train",
    "evaluate",
    "export",
    "bundle",
    "verify",
    "predict",
    "infer-schema",
    "pipeline",
    "report",
    "lineage",
    "diff",
    "next-version",
    "download",
    "list",
    "publish",
    "bench",
)


def cli(*args, cwd=PROJECT_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_help_lists_every_subcommand():
    done = cli("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout


def test_validate_reports_what_it_checked():
    done = cli("validate")
    assert done.returncode == 0, done.stderr
    assert "pass schema" in done.stdout and "fingerprint" in done.stdout


def test_bad_params_give_a_message_not_a_traceback(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((PROJECT_ROOT / "params.yaml").read_text().replace("seed: 42", "seed: 42\ncolour: red"))
    done = cli("--params", str(params), "validate")
    assert done.returncode == 1
    assert "colour: unknown key" in done.stderr
    assert "Traceback" not in done.stderr


def test_verify_of_a_missing_bundle_is_a_clear_error(tmp_path):
    done = cli("verify", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "not a bundle folder" in done.stderr and "Traceback" not in done.stderr


def test_every_group_module_holds_handlers_for_the_commands_it_parses():
    from {{ cookiecutter.package_name }}.cli.main import COMMANDS, build_parser

    parser = build_parser()
    parsed = set(parser._subparsers._group_actions[0].choices)
    assert parsed == set(COMMANDS), "every parsed command has exactly one handler"


@pytest.fixture()
def project_copy(tmp_path, bundle_dir):
    """A project root in tmp_path that shares this project's data but writes its own artifacts."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "data").symlink_to(PROJECT_ROOT / "data")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / "params.yaml", root / "params.yaml")
    (root / "artifacts").mkdir()
    shutil.copy(bundle_dir / "metrics.json", root / "artifacts" / "metrics.json")
    empty = tmp_path / "registry"
    empty.mkdir()
    return root, empty


def run_main(*args):
    from {{ cookiecutter.package_name }}.cli.main import main

    return main([str(a) for a in args])


def test_an_empty_folder_registry_means_no_champion_for_retrain(project_copy, capsys):
    root, empty = project_copy
    assert run_main("--params", root / "params.yaml", "retrain", "--url", empty) == 0
    out = capsys.readouterr().out
    assert "## Retraining: no-champion" in out and "No champion yet" in out
    assert json.loads((root / "artifacts" / "retrain" / "loop.json").read_text())["outcome"] == "no-champion"


def test_an_empty_folder_registry_means_nothing_to_compare_for_report(project_copy, capsys):
    root, empty = project_copy
    assert run_main("--params", root / "params.yaml", "report", "--against", "latest", "--url", empty) == 0
    out = capsys.readouterr().out
    assert "No published release yet: nothing to compare with." in out and "unavailable" not in out


def test_an_empty_folder_registry_means_a_first_release_for_next_version(project_copy, bundle_dir, capsys):
    root, empty = project_copy
    version = json.loads((bundle_dir / "lineage.json").read_text())["version"]
    params = root / "params.yaml"
    assert run_main("--params", params, "next-version", "--bundle", bundle_dir, "--url", empty) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == version and "the first release is the project version" in captured.err
    assert (
        run_main("--params", params, "next-version", "--bundle", bundle_dir, "--url", empty, "--check", "v9.9.9") == 1
    )
    assert f"is not the project version {version} of this first release" in capsys.readouterr().err


def test_a_missing_version_in_a_folder_registry_is_not_taken_for_an_empty_one(project_copy, bundle_dir, capsys):
    root, empty = project_copy
    params = root / "params.yaml"
    assert (
        run_main("--params", params, "next-version", "--bundle", bundle_dir, "--previous", "0.0.1", "--url", empty) == 1
    )
    assert "has no version 0.0.1" in capsys.readouterr().err
