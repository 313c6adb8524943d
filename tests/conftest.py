import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import bake, make
from localindex import build_wheel, serve


@pytest.fixture(scope="session", autouse=True)
def library_index(tmp_path_factory) -> str:
    """This checkout's library, built as a wheel and served by pypiserver on loopback, for the whole session.

    UV_INDEX names it to every uv command the tests start (baked projects' make targets, act's steps): a
    project resolves `modelkeel==X.Y.Z` from it as it would from the public index.
    """
    packages = tmp_path_factory.mktemp("index")
    build_wheel(packages)
    with serve(packages) as url:
        os.environ["UV_INDEX"] = url
        yield url
    os.environ.pop("UV_INDEX", None)


def pytest_collection_modifyitems(items):
    """The longest tests first, by their `long(minutes)` marker; the rest keep their order.

    With `--maxschedchunk=1` (the Makefile's PYTEST_ARGS) xdist hands each worker its next test only when it
    has fewer than two queued, so the long ones start at once on both workers and the short ones fill the end:
    by default it hands out a quarter of the suite in one chunk, and one worker got every long test.
    """

    def minutes(item) -> float:
        marker = item.get_closest_marker("long")
        return float(marker.args[0]) if marker else 0.0

    items.sort(key=minutes, reverse=True)


@pytest.fixture(scope="session")
def installed_default(tmp_path_factory) -> Path:
    """The default bake, installed with its locked environment, shared by the tests that use it.

    Tests may run its pipeline (dist/<bundle>) and test_runtime_install adds dist/wheel and dist/image; none edits
    its params, data or code, so the tests sharing it pass in any order.
    """
    project = bake(tmp_path_factory.mktemp("default"))
    done = make(project, "install")
    assert done.returncode == 0, done.stderr
    return project
