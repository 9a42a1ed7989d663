"""``cleanup``: delete the pods and per-task Secrets whose task instance has ended.

Run where the ``airflow`` CLI works (task instance states come from Airflow's metadata DB),
e.g. from cron or by hand after an outage; the listener (:mod:`airflow_secrets_provider.cleanup.listener`)
does the same for each task instance as Airflow ends it. Prints names and reasons, never data.
One row per pod of ours; the per-task Secret is named after its pod.
"""

from __future__ import annotations

import argparse
import logging

from airflow_secrets_provider.cleanup import run as cleanup_run
from airflow_secrets_provider.cleanup.run import CleanupReport, run_cleanup
from airflow_secrets_provider.cleanup.states import read_task_states
from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.errors import EXIT_FAILURE
from airflow_secrets_provider.cli.output import emit
from airflow_secrets_provider.core.naming import task_secret_name


def _action(report: CleanupReport, namespace: str, pod: str, delete_pod: bool, delete_secret: bool, dry: bool) -> str:
    if not (delete_pod or delete_secret):
        return "kept"
    if dry:
        return "would delete pod and Secret" if delete_pod else "would delete Secret (pod kept)"
    targets = {("Pod", pod), ("Secret", task_secret_name(pod))}
    failed = [f"{what.kind} failed: {problem}" for what, problem in report.failed if (what.kind, what.name) in targets]
    deleted = [d.kind for d in report.deleted if d.namespace == namespace and (d.kind, d.name) in targets]
    done = f"deleted {' and '.join(sorted(deleted))}" if deleted else "nothing left to delete"
    return "; ".join([done, *failed])


def cleanup_command(args: argparse.Namespace) -> int:
    # The report is the output; the per-delete log lines (for the listener's service logs) would
    # land on stdout through Airflow's logging set-up and break ``-o json``.
    logging.getLogger(cleanup_run.__name__).setLevel(logging.ERROR)
    hook = cluster_hook(args)
    namespaces: list[str | None] = [None] if args.all_namespaces else [cluster_namespace(args, hook)]
    report = run_cleanup(hook, namespaces, read_task_states, dry_run=args.dry_run)
    rows = [
        {
            "namespace": v.item.namespace,
            "pod": v.item.name,
            "try": v.item.try_number,
            "action": _action(report, v.item.namespace, v.item.name, v.delete_pod, v.delete_secret, args.dry_run),
            "reason": v.reason,
        }
        for v in report.verdicts
    ]
    if args.output == "table" and not rows:
        print("nothing to clean up: no pods of this provider")
    else:
        emit(
            {
                "dry_run": args.dry_run,
                "pods": rows,
                "deleted": [{"kind": d.kind, "namespace": d.namespace, "name": d.name} for d in report.deleted],
            },
            args.output,
            columns=("NAMESPACE", "POD", "TRY", "ACTION", "REASON"),
            rows=[tuple(row.values()) for row in rows],
        )
    return EXIT_FAILURE if report.failed else 0
