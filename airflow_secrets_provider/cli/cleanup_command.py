"""``cleanup``: delete the pods and per-task Secrets whose task instance has ended.

Where the ``airflow`` CLI works (it reads task instance states from Airflow's metadata DB), e.g.
from cron or by hand after an outage; the listener (:mod:`airflow_secrets_provider.cleanup_listener`)
does the same for each task instance as Airflow ends it. Prints names and reasons, never data.
"""

from __future__ import annotations

import argparse

from airflow_secrets_provider.cleanup_run import run_cleanup
from airflow_secrets_provider.cleanup_states import read_task_states
from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.errors import EXIT_FAILURE
from airflow_secrets_provider.cli.output import emit


def cleanup_command(args: argparse.Namespace) -> int:
    hook = cluster_hook(args)
    namespaces: list[str | None] = [None] if args.all_namespaces else [cluster_namespace(args, hook)]
    report = run_cleanup(hook, namespaces, read_task_states, dry_run=args.dry_run)
    failed = {(item.kind, item.namespace, item.name): problem for item, problem in report.failed}
    rows = []
    for verdict in report.verdicts:
        item = verdict.item
        if not verdict.delete:
            action = "kept"
        elif args.dry_run:
            action = "would delete"
        else:
            action = "failed" if (item.kind, item.namespace, item.name) in failed else "deleted"
        problem = failed.get((item.kind, item.namespace, item.name))
        rows.append(
            {
                "kind": item.kind,
                "namespace": item.namespace,
                "name": item.name,
                "try": item.try_number,
                "action": action,
                "reason": verdict.reason + (f"; {problem}" if problem else ""),
            }
        )
    if args.output == "table" and not rows:
        print("nothing to clean up: no pods or per-task Secrets of this provider")
    else:
        emit(
            {"dry_run": args.dry_run, "objects": rows},
            args.output,
            columns=("KIND", "NAMESPACE", "NAME", "TRY", "ACTION", "REASON"),
            rows=[tuple(row.values()) for row in rows],
        )
    return EXIT_FAILURE if report.failed else 0
