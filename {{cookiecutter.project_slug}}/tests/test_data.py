"""Your data's safeguards: the contract (schemas/) accepts the training data and refuses rows that break it.

The broken rows are made from your own rows and your own contract, so these tests hold for any data
`infer-schema` set up; add a test here for any rule of your data the contract must keep.
"""

import pytest
from modelkeel.testing import assert_refused, broken_rows

pytestmark = pytest.mark.data


def test_the_contract_accepts_the_training_data(project_settings, project_data):
    assert project_data.snapshot["rows"] == len(project_data.frame) > 0
    assert set(project_settings.data.features) <= set(project_data.frame.columns)


def test_the_contract_refuses_rows_that_break_it(project_settings, project_data):
    for broken in broken_rows(project_settings, project_data.frame):
        assert_refused(project_settings, broken)
