"""Data contract for the Palmer penguins sample data (see data/README.md).

Every column the files carry is listed (strict), with its type and whether it may be missing.
Values are coerced to the declared types, so a number written as text is accepted but a word
in a number column is not. Beyond that, two kinds of rule, as `infer-schema` writes them for your data:

- hard checks, the Field's own arguments: a row that breaks one is refused (validation, scoring,
  serving, the loop's quarantine). Only what no valid row can break: a measurement is never
  negative, sex is female or male (or missing), the study began in 2007, and the species is one of
  the archipelago's three (a fourth is a labelling error: this one was promoted from an expectation);
- expectations, in the Field's metadata={"expect": ...}: what the 2007 and 2008 seasons held (the
  ranges and islands). A row outside them is accepted; the retraining loop reports it as drift.

To promote an expectation to a hard check, move it out of metadata into the Field's arguments:
metadata={"expect": {"isin": [...]}} becomes isin=[...].
"""

import pandera.pandas as pa
from pandera.typing import Series


class Schema(pa.DataFrameModel):
    species: Series[str] = pa.Field(isin=["Adelie", "Chinstrap", "Gentoo"])
    island: Series[str] = pa.Field(metadata={"expect": {"isin": ["Biscoe", "Dream", "Torgersen"]}})
    bill_length_mm: Series[float] = pa.Field(ge=0.0, nullable=True, metadata={"expect": {"ge": 33.1, "le": 59.6}})
    bill_depth_mm: Series[float] = pa.Field(ge=0.0, nullable=True, metadata={"expect": {"ge": 13.1, "le": 21.5}})
    flipper_length_mm: Series[float] = pa.Field(ge=0.0, nullable=True, metadata={"expect": {"ge": 172.0, "le": 231.0}})
    body_mass_g: Series[float] = pa.Field(ge=0.0, nullable=True, metadata={"expect": {"ge": 2700.0, "le": 6300.0}})
    sex: Series[str] = pa.Field(isin=["female", "male"], nullable=True)
    year: Series[int] = pa.Field(ge=2007, metadata={"expect": {"ge": 2007, "le": 2008}})

    class Config:
        strict = True
        coerce = True
