"""The validate stage: the contract's own shape is checked before the data, so nothing trains on a broken one."""

import pandera.pandas as pa
import pytest
from pandera.typing import Series

from modelkeel.errors import SettingsError
from modelkeel.stages.validate import validate


def test_a_malformed_expectation_stops_validate_naming_the_file_and_the_column(settings, monkeypatch):
    # given the penguins contract with an expectation whose range is upside down
    from modelkeel.data.contract import load_schema_model

    class UpsideDown(load_schema_model(settings)):
        body_mass_g: Series[float] = pa.Field(ge=0.0, nullable=True, metadata={"expect": {"ge": 6300.0, "le": 2.0}})

    monkeypatch.setattr("modelkeel.stages.validate.load_schema_model", lambda _settings: UpsideDown)
    # when validate runs, then it stops, naming the file and the column
    with pytest.raises(SettingsError, match=r"schemas/penguins\.py, column 'body_mass_g'.*ge above le"):
        validate(settings)
