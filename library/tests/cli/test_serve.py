"""`serve` refuses contradictory or impossible options before it loads anything (the server itself: tests/serve)."""

import pytest

from modelkeel.cli.main import main

from ..conftest import PROJECT_ROOT

PARAMS = str(PROJECT_ROOT / "params.yaml")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--bundle", "dist", "--reload-every", "5"],
            "--reload-every reloads the latest release: use it with --version latest",
        ),
        (["--reload-every", "5"], "use it with --version latest"),
        (["--version", "0.1.0", "--reload-every", "5"], "but --version pins 0.1.0"),
        (["--port", "70000"], "--port: Input should be less than or equal to 65535"),
        (["--reload-every", "0", "--version", "latest"], "--reload-every: Input should be greater than 0"),
    ],
)
def test_contradictory_or_impossible_options_are_refused_with_the_reason(capsys, args, said):
    assert main(["--params", PARAMS, "serve", *args]) == 1
    assert said in capsys.readouterr().err


def test_without_a_params_file_serve_needs_a_bundle_or_a_version(capsys, tmp_path):
    assert main(["--params", str(tmp_path / "params.yaml"), "serve"]) == 1
    assert "pass --bundle FOLDER or --version VERSION" in capsys.readouterr().err


def test_a_folder_that_is_not_a_bundle_is_refused(capsys, tmp_path):
    assert main(["--params", PARAMS, "serve", "--bundle", str(tmp_path)]) == 1
    assert "SHA256SUMS" in capsys.readouterr().err


def test_serve_and_version_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        main(["--params", PARAMS, "serve", "--bundle", "x", "--version", "latest"])
    assert "not allowed with argument" in capsys.readouterr().err
