"""The data store's commands: rebuild a release from its data, gc, and forget what a person must delete."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..utils.console import say
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    rebuild = sub.add_parser(
        "rebuild",
        help="train a release again from its data manifest on its commit; exit 0 when model.onnx is identical",
    )
    rebuild.add_argument("version", help="the released version (X.Y.Z, vX.Y.Z or latest)")
    rebuild.add_argument("--commit", help="rebuild on this commit or ref instead of the release's own")
    rebuild.add_argument("--dest", type=Path, help="download cache folder (default: the registry's cache)")
    gc = sub.add_parser("gc", help="remove the data store's objects no release or waiting challenger references")
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    gc.add_argument(
        "--min-age",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="leave objects and interrupted uploads younger than this (default 24): a release may be uploading",
    )
    forget = sub.add_parser(
        "forget",
        help="remove one object from the data store whatever references it (personal data), and record why",
    )
    which = forget.add_mutually_exclusive_group(required=True)
    which.add_argument("sha256", nargs="?", help="the object's sha256 (as a data manifest or lineage names it)")
    which.add_argument("--file", type=Path, help="the file whose content to forget (its sha256 is computed)")
    forget.add_argument("--reason", required=True, help="why it is removed (recorded, with the date and who)")
    forget.add_argument("--by", help="who removed it (default: $GITHUB_ACTOR, else the user name)")
    return [rebuild]  # rebuild reads the registry: --repo / --url / the signer options apply


def rebuild(ctx: Context) -> int:
    from ..stages.rebuild import rebuild as run

    release = ctx.backend.fetch(ctx.args.version, ctx.cache)
    result = run(ctx.settings, release, ctx.args.commit)
    say(result.describe())
    return 0 if result.identical else 1


def _store(ctx: Context):
    from ..data.store import DataStore

    return DataStore(ctx.settings.data_store_url)


def gc(ctx: Context) -> int:
    from ..data.retention import collect

    say(collect(_store(ctx), min_age_hours=ctx.args.min_age, dry_run=ctx.args.dry_run).describe())
    return 0


def forget(ctx: Context) -> int:
    from ..data.retention import forget as remove
    from ..errors import DataStoreError
    from ..utils.hashing import sha256_file

    if ctx.args.file is not None:
        if not ctx.args.file.is_file():
            raise DataStoreError(f"forget --file {ctx.args.file}: no such file")
        sha256 = sha256_file(ctx.args.file)
    else:
        sha256 = ctx.args.sha256
    say(remove(_store(ctx), sha256, ctx.args.reason, ctx.args.by).describe())
    return 0


COMMANDS = {"rebuild": rebuild, "gc": gc, "forget": forget}
