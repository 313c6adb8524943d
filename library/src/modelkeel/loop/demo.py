"""`make retrain-demo`: the loop on three batches made from the project's own data, against a local registry.

`demo_batches` builds them from the current data and its contract, so the demo works on any
dataset `infer-schema` set up:

1. unchanged: rows drawn from the data as they are (the champion should keep its place);
2. shifted: the same rows with every numeric feature moved, order kept, into the room the contract
   leaves beyond the data (or, with no numeric feature, every category renamed to another), labels
   kept: a recalibrated instrument. The champion never saw such values and falls behind; a
   challenger trained on the new rows should win;
3. corrupted: rows that break the contract's hard checks on purpose (a value outside a range, a
   category the contract does not allow, text in a numeric column; failing those, a gap where it allows
   none): the loop must refuse them. A value outside an expectation would be accepted.

Time columns move past the end of the data, in whole weeks, as new data would.
The demo works in `artifacts/retrain-demo/` (a copy of pyproject.toml and the data, an empty
data/incoming/, a folder registry and a key pair made for the run: its releases are signed and checked as
the project's own are), so the project's own data, dist/ and releases are left alone: build and publish the champion, then for each batch copy it into data/incoming/, run the
loop, publish a winning challenger, and print what happened.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, PipelineError
from ..runtime.calendar import as_datetime
from ..settings import PathSettings, RegistrySettings, Settings, Signer, TrustedSet
from ..stages.validate import time_columns
from ..utils import atomic
from ..utils.console import say
from .outcome import Outcome

DEMO_DIR = "retrain-demo"
SHIFT_STDS = 1.5  # the shift of a numeric column the contract does not bound above
CORRUPTED_ROWS = 40
NOT_A_CATEGORY = "not-a-category"
NOT_A_NUMBER = "not a number"
SHIFTED = "2_shifted"


@dataclass(frozen=True)
class DemoBatch:
    name: str
    frame: pd.DataFrame
    planted: tuple[tuple[str, object], ...] = field(default=())  # (column, value) the contract must refuse

    def write(self, folder: Path) -> Path:
        target = folder / f"{self.name}.csv"
        with atomic.atomic_path(target) as tmp:
            self.frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        return target


def _checks(schema) -> dict[str, dict[str, dict]]:
    """column -> {check name: its statistics} of a pandera DataFrameSchema."""
    return {name: {c.name: dict(c.statistics or {}) for c in column.checks} for name, column in schema.columns.items()}


def _later(rows: pd.DataFrame, data: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """`rows` (drawn from `data`) with their times moved past the last time in `data`, by whole weeks
    (weekdays and hours stay)."""
    out = rows.copy()
    for column in time_columns(settings):
        times = as_datetime(data[column], column)
        if times.notna().any():
            span_days = max((times.max() - times.min()).days + 1, 1)
            out[column] = as_datetime(rows[column], column) + pd.Timedelta(weeks=math.ceil(span_days / 7))
    return out


def _bound(stats: dict[str, dict], side: str) -> float | None:
    """The contract's lower (`min_value`) or upper (`max_value`) bound of a column, if it has one."""
    names = {"min_value": "greater_than_or_equal_to", "max_value": "less_than_or_equal_to"}
    for check in (names[side], "in_range"):
        if side in stats.get(check, {}):
            return float(stats[check][side])
    return None


def _shifted(values: pd.Series, stats: dict[str, dict]) -> pd.Series:
    """The values moved into the room the contract leaves beyond the data, order kept (a recalibrated sensor).

    The observed range is squeezed into 90 % of the room between the observed maximum and the
    contract's upper bound (or below the minimum, if there is more room there): every shifted value
    is valid, and lies where the champion never saw data. Without a bound, the values move up by
    SHIFT_STDS standard deviations; without room, they stay.
    """
    low_seen, high_seen = float(values.min()), float(values.max())
    span = (high_seen - low_seen) or 1.0
    high, low = _bound(stats, "max_value"), _bound(stats, "min_value")
    if high is None:
        return values + SHIFT_STDS * (float(values.std()) or 1.0)
    up = high - high_seen
    down = low_seen - low if low is not None else 0.0
    if max(up, down) <= 0:
        return values
    if up >= down:
        return high_seen + (values - low_seen) / span * 0.9 * up
    return low_seen - (high_seen - values) / span * 0.9 * down


def _draw(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[np.sort(rng.choice(len(frame), size=rows, replace=rows > len(frame)))].reset_index(drop=True)


def demo_batches(settings: Settings, frame: pd.DataFrame, schema) -> list[DemoBatch]:
    """The unchanged, shifted and corrupted batches for this data (`frame`, validated) and contract (`schema`)."""
    data = settings.data
    rng = np.random.default_rng(settings.seed)
    labelled = frame[frame[data.target].notna()]
    half = len(labelled) // 2
    unchanged = _later(_draw(labelled, min(max(half, 60), 2_000), rng), frame, settings)

    checks = _checks(schema)
    shifted = _later(_draw(labelled, min(max(len(labelled), 100), 5_000), rng), frame, settings)
    if data.numeric_features:
        for column in data.numeric_features:
            values = pd.to_numeric(shifted[column], errors="coerce")
            moved = _shifted(values, checks.get(column, {}))
            shifted[column] = moved.round() if pd.api.types.is_integer_dtype(frame[column].dtype) else moved
    else:  # every category renamed to the next one: the same rows, recoded
        for column in data.categorical_features:
            present = sorted(shifted[column].dropna().astype(str).unique())
            rotate = dict(zip(present, [*present[1:], *present[:1]], strict=True))
            shifted[column] = shifted[column].map(lambda v, r=rotate: r.get(str(v), v) if pd.notna(v) else v)

    corrupted = _later(_draw(labelled, CORRUPTED_ROWS, rng), frame, settings).astype(object)
    planted: list[tuple[str, object]] = []
    for row, column in enumerate(data.numeric_features):
        low, high = _bound(checks.get(column, {}), "min_value"), _bound(checks.get(column, {}), "max_value")
        if low is not None:
            bad: object = low - 1000 * (abs(low) + 1)
        elif high is not None:
            bad = high + 1000 * (abs(high) + 1)
        else:
            continue
        corrupted.loc[row % CORRUPTED_ROWS, column] = bad
        planted.append((column, bad))
        break
    for column in (*data.categorical_features, data.target):
        if "isin" in checks.get(column, {}):
            corrupted.loc[1 % CORRUPTED_ROWS, column] = NOT_A_CATEGORY
            planted.append((column, NOT_A_CATEGORY))
            break
    # text in a numeric column, not the one holding the out-of-range value: a column that is no longer
    # numeric cannot be range-checked, so the two problems would hide each other
    ranged = {column for column, _ in planted}
    textual = [c for c in data.numeric_features if c not in ranged]
    if textual:
        corrupted.loc[2 % CORRUPTED_ROWS, textual[-1]] = NOT_A_NUMBER
        planted.append((textual[-1], NOT_A_NUMBER))
    if not planted:  # text columns whose categories are expectations only: a gap where the contract allows none
        for column in (*data.features, data.target):
            if column in schema.columns and not schema.columns[column].nullable:
                corrupted.loc[3 % CORRUPTED_ROWS, column] = None
                planted.append((column, None))
                break
    return [
        DemoBatch("1_unchanged", unchanged),
        DemoBatch(SHIFTED, shifted),
        DemoBatch("3_corrupted", corrupted, tuple(planted)),
    ]


def _trusted_set(settings: Settings, demo: Settings) -> TrustedSet:
    """The project's trusted set, copied into the demo; without one, a share of the demo's copy of the data
    set aside as `freeze-trusted` would (the project's own files are left alone)."""
    from ..data.files import read_file
    from ..data.trusted import TRUSTED_DIR, carve
    from ..utils.hashing import sha256_file

    trusted = settings.retrain.trusted
    if trusted is not None:
        copy = demo.root / TRUSTED_DIR / Path(trusted.path).name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(settings.resolve(trusted.path), copy)
    else:
        first = demo.root / demo.data.path[0]
        kept, rows = carve(read_file(first), settings.data.target, 0.15, settings.seed)
        copy = demo.root / TRUSTED_DIR / f"{first.stem}_trusted.csv"
        copy.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(copy, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        if first.suffix.lower() == ".csv":
            kept.to_csv(first, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        else:
            kept.to_parquet(first, index=False)
        say(f"retrain-demo: no retrain.trusted in params.yaml: {len(rows)} rows of the demo's copy set aside as one")
    return TrustedSet(path=copy.relative_to(demo.root).as_posix(), sha256=sha256_file(copy))


def run_demo(settings: Settings) -> list[tuple[str, str, str]]:
    from ..bundle.signing import make_key_pair, sign
    from ..data.contract import load_schema_model
    from ..data.files import resolve_files
    from ..data.manifest import store_release_data
    from ..registry.folder import FolderRegistry
    from ..stages.pipeline import run_pipeline
    from ..stages.validate import validate
    from .run import find_champion, publish_winner, run_loop, state_dir

    work = settings.artifacts_dir / DEMO_DIR
    shutil.rmtree(work, ignore_errors=True)
    (work / "data" / "incoming").mkdir(parents=True)
    shutil.copy2(settings.root / "pyproject.toml", work / "pyproject.toml")
    copies = []
    for i, source in enumerate(resolve_files(settings.data.path, settings.root, settings.data_snapshot_dir)):
        copy = work / "data" / "train" / f"{i:03d}_{source.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        copies.append(str(copy.relative_to(work)))
    # signed by default: the demo signs its releases with a key pair of its own, made for this run
    private_key, public_key = make_key_pair(work / "keys", "demo")
    signer = Signer(public_key=str(public_key))
    registry = FolderRegistry(str(work / "registry"))
    registry.signer = signer
    demo = settings.model_copy(
        update={
            "root": work,
            "data": settings.data.model_copy(update={"path": tuple(copies)}),
            "paths": PathSettings(artifacts="artifacts", dist="dist"),
            "registry": RegistrySettings(url=str(work / "registry"), signer=signer),
            "retrain": settings.retrain.model_copy(update={"source": "data/incoming/*.csv", "window": "all"}),
        }
    )
    demo = demo.model_copy(
        update={"retrain": demo.retrain.model_copy(update={"trusted": _trusted_set(settings, demo)})}
    )
    validated = validate(demo)
    batches = demo_batches(demo, validated.frame, load_schema_model(settings).to_schema())
    champion = run_pipeline(demo).bundle
    sign(champion.folder, private_key)
    store_release_data(demo, champion.folder, champion.lineage)
    say(
        f"retrain-demo: champion v{champion.version} signed with the demo's key and published to {registry.publish(champion)}"
    )
    cache = work / "cache"  # the demo's registry is new on every run: so is its download cache
    played = []
    plots: list[Path] = []
    for batch in batches:
        say(f"\nretrain-demo: a new batch arrives: {batch.name}.csv ({len(batch.frame)} rows)")
        arrived = batch.write(work / "data" / "incoming")
        loop = run_loop(demo, find_champion(registry, cache))
        if loop.outcome is Outcome.PROMOTE and loop.challenger is not None:
            sign(loop.challenger.folder, private_key)  # as the release workflow signs what it publishes
        if publish_winner(demo, loop, registry):
            say(f"retrain-demo: challenger v{loop.challenger_version} promoted: it is the champion now")
        elif loop.outcome is Outcome.REFUSED:
            arrived.unlink()  # a person would fix or remove it
        kept = work / "plots" / batch.name  # the next run clears the loop's plots: keep this batch's
        if (state_dir(demo) / "plots").is_dir():
            shutil.copytree(state_dir(demo) / "plots", kept)
            plots += sorted(kept.glob("*.png"))
        say(f"retrain-demo: {batch.name}: {loop.outcome}: {'; '.join(loop.reasons)}")
        if batch.name == SHIFTED and loop.outcome is Outcome.KEEP_CHAMPION:
            say(
                f"retrain-demo: the {settings.model.type} challenger could not prove a win on the old and the shifted "
                "rows together (a model of fixed capacity may fit neither regime well), so the champion stays: "
                "the gates at work. A tree model (model.type: random_forest) learns both."
            )
        played.append((batch.name, str(loop.outcome), f"v{registry.latest()}"))
    say("\n| batch | outcome | champion after |\n|---|---|---|")
    for name, outcome, after in played:
        say(f"| {name} | {outcome} | {after} |")
    if all(outcome == Outcome.REFUSED for _, outcome, _ in played):
        raise PipelineError("retrain-demo: the loop refused every batch; see the quarantine reports above")
    if not any(outcome == Outcome.REFUSED for _, outcome, _ in played):
        raise DataError(
            "retrain-demo: the corrupted batch was not refused: the contract "
            f"(schemas/{settings.data.schema_name}.py) has no range or category check the demo could break"
        )
    say(f"\nretrain-demo: {len(plots)} drift plot(s) in {work / 'plots'}; reports and bundles in {work}")
    return played
