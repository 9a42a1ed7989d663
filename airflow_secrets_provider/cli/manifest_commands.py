"""``create -f``, ``list``, ``inspect`` and ``delete``: Pachyderm's Secret flow.

``create`` reads a manifest from a file or stdin (``-f -``), checks it completely
(:func:`~airflow_secrets_provider.kube.manifests.parse_manifest`) and only then writes. ``list``,
``inspect`` and ``delete`` see only Secrets this provider manages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.output import emit, message
from airflow_secrets_provider.cli.values_input import _read_text
from airflow_secrets_provider.kube.manifests import ManagedSecrets, describe_secret, parse_manifest


def _managed(args: argparse.Namespace) -> ManagedSecrets:
    hook = cluster_hook(args)
    return ManagedSecrets(hook, cluster_namespace(args, hook))


def _warn_audit(secrets: ManagedSecrets) -> None:
    for problem in secrets.audit.failures:
        print(f"airflow-secrets: warning: {problem}", file=sys.stderr)


def create_command(args: argparse.Namespace) -> int:
    if args.filename == "-":
        text, origin = sys.stdin.read(), "stdin"
    else:
        text, origin = _read_text(Path(args.filename), "-f"), args.filename
    manifest = parse_manifest(text, origin)  # every check before the cluster is contacted
    managed = _managed(args)
    managed.create(manifest)
    _warn_audit(managed)
    message(
        f"secret/{manifest.name} created ({manifest.type}, keys {', '.join(manifest.keys)})",
        args.output,
        {"name": manifest.name, "namespace": managed.namespace, "type": manifest.type, "keys": manifest.keys},
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    managed = _managed(args)
    described = [describe_secret(secret) for secret in managed.list_managed()]
    emit(
        [{k: d[k] for k in ("name", "namespace", "type", "keys", "created", "project")} for d in described],
        args.output,
        columns=("NAME", "TYPE", "KEYS", "CREATED"),
        rows=[(d["name"], d["type"], len(d["keys"]), d["created"]) for d in described],
    )
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    managed = _managed(args)
    described = describe_secret(managed.get(args.name))
    if args.output == "table":
        rows = [(field, described[field]) for field in ("name", "namespace", "type", "created", "uid", "immutable")]
        rows.append(("project", described["project"]))
        rows.append(("keys", ", ".join(described["keys"])))
        rows += [(f"label {k}", v) for k, v in sorted(described["labels"].items())]
        rows += [(f"annotation {k}", v) for k, v in sorted(described["annotations"].items())]
        emit(described, "table", columns=("FIELD", "VALUE"), rows=rows)
    else:
        emit(described, args.output)
    return 0


def delete_command(args: argparse.Namespace) -> int:
    managed = _managed(args)
    keys = managed.delete(args.name)
    _warn_audit(managed)
    message(
        f"secret/{args.name} deleted", args.output, {"name": args.name, "namespace": managed.namespace, "keys": keys}
    )
    return 0
