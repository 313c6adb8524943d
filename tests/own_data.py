"""Write a user's own dataset for the infer-schema tests: `python own_data.py SHAPE PATH`.

Run with a baked project's interpreter (it has numpy, pandas and pyarrow; the template's
own environment does not). Each shape is unlike the penguins in several ways at once, so
that three datasets cover every kind issue #12 names:

- sensors: numeric-only (no categorical column), no missing value at all, an integer 0/1
  target, ISO date text ("2024-03-05"), CSV;
- shop: categorical-heavy, a multiclass text target, missing values, a Parquet timestamp
  column with hours, an identifier column;
- houses: regression in large units (prices), 34 columns whose names hold spaces and
  punctuation, 50 000 rows, CSV.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

SHAPES = {
    # shape: (task, target, rows)
    "sensors": ("classification", "label", 2_000),
    "shop": ("classification", "segment", 1_500),
    "houses": ("regression", "Sale Price ($)", 50_000),
}


def sensors(rng: np.random.Generator, n: int) -> pd.DataFrame:
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    a, b, c = rng.normal(0, 1, n), rng.normal(5, 2, n), rng.normal(100, 15, n)
    seasonal = np.sin(2 * np.pi * day.day_of_year.to_numpy() / 365)
    frame = pd.DataFrame(
        {
            "taken at": day.strftime("%Y-%m-%d"),
            "Sensor A (V)": a.round(3),
            "sensor_b": b.round(3),
            "sensor-c [kPa]": c.round(1),
            "count": rng.integers(0, 40, n),
        }
    )
    frame["label"] = (a + 0.3 * (b - 5) + 0.8 * seasonal > 0.2).astype("int64")
    return frame.sort_values("taken at", kind="stable").reset_index(drop=True)


def shop(rng: np.random.Generator, n: int) -> pd.DataFrame:
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")
    channel = rng.choice(["web", "app", "store", "phone"], n)
    region = rng.choice(["north", "south", "east", "west", "centre"], n)
    plan = rng.choice(["free", "basic", "pro"], n, p=[0.5, 0.3, 0.2])
    payment = rng.choice(["card", "cash", "transfer"], n)
    device = rng.choice(["ios", "android", "desktop"], n)
    newsletter = rng.choice(["yes", "no"], n)
    basket = rng.gamma(2.0, 20.0, n).round(2)
    score = (plan == "pro") * 2.0 + (plan == "basic") * 1.0 + (channel == "store") * 0.8 + basket / 40
    segment = np.select([score > 2.4, score > 1.2], ["loyal", "regular"], "casual")
    frame = pd.DataFrame(
        {
            "order id": [f"O-{i:06d}" for i in range(n)],
            "ordered at": when,
            "channel": channel,
            "region": region,
            "plan": plan,
            "payment": payment,
            "device": device,
            "newsletter": newsletter,
            "basket": basket,
            "segment": segment,
        }
    )
    frame.loc[rng.choice(n, 40, replace=False), "region"] = None
    frame.loc[rng.choice(n, 30, replace=False), "basket"] = np.nan
    return frame


def houses(rng: np.random.Generator, n: int) -> pd.DataFrame:
    area = rng.normal(120, 35, n).clip(25, 400)
    rooms = rng.integers(1, 8, n)
    age = rng.integers(0, 120, n)
    columns = {
        "Parcel #": [f"P{i:07d}" for i in range(n)],
        "Living area (m²)": area.round(1),
        "Rooms": rooms,
        "Age, years": age,
        "Lot size (m2)": rng.gamma(3.0, 200.0, n).round(0),
        "Distance to centre [km]": rng.gamma(2.0, 4.0, n).round(2),
        "Has garage?": rng.choice(["yes", "no"], n),
        "Energy class": rng.choice(list("ABCDEFG"), n),
    }
    extra = {f"Survey #{i} (score %)": rng.normal(50, 10, n).round(1) for i in range(1, 27)}
    frame = pd.DataFrame({**columns, **extra})
    price = (
        2_500 * area
        + 15_000 * rooms
        - 800 * age
        - 6_000 * frame["Distance to centre [km]"].to_numpy()
        + 40_000 * (frame["Has garage?"] == "yes").to_numpy()
        + 300 * frame["Survey #1 (score %)"].to_numpy()
        + rng.normal(0, 25_000, n)
        + 150_000
    )
    frame["Sale Price ($)"] = price.clip(20_000).round(-2)
    return frame


def own_data(shape: str, seed: int = 7) -> pd.DataFrame:
    if shape not in SHAPES:
        raise SystemExit(f"unknown shape {shape!r}: use {', '.join(SHAPES)}")
    rows = SHAPES[shape][2]
    return globals()[shape](np.random.default_rng(seed), rows)


if __name__ == "__main__":
    shape, path = sys.argv[1], sys.argv[2]
    data = own_data(shape)
    if path.endswith(".parquet"):
        data.to_parquet(path, index=False)
    else:
        data.to_csv(path, index=False)
