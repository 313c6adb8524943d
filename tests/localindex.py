"""The library as a baked project gets it: a wheel built from this checkout, served by a real package index
(pypiserver) on loopback. A project resolves `modelkeel==X.Y.Z` from it through UV_INDEX, as it would from
the public index; nothing in the generated files names a path.

    python tests/localindex.py bake OUT [key=value ...]   bake OUT and install it against this checkout's library
                                                           (make bake; make demo); the answers may also come
                                                           whole in $BAKE_ANSWERS (make bake's ARGS)
    python tests/localindex.py lock                        re-lock the template's uv.lock (make lock): the
                                                           library as the public index will serve this wheel
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
LIBRARY = TEMPLATE / "library"
# the commit time of the checkout, or a fixed date: hatchling then builds the same bytes on every machine
FIXED_EPOCH = "315532800"


def library_version() -> str:
    return tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]["version"]


def uv() -> str:
    bootstrapped = TEMPLATE / ".tools" / "bin" / "uv"
    found = os.environ.get("UV") or (str(bootstrapped) if bootstrapped.is_file() else shutil.which("uv"))
    if not found:
        raise RuntimeError("uv is needed: run through make (it bootstraps uv into .tools/)")
    return found


def build_wheel(out: Path) -> Path:
    """The library's wheel, built reproducibly (SOURCE_DATE_EPOCH) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH}
    done = subprocess.run(
        [uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(LIBRARY)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the library's wheel failed:\n{done.stderr}")
    wheels = sorted(out.glob(f"modelkeel-{library_version()}-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one modelkeel {library_version()} wheel in {out}, found {wheels}")
    return wheels[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(packages: Path, *, uploads: bool = False) -> Iterator[str]:
    """pypiserver on loopback serving `packages`; yields its simple index URL. `uploads`: accept uploads
    without authentication (the release workflow's publish step under act uploads to it)."""
    server = Path(sys.executable).parent / "pypi-server"
    for _attempt in range(5):
        port = free_port()
        args = [str(server), "run", "-i", "127.0.0.1", "-p", str(port), "--disable-fallback"]
        args += ["--log-stream", "none"]
        if uploads:
            args += ["-a", ".", "-P", "."]
        process = subprocess.Popen([*args, str(packages)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}/simple/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        if process.poll() is None:
            break
    else:
        raise RuntimeError(f"pypiserver did not start: {process.stderr.read().decode() if process.stderr else ''}")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# index settings of the caller's machine (a mirror in uv.toml or the environment) must not reach a lock
FOREIGN_INDEX = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")


def clean_env(index: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_INDEX}
    return {**env, "UV": uv(), "UV_INDEX": index, "UV_PYTHON_DOWNLOADS": "never"}


def relock(project: Path, index: str) -> subprocess.CompletedProcess:
    """Resolve the project's modelkeel pin again, from `index` (UV_INDEX, which uv asks before the public
    index); every other package keeps its locked version. The shipped uv.lock names the file the public
    index will serve; until it does, this is the one step a test or `make bake` adds to a user's."""
    command = [uv(), "lock", "--upgrade-package", "modelkeel"]
    return subprocess.run(command, cwd=project, env=clean_env(index), capture_output=True, text=True, check=False)


def bake_and_install(out: Path, answers: dict[str, str]) -> Path:
    """`make bake`: bake into OUT (replaced), lock it against this checkout's library served on loopback,
    and `make install`. The index is gone afterwards: uv only checks what is already installed."""
    from cookiecutter.main import cookiecutter

    out = out.resolve()
    staging = out.parent / f".{out.name}.bake"
    shutil.rmtree(staging, ignore_errors=True)
    from cookiecutter.exceptions import CookiecutterException

    try:
        baked = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(staging), extra_context=answers))
    except CookiecutterException as error:  # a refused answer: the hook printed which one, and the accepted form
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"error: the template refused the answers {answers}: {error}") from None
    shutil.rmtree(out, ignore_errors=True)
    baked.rename(out)
    shutil.rmtree(staging, ignore_errors=True)
    wheels = TEMPLATE / "build" / "index"
    shutil.rmtree(wheels, ignore_errors=True)
    build_wheel(wheels)
    with serve(wheels) as index:
        for step in (relock, install):
            done = step(out, index)
            if done.returncode != 0:
                raise SystemExit(f"{step.__name__} of {out} failed:\n{done.stdout}\n{done.stderr}")
    return out


def install(project: Path, index: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "install"], cwd=project, env=clean_env(index), capture_output=True, text=True, check=False
    )


PUBLIC_INDEX = "https://pypi.org/simple"
PUBLIC_FILES = "https://files.pythonhosted.org/packages"


def public_url(wheel: Path) -> str:
    """Where the public index serves a file: its path is the file's BLAKE2b-256 digest split 2/2/60."""
    digest = hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()
    return f"{PUBLIC_FILES}/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{wheel.name}"


def as_published(lock: str, index: str, wheel: Path) -> str:
    """A lock resolved against the local index, as it reads once this exact wheel is on the public index
    (hatchling builds it reproducibly: the same sources give the same bytes, so the hash holds)."""
    base = index.removesuffix("/simple/")
    local_wheel = f"{base}/packages/{wheel.name}"
    if local_wheel not in lock or f'registry = "{index}"' not in lock:
        raise RuntimeError(f"the lock does not take {wheel.name} from {index}")
    lock = lock.replace(f'{{ url = "{local_wheel}", hash = ', f'{{ url = "{public_url(wheel)}", hash = ')
    lock = lock.replace(
        f'hash = "sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}" }}',
        f'hash = "sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}", size = {wheel.stat().st_size} }}',
    )
    return lock.replace(f'registry = "{index}"', f'registry = "{PUBLIC_INDEX}"')


def lock_template() -> Path:
    """`make lock`: the generated project's uv.lock, resolved with this checkout's library, as published."""
    from cookiecutter.main import cookiecutter

    work = TEMPLATE / "build" / "lock"
    shutil.rmtree(work, ignore_errors=True)
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(work / "bake")))
    wheel = build_wheel(work / "index")
    with serve(work / "index") as index:
        done = relock(project, index)
        if done.returncode != 0:
            raise SystemExit(f"uv lock failed:\n{done.stderr}")
        text = as_published((project / "uv.lock").read_text(), index, wheel)
    target = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"
    target.write_text(text.replace('"my-ml-project"', '"{{ cookiecutter.project_slug }}"'))
    shutil.rmtree(work, ignore_errors=True)
    return target


ANSWER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def parse_answers(text: str) -> dict[str, str]:
    """`key=value ...` as a shell would split it (quotes kept together); a word without `=` continues the
    answer before it, so `project_name=My Model runs_on=self-hosted, linux` needs no quotes at all."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unpaired quote, as in an apostrophe of a name: split on spaces only
        words = text.split()
    answers: dict[str, str] = {}
    key = None
    for word in words:
        found = ANSWER.match(word)
        if found:
            key = found.group(1)
            answers[key] = found.group(2)
        elif key is None:
            raise ValueError(f"{word!r}: answers are key=value, with cookiecutter.json's keys (e.g. task=regression)")
        else:
            answers[key] += " " + word
    return answers


def main(argv: list[str]) -> int:
    if argv == ["lock"]:
        print(f"locked: {lock_template()}")
        return 0
    if len(argv) < 2 or argv[0] != "bake":
        print(__doc__, file=sys.stderr)
        return 2
    try:
        answers = parse_answers(" ".join([os.environ.get("BAKE_ANSWERS", ""), *(shlex.quote(a) for a in argv[2:])]))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    project = bake_and_install(Path(argv[1]), answers)
    print(f"baked and installed: {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
