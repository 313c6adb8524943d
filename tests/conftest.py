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


# The longest tests first (each installs a project and runs its pipeline and suite): xdist hands tests out in
# collection order, so a long test collected last would keep one worker busy while the other idles.
LONGEST_FIRST = (
    "test_your_own_data_goes_from_infer_schema_to_a_green_pipeline_test_suite_and_loop[houses]",
    "test_your_own_data_goes_from_infer_schema",
    "test_push_to_main_runs_ci_green",
    "test_pipeline_and_project_tests_pass_for_each_task_and_model",
    "test_scheduled_retraining_promotes",
    "test_every_make_target_a_user_is_told_about_works",
    "test_bench_writes_the_table_and_the_json",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        for i, prefix in enumerate(LONGEST_FIRST):
            if item.name.startswith(prefix):
                return i
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)
