"""A write killed half-way, as a CI job or a machine dies: a child process (this interpreter) runs the write and
is killed with SIGKILL once the store shows it under way, so nothing of its own can clean up after it.

The tests of interrupted uploads (the fsspec registry, the data store) share `killed_while`: they give the
child's code and a condition polled on the store, and then check what the dead run left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

DEADLINE_SECONDS = 60.0  # for the child to get under way (imports, hashing, its first upload)
POLL_SECONDS = 0.002


def killed_while(
    code: str, args: list[str], under_way: Callable[[], bool], what: str, env: dict[str, str] | None = None
) -> None:
    """Run `code` in a child python (`sys.argv[1:]` = `args`, `env` added to this environment) and SIGKILL it
    as soon as `under_way()` is true; an AssertionError if the child ended first or that took DEADLINE_SECONDS."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not under_way():
            if child.poll() is not None:
                raise AssertionError(f"the child ended ({child.returncode}) before {what}:\n{_stderr(child)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {DEADLINE_SECONDS:.0f} s:\n{_stderr(child)}")
            time.sleep(POLL_SECONDS)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()
        if child.stderr is not None:
            child.stderr.close()
    if child.returncode != -signal.SIGKILL:
        raise AssertionError(f"the child finished ({child.returncode}) before it was killed:\n{_stderr(child)}")


def _stderr(child: subprocess.Popen) -> str:
    with contextlib.suppress(Exception):
        child.kill()
    try:
        _, err = child.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        return "(no output)"
    return (err or b"").decode(errors="replace")[-4000:]
