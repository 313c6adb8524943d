"""Baking projects and running their commands, shared by the template's tests."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import localindex
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
ANSWERS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
CHOICES = {k: v for k, v in ANSWERS.items() if isinstance(v, list) and not k.startswith("_")}
# task -> its metrics, from the one table of metric facts (the hook and the generated package read it too)
METRICS = {
    task: tuple(name for name, facts in ANSWERS["_metrics"].items() if facts["task"] == task)
    for task in ("classification", "regression")
}
FAST = os.environ.get("FAST") == "1"
# The project `push to main` runs ci.yml for under act (test_workflows.py): its `test` job is the whole suite of
# random-forest classification with ROC AUC (test_generated.py counts it among the whole suites)
PUSHED_ANSWERS = {"task": "classification", "model": "random_forest", "primary_metric": "roc_auc"}


def uv_binary() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise RuntimeError("uv is needed to install baked projects: run the tests with `make test` (it bootstraps uv)")
    return found


def bake(output_dir: Path, *, relock: bool = True, **answers: str) -> Path:
    """Bake the template with these answers (defaults for the rest); return the project folder.

    `relock`: resolve the project's modelkeel pin from the session's local index (UV_INDEX, conftest.py), as
    `uv lock` would from the public index once the library is published there; the rest of uv.lock stays.
    """
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output_dir), extra_context=answers))
    if relock:
        done = localindex.relock(project, os.environ["UV_INDEX"])
        if done.returncode != 0:
            raise RuntimeError(f"uv lock of the baked project against {os.environ.get('UV_INDEX')}:\n{done.stderr}")
    return project


def valid_combinations() -> list[dict[str, str]]:
    """Every combination of the choice options, filtered to those that make sense (all of them, today)."""
    keys = list(CHOICES)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*CHOICES.values())]
    return [c for c in combos if is_valid(c)]


def pairwise_combinations() -> list[dict[str, str]]:
    """Valid combinations in which every pair of options of two different choices appears at least once.

    Greedy: take the combination that covers the most pairs not yet covered, until none is left (20 bakes
    for today's 3 x 2 x 5 x 4 choices instead of 120). A fault that needs two answers together shows in
    one of them; the generated projects' pipelines and suites run per task and model in test_generated.py.
    """
    candidates = valid_combinations()
    uncovered = set().union(*(pairs_of(c) for c in candidates))
    chosen = []
    while uncovered:
        best = max(candidates, key=lambda c: len(pairs_of(c) & uncovered))
        chosen.append(best)
        uncovered -= pairs_of(best)
    return chosen


def pairs_of(combo: dict[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return set(itertools.combinations(sorted(combo.items()), 2))


def is_valid(combo: dict[str, str]) -> bool:
    # Every model supports both tasks; a metric is chosen per task (see METRICS), not crossed with the task.
    return combo["task"] in METRICS


def run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "UV": uv_binary(), "UV_PYTHON_DOWNLOADS": "never", **(env or {})}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)  # let Python cache bytecode: cold imports cost seconds
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def make(project: Path, *targets: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run(["make", *targets], cwd=project, env=env)


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run([str(project / ".venv" / "bin" / "python"), "-m", package_name(project), *args], cwd=project)


def cli_as(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`cli` with more environment (MODEL_SIGNING_KEY for a publish)."""
    return run([str(project / ".venv" / "bin" / "python"), "-m", package_name(project), *args], cwd=project, env=env)


def key_pair(keys: Path) -> tuple[Path, str]:
    """An elliptic-curve (P-256) key pair as release signing takes it: keys/release.pem and keys/release.pub.
    Returns the public key's path and the private key's PEM text (what the MODEL_SIGNING_KEY secret holds)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    keys.mkdir(parents=True, exist_ok=True)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (keys / "release.pem").write_text(private)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (keys / "release.pub").write_bytes(public)
    return keys / "release.pub", private


# a baked params.yaml's registry.signer: the project's release workflow, signing keylessly with Sigstore
SIGNER_BLOCK = re.compile(r"\n  signer:[^\n]*\n(?:    [^\n]*\n)+")


def use_a_key_pair(project: Path, keys: Path) -> str:
    """Switch a baked project from keyless signing by its release workflow (which needs GitHub's OIDC token and
    Sigstore) to a key pair, as a user offline or self-hosted does: the public key in keys/release.pub,
    registry.signer naming it. Returns the private key's PEM text, for MODEL_SIGNING_KEY."""
    public, private = key_pair(keys)
    (project / "keys").mkdir(exist_ok=True)
    shutil.copy(public, project / "keys" / "release.pub")
    params = project / "params.yaml"
    text, found = SIGNER_BLOCK.subn("\n  signer: {public_key: keys/release.pub}\n", params.read_text(), count=1)
    assert found == 1, "params.yaml names the release workflow as registry.signer"
    params.write_text(text)
    return private


def use_the_dask_engine(project: Path, data_path: str | None = None, **dask: str) -> None:
    """params.yaml as a user switches it: `compute.engine: dask`, and the compute.dask keys given (n_workers,
    memory_limit, ...; the rest as generated: a LocalCluster); `data_path` replaces data.path when given."""
    params = project / "params.yaml"
    text = params.read_text()
    edits = [(r"(\n  engine: )pandas\b", "dask"), *((rf"(\n    {key}: )\S+", value) for key, value in dask.items())]
    if data_path is not None:
        edits.append((r"(\n  path: )\S+", data_path))
    for pattern, value in edits:
        text, found = re.subn(pattern, lambda m, v=value: m[1] + v, text, count=1)
        assert found == 1, f"params.yaml has no {pattern!r}"
    params.write_text(text)


def package_name(project: Path) -> str:
    return json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]["package_name"]


def explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}"


def declare_a_column(project: Path, field: str, schema: str = "penguins") -> None:
    """One more column in the baked project's contract (src/<package>/schemas/<schema>.py), declared as a user
    declares a column their data gained: `field` is the Field's line, e.g. 'note: Series[str] = pa.Field()'. The
    contract is strict, so a column the files carry and the contract does not declare fails validation."""
    path = project / "src" / package_name(project) / "schemas" / f"{schema}.py"
    text, found = re.subn(r"\n\n    class Config:", lambda m: f"\n    {field}{m[0]}", path.read_text(), count=1)
    assert found == 1, f"{path} has no `class Config:` after its fields"
    path.write_text(text)
