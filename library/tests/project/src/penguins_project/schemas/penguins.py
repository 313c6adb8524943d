"""Data contract for the Palmer penguins sample data (see data/README.md).

Every column the files carry is listed (strict), with its type, range, allowed
categories and whether it may be missing. Values are coerced to the declared
types, so a number written as text is accepted but a word in a number column is not.
"""

import pandera.pandas as pa
from pandera.typing import Series


class Schema(pa.DataFrameModel):
    species: Series[str] = pa.Field(isin=["Adelie", "Chinstrap", "Gentoo"])
    island: Series[str] = pa.Field(isin=["Biscoe", "Dream", "Torgersen"])
    bill_length_mm: Series[float] = pa.Field(ge=25.0, le=70.0, nullable=True)
    bill_depth_mm: Series[float] = pa.Field(ge=10.0, le=25.0, nullable=True)
    flipper_length_mm: Series[float] = pa.Field(ge=160.0, le=240.0, nullable=True)
    body_mass_g: Series[float] = pa.Field(ge=2000.0, le=7000.0, nullable=True)
    sex: Series[str] = pa.Field(isin=["female", "male"], nullable=True)
    year: Series[int] = pa.Field(ge=2007, le=2100)

    class Config:
        strict = True
        coerce = True
