"""The loop's steps that read data, by engine: loop/run.py's `run_loop` decides the same way on either.

On `compute.engine: pandas` (the default) they are this package's own functions, in this process; on `dask`
they are cluster/loop.py's, on the cluster compute.dask names (opened at the first step that needs it, so a
run with nothing new starts none, and always closed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..bundle.reader import Bundle
    from ..bundle.verify import Verified
    from ..settings import Settings
    from .challenger import Scores
    from .decide import Trend
    from .evidence import CopyCheck
    from .ingest import Batch
    from .monitor import Monitoring


class PandasLoop:
    """The steps on the pandas engine: the new rows are one pandas frame."""

    def ingest(self, settings: Settings, champion: Bundle, snapshot: Path, judged: frozenset[str]) -> tuple:
        from .ingest import ingest

        return ingest(settings, champion, snapshot, judged)

    def validate_batches(self, settings: Settings, batches: tuple[Batch, ...]) -> tuple[Any, tuple[dict, ...]]:
        from .ingest import validate_batches

        return validate_batches(settings, batches)

    def trusted_copies(self, settings: Settings, frame: pd.DataFrame, trusted: pd.DataFrame) -> CopyCheck | None:
        """copy_check when some new row copies a trusted row; None when none does."""
        from ..stages.validate import validate
        from .evidence import copies_of_trusted_rows, copy_check

        copied = copies_of_trusted_rows(frame, trusted, settings.data.inputs)
        if not copied:
            return None
        return copy_check(frame, trusted, validate(settings).frame, settings.data.inputs, copied)

    def monitor(self, settings: Settings, champion: Bundle, frame: pd.DataFrame, plots_dir: Path) -> Monitoring:
        from .monitor import monitor

        return monitor(settings, champion, frame, plots_dir)

    def trend(
        self, settings: Settings, champion: Bundle, frame: pd.DataFrame, batches: tuple, monitoring: Monitoring
    ) -> Trend:
        from .decide import champion_trend

        return champion_trend(settings, champion, frame, batches, monitoring.scored)

    def train_challenger(
        self, settings: Settings, champion: Bundle, batches: tuple, version: str, scratch: Path
    ) -> tuple[Settings, Verified]:
        from .challenger import train_challenger

        return train_challenger(settings, champion, batches, version, scratch)

    def compare(
        self, settings: Settings, champion: Bundle, challenger_settings: Settings, challenger: Bundle, batches: tuple
    ) -> Scores:
        from .challenger import compare, held_out_new_rows

        return compare(settings, champion, challenger, *held_out_new_rows(challenger_settings, batches))


@contextlib.contextmanager
def loop_steps(settings: Settings) -> Iterator[Any]:
    """The steps of settings.compute.engine (PandasLoop, or cluster/loop.ClusterLoop), closed on exit."""
    if settings.compute.engine != "dask":
        yield PandasLoop()
        return
    from ..cluster.loop import cluster_loop

    with cluster_loop(settings) as steps:
        yield steps
