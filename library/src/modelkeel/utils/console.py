"""What each stage tells the user: what it did, where it wrote it, and how long it took."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


def say(message: str) -> None:
    print(message, flush=True)


def note(message: str) -> None:
    """A remark for the person at the terminal, on standard error (standard output stays the answer)."""
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Announce a long step before it starts and report its duration when it ends."""
    print(f"  ... {title}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    yield
    print(f"  ok  {title} ({time.perf_counter() - started:.1f}s)", file=sys.stderr, flush=True)
