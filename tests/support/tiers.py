"""The tier rule, in one place: skip locally, fail under CI.

A test whose real component (API server, Chromium, ...) cannot start may skip with the reason
on a developer's machine, but under CI (``CI=true``) or with ``ASP_REQUIRE_ALL_TIERS=1`` the
same condition fails the test, so a green CI means every tier ran.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def all_tiers_required() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes") or os.environ.get("ASP_REQUIRE_ALL_TIERS") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip locally; fail where every tier must run."""
    if all_tiers_required():
        pytest.fail(f"{reason} (skips are failures because CI=true or ASP_REQUIRE_ALL_TIERS=1)", pytrace=False)
    pytest.skip(reason)
