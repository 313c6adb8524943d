import subprocess
import sys

from .conftest import PROJECT_ROOT

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
