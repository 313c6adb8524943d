"""Command line: parse, load settings once (on first use), call one handler, map errors to exit codes.

`python -m <package>` and the console script both land in `main`. Each command group lives in
its own module (`stages`, `registry`, `release`, `loop`, `serve`, `data`); the handlers call one function of the
module that owns the decision and print what it returns.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import PipelineError
from . import data, loop, registry, release, serve, stages
from .context import Context

COMMANDS: dict[str, Callable[[Context], int]] = {
    **stages.COMMANDS,
    **registry.COMMANDS,
    **release.COMMANDS,
    **loop.COMMANDS,
    **serve.COMMANDS,
    **data.COMMANDS,
}


def program_name() -> str:
    """The name the user ran: a project's console script (`my_project`), `python -m my_project`, or `modelkeel`."""
    from .. import PACKAGE

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):  # python -m <package>
        return spec.name.removesuffix(".__main__")
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and not name.endswith(".py") and name != "-c" else PACKAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Validate, train, evaluate, export (with the parity gate), bundle, verify, release and serve the model.",
    )
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stages.add_parsers(sub)
    with_registry = registry.add_parsers(sub) + release.add_parsers(sub) + loop.add_parsers(sub)
    with_registry += serve.add_parsers(sub) + data.add_parsers(sub)
    for command in [*with_registry, sub.choices["report"]]:
        command.add_argument("--repo", help="GitHub OWNER/NAME (default: registry.github_repo in params.yaml)")
        command.add_argument("--url", help="fsspec registry URL (default: registry.url in params.yaml)")
    for command in [*with_registry, sub.choices["report"], sub.choices["predict"], sub.choices["verify"]]:
        signer = command.add_mutually_exclusive_group()
        signer.add_argument(
            "--signer-workflow",
            action="append",
            metavar="URL",
            help="the workflow that must have signed the bundle, keylessly "
            "(https://github.com/OWNER/NAME/.github/workflows/release.yml; repeatable; default: registry.signer)",
        )
        signer.add_argument(
            "--signer-key", type=Path, metavar="PEM", help="the public key that must have signed the bundle"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](Context(args))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except ModuleNotFoundError as error:  # a runtime-only install (the release's wheel) running a training command
        from ..utils.extras import message_for

        message = message_for(error, f"`{args.command}`")
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind", file=sys.stderr)
        return 130
