"""`make retrain-demo`: the loop on the demo batches in data/batches/, one at a time, against a local registry.

It works in `artifacts/retrain-demo/` (a copy of pyproject.toml and data/raw/, an empty
data/incoming/ and a folder registry), so the project's own data, dist/ and releases are left
alone: build and publish the champion, then for each batch copy it into data/incoming/, run the
loop, publish a winning challenger, and print what happened.
"""

from __future__ import annotations

import shutil

from ..errors import DataError
from ..settings import PathSettings, RegistrySettings, Settings
from ..utils.console import say
from .outcome import Outcome

DEMO_DIR = "retrain-demo"


def run_demo(settings: Settings) -> list[tuple[str, str, str]]:
    from ..registry.folder import FolderRegistry
    from ..stages.pipeline import run_pipeline
    from .run import find_champion, publish_winner, run_loop

    batches = sorted((settings.root / "data" / "batches").glob("*.csv"))
    if not batches:
        raise DataError("no demo batches in data/batches/: the demo plays those files through the loop")
    work = settings.artifacts_dir / DEMO_DIR
    shutil.rmtree(work, ignore_errors=True)
    (work / "data" / "incoming").mkdir(parents=True)
    shutil.copy2(settings.root / "pyproject.toml", work / "pyproject.toml")
    shutil.copytree(settings.root / "data" / "raw", work / "data" / "raw")
    registry = FolderRegistry(str(work / "registry"))
    demo = settings.model_copy(
        update={
            "root": work,
            "paths": PathSettings(artifacts="artifacts", dist="dist"),
            "registry": RegistrySettings(url=str(work / "registry")),
            "retrain": settings.retrain.model_copy(update={"source": "data/incoming/*.csv"}),
        }
    )
    champion = run_pipeline(demo).bundle
    say(f"retrain-demo: champion v{champion.version} published to {registry.publish(champion)}")
    cache = work / "cache"  # the demo's registry is new on every run: so is its download cache
    played = []
    for batch in batches:
        say(f"\nretrain-demo: a new batch arrives: {batch.name}")
        shutil.copy2(batch, work / "data" / "incoming" / batch.name)
        loop = run_loop(demo, find_champion(registry, cache))
        if publish_winner(loop, registry):
            say(f"retrain-demo: challenger v{loop.challenger_version} promoted: it is the champion now")
        elif loop.outcome is Outcome.REFUSED:
            (work / "data" / "incoming" / batch.name).unlink()  # a person would fix or remove it
        say(f"retrain-demo: {batch.name}: {loop.outcome}: {'; '.join(loop.reasons)}")
        played.append((batch.name, str(loop.outcome), f"v{registry.latest()}"))
    say("\n| batch | outcome | champion after |\n|---|---|---|")
    for name, outcome, after in played:
        say(f"| {name} | {outcome} | {after} |")
    say(f"\nretrain-demo: reports, drift plots and bundles are in {work}")
    return played
