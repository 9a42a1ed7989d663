"""The CLI's exit codes: 0 ok, 1 the operation failed, 2 the command line was wrong."""

from __future__ import annotations

from airflow_secrets_provider.core.errors import SecretConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(SecretConfigError):
    """The command line itself is wrong (a bad ``--from-literal``, a missing argument): exit 2."""
