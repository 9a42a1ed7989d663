"""``airflow-secrets``: the command-line surface of the provider.

Output never contains a secret value: commands print names, keys and references only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_secrets_provider.exceptions import SecretConfigError, SecretsProviderError


def _load_dags(path: Path) -> Iterator[Any]:
    """Import a DAG file the way Airflow parses it and yield the DAG objects it defines."""
    from airflow.sdk import DAG

    if not path.is_file():
        raise SecretsProviderError(f"DAG file {path} does not exist")
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
    """Name the file, the error type and the line; never the error's text, which may quote the
    DAG file's source (and so an inline value)."""
    line = getattr(err, "lineno", None)
    if line is None:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else None
    where = f"{path} line {line}" if line else str(path)
    return SecretsProviderError(f"cannot import DAG file {where}: {type(err).__name__}")


def _render_with_params(task: Any) -> None:
    """Render templates with the task's default params, so ``{{ params.env }}`` shows resolved.

    Fields that need run-time context (``ds``, ``ti``...) cannot render without a run; they are
    left as written rather than failing the preview.
    """
    import jinja2

    with contextlib.suppress(jinja2.UndefinedError, KeyError, TypeError):
        task.render_template_fields({"params": {key: task.params[key] for key in task.params}})


def _render_documents(dag_file: Path, task_ids: Sequence[str] | None) -> list[dict[str, Any]]:
    from kubernetes.client import ApiClient

    from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

    documents: list[dict[str, Any]] = []
    for dag in _load_dags(dag_file):
        for task in dag.tasks:
            if not isinstance(task, SecretTaskOperator) or (task_ids and task.task_id not in task_ids):
                continue
            _render_with_params(task)
            pod = task.build_pod_request_obj(dry_run=True)
            documents.append(
                {
                    "dag_id": dag.dag_id,
                    "task_id": task.task_id,
                    "secret_requests": [request.describe() for request in task.effective_requests()],
                    "pod": ApiClient().sanitize_for_serialization(pod),
                }
            )
    found = {document["task_id"] for document in documents}
    missing = [task_id for task_id in task_ids or () if task_id not in found]
    if missing:
        raise SecretsProviderError(f"no SecretTaskOperator task {missing[0]!r} in {dag_file}")
    if not documents:
        raise SecretsProviderError(f"no SecretTaskOperator task in {dag_file}")
    return documents


def render(args: argparse.Namespace) -> int:
    """Print the pod each SecretTaskOperator would create (dry run: no cluster, no values)."""
    import yaml

    # Airflow logs to stdout; keep stdout for the documents so they can be piped and parsed.
    with contextlib.redirect_stdout(sys.stderr):
        documents = _render_documents(Path(args.dag_file), args.task)
    if args.output == "json":
        json.dump(documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return 0


def rbac(args: argparse.Namespace) -> int:
    """Print the Role + RoleBinding a project's launcher (or a viewer) needs, as YAML."""
    from airflow_secrets_provider.rbac import RbacSubject, launcher_rbac, to_yaml, viewer_rbac

    subjects = [RbacSubject.user(name) for name in args.user or []]
    subjects += [RbacSubject.group(name) for name in args.group or []]
    for account in args.service_account or []:
        namespace, _, name = account.rpartition("/")
        subjects.append(RbacSubject.service_account(name, namespace or None))
    if not subjects:
        raise SecretConfigError("subject", "give at least one --user, --group or --service-account")
    if args.role == "launcher":
        if not args.project:
            raise SecretConfigError("project", "is required for a launcher role")
        documents = launcher_rbac(args.project, args.namespace, subjects, readable_secrets=args.readable_secret or [])
    else:
        documents = viewer_rbac(args.namespace, subjects, project=args.project)
    sys.stdout.write(to_yaml(documents))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-secrets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render_cmd = commands.add_parser("render", help="print the pod specs a DAG file's secret tasks would create")
    render_cmd.add_argument("dag_file")
    render_cmd.add_argument("--task", action="append", help="only this task id (repeatable)")
    render_cmd.add_argument("--output", choices=("yaml", "json"), default="yaml")
    render_cmd.set_defaults(handler=render)

    rbac_cmd = commands.add_parser("rbac", help="print the least-privilege RBAC for a project's launcher or a viewer")
    rbac_cmd.add_argument("role", choices=("launcher", "viewer"))
    rbac_cmd.add_argument("--namespace", required=True)
    rbac_cmd.add_argument("--project")
    rbac_cmd.add_argument("--user", action="append")
    rbac_cmd.add_argument("--group", action="append")
    rbac_cmd.add_argument("--service-account", action="append", help="[NAMESPACE/]NAME (repeatable)")
    rbac_cmd.add_argument(
        "--readable-secret", action="append", help="another Secret the launcher may read, e.g. a vault k8s_secret"
    )
    rbac_cmd.set_defaults(handler=rbac)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SecretsProviderError as err:
        # Messages from this package name fields and keys, never values.
        print(f"airflow-secrets: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
