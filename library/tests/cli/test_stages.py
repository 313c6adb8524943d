"""The stage commands as a person runs them: what `infer-schema` prints about the contract it wrote."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from ..conftest import PROJECT_ROOT

PACKAGE = "inferred_cli_project"


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A copy of the fixed project under its own package name, with a file of six months of flights."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "src" / "penguins_project", root / "src" / PACKAGE)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    params = (PROJECT_ROOT / "params.yaml").read_text().replace("package: penguins_project", f"package: {PACKAGE}")
    (root / "params.yaml").write_text(params)
    rng = np.random.default_rng(0)
    n = 300
    flights = pd.DataFrame(
        {
            "month": rng.integers(1, 7, n),
            "distance": rng.uniform(100, 2000, n).round(1),
            "origin": rng.permutation([f"A{i % 60:02d}" for i in range(n)]),  # 60 airports: above the default 50
            "carrier": rng.choice(["AA", "DL", "UA"], n),
            "late": rng.choice(["yes", "no"], n),
        }
    )
    (root / "data" / "raw").mkdir(parents=True)
    flights.to_csv(root / "data" / "raw" / "flights.csv", index=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield root
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def infer(root, *extra):
    from modelkeel.cli.main import main

    args = ["--params", root / "params.yaml", "infer-schema", root / "data/raw/flights.csv", "--target", "late"]
    return main([str(a) for a in [*args, *extra]])


def test_the_printout_says_which_rules_are_hard_which_are_expected_and_how_to_promote_one(project, capsys):
    assert infer(project) == 0
    out = capsys.readouterr().out
    assert "month: int -> numeric; HARD 1..12 (a month); EXPECTED 1..6; drift-exempt" in out
    assert "carrier: str -> categorical; EXPECTED one of 3 values (AA, DL, UA)" in out
    assert "late: str (nullable) -> target; EXPECTED one of 2 values (no, yes)" in out
    assert "HARD checks refuse a row" in out and "EXPECTED ranges and categories" in out
    assert 'move it in flights.py out of metadata={"expect": ...} into the Field\'s own arguments' in out
    assert "retrain.drift_exempt: month" in out
    # the airports: left out, with the way to keep them
    assert "origin: str -> ignored: 60 distinct text values" in out and "--max-categories 60" in out


def test_max_categories_keeps_a_text_column_with_many_values(project, capsys):
    assert infer(project, "--max-categories", "60") == 0
    out = capsys.readouterr().out
    assert "origin: str -> categorical; EXPECTED one of 60 values" in out
    assert "categorical_features: [origin, carrier]" in (project / "params.yaml").read_text()


@pytest.mark.parametrize("command", ["train", "evaluate", "export", "bundle"])
def test_a_stage_alone_on_the_dask_engine_is_refused_with_a_message_that_names_pipeline(project, command, capsys):
    from modelkeel.cli.main import main

    params = project / "params.yaml"
    params.write_text(params.read_text() + "compute:\n  engine: dask\n")
    assert main(["--params", str(params), command]) != 0
    err = capsys.readouterr().err
    assert f"`{command}` alone runs on the pandas engine only" in err and "run `pipeline`" in err
    assert not (project / "artifacts").exists(), "refused before anything ran"


def test_validate_alone_on_the_dask_engine_runs_on_a_cluster(project, capsys):
    from modelkeel.cli.main import main

    shutil.copy(PROJECT_ROOT / "data" / "raw" / "penguins.csv", project / "data" / "raw" / "penguins.csv")
    params = project / "params.yaml"
    params.write_text(
        params.read_text() + "compute:\n  engine: dask\n  dask:\n    n_workers: 1\n    memory_limit: 1GiB\n"
    )
    assert main(["--params", str(params), "validate"]) == 0
    out = capsys.readouterr().out
    assert "cluster: local local, 1 worker(s)" in out and "partition(s), pass schema" in out
