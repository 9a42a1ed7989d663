"""One bounded wait for the tests that watch a cluster or a stack settle."""

from __future__ import annotations

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
