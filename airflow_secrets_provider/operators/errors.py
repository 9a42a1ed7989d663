"""Configuration errors found at execute time fail the task without retries.

A missing project key, a missing env var or file, a malformed secrets file or a bad
``k8s_secret`` will be just as wrong on the next try, so Airflow must not spend the task's
retries (and their delays) on them. Raised as Airflow's ``AirflowFailException`` subclasses that
are still the package's own error types, so callers catching ``SecretConfigError`` or
``SecretNotFoundError`` see no difference. Transient failures (an API server answering 503,
a vault that times out) stay ordinary exceptions that Airflow retries.

Kept out of :mod:`airflow_secrets_provider.core.errors`, which must import without Airflow
(``get_secret`` runs in plain task images).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError, SecretsProviderError


class SecretTaskConfigError(SecretConfigError, AirflowFailException):
    """A :class:`SecretConfigError` found in ``execute()``: the task fails without retries."""


class SecretTaskNotFoundError(SecretNotFoundError, AirflowFailException):
    """A :class:`SecretNotFoundError` found in ``execute()``: the task fails without retries."""


def without_retries(err: SecretsProviderError) -> SecretsProviderError:
    """``err`` as its fail-without-retry twin when it is a configuration error, else ``err``."""
    if isinstance(err, AirflowFailException):
        return err
    if isinstance(err, SecretConfigError):
        return SecretTaskConfigError(err.field, err.problem, provider=err.provider)
    if isinstance(err, SecretNotFoundError):
        return SecretTaskNotFoundError(err.provider, err.key, err.where)
    return err
