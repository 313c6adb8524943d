"""Write a user's own dataset for the infer-schema tests: `python own_data.py KIND PATH`.

Run with a baked project's interpreter (it has numpy, pandas and pyarrow; the template's
own environment does not). KIND is binary, multiclass or regression; PATH ends in .csv
or .parquet. Numeric and text columns, missing values, an identifier column, a target.
"""

import sys

import numpy as np
import pandas as pd


def own_data(kind: str, n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(5, 2, n)
    colour = rng.choice(["red", "green", "blue"], n)
    frame = pd.DataFrame(
        {
            "customer id": [f"C{i:05d}" for i in range(n)],
            "x1": x1.round(3),
            "x2": x2.round(3),
            "visits": rng.integers(0, 20, n),
            "colour": colour,
            "größe (cm)": rng.normal(170, 10, n).round(1),
        }
    )
    if kind == "binary":
        frame["churned"] = np.where(x1 + 1.5 * (colour == "red") > 0.5, "yes", "no")
    elif kind == "multiclass":
        frame["tier"] = np.digitize(x1, [-0.5, 0.5]).astype("int64")
    elif kind == "regression":
        frame["spend"] = (30 * x1 + 4 * x2 + 25 * (colour == "red") + rng.normal(0, 2, n)).round(2)
    else:
        raise SystemExit(f"unknown kind {kind!r}: use binary, multiclass or regression")
    frame.loc[rng.choice(n, 20, replace=False), "x2"] = np.nan
    frame.loc[rng.choice(n, 15, replace=False), "colour"] = None
    return frame


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    data = own_data(kind)
    if path.endswith(".parquet"):
        data.to_parquet(path, index=False)
    else:
        data.to_csv(path, index=False)
