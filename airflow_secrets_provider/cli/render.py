"""``airflow-secrets render``: the pod specs a DAG file's secret tasks would create (dry run).

Output never contains a secret value: references and key names only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.core.errors import SecretConfigError, SecretsProviderError


def _load_dags(path: Path) -> Iterator[Any]:
    """Import a DAG file the way Airflow parses it and yield the DAG objects it defines."""
    from airflow.sdk import DAG

    if not path.is_file():
        raise UsageError("dag_file", f"DAG file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"asp_dagfile_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SecretsProviderError(f"cannot import DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    failure: SecretsProviderError | None = None
    # Airflow puts the DAG folder on sys.path, so DAG files may import modules next to them.
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.append(folder)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        failure = _import_failure(path, err)
    finally:
        if added:
            sys.path.remove(folder)
    if failure is not None:
        raise failure  # outside the except block: the original (it may quote a line) is not chained
    for value in vars(module).values():
        if isinstance(value, DAG):
            yield value


def _import_failure(path: Path, err: Exception) -> SecretsProviderError:
    """Name the file, the error type and the line; never a foreign error's text, which may quote
    the DAG file's source (and so an inline value). A :class:`SecretConfigError` (an operator
    that rejected its input) also shows its field and problem, which never hold a value."""
    line = getattr(err, "lineno", None)
    if line is None:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else None
    where = f"{path} line {line}" if line else str(path)
    if isinstance(err, SecretConfigError):
        # This package's own errors name the field and describe (never quote) what was wrong.
        return SecretsProviderError(f"cannot import DAG file {where}: SecretConfigError: {err}")
    return SecretsProviderError(f"cannot import DAG file {where}: {type(err).__name__}")


def _render_with_params(task: Any) -> None:
    """Render templates with the task's default params, so ``{{ params.env }}`` shows resolved.

    Fields that need run-time context (``ds``, ``ti``...) cannot render without a run; they are
    left as written rather than failing the preview.
    """
    import jinja2

    with contextlib.suppress(jinja2.UndefinedError, KeyError, TypeError):
        task.render_template_fields({"params": {key: task.params[key] for key in task.params}})


def _in_project_namespace(task: Any) -> None:
    """Namespace-per-project layout: the pod goes where ``prepare_secrets`` puts it at run time.

    The same call as the operator's, so the preview shows the project's namespace (where its
    Secret is) rather than KubernetesPodOperator's default, and a task aimed at another namespace
    fails here as it would at run time. A project still holding a template is left as written.
    """
    from airflow_secrets_provider.core.validation import is_templated
    from airflow_secrets_provider.kube.layout import configured_task_namespace

    if task.project and not is_templated(task.project):
        task.namespace = configured_task_namespace(task.project, task.namespace) or task.namespace


def _with_presets(task: Any, args: argparse.Namespace) -> list[str]:
    """Match the task's presets against its (dry-run) pod labels; the pod is then built with them.

    The file's presets always count (``[secrets_provider] presets_file``); the cluster's only
    with ``--cluster-presets``, since reading them reaches the cluster.
    """
    from airflow_secrets_provider.cli.cluster import cluster_hook
    from airflow_secrets_provider.operators.resolve import ResolvedSecrets
    from airflow_secrets_provider.pod_spec.presets import all_presets, configured_presets_file, matching

    if not task.apply_presets:
        return []
    planned = task.build_pod_request_obj(dry_run=True)
    namespace = str(planned.metadata.namespace)
    hook = cluster_hook(args) if args.cluster_presets else None
    chosen = matching(all_presets(hook, namespace, configured_presets_file()), planned.metadata.labels or {})
    task.resolved = ResolvedSecrets(namespace, presets=chosen)
    return [preset.name for preset in chosen]


def _render_documents(args: argparse.Namespace) -> list[dict[str, Any]]:
    from airflow_secrets_provider.kube.client import serializer
    from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

    dag_file, task_ids = Path(args.dag_file), args.task

    documents: list[dict[str, Any]] = []
    for dag in _load_dags(dag_file):
        for task in dag.tasks:
            if not isinstance(task, SecretTaskOperator) or (task_ids and task.task_id not in task_ids):
                continue
            _render_with_params(task)
            _in_project_namespace(task)
            presets = _with_presets(task, args)
            pod = task.build_pod_request_obj(dry_run=True)
            documents.append(
                {
                    "dag_id": dag.dag_id,
                    "task_id": task.task_id,
                    "secret_requests": [request.describe() for request in task.effective_requests()],
                    "presets": presets,
                    "pod": serializer().sanitize_for_serialization(pod),
                }
            )
    found = {document["task_id"] for document in documents}
    missing = [task_id for task_id in task_ids or () if task_id not in found]
    if missing:
        raise UsageError("--task", f"no SecretTaskOperator task {missing[0]!r} in {dag_file}")
    if not documents:
        raise SecretsProviderError(f"no SecretTaskOperator task in {dag_file}")
    return documents


def render(args: argparse.Namespace) -> int:
    """Print the pod each SecretTaskOperator would create (dry run: no cluster, no values)."""
    import yaml

    # Airflow logs to stdout; keep stdout for the documents so they can be piped and parsed.
    with contextlib.redirect_stdout(sys.stderr):
        documents = _render_documents(args)
    if args.output == "json":
        json.dump(documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return 0
