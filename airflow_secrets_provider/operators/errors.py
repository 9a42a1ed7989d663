"""Configuration errors (and RBAC refusals) found at execute time fail the task without retries.

A missing project key, a missing env var or file, a malformed secrets file or a bad
``k8s_secret`` will be just as wrong on the next try, so Airflow must not spend the task's
retries (and their delays) on them. Raised as Airflow's ``AirflowFailException`` subclasses that
are still the package's own error types, so callers catching ``SecretConfigError`` or
``SecretNotFoundError`` see no difference. A 403 from the API server (the task's identity may
not read the project's Secret, say) is the same: RBAC does not change between tries, so the
task fails once with the refusal's message. Transient failures (an API server answering 503,
a vault that times out) stay ordinary exceptions that Airflow retries.

Kept out of :mod:`airflow_secrets_provider.core.errors`, which must import without Airflow
(``get_secret`` runs in plain task images).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError, SecretsProviderError
from airflow_secrets_provider.kube.errors import KubernetesAccessError


class SecretTaskConfigError(SecretConfigError, AirflowFailException):
    """A :class:`SecretConfigError` found in ``execute()``: the task fails without retries."""


class SecretTaskNotFoundError(SecretNotFoundError, AirflowFailException):
    """A :class:`SecretNotFoundError` found in ``execute()``: the task fails without retries."""


class SecretTaskAccessError(KubernetesAccessError, AirflowFailException):
    """The API server refused the task's identity (HTTP 403): its RBAC will refuse the next try too.

    The message is :class:`KubernetesAccessError`'s: the verb, the object and namespace, and the
    server's RBAC sentence naming the identity (``User "system:serviceaccount:ml:airflow-worker"
    cannot get resource "secrets" ... in the namespace "ml"``), never a value.
    """


def without_retries(err: SecretsProviderError) -> SecretsProviderError:
    """``err`` as its fail-without-retry twin when it is a configuration error or a 403, else ``err``."""
    if isinstance(err, AirflowFailException):
        return err
    if isinstance(err, KubernetesAccessError) and err.status == 403:
        return SecretTaskAccessError(
            err.operation, err.target, status=err.status, reason=err.reason, detail=err.detail, attempts=err.attempts
        )
    if isinstance(err, SecretConfigError):
        return SecretTaskConfigError(err.field, err.problem, provider=err.provider)
    if isinstance(err, SecretNotFoundError):
        return SecretTaskNotFoundError(err.provider, err.key, err.where)
    return err
