"""Where a model came from: project version, git state and library versions, and how lineage is printed."""

from __future__ import annotations

import platform
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = ("modelkeel", "scikit-learn", "skl2onnx", "onnx", "onnxruntime", "pandera", "pandas", "numpy")
# what a model family adds: its library and the converter skl2onnx calls for it
MODEL_PACKAGES = {"lightgbm": ("lightgbm", "onnxmltools"), "xgboost": ("xgboost", "onnxmltools")}
# xgboost is installed as xgboost-cpu (the CPU-only build) where that build has a wheel
DISTRIBUTIONS = {"xgboost": ("xgboost-cpu", "xgboost")}


def project_version(root: Path) -> str:
    """The version in pyproject.toml: the one number the bundle, the tag and the release share."""
    pyproject = root / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        from ..errors import SettingsError

        raise SettingsError(
            f"{pyproject}: no [project] version ({type(error).__name__}): the bundle, the tag and the release "
            "take their version from it; run from the project root or pass --params PATH."
        ) from None


def project_name(root: Path) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def bundle_name(root: Path, version: str | None = None) -> str:
    """`<project name>-<version>` (default: pyproject's version): the bundle folder in dist/ and the tarball's stem."""
    return f"{project_name(root)}-{version or project_version(root)}"


def git_state(root: Path) -> dict:
    """The commit and whether the work tree had uncommitted changes; unknown outside a git repository."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown", "dirty": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def package_version(name: str) -> str | None:
    for distribution in DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def environment(model_type: str | None = None) -> dict:
    """Python and the versions of the libraries that made the model (KEY_PACKAGES, and the model family's own)."""
    names = KEY_PACKAGES + MODEL_PACKAGES.get(model_type or "", ())
    packages = {name: package_version(name) for name in names}
    return {"python": platform.python_version(), "packages": packages}


def format_lineage(lineage: dict) -> str:
    """`lineage`: which code, data, params and environment made a bundle, one line each."""
    git = lineage["git"]
    env = lineage["environment"]
    lines = [
        f"{lineage['name']} {lineage['version']}  (bundle format {lineage['bundle_format']})",
        f"  code:    git {git['commit']}" + (" + uncommitted changes" if git["dirty"] else ""),
        f"  data:    {lineage['data']['rows']} rows, fingerprint {lineage['data']['fingerprint']}",
    ]
    lines += [
        f"           {f.get('url') or f['path']}: {f['rows']} rows, sha256 {f['sha256']}"
        for f in lineage["data"]["files"]
    ]
    split = lineage.get("split_from")  # freeze-trusted split the training data from this file (newer bundles)
    if split:
        lines.append(
            f"           {split['training']} and the trusted set {split['trusted']['path']} were split from "
            f"{split['path']} (sha256 {split['sha256']})"
        )
    lines += [
        f"  schema:  {lineage['schema']['name']} (sha256 {lineage['schema']['sha256']})",
        f"  params:  hash {lineage['params_hash']}, seed {lineage['seed']}, model {lineage['params']['model']['type']}",
        f"  env:     python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["packages"].items())
        + f", uv.lock {(lineage.get('lock_sha256') or 'none')[:12]}",
        f"  metrics: {lineage['metrics']['primary_metric']} = {lineage['metrics']['test'][lineage['metrics']['primary_metric']]}",
        f"  model:   model.onnx sha256 {lineage['model']['sha256']} (opset {lineage['model']['opset']})",
    ]
    return "\n".join(lines)
