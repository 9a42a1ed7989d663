"""Canary values for leak checks: as strong as ``secrets.token_hex(16)``, readable by label.

A leak check asserts that a value is *absent* from some text; a short canary ("d-v") can be
present by chance (inside a random pod name) and fail a correct run. Each canary carries 128
random bits. The random part is made once per test session and passed to child processes in
the environment, so a DAG file or CLI run by a test builds the same canaries as the test.
"""

from __future__ import annotations

import os
import secrets

_ENV = "ASP_TEST_CANARY_SEED"
SEED = os.environ.setdefault(_ENV, secrets.token_hex(16))


def canary(label: str) -> str:
    """``<label>-<32 random hex digits>``: unique per label, never part of another text by chance."""
    return f"{label}-{SEED}"
