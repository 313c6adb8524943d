import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import bake, make


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
