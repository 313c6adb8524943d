"""The service command: serve a verified bundle over HTTP (serve/)."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from ..errors import SettingsError
from ..settings import ServeSettings
from ..utils.console import note
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    serve = sub.add_parser(
        "serve", help="an HTTP service for a verified bundle: POST /predict, GET /health, /metadata, /metrics"
    )
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--bundle", type=Path, help="bundle folder (default: this version's bundle in dist/)")
    source.add_argument(
        "--version",
        help="a released version (X.Y.Z) or latest, fetched through the registry (--repo / --url) with every check",
    )
    serve.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="serve an unsigned --bundle folder that is not this checkout's own build in dist/ (or a signed one with "
        "no registry.signer to check it): every answer then carries X-Model-Signature: not-checked, and the log says "
        "so (a registry's bundles are always checked)",
    )
    serve.add_argument("--host", help="address to listen on (default: serve.host in params.yaml, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: serve.port in params.yaml, 8000)")
    serve.add_argument(
        "--reload-every",
        type=float,
        metavar="SECONDS",
        help="with --version latest: look for a newer latest release this often and swap it in once it is verified "
        "(default: serve.reload_every in params.yaml, off)",
    )
    return [serve]


def _settings(ctx: Context) -> ServeSettings:
    """serve.* of params.yaml, with the command line's host, port and reload_every; the defaults without a
    params file (a container serving --bundle)."""
    args = ctx.args
    settings = ctx.settings.serve if args.params.is_file() else ServeSettings()
    given = {"host": args.host, "port": args.port, "reload_every": args.reload_every}
    from pydantic import ValidationError

    try:
        chosen = {k: v for k, v in given.items() if v is not None}
        return ServeSettings.model_validate({**settings.model_dump(), **chosen})
    except ValidationError as error:
        problems = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"serve: {problems}") from None


def serve(ctx: Context) -> int:
    from ..bundle.trust import SIGNED
    from ..runtime.model import Model
    from ..serve.app import create_app
    from ..serve.holder import SIGNATURE_HEADER, ModelHolder, Reloader, prepare
    from ..serve.server import run

    args = ctx.args
    settings = _settings(ctx)
    reloader_for = None
    if args.version is None:
        if args.reload_every is not None:
            raise SettingsError("serve --reload-every reloads the latest release: use it with --version latest")
        if args.bundle is None and not args.params.is_file():
            raise SettingsError(
                f"serve: no {args.params}, so no default bundle: pass --bundle FOLDER or --version VERSION"
            )
        folder = Path(args.bundle or ctx.default_bundle())
        if settings.require_signature and ctx.signer is None:
            raise SettingsError("serve.require_signature: params.yaml names no registry.signer to check it against")
        # signed by registry.signer, this checkout's own unsigned build (not with require_signature), or --allow-unsigned
        trusted = ctx.open_local(folder, require_signature=settings.require_signature)
        bundle, trust = trusted.bundle, trusted.trust
        source = str(folder)
    else:
        if args.reload_every is not None and args.version != "latest":
            raise SettingsError(f"serve --reload-every reloads the latest release, but --version pins {args.version}")
        bundle, trust = ctx.backend.fetch(args.version, ctx.cache), SIGNED  # a registry is always checked
        source = f"{ctx.backend.name} {bundle.version}"
        if args.version == "latest":
            reloader_for = settings.reload_every
    served = prepare(Model(bundle), source, trust)  # before the port is bound: a bad bundle never listens
    holder = ModelHolder(served)
    reloader = Reloader(holder, ctx.backend, ctx.cache, reloader_for) if reloader_for else None
    if settings.reload_every and reloader is None:
        note("serve: serve.reload_every applies to --version latest only; this model is not reloaded")
    if not logging.getLogger().handlers:  # the reload's log lines, beside uvicorn's
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    if served.unchecked:
        logging.getLogger("modelkeel.serve").warning(
            "serve: %s: --allow-unsigned: nobody checked who made this model; every answer says so (%s: %s)",
            source,
            SIGNATURE_HEADER,
            served.trust,
        )
    note(
        f"serve: {source}: version {served.version} verified ({served.trust}) and warmed"
        + (f"; checking for a newer latest release every {reloader_for:g} s" if reloader else "")
    )
    note(f"serve: http://{settings.host}:{settings.port}  POST /predict  GET /health /metadata /metrics /docs")
    stopped = run(create_app(holder, settings, reloader), settings.host, settings.port, settings)
    if stopped is not None:
        note(
            f"serve: stopped on {signal.Signals(stopped).name}; the requests in flight had up to "
            f"{settings.graceful_shutdown} s to finish (serve.graceful_shutdown)"
        )
    return 0


COMMANDS = {"serve": serve}
