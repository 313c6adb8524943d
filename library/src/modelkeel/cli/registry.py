"""The registry's commands: lineage, diff, next-version, download, list and publish."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import NoReleaseYet
from ..utils.console import note, say
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    lineage = sub.add_parser("lineage", help="print which code, data, params and environment made a bundle")
    lineage.add_argument("bundle", nargs="?", help="bundle folder or released version (default: this version's bundle)")
    lineage.add_argument("--json", action="store_true", help="print lineage.json as is")
    diff = sub.add_parser("diff", help="compare two bundles or releases: params, data, metrics, signature")
    diff.add_argument("old", help="bundle folder or released version (vX.Y.Z, latest)")
    diff.add_argument("new", help="bundle folder or released version")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    nxt = sub.add_parser("next-version", help="the next semantic version for a bundle, from the previous release")
    nxt.add_argument("--bundle", help="the new bundle folder (default: this version's bundle in dist/)")
    nxt.add_argument("--previous", help="previous bundle folder or version (default: the latest release)")
    nxt.add_argument("--check", metavar="TAG", help="exit 1 if TAG understates the required bump")
    download = sub.add_parser("download", help="fetch a released bundle, verify SHA256SUMS, cache it by version")
    download.add_argument("--version", default="latest", help="latest (default) or X.Y.Z / vX.Y.Z")
    download.add_argument("--dest", type=Path, help="cache folder (default: ~/.cache/modelkeel/registry/<registry>/)")
    listing = sub.add_parser("list", help="the released versions, oldest first")
    publish = sub.add_parser("publish", help="copy a verified bundle into an fsspec registry as <url>/<version>/")
    publish.add_argument("bundle", nargs="?", help="bundle folder (default: this version's bundle in dist/)")
    return [lineage, diff, nxt, download, listing, publish]


def lineage(ctx: Context) -> int:
    from ..bundle.lineage import format_lineage

    bundle = ctx.bundle(ctx.args.bundle)
    say(json.dumps(bundle.lineage, indent=2, sort_keys=True) if ctx.args.json else format_lineage(bundle.lineage))
    return 0


def diff(ctx: Context) -> int:
    from ..registry.diff import diff as compare
    from ..registry.diff import format_diff

    changes = compare(ctx.bundle(ctx.args.old), ctx.bundle(ctx.args.new))
    say(json.dumps(changes, indent=2) if ctx.args.json else format_diff(changes))
    return 0


def next_version(ctx: Context) -> int:
    from ..registry.release import next_version as choose

    new = ctx.bundle(ctx.args.bundle)
    try:
        previous = ctx.bundle(ctx.args.previous or "latest")
    except NoReleaseYet:
        if ctx.args.previous:
            raise
        previous = None
    found = choose(new, previous, ctx.args.check)
    say(found.version)
    note(f"next-version: {found.describe()}")
    return 0


def download(ctx: Context) -> int:
    bundle = ctx.backend.fetch(ctx.args.version, ctx.cache)
    say(f"download: verified {bundle.folder}")
    return 0


def listing(ctx: Context) -> int:
    for version in ctx.backend.versions():
        say(version)
    return 0


def publish(ctx: Context) -> int:
    from ..bundle.verify import verify
    from ..data.manifest import store_release_data
    from ..registry.folder import publishing_registry

    backend = publishing_registry(ctx.backend)
    verified = verify(ctx.args.bundle or ctx.default_bundle())
    say(verified.describe())
    store_release_data(ctx.settings, verified.bundle.folder, verified.bundle.lineage)
    say(f"publish: {verified.bundle.folder} -> {backend.publish(verified.bundle)}")
    return 0


COMMANDS = {
    "lineage": lineage,
    "diff": diff,
    "next-version": next_version,
    "download": download,
    "list": listing,
    "publish": publish,
}
