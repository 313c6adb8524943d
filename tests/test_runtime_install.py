"""The serving image's install and start command, run without a container engine.

No container engine runs on these machines: the image is built only on GitHub, by the `image` job of
release.yml. These tests read the generated Dockerfile (tests/standins/dockerfile.py) and do what a
build and a `docker run` of it would, in a plain virtual environment under a stand-in root folder:

- the build context is laid out as the workflow lays it (`make wheel`; the bundle published, then
  downloaded and verified into dist/image/<version>/ as `make image-bundle` does, from a folder
  registry instead of GitHub Releases), and every COPY from it lands at <root><destination>, only
  what .dockerignore admits; `COPY --from=uv` becomes the machine's uv in <root>/usr/local/bin, next
  to the project's interpreter as `python` (the base image's /usr/local/bin);
- the build stage's RUN commands run as written, by /bin/sh with the stage's ARG and ENV values, in
  an empty folder (no params.yaml, as in the image); every absolute path the Dockerfile makes (/opt,
  /build, /srv) is moved under <root>;
- the final stage's ENTRYPOINT + CMD run from its WORKDIR with its ENV, 127.0.0.1 for 0.0.0.0 and a
  free port for the one it EXPOSEs; its HEALTHCHECK command runs against it; its STOPSIGNAL stops it.

When the Dockerfile's commands change, these tests run the new ones. Not proven here: the base image
(its Python is this machine's interpreter of the same minor version), the non-root user (the
folders are the test's own), and the build and push themselves (GitHub only).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import bake, cli_as, explain, key_pair, make, package_name, uv_binary
from localindex import free_port
from standins import dockerfile

pytestmark = pytest.mark.slow

ROOTED = re.compile(r"(?<![\w.~-])/(?=(?:opt|build|srv)(?:/|\b))")  # the absolute paths the Dockerfile makes
TRAINING_MODULES = ("sklearn", "skl2onnx", "matplotlib", "scipy", "joblib", "lightgbm", "xgboost", "onnxmltools")


def inside(root: Path, text: str) -> str:
    return ROOTED.sub(f"{root}/", text)


@dataclass
class Image:
    project: Path
    root: Path
    package: str
    version: str
    final: dockerfile.Stage
    global_args: dict
    build_args: dict

    @property
    def venv(self) -> Path:
        return self.root / "opt" / "venv"

    @property
    def bundle(self) -> Path:
        return self.root / "srv" / "model"

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess:
        return self.run([str(self.venv / "bin" / "python"), "-c", code, *args])

    def run(self, command: list[str]) -> subprocess.CompletedProcess:
        """A command as the final stage runs it: from its WORKDIR's stand-in, with its ENV."""
        return subprocess.run(
            command,
            cwd=self.root / "empty",
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def env(self) -> dict[str, str]:
        """The final stage's environment (ENV, ARG) over this machine's, the image's paths under the root."""
        base = {"PATH": f"{self.root}/usr/local/bin:/usr/bin:/bin"}
        values = dockerfile.stage_values(self.global_args, self.final, self.build_args, base_env=base)
        return {**clean_environ(), **{k: v for k, v in values.items() if v is not None}}


def clean_environ() -> dict[str, str]:
    drop = {"VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "CONDA_PREFIX"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def copy_from_context(root: Path, context: Path, spec: dockerfile.Copy, ignore: dockerfile.DockerIgnore) -> None:
    """COPY src... dest from the build context, as Docker does: a folder's contents, a file into dest/ (or as dest)."""
    dest = Path(spec.dest)
    for source in spec.sources:
        matches = sorted(context.glob(source.rstrip("/")))
        assert matches, f"COPY {source}: not in the build context {context}"
        for match in matches:
            if match.is_dir():
                for path in sorted(p for p in match.rglob("*") if p.is_file()):
                    if not ignore.excluded(path.relative_to(context).as_posix()):
                        target = dest / path.relative_to(match)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, target)
            else:
                assert not ignore.excluded(match.relative_to(context).as_posix()), f"{match} is .dockerignored"
                target = dest / match.name if spec.dest.endswith("/") else dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(match, target)
    assert str(dest).startswith(str(root)), f"COPY to {spec.dest}: teach ROOTED about this folder"


def built_image(project: Path, tmp: Path) -> Image:
    """Make the build context, then run the Dockerfile's build stage under tmp/root; the final stage to run."""
    for target in ("pipeline", "wheel"):
        done = make(project, target)
        assert done.returncode == 0, f"make {target}\n{explain(done)}"
    version = tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]
    # make image-bundle, from a folder registry: the release's bundle, downloaded and verified into dist/image/
    registry, dest = tmp / "registry", project / "dist" / "image"
    shutil.rmtree(dest, ignore_errors=True)
    # offline, a key pair signs (the default signer, the release workflow, signs keylessly in Actions); a copy of
    # the bundle is published, as publishing signs it and the shared project's own build stays as built
    public, private = key_pair(tmp / "keys")
    bundle = tmp / "bundle" / f"my-ml-project-{version}"
    shutil.copytree(project / "dist" / bundle.name, bundle)
    signer = ["--url", str(registry), "--signer-key", str(public)]
    for args in (["publish", str(bundle)], ["download", "--version", version, "--dest", str(dest)]):
        done = cli_as(project, *args, *signer, env={"MODEL_SIGNING_KEY": private})
        assert done.returncode == 0, explain(done)

    root = tmp / "root"
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (root / "empty").mkdir()
    interpreter = shutil.which(f"python{project.joinpath('.python-version').read_text().strip()}")
    assert interpreter, "the project's Python version is not installed here"
    (root / "usr" / "local" / "bin" / "python").symlink_to(interpreter)

    text = inside(root, (project / "Dockerfile").read_text())
    global_args, stages = dockerfile.parse(text)
    names = {stage.name: stage for stage in stages if stage.name}
    build, final = names["build"], stages[-1]
    build_args = {"VERSION": version}  # the one build-arg release.yml gives (the metadata action's version)
    assert dockerfile.declared_args(global_args, stages) == set(build_args)
    ignore = dockerfile.DockerIgnore.of(project)
    base = {"PATH": f"{root}/usr/local/bin:/usr/bin:/bin"}
    ran = 0
    for instruction in build.instructions:
        values = dockerfile.stage_values(global_args, build, build_args, instruction, base)
        if instruction.keyword == "COPY":
            spec = dockerfile.copy(instruction, values)
            if spec.stage is None:
                copy_from_context(root, project, spec, ignore)
                continue
            assert names[spec.stage].base.startswith("ghcr.io/astral-sh/uv:") and spec.sources == ("/uv",), (
                f"line {instruction.line}: the test knows COPY --from=uv /uv only"
            )
            (root / "usr" / "local" / "bin" / "uv").symlink_to(uv_binary())
        elif instruction.keyword == "RUN":
            env = {**clean_environ(), **{k: v for k, v in values.items() if v is not None}}
            done = subprocess.run(
                ["/bin/sh", "-c", instruction.args],
                cwd=root / "empty",
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert done.returncode == 0, f"RUN at Dockerfile line {instruction.line}\n{explain(done)}"
            ran += 1
        else:
            assert instruction.keyword in ("ARG", "ENV"), f"build stage: teach the test {instruction.keyword}"
    assert ran, "the build stage runs nothing"
    for instruction in final.all("COPY"):
        spec = dockerfile.copy(instruction, {})
        assert spec.stage == "build" and all(s == spec.dest for s in spec.sources), (
            f"line {instruction.line}: the final stage copies only what the build stage made, to the same place"
        )
        assert Path(spec.dest).exists(), f"{spec.dest}: the build stage did not make it"
    return Image(project, root, package_name(project), version, final, global_args, build_args)


@pytest.fixture(scope="module")
def image(installed_default, tmp_path_factory) -> Image:
    return built_image(installed_default, tmp_path_factory.mktemp("image"))


def test_the_dockerfile_builds_on_the_pinned_uv_and_the_projects_python_and_runs_unprivileged(tmp_path):
    project = bake(tmp_path, python_version="3.12")
    uv_stage, build, final = dockerfile.parse((project / "Dockerfile").read_text())[1]
    versions = set()
    for name in ("ci.yml", "release.yml", "retrain.yml"):
        doc = yaml.safe_load((project / ".github" / "workflows" / name).read_text())
        for job in doc["jobs"].values():
            versions |= {s["with"]["version"] for s in job.get("steps", []) if "setup-uv@" in s.get("uses", "")}
    assert uv_stage.base == f"ghcr.io/astral-sh/uv:{versions.pop()}" and not versions, "one uv, as in the workflows"
    assert build.base == final.base == "python:3.12-slim-trixie", "both stages on the project's Python"
    user = final.last("USER").args
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"USER {user}: a numeric non-root user and group"
    assert not [i for i in final.all("COPY") if "--from=uv" in i.args], "no uv in the served image"
    assert final.last("STOPSIGNAL").args == "SIGTERM"
    assert dockerfile.exec_form(final.last("ENTRYPOINT")) == [package_name(project), "serve"]
    ignore = dockerfile.DockerIgnore.of(project)
    assert not ignore.excluded("dist/wheel/my_ml_project-0.1.0-py3-none-any.whl")
    assert not ignore.excluded("dist/image/0.1.0/model.onnx")
    for kept_out in (
        "src/my_ml_project/cli/main.py",
        ".venv/bin/python",
        ".git/config",
        "params.yaml",
        "dist/x.tar.gz",
    ):
        assert ignore.excluded(kept_out), f"{kept_out} must stay out of the build context"


def test_the_image_environment_holds_the_runtime_only_and_scores(image, tmp_path):
    code = "import importlib.util, sys; print([m for m in sys.argv[1:] if importlib.util.find_spec(m)])"
    done = image.python(code, *TRAINING_MODULES)
    assert done.returncode == 0 and done.stdout.strip() == "[]", f"training libraries in the image\n{explain(done)}"

    score = (
        "import json, sys\n"
        "import pandas as pd\n"
        "from modelkeel.runtime.model import load_model\n"
        "model = load_model(path=sys.argv[1], allow_unsigned=True)\n"
        "rows = json.loads(open(sys.argv[1] + '/input_example.json').read())['rows']\n"
        "out = model.predict(pd.DataFrame.from_records(rows))\n"
        "print(json.dumps({'version': model.version, 'rows': len(out), 'columns': list(out.columns)}))\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TRAINING_MODULES!r}))\n"
    )
    done = image.python(score, str(image.bundle))
    assert done.returncode == 0, explain(done)
    scored, imported = done.stdout.strip().splitlines()
    scored = json.loads(scored)
    examples = json.loads((image.bundle / "input_example.json").read_text())["rows"]
    assert scored["version"] == image.version and scored["rows"] == len(examples), scored
    assert "prediction" in scored["columns"] and any(c.startswith("probability_") for c in scored["columns"])
    assert imported == "[]"

    out = tmp_path / "scored.csv"
    samples = image.project / "data" / "samples" / "penguins_2009.csv"
    command = [str(image.venv / "bin" / image.package), "predict", "--bundle", str(image.bundle)]
    # signed, but no signer named: nothing to check it against, so it is not used
    done = image.run([*command, "--input", str(samples), "--output", str(out)])
    assert done.returncode != 0 and "no signer is configured" in done.stderr and not out.exists(), explain(done)
    # the image holds no `signing` extra: the bundle was checked when it was downloaded
    done = image.run([*command, "--allow-unsigned", "--input", str(samples), "--output", str(out)])
    assert done.returncode == 0 and "scored 120 rows" in done.stdout and "not checked" in done.stdout, explain(done)
    assert (
        out.read_text()
        .splitlines()[0]
        .endswith("prediction,probability_Adelie,probability_Chinstrap,probability_Gentoo")
    )


def request(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_image_command_serves_is_healthy_and_stops_cleanly_on_its_stop_signal(image, tmp_path):
    final = image.final
    exposed = final.last("EXPOSE").args
    port = str(free_port())
    started = [
        {"0.0.0.0": "127.0.0.1", exposed: port}.get(word, word)
        for word in dockerfile.exec_form(final.last("ENTRYPOINT")) + dockerfile.exec_form(final.last("CMD"))
    ]
    assert "127.0.0.1" in started and port in started, f"CMD listens on 0.0.0.0:{exposed}: {started}"
    env = image.env()
    started[0] = shutil.which(started[0], path=env["PATH"]) or started[0]
    assert started[0] == str(image.venv / "bin" / image.package), "the entrypoint is the environment's console script"
    workdir = Path(final.last("WORKDIR").args)
    assert workdir.is_dir() and not (workdir / "params.yaml").exists()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(started, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"serve exited {server.returncode}\n{log.read_text()[-6000:]}"
            try:
                if request(f"{base}/health/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"not ready within 90 s\n{log.read_text()[-6000:]}"
            time.sleep(0.25)

        options, check = dockerfile.healthcheck(final.last("HEALTHCHECK"))
        assert float(options["timeout"].rstrip("s")) <= 30 and check[0] == "python"
        health = [word.replace(f":{exposed}/", f":{port}/") for word in check]
        assert any(f":{port}/health/ready" in word for word in health), health
        done = subprocess.run(health, env=env, cwd=workdir, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, f"the image's HEALTHCHECK fails on a ready server\n{explain(done)}"

        rows = json.loads((image.bundle / "input_example.json").read_text())["rows"]
        status, headers, body = request(f"{base}/predict", json.dumps(rows).encode())
        assert status == 200, body
        answer = json.loads(body)
        assert answer["version"] == image.version and answer["rows"] == len(rows), answer
        assert {k.lower(): v for k, v in headers.items()}["x-model-version"] == image.version
        assert {k.lower(): v for k, v in headers.items()}["x-model-signature"] == "not-checked", "CMD says so"
        assert all("prediction" in p and "probability_Adelie" in p for p in answer["predictions"])
        status, _, body = request(f"{base}/predict", json.dumps([{"island": "Atlantis"}]).encode())
        assert 400 <= status < 500 and "detail" in json.loads(body), (status, body)
    finally:
        server.send_signal(signal.Signals[final.last("STOPSIGNAL").args])
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, f"serve exited {code} on {final.last('STOPSIGNAL').args}\n{log.read_text()[-6000:]}"


@pytest.mark.long(2)
def test_one_install_of_the_library_verifies_scores_and_serves_any_projects_bundle(installed_default, tmp_path):
    """`pip install modelkeel` and nothing of the projects: the bundle describes itself (its contract, its
    signature, its classes), so one runtime serves a classification and a regression project's models."""
    regression = bake(tmp_path / "regression", task="regression", model="lightgbm", primary_metric="rmse")
    bundles = {}
    for project in (installed_default, regression):
        for target in ("install", "pipeline"):
            done = make(project, target)
            assert done.returncode == 0, f"make {target}\n{explain(done)}"
        (bundles[project.parent.name],) = [p for p in (project / "dist").iterdir() if p.is_dir() and "-" in p.name]
    venv = tmp_path / "runtime"
    done = subprocess.run([uv_binary(), "venv", "--quiet", str(venv)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, explain(done)
    python = venv / "bin" / "python"
    spec = f"modelkeel=={tomllib.loads((installed_default / 'pyproject.toml').read_text())['project']['dependencies'][0].split('==')[1]}"
    done = subprocess.run(  # from the index, as a consumer would: UV_INDEX is the session's local index
        [uv_binary(), "pip", "install", "--quiet", "--python", str(python), spec],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, explain(done)
    done = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])",
            *TRAINING_MODULES,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "[]", f"the runtime install holds training libraries: {done.stdout}"
    modelkeel = venv / "bin" / "modelkeel"
    empty = tmp_path / "empty"
    empty.mkdir()
    for bundle in bundles.values():
        done = subprocess.run(
            [str(modelkeel), "verify", str(bundle)], cwd=empty, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0 and "OK" in done.stdout, explain(done)
        out = tmp_path / f"{bundle.name}.csv"
        rows = pd_rows(bundle)
        source = tmp_path / f"{bundle.name}-input.csv"
        source.write_text(rows)
        out.unlink(missing_ok=True)  # both projects' bundles are my-ml-project-0.1.0
        command = [str(modelkeel), "predict", "--bundle", str(bundle), "--input", str(source), "--output", str(out)]
        done = subprocess.run(command, cwd=empty, capture_output=True, text=True, check=False)
        assert done.returncode != 0 and "unsigned" in done.stderr and not out.exists(), "another's unsigned build"
        done = subprocess.run([*command, "--allow-unsigned"], cwd=empty, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "scored" in done.stdout and "--allow-unsigned" in done.stdout, explain(done)
        header = out.read_text().splitlines()[0]
        assert header.split(",")[-1].startswith("probability_") or header.endswith("prediction"), header
    served = bundles["regression"]
    port = str(free_port())
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(modelkeel), "serve", "--bundle", str(served), "--allow-unsigned", "--port", port],
            cwd=empty,
            stdout=output,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-4000:]
            try:
                if request(f"http://127.0.0.1:{port}/health/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.25)
        rows = json.loads((served / "input_example.json").read_text())["rows"]
        status, _, body = request(f"http://127.0.0.1:{port}/predict", json.dumps(rows).encode())
        assert status == 200 and json.loads(body)["rows"] == len(rows), body
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def pd_rows(bundle: Path) -> str:
    """The bundle's input example as CSV text (the rows a consumer of that model sends)."""
    rows = json.loads((bundle / "input_example.json").read_text())["rows"]
    columns = list(rows[0])
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join("" if row[c] is None else str(row[c]) for c in columns))
    return "\n".join(lines) + "\n"
