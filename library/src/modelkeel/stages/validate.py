"""Stage 1, validate: read the configured data and check it against its schema before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..data.contract import contract_expectations, load_schema_model, validate_frame
from ..data.files import read_table, resolve_sources
from ..data.snapshot import fingerprint, shown_path
from ..errors import SettingsError
from ..settings import Settings


@dataclass(frozen=True)
class ValidatedData:
    frame: pd.DataFrame
    snapshot: dict  # per-file sha256 and rows, and one fingerprint of the whole snapshot
    schema_name: str


def time_columns(settings: Settings) -> list[str]:
    """The date/time columns of the data: the time features and the time split's column."""
    data = settings.data
    return list(dict.fromkeys([*data.time_features, *([data.split_column] if data.split_column else [])]))


def check_columns_declared(settings: Settings, schema_columns: list[str]) -> None:
    data = settings.data
    named = [data.target, *data.features, *([data.split_column] if data.split_column else [])]
    undeclared = [c for c in dict.fromkeys(named) if c not in schema_columns]
    if undeclared:
        raise SettingsError(
            f"params.yaml names column(s) {undeclared} that schema {data.schema_name!r} does not declare. "
            "Fix data.target / data.*_features, or add the columns to the schema."
        )


def validate(settings: Settings) -> ValidatedData:
    data = settings.data
    if settings.data_files is not None:  # `rebuild`: exactly the files the release read, back from the data store
        found = [(settings.root / path, url) for path, url in settings.data_files]
    else:
        found = resolve_sources(data.path, settings.root, settings.data_snapshot_dir)
    files = [path for path, _ in found]
    # a URL names its file: data.path's own, or a retrain.source batch the loop copied (settings.data_urls)
    urls = [url or (settings.data_urls or {}).get(shown_path(path, settings.root)) for path, url in found]
    frame, rows = read_table(files)
    model = load_schema_model(settings)
    check_columns_declared(settings, list(model.to_schema().columns))
    contract_expectations(model, f"schemas/{data.schema_name}.py")  # a malformed expectation stops the run here
    source = ", ".join(url or shown_path(path, settings.root) for path, url in zip(files, urls, strict=True))
    validated = validate_frame(frame, model, source, time_columns(settings))
    return ValidatedData(validated, fingerprint(files, rows, settings.root, urls), data.schema_name)
