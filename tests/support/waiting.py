"""Bounded waits for the tests: a condition to settle, a call that could block for ever."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    """Poll ``condition`` until it returns something truthy and return that.

    The timeout bounds a wait for a condition (a pod to finish, the garbage collector to act); it
    is not a limit on how fast the behaviour under test must be, so it is generous.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def outcome_in_thread(fn: Callable[[], object], what: str, timeout: float = 300) -> BaseException | None:
    """Run ``fn`` in a daemon thread; return what it raised (``None`` if nothing), or fail the
    test if it is still running after ``timeout`` s. For calls that could block for ever (a
    stalled API server, a FIFO): a hang becomes a test failure, never a hung suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{what} was still blocked after {timeout} s")
    return outcome[0]
