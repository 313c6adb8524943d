"""`rebuild VERSION`: train a release again from its data manifest and say whether the model is the same.

1. The release is fetched from the registry like any download (checksums, and its signature when a signer is
   named), and its data manifest read (checked against the sha256 lineage.json records).
2. The release's commit (lineage.json; another one only with `--commit`) is checked out into a temporary git
   worktree, so the params, the contract and `model.py` are the release's, not the working tree's.
3. Every file the manifest names comes back from the data store (`data_store.url`), each checked against its
   sha256 and size, to the path lineage names it by, inside that worktree.
4. A child process of this interpreter runs the whole pipeline there (every gate), importing the project's
   package from the worktree: the files training reads are exactly the manifest's, in its order; a loop
   release gets the loop's data.path window, held-out batches, version and lineage, as its run had them.
5. `identical` when the rebuilt model.onnx is the released one byte for byte; else each difference found
   (model, metrics, params, data, environment, lock file, uncommitted changes at release).

The report is printed and written to `artifacts/rebuild/<version>.json`, the rebuilt bundle to
`artifacts/rebuild/<version>/`. The worktree is always removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..bundle import layout
from ..bundle.reader import Bundle
from ..errors import ObjectNotFound, PipelineError, RebuildError
from ..settings import Settings
from ..utils import atomic
from ..utils.console import say
from ..utils.hashing import sha256_file

REBUILD_DIR = "rebuild"
CHILD_TIMEOUT_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Rebuilt:
    version: str
    commit: str
    released_sha256: str
    rebuilt_sha256: str | None
    differences: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    bundle: str | None = None

    @property
    def identical(self) -> bool:
        return self.rebuilt_sha256 == self.released_sha256

    def as_json(self) -> dict:
        return {
            "version": self.version,
            "commit": self.commit,
            "identical": self.identical,
            "released_model_sha256": self.released_sha256,
            "rebuilt_model_sha256": self.rebuilt_sha256,
            "differences": list(self.differences),
            "notes": list(self.notes),
            "bundle": self.bundle,
        }

    def describe(self) -> str:
        head = f"rebuild {self.version} at {self.commit[:12]}: "
        if self.identical:
            lines = [head + "identical (model.onnx byte for byte)"]
        else:
            lines = [head + "differs"] + [f"  - {d}" for d in self.differences]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _git(root: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RebuildError(f"git {' '.join(args)}: {error}") from None
    if check and done.returncode != 0:
        raise RebuildError(f"git {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip() if done.returncode == 0 else ""


def resolve_commit(root: Path, lineage: dict, asked: str | None) -> str:
    """The commit to rebuild on: `asked` (any ref), else the release's; it must be in this clone."""
    recorded = (lineage.get("git") or {}).get("commit")
    wanted = asked or recorded
    if not wanted or wanted == "unknown":
        raise RebuildError(
            "the release does not name the commit it was built from (it was built outside git): pass --commit REF"
        )
    if not _git(root, "rev-parse", "--is-inside-work-tree", check=False):
        raise RebuildError(f"{root} is not in a git repository: rebuild checks out the release's commit")
    found = _git(root, "rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}", check=False)
    if not found:
        raise RebuildError(
            f"the commit {wanted} is not in this clone: fetch it (git fetch origin {wanted}, or a full clone: "
            "actions/checkout with fetch-depth: 0), or pass --commit REF to rebuild on another commit"
        )
    return found


def restore_data(settings: Settings, manifest, tree_root: Path) -> None:
    """Every file of the manifest from the data store, checked, at its lineage path inside the worktree."""
    from ..data.files import SUPPORTED_SUFFIXES
    from ..data.manifest import forgotten, safe_relative
    from ..data.store import DataStore

    store = DataStore(settings.data_store_url)
    inside = tree_root.resolve()
    for entry in manifest.files:
        relative = safe_relative(entry.path)
        if relative is None:
            raise RebuildError(
                f"the manifest names {entry.path[:200]!r}, a path outside the project: rebuild restores data only "
                "inside the project (keep training data under the project folder, or behind a URL)"
            )
        # data files only, never code or settings the child would run (src/, *.py, params.yaml)
        if relative.suffix.lower() not in SUPPORTED_SUFFIXES or (relative.parts and relative.parts[0] == "src"):
            raise RebuildError(
                f"the manifest names {entry.path[:200]!r}, which is no data file ({', '.join(SUPPORTED_SUFFIXES)} "
                "outside src/): refused, so a manifest can never put code into the rebuild"
            )
        dest = tree_root / relative
        if not dest.parent.resolve().is_relative_to(inside) or dest.is_symlink():
            raise RebuildError(f"{entry.path[:200]!r} leads outside the rebuild's worktree (a symlink): refused")
        try:
            store.get(entry.sha256, dest, size=entry.bytes)
        except ObjectNotFound:
            gone = forgotten(store, entry.sha256)
            if gone is not None:
                raise RebuildError(
                    f"{entry.path} (sha256 {entry.sha256}) was removed from the data store by `forget` "
                    f"({gone.get('reason') or 'no reason recorded'}, {gone.get('removed_at') or 'date unknown'}): "
                    f"{manifest.name} {manifest.version} can no longer be rebuilt"
                ) from None
            raise RebuildError(
                f"{entry.path} (sha256 {entry.sha256}) is not in the data store {store.url}: the release's data "
                "was never stored there (data_store.url at release time?), or it was removed"
            ) from None
    say(f"rebuild: {len(manifest.files)} file(s) back from the data store {store.url}, each checked")


def child_spec(release: Bundle, manifest, tree_root: Path, out: Path) -> dict:
    """What the child process needs to run the release's pipeline in the worktree."""
    lineage = release.lineage
    trained = manifest.trained_on
    spec: dict = {
        "params": str(tree_root / "params.yaml"),
        "version": release.version,
        "out": str(out),
        "data_files": [[f.path, f.url] for f in trained],
    }
    retrain = lineage.get("retrain")
    if retrain:  # a loop release: the window the challenger trained on, its held-out batches, its lineage
        batches = [f for f in trained if f.role == "batch"]
        spec["loop"] = {
            "data_path": lineage["params"]["data"]["path"],
            "lineage_extra": {"retrain": retrain},
            "test_pool": [f.path for f in batches if f.held_out],
            "batch_files": [f.path for f in batches],
            "data_urls": {f.path: f.url for f in batches if f.url},
        }
    return spec


def run_child(spec: dict, tree_root: Path, package: str) -> dict:
    """Run `train_in_child` in a fresh interpreter, the worktree's src/ first on the import path."""
    spec_path = Path(spec["out"]) / "spec.json"
    atomic.write_text(spec_path, json.dumps(spec))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tree_root / "src"), os.environ.get("PYTHONPATH")])),
    }
    env["MODELKEEL_REBUILD_PACKAGE"] = package
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the worktree is the release's commit: nothing written into it but the data
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelkeel.stages.rebuild", str(spec_path)],
            cwd=tree_root,
            env=env,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RebuildError(f"the rebuild's pipeline ran longer than {CHILD_TIMEOUT_SECONDS // 3600} hours") from None
    result_path = Path(spec["out"]) / "result.json"
    if done.returncode != 0 or not result_path.is_file():
        raise RebuildError(
            f"the release's pipeline failed on its own data at its commit (exit {done.returncode}; its output is "
            "above): the release cannot be rebuilt as it is"
        )
    return json.loads(result_path.read_text(encoding="utf-8"))


def train_in_child(spec: dict) -> None:
    """The child's half: the release's settings, exactly the manifest's files, the whole pipeline."""
    from ..project import import_module
    from ..settings import PathSettings, load_settings
    from ..stages.pipeline import run_pipeline

    settings = load_settings(spec["params"])
    out = Path(spec["out"])
    update: dict = {
        "paths": PathSettings(artifacts=str(out / "artifacts"), dist=str(out / "dist")),
        "model_version": spec["version"],
        "data_files": tuple((path, url) for path, url in spec["data_files"]),
    }
    loop = spec.get("loop")
    if loop:
        path = loop["data_path"]
        update |= {
            "data": settings.data.model_copy(update={"path": path if isinstance(path, str) else tuple(path)}),
            "lineage_extra": loop["lineage_extra"],
            "test_pool": tuple(loop["test_pool"]),
            "batch_files": tuple(loop["batch_files"]),
            "data_urls": loop["data_urls"] or None,
        }
    settings = settings.model_copy(update=update)
    imported = Path(import_module(settings, "model").__file__ or "").resolve()
    if not imported.is_relative_to(settings.root.resolve()):
        raise RebuildError(
            f"the project's model.py was imported from {imported}, not from the release's commit: "
            "the package must not be installed in a way that shadows PYTHONPATH"
        )
    verified = run_pipeline(settings)
    atomic.write_text(
        out / "result.json",
        json.dumps({"bundle": str(verified.bundle.folder), "params_hash": settings.params_hash()}),
    )


def differences(release: Bundle, rebuilt: Path) -> tuple[list[str], list[str]]:
    """What differs between the release and the rebuilt bundle (their lineage, metrics, model), and notes."""
    from ..bundle.lineage import environment

    old = release.lineage
    new = json.loads((rebuilt / layout.LINEAGE).read_text(encoding="utf-8"))
    found, notes = [], []
    if old["model"]["sha256"] != new["model"]["sha256"]:
        found.append(f"model.onnx: sha256 {new['model']['sha256']}, released {old['model']['sha256']}")
    for key, what in (("params_hash", "params hash"),):
        if old.get(key) != new.get(key):
            found.append(f"{what}: {new.get(key)}, released {old.get(key)}")
    if old["data"]["fingerprint"] != new["data"]["fingerprint"]:
        found.append(f"data fingerprint: {new['data']['fingerprint']}, released {old['data']['fingerprint']}")
    metric = old["metrics"]["primary_metric"]
    was, now = old["metrics"]["test"].get(metric), new["metrics"]["test"].get(metric)
    if was != now:
        found.append(f"test {metric}: {now}, released {was}")
    if old.get("lock_sha256") != new.get("lock_sha256"):
        found.append("uv.lock at the commit differs from the lock the release was built with")
    current = environment(old["params"]["model"]["type"])
    recorded = old.get("environment", {})
    if recorded.get("python") != current["python"]:
        notes.append(f"python {current['python']} here, {recorded.get('python')} at release")
    for name, version in recorded.get("packages", {}).items():
        if current["packages"].get(name) != version:
            notes.append(f"{name} {current['packages'].get(name)} here, {version} at release")
    compute = old.get("compute") or {}
    if compute.get("engine") == "dask":
        notes.append(
            f"trained on a Dask cluster of {compute.get('workers', '?')} worker(s): the model is the same byte for "
            "byte only on a cluster of the same shape (as many workers, with the same names: a LocalCluster of "
            "that many), with no worker lost during training; on another, expect another model as good: compare "
            "the metrics above"
        )
    if old.get("git", {}).get("dirty"):
        notes.append("the release was built with uncommitted changes: its commit alone may not hold its code")
    if found and notes:
        found.append("the environment differs (notes below): install the release's uv.lock to compare like for like")
    return found, notes


def rebuild(settings: Settings, release: Bundle, commit: str | None = None) -> Rebuilt:
    """Train `release` again from its manifest on its commit (see the module docstring)."""
    from ..data.manifest import of_bundle

    manifest = of_bundle(release.folder, release.lineage)
    if manifest is None:
        raise RebuildError(
            f"{release.lineage.get('name')} {release.version} has no data manifest (made before modelkeel 2.0): its data was "
            "fingerprinted but not kept, so it cannot be rebuilt"
        )
    sha = resolve_commit(settings.root, release.lineage, commit)
    top = Path(_git(settings.root, "rev-parse", "--show-toplevel"))
    inside = settings.root.resolve().relative_to(top.resolve())
    target = settings.artifacts_dir / REBUILD_DIR
    scratch = Path(tempfile.mkdtemp(prefix=f"rebuild-{release.version}-"))
    tree = scratch / "tree"
    try:
        _git(settings.root, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        tree_root = tree / inside
        if not (tree_root / "params.yaml").is_file():
            raise RebuildError(f"the commit {sha[:12]} has no {inside / 'params.yaml'}: not this project's commit")
        restore_data(settings, manifest, tree_root)
        out = scratch / "out"
        out.mkdir()
        result = run_child(child_spec(release, manifest, tree_root, out), tree_root, settings.package)
        built = Path(result["bundle"])
        found, notes = differences(release, built)
        kept = target / release.version
        shutil.rmtree(kept, ignore_errors=True)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(built, kept)
        rebuilt = Rebuilt(
            release.version,
            sha,
            release.lineage["model"]["sha256"],
            sha256_file(built / layout.MODEL),
            tuple(found),
            tuple(notes),
            str(kept),
        )
    finally:
        _git(settings.root, "worktree", "remove", "--force", str(tree), check=False)
        _git(settings.root, "worktree", "prune", check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    atomic.write_text(target / f"{release.version}.json", json.dumps(rebuilt.as_json(), indent=2) + "\n")
    return rebuilt


if __name__ == "__main__":  # the child process of `run_child`
    try:
        train_in_child(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
