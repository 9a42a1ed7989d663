"""``presets list|show|apply -f|delete``: PodDefault-style presets kept as labelled ConfigMaps.

``list`` and ``show`` also include the presets of the file named by Airflow's
``[secrets_provider] presets_file``, marked with their origin; ``apply`` and ``delete`` change
the cluster's only (the file is the admin's to edit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.cli.output import emit, message
from airflow_secrets_provider.cli.values_input import _read_text
from airflow_secrets_provider.kube.preset_store import PresetStore
from airflow_secrets_provider.pod_spec.presets import Preset, all_presets, configured_presets_file, parse_presets_text


def _store(args: argparse.Namespace) -> PresetStore:
    hook = cluster_hook(args)
    return PresetStore(hook, cluster_namespace(args, hook))


def _every(args: argparse.Namespace) -> list[Preset]:
    hook = cluster_hook(args)
    return all_presets(hook, cluster_namespace(args, hook), configured_presets_file())


def _selector_text(preset: Preset) -> str:
    parts = [f"{k}={v}" for k, v in preset.selector.match_labels]
    parts += [f"{k} {op} ({','.join(v)})" if v else f"{k} {op}" for k, op, v in preset.selector.match_expressions]
    return ",".join(parts)


def presets_command(args: argparse.Namespace) -> int:
    if args.action == "list":
        presets = _every(args)
        emit(
            [{**p.spec(), "origin": p.origin} for p in presets],
            args.output,
            columns=("NAME", "SELECTOR", "ORIGIN", "DESCRIPTION"),
            rows=[(p.name, _selector_text(p), p.origin, p.description) for p in presets],
        )
        return 0
    if args.action == "show":
        if not args.name:
            raise UsageError("name", "presets show needs a preset NAME")
        found = [p for p in _every(args) if p.name == args.name]
        if not found:
            raise UsageError("name", f"no preset {args.name!r}")
        emit({**found[0].spec(), "origin": found[0].origin}, "yaml" if args.output == "table" else args.output)
        return 0
    if args.action == "delete":
        if not args.name:
            raise UsageError("name", "presets delete needs a preset NAME")
        store = _store(args)
        store.delete(args.name)
        message(f"preset/{args.name} deleted", args.output, {"name": args.name, "namespace": store.namespace})
        return 0
    # apply
    if not args.filename:
        raise UsageError("-f", "presets apply needs -f FILE (or - for stdin)")
    if args.filename == "-":
        text, origin = sys.stdin.read(), "stdin"
    else:
        text, origin = _read_text(Path(args.filename), "-f"), args.filename
    presets = parse_presets_text(text, origin)  # every preset checked before any is written
    if not presets:
        raise UsageError("-f", f"{origin} holds no presets")
    store = _store(args)
    outcomes = {preset.name: store.apply(preset) for preset in presets}
    for problem in store.audit.failures:
        print(f"airflow-secrets: warning: {problem}", file=sys.stderr)
    message(
        "\n".join(f"preset/{name} {outcome}" for name, outcome in outcomes.items()),
        args.output,
        {"namespace": store.namespace, "presets": outcomes},
    )
    return 0
