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
    "sign",
    "bench",
    "serve",
)


def cli(*args, cwd=PROJECT_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "modelkeel", *args],
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
    from modelkeel.cli.main import COMMANDS, build_parser

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
    from modelkeel.cli.main import main

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


@pytest.fixture()
def noted_input(tmp_path, settings, validated):
    """Some of the project's rows as a CSV file, with a passed-through `note` column holding a formula."""
    frame = validated.frame[list(settings.data.features)].head(6).copy()
    frame["note"] = ["=1+2", "@cmd", "-x", "+y", "ok", "a=b"]
    path = tmp_path / "incoming.csv"
    frame.to_csv(path, index=False)
    return path


def test_predict_neutralises_formulas_in_csv_output_unless_allowed(bundle_dir, noted_input, tmp_path, capsys):
    import csv

    def notes(path):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [row["note"] for row in rows]

    out, raw = tmp_path / "scored.csv", tmp_path / "raw.csv"
    assert run_main("predict", "--bundle", bundle_dir, "--input", noted_input, "--output", out) == 1
    assert "unsigned (bundle.sig is missing)" in capsys.readouterr().err, "not this checkout's own build"
    assert run_main("predict", "--bundle", bundle_dir, "--input", noted_input, "--output", out, "--allow-unsigned") == 0
    said = capsys.readouterr()
    assert "scored 6 rows" in said.out and "--allow-unsigned" in said.out and "nobody checked" in said.err
    assert notes(out) == ["'=1+2", "'@cmd", "'-x", "'+y", "ok", "a=b"]
    assert (
        run_main(
            "predict",
            "--bundle",
            bundle_dir,
            "--input",
            noted_input,
            "--output",
            raw,
            "--allow-formulas",
            "--allow-unsigned",
        )
        == 0
    )
    assert notes(raw) == ["=1+2", "@cmd", "-x", "+y", "ok", "a=b"]


def test_predict_limits_are_clear_errors_that_say_how_to_raise_them(bundle_dir, noted_input, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    args = ("predict", "--bundle", bundle_dir, "--input", noted_input, "--output", out, "--allow-unsigned")
    assert run_main(*args, "--max-rows", "5") == 1
    err = capsys.readouterr().err
    assert "6 rows, more than the limit of 5 rows" in err and "--max-rows N" in err and "Traceback" not in err
    assert run_main(*args, "--max-bytes", "10") == 1
    err = capsys.readouterr().err
    assert "more than the limit of 10 bytes" in err and "--max-bytes N" in err
    assert not out.exists()
    assert run_main(*args, "--max-rows", "6", "--max-bytes", str(noted_input.stat().st_size)) == 0


def test_predict_help_says_why_formulas_are_neutralised():
    from modelkeel.runtime.scoring import DEFAULT_MAX_ROWS

    done = cli("predict", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--allow-formulas" in text and "CSV injection" in text and "formula" in text
    assert f"{DEFAULT_MAX_ROWS:,}" in text and "--max-bytes" in text


def test_sign_then_verify_signed_against_the_projects_signer(project_copy, bundle_dir, tmp_path, capsys):
    """`sign --key` signs a verified bundle; with registry.signer, `verify --signed` needs that signature."""
    from ruamel.yaml import YAML

    from ..bundle.test_signing import key_pair  # the key-pair helper lives with the signing tests

    root, _ = project_copy
    private, public = key_pair(tmp_path)
    params = root / "params.yaml"
    yaml = YAML()  # as infer-schema writes it (YAML 1.2: a plain `Has garage?` in a list is PyYAML's error)
    document = yaml.load(params.read_text())
    document["registry"]["signer"] = dict(public_key=str(public))
    yaml.dump(document, params)
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    shutil.copy(bundle_dir.with_name(bundle_dir.name + ".tar.gz"), copy.with_name(copy.name + ".tar.gz"))
    shutil.copy(bundle_dir.with_name(bundle_dir.name + ".tar.gz.sha256"), copy.with_name(copy.name + ".tar.gz.sha256"))
    assert run_main("--params", params, "verify", copy) == 0
    assert "is not signed, so registry.signer was not checked" in capsys.readouterr().err
    assert run_main("--params", params, "verify", "--signed", copy) == 1
    assert "bundle.sig is missing, but a signer is expected" in capsys.readouterr().err
    assert run_main("--params", params, "sign", str(copy), "--key", private) == 0
    assert "the signature verifies against registry.signer" in capsys.readouterr().out
    assert run_main("--params", params, "verify", "--signed", copy) == 0
    assert "signature of registry.signer OK" in capsys.readouterr().out


def test_the_signer_can_be_named_on_the_command_line_and_overrides_params(
    project_copy, signed_bundle_dir, release_key, tmp_path, capsys
):
    """--signer-key / --signer-workflow name who must have signed, for a consumer without params.yaml (or to
    override registry.signer): a folder registry's release downloads only with the right one."""
    import pandas as pd

    from modelkeel.bundle.signing import make_key_pair

    root, registry = project_copy
    version = json.loads((signed_bundle_dir / "lineage.json").read_text())["version"]
    shutil.copytree(signed_bundle_dir, registry / version)
    params, dest = root / "params.yaml", tmp_path / "cache"
    download = ["--params", params, "download", "--url", registry, "--dest", dest]
    assert run_main(*download) == 1  # the project's params name no signer: nothing is fetched
    assert "no signer is configured" in capsys.readouterr().err and not (dest / version).exists()
    _, foreign = make_key_pair(tmp_path / "foreign")
    assert run_main(*download, "--signer-key", foreign) == 1
    assert "not a valid signature of the expected signer" in capsys.readouterr().err and not (dest / version).exists()
    assert run_main(*download, "--signer-key", release_key.signer.public_key) == 0
    assert (dest / version / "bundle.sig").is_file()
    capsys.readouterr()
    assert run_main(*download, "--signer-workflow", "https://example.com/release.yml") == 1
    assert "--signer-workflow" in capsys.readouterr().err
    out = tmp_path / "scored.csv"
    source = tmp_path / "rows.csv"
    rows = json.loads((signed_bundle_dir / "input_example.json").read_text())["rows"]
    pd.DataFrame(rows).to_csv(source, index=False)
    predict = ["--params", params, "predict", "--bundle", dest / version, "--input", source, "--output", out]
    assert run_main(*predict) == 1 and "no signer is configured" in capsys.readouterr().err and not out.exists()
    assert run_main(*predict, "--signer-key", release_key.signer.public_key) == 0 and out.is_file()


def test_keygen_writes_a_key_pair_that_signs_and_never_overwrites_one(project_copy, bundle_dir, tmp_path, capsys):
    """`keygen` makes the key pair offline signing needs; a second run refuses and leaves the first intact."""
    from modelkeel.bundle.signing import sign, verify_signature
    from modelkeel.settings import Signer

    root, _ = project_copy
    keys = tmp_path / "keys"
    assert run_main("--params", root / "params.yaml", "keygen", "--dest", keys) == 0
    said = capsys.readouterr().out
    assert f"signer: {{public_key: {keys / 'release.pub'}}}" in said and "MODEL_SIGNING_KEY" in said
    assert (keys / "release.pem").stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
    before = (keys / "release.pem").read_bytes()
    assert run_main("--params", root / "params.yaml", "keygen", "--dest", keys) == 1
    assert "exists already; nothing was written" in capsys.readouterr().err
    assert (keys / "release.pem").read_bytes() == before
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    sign(copy, keys / "release.pem")
    verify_signature(copy, Signer(public_key=str(keys / "release.pub")), "0.1.0", "test")
