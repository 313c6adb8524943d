import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import bake, make


@pytest.fixture(scope="session")
def installed_default(tmp_path_factory) -> Path:
    """The default bake, installed with its locked environment (shared by the tests that only read it)."""
    project = bake(tmp_path_factory.mktemp("default"))
    done = make(project, "install")
    assert done.returncode == 0, done.stderr
    return project
