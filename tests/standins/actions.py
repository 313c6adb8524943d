"""Local stand-ins for the marketplace actions the generated workflows use, for runs under act.

act (host mode) runs each pinned `uses:` from a local folder (`--local-repository`); the folders
are made by `tests/workflows.py`, each a node action whose `main` runs this file with the
action's name. A node action sees every `with:` input as INPUT_<NAME>, declared or not, so a
stand-in can refuse what it does not understand: an unknown input, a missing required one or
a value outside the action's documented choices fails the step, and a workflow change cannot
pass silently. What each action did is appended to $STANDINS_STATE/actions.jsonl.

act copies the repository into the workspace itself and skips actions/checkout when it checks
out the triggering commit; the checkout stand-in refuses every other kind of checkout.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BOOLEAN = {"true", "false"}
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")


class Refused(Exception):
    pass


def _inputs() -> dict[str, str]:
    return {key[len("INPUT_") :].lower(): value for key, value in os.environ.items() if key.startswith("INPUT_")}


def _check(action: str, inputs: dict[str, str], known: dict[str, set[str] | None], required: set[str]) -> None:
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise Refused(f"{action} stand-in does not understand input(s) {unknown}; it knows {sorted(known)}")
    missing = sorted(name for name in required if not inputs.get(name))
    if missing:
        raise Refused(f"{action} stand-in: required input(s) {missing} not given")
    for name, choices in known.items():
        if choices is not None and name in inputs and inputs[name] not in choices:
            raise Refused(f"{action} stand-in: input {name}={inputs[name]!r} is not one of {sorted(choices)}")


def _workspace() -> Path:
    return Path(os.environ["GITHUB_WORKSPACE"])


def _state() -> Path:
    state = os.environ.get("STANDINS_STATE")
    if not state:
        raise Refused("STANDINS_STATE is not set: run act through tests/workflows.py")
    return Path(state)


def _record(entry: dict) -> None:
    with (_state() / "actions.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def _append(env_file: str, line: str) -> None:
    with open(os.environ[env_file], "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _matches(patterns: str) -> list[Path]:
    """Files matched by newline-separated globs relative to the workspace (folders expand to their files)."""
    found: list[Path] = []
    for pattern in filter(None, (p.strip() for p in patterns.splitlines())):
        if pattern.startswith("!"):
            raise Refused(f"exclusion patterns ({pattern}) are not supported by the stand-in")
        for match in sorted(glob.glob(str(_workspace() / pattern), recursive=True)):
            path = Path(match)
            found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def checkout(inputs: dict[str, str]) -> dict:
    """actions/checkout: act runs this only when it cannot treat the step as a checkout of the triggering commit."""
    raise Refused(
        f"act copies the workspace only for a checkout of the triggering commit; this step asks for {inputs} "
        "(ref/repository/path are not supported offline)"
    )


def setup_uv(inputs: dict[str, str]) -> dict:
    """astral-sh/setup-uv v10: put uv on PATH; with python-version, that interpreter must exist here.

    `version` must be one exact release (X.Y.Z): the stand-in cannot resolve a range, `latest` or
    `latest-known`. It puts the machine's uv on PATH and records which version that is.
    """
    known = {
        "version": None,
        "python-version": None,
        "enable-cache": BOOLEAN | {"auto"},
        "cache-dependency-glob": None,
        "activate-environment": BOOLEAN,
    }
    _check("astral-sh/setup-uv", inputs, known, set())
    requested = inputs.get("version")
    if requested is not None and not EXACT_VERSION.fullmatch(requested):
        raise Refused(f"version {requested!r}: the stand-in installs one exact uv version (X.Y.Z), not a range")
    uv = os.environ.get("STANDINS_UV")
    if not uv or not Path(uv).is_file():
        raise Refused(f"STANDINS_UV must name the uv binary to put on PATH (got {uv!r})")
    provided = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.split()[1:2]
    if requested and provided != [requested]:
        print(f"::warning::setup-uv asks for uv {requested}; the stand-in provides {' '.join(provided) or '?'}")
    if inputs.get("enable-cache") == "true":
        glob_text = inputs.get("cache-dependency-glob", "**/uv.lock")
        if not _matches(glob_text):
            raise Refused(f"enable-cache: cache-dependency-glob {glob_text!r} matches no file in the workspace")
    python = inputs.get("python-version")
    if python:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", python], capture_output=True, text=True, check=False
        )
        if found.returncode != 0:
            raise Refused(f"python-version {python}: no such interpreter on this machine ({found.stderr.strip()})")
        _append("GITHUB_ENV", f"UV_PYTHON={python}")  # as setup-uv does
    _append("GITHUB_PATH", str(Path(uv).parent))
    return {
        "version": requested,
        "provided": provided[0] if provided else None,
        "python-version": python,
        "cache": inputs.get("enable-cache", "auto"),
    }


def upload_artifact(inputs: dict[str, str]) -> dict:
    """actions/upload-artifact v7: copy the matched files to $STANDINS_STATE/artifacts/<name>/ (archived uploads only)."""
    known = {
        "name": None,
        "path": None,
        "if-no-files-found": {"warn", "error", "ignore"},
        "retention-days": None,
        "compression-level": None,
        "overwrite": BOOLEAN,
        "include-hidden-files": BOOLEAN,
        "archive": BOOLEAN,
    }
    _check("actions/upload-artifact", inputs, known, {"path"})
    if inputs.get("archive") == "false":
        raise Refused("upload-artifact stand-in only makes archived (zipped) artifacts, not archive: false")
    name = inputs.get("name") or "artifact"
    days = inputs.get("retention-days", "0")
    if not days.isdigit() or not 0 <= int(days) <= 90:
        raise Refused(f"retention-days {days!r}: a whole number of days, 0 to 90")
    files = [f for f in _matches(inputs["path"]) if inputs.get("include-hidden-files") == "true" or not _hidden(f)]
    if not files:
        if inputs.get("if-no-files-found", "warn") == "error":
            raise Refused(
                f"no files were found with the provided path: {inputs['path']}. No artifacts will be uploaded."
            )
        return {"name": name, "files": []}
    target = _state() / "artifacts" / name
    if target.exists():
        if inputs.get("overwrite") != "true":
            raise Refused(f"an artifact named {name!r} already exists in this run (set overwrite: true to replace it)")
        shutil.rmtree(target)
    root = _search_root(inputs["path"])
    for file in files:
        destination = target / file.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
    return {"name": name, "files": sorted(str(f.relative_to(root)) for f in files)}


def download_artifact(inputs: dict[str, str]) -> dict:
    """actions/download-artifact v8, by name: copy $STANDINS_STATE/artifacts/<name>/ into `path`.

    The copy is exact, so `digest-mismatch` never applies; the stand-in always decompresses.
    """
    known = {
        "name": None,
        "path": None,
        "pattern": None,
        "merge-multiple": BOOLEAN,
        "github-token": None,
        "repository": None,
        "run-id": None,
        "artifact-ids": None,
        "skip-decompress": BOOLEAN,
        "digest-mismatch": {"ignore", "info", "warn", "error"},
    }
    _check("actions/download-artifact", inputs, known, {"name"})
    if inputs.get("skip-decompress") == "true":
        raise Refused("download-artifact stand-in always extracts the artifact, not skip-decompress: true")
    for unsupported in ("pattern", "merge-multiple", "github-token", "repository", "run-id", "artifact-ids"):
        if unsupported in inputs:
            raise Refused(
                f"download-artifact stand-in only downloads one artifact of this run by name, not {unsupported}"
            )
    source = _state() / "artifacts" / inputs["name"]
    if not source.is_dir():
        raise Refused(f"Artifact not found for name: {inputs['name']}")
    target = _workspace() / inputs.get("path", ".")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    for file in files:
        destination = target / file.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
    return {"name": inputs["name"], "files": [str(f.relative_to(source)) for f in files]}


def _search_root(patterns: str) -> Path:
    """The least common ancestor of the search paths (a glob's part before its first wildcard), as upload-artifact."""
    bases = []
    for pattern in filter(None, (p.strip() for p in patterns.splitlines())):
        parts = Path(pattern).parts
        plain = [p for p in itertools.takewhile(lambda part: not glob.has_magic(part), parts)]
        base = _workspace().joinpath(*plain)
        bases.append(base if base.is_dir() or len(plain) < len(parts) else base.parent)
    return Path(os.path.commonpath(bases))


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(_workspace()).parts)


def attest_build_provenance(inputs: dict[str, str]) -> dict:
    """actions/attest-build-provenance v4 (a wrapper of actions/attest): record each subject's name and sha256.

    Build provenance only (no signing offline): the custom-predicate inputs are refused.
    """
    known = {
        "subject-path": None,
        "subject-digest": None,
        "subject-name": None,
        "subject-checksums": None,
        "predicate-type": None,
        "predicate": None,
        "predicate-path": None,
        "push-to-registry": BOOLEAN,
        "create-storage-record": BOOLEAN,
        "show-summary": BOOLEAN,
        "github-token": None,
    }
    _check("actions/attest-build-provenance", inputs, known, set())
    custom = sorted({"predicate-type", "predicate", "predicate-path"} & set(inputs))
    if custom:
        raise Refused(f"attest-build-provenance stand-in only makes build provenance, not a custom predicate {custom}")
    if "subject-path" not in inputs:
        raise Refused("attest-build-provenance stand-in only understands subject-path subjects")
    subjects = _matches(inputs["subject-path"])
    if not subjects:
        raise Refused(f"subject-path {inputs['subject-path']!r} matches no file")
    recorded = [
        {"name": s.name, "path": str(s.relative_to(_workspace())), "sha256": hashlib.sha256(s.read_bytes()).hexdigest()}
        for s in subjects
    ]
    bundle_path = _state() / "attestation.jsonl"
    with bundle_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"subjects": recorded}) + "\n")
    _append("GITHUB_OUTPUT", f"bundle-path={bundle_path}")
    _append("GITHUB_OUTPUT", "attestation-id=standin")
    return {"subjects": recorded}


ACTIONS = {
    "actions/checkout": checkout,
    "astral-sh/setup-uv": setup_uv,
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
    "actions/attest-build-provenance": attest_build_provenance,
}


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else ""
    inputs = _inputs()
    entry = {"action": action, "inputs": inputs, "job": os.environ.get("GITHUB_JOB")}
    try:
        if action not in ACTIONS:
            raise Refused(f"no stand-in for action {action!r}")
        entry["did"] = ACTIONS[action](inputs)
    except Refused as refusal:
        entry["refused"] = str(refusal)
        print(f"::error::{refusal}", file=sys.stderr)
        _record(entry)
        return 1
    _record(entry)
    print(f"{action} stand-in: {json.dumps(entry['did'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
