"""Pytest plugin: the one ``vault`` fixture, a started Key Vault stand-in (a service test double).

Every test that talks to Key Vault uses it, so each gets a fresh stand-in (its own port, CA,
tenant and client secret) and a process with no cached SDK clients before and after: a client
cached for one test's stand-in must never reach the next test's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_secrets_provider.azure import vault as azure_vault
from tests.support.keyvault_standin import KeyVaultStandIn


@pytest.fixture
def vault() -> Iterator[KeyVaultStandIn]:
    azure_vault.clear_clients()
    with KeyVaultStandIn() as standin:
        yield standin
    azure_vault.clear_clients()
