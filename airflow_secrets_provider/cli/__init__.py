"""``airflow-secrets``: the command-line surface of the provider, with kubectl's habits.

Output never contains a secret value: commands print names, keys, times and references only.
Exit codes: 0 ok, 1 the operation failed, 2 the command line was wrong (argparse's code). Every
error is one line on stderr naming the field, never a value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from airflow_secrets_provider.cli.cluster import add_cluster_arguments
from airflow_secrets_provider.cli.errors import EXIT_FAILURE, EXIT_USAGE, UsageError
from airflow_secrets_provider.cli.output import OUTPUT_FORMATS
from airflow_secrets_provider.core.errors import SecretsProviderError

PROG = "airflow-secrets"


class _Parser(argparse.ArgumentParser):
    """argparse, with one-line errors (its default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes unrecognised arguments back; one may be a value typed in the wrong place.
        if message.startswith("unrecognized arguments:"):
            message = "unrecognized arguments (not shown: they may hold a value); see --help"
        print(f"{PROG}: error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _output(parser: argparse.ArgumentParser, choices: Sequence[str] = OUTPUT_FORMATS) -> None:
    parser.add_argument("-o", "--output", choices=choices, default=choices[0], help="output format")


def _cluster_command(commands: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
    add_cluster_arguments(parser)
    _output(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from airflow_secrets_provider.cli import manifest_commands as manifests
    from airflow_secrets_provider.cli import preset_commands as presets
    from airflow_secrets_provider.cli import project_commands as projects
    from airflow_secrets_provider.cli.cleanup_command import cleanup_command
    from airflow_secrets_provider.cli.rbac_command import RBAC_HELP, ROLES, rbac
    from airflow_secrets_provider.cli.render import render

    parser = _Parser(prog=PROG, description=__doc__, allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # -- project secrets --------------------------------------------------------------------
    cmd = _cluster_command(commands, "set", "add or overwrite keys of a project's secrets")
    cmd.add_argument("project")
    cmd.add_argument("--stdin", action="store_true", help="read KEY=VALUE lines from stdin (or give '-')")
    cmd.add_argument("--from-literal", action="append", metavar="KEY=VALUE", help="a value on the command line")
    cmd.add_argument("--from-file", action="append", metavar="[KEY=]PATH", help="a file's content as one value")
    cmd.add_argument("--from-env-file", action="append", metavar="PATH", help="a file of KEY=VALUE lines")
    cmd.set_defaults(handler=projects.set_command)

    cmd = _cluster_command(commands, "keys", "list a project's keys and when each was last set (never values)")
    cmd.add_argument("project")
    cmd.set_defaults(handler=projects.keys_command)

    cmd = _cluster_command(commands, "unset", "remove keys from a project's secrets")
    cmd.add_argument("project")
    cmd.add_argument("keys", nargs="+", metavar="KEY")
    cmd.set_defaults(handler=projects.unset_command)

    cmd = _cluster_command(commands, "projects", "list the projects that have secrets")
    cmd.set_defaults(handler=projects.projects_command)

    cmd = _cluster_command(commands, "history", "list the recorded changes of a project (audit Events)")
    cmd.add_argument("project", nargs="?")
    cmd.add_argument("--secret", help="the changes of this Secret instead of a project's")
    cmd.add_argument("--preset", help="the changes of this preset instead of a project's")
    cmd.set_defaults(handler=projects.history_command)

    # -- Secret manifests (Pachyderm) -------------------------------------------------------
    cmd = _cluster_command(commands, "create", "create a Secret from a manifest (JSON or YAML)")
    cmd.add_argument("-f", "--filename", required=True, help="manifest file, or - for stdin")
    cmd.set_defaults(handler=manifests.create_command)

    cmd = _cluster_command(commands, "list", "list the Secrets this provider manages")
    cmd.set_defaults(handler=manifests.list_command)

    cmd = _cluster_command(commands, "inspect", "show a managed Secret's metadata and key names")
    cmd.add_argument("name")
    cmd.set_defaults(handler=manifests.inspect_command)

    cmd = _cluster_command(commands, "delete", "delete a Secret this provider manages")
    cmd.add_argument("name")
    cmd.set_defaults(handler=manifests.delete_command)

    # -- presets (Kubeflow PodDefault) -------------------------------------------------------
    cmd = _cluster_command(commands, "presets", "list, show, apply or delete presets (labelled ConfigMaps)")
    cmd.add_argument("action", choices=("list", "show", "apply", "delete"))
    cmd.add_argument("name", nargs="?", help="the preset (show, delete)")
    cmd.add_argument("-f", "--filename", help="apply: a YAML file of presets, or - for stdin")
    cmd.set_defaults(handler=presets.presets_command)

    # -- what ended task instances left behind ------------------------------------------------
    cmd = _cluster_command(
        commands, "cleanup", "delete the pods and per-task Secrets whose task instance has ended (reads Airflow's DB)"
    )
    cmd.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    cmd.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace instead of one")
    cmd.set_defaults(handler=cleanup_command)

    # -- offline (render may read the cluster's presets) ------------------------------------
    cmd = commands.add_parser(
        "render", help="print the pod specs a DAG file's secret tasks would create, with the presets they get"
    )
    cmd.add_argument("dag_file")
    cmd.add_argument("--task", action="append", help="only this task id (repeatable)")
    cmd.add_argument(
        "--cluster-presets",
        action="store_true",
        help="also match the presets stored in the cluster (the file's always are); reaches the cluster",
    )
    add_cluster_arguments(cmd)
    _output(cmd, ("yaml", "json"))
    cmd.set_defaults(handler=render)

    cmd = commands.add_parser(
        "rbac",
        help="print the least-privilege RBAC of a launcher, a viewer, the Secrets page (ui) or the cleanup",
        description=RBAC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    cmd.add_argument(
        "role",
        choices=ROLES,
        help="launcher: a project's tasks; viewer: who watches pods; ui: the api-server's identity behind "
        "the Secrets page; cleanup: the identity of `airflow-secrets cleanup` and the listener",
    )
    cmd.add_argument(
        "--layout",
        choices=("namespace-per-project", "shared-namespace"),
        default="namespace-per-project",
        help="one namespace per project (default; prints the projects' Namespaces too) or one namespace for all",
    )
    cmd.add_argument(
        "--namespace",
        help="launcher, viewer: the namespace (default with namespace-per-project: the project's); "
        "ui: the page's home, [secrets_provider] ui_namespace (required); cleanup: the shared namespace, "
        "or one project's namespace that follows no template",
    )
    cmd.add_argument(
        "--namespace-template",
        help="namespace-per-project: the project's namespace, e.g. 'ml-{project}' "
        "(default: [secrets_provider] project_namespace, else '{project}')",
    )
    cmd.add_argument(
        "--project",
        action="append",
        help="the project (launcher, viewer: one); ui, cleanup with namespace-per-project: "
        "repeatable, one Role or RoleBinding in each project's namespace",
    )
    cmd.add_argument("--user", action="append")
    cmd.add_argument("--group", action="append")
    cmd.add_argument("--service-account", action="append", help="[NAMESPACE/]NAME (repeatable)")
    cmd.add_argument(
        "--readable-secret",
        action="append",
        help="another Secret the launcher may read, e.g. a vault k8s_secret or one for mask_external_secrets",
    )
    cmd.add_argument("--raw-logs", action="store_true", help="viewer: also read pods' raw (unmasked) container logs")
    cmd.add_argument(
        "--all-namespaces",
        action="store_true",
        help="cleanup: also list pods in every namespace (a ClusterRole), for `cleanup -A` and an empty "
        "[secrets_provider] cleanup_namespaces; deletes stay limited to the bound namespaces",
    )
    cmd.set_defaults(handler=rbac)
    return parser


_TAKES_VALUE = {"--from-literal", "--from-file", "--from-env-file", "--kubeconfig", "--context", "-n", "--namespace"}
_TAKES_VALUE |= {"--conn-id", "-o", "--output"}


def _stdin_dash(argv: list[str]) -> list[str]:
    """``set PROJECT ... -``: a lone ``-`` anywhere means ``--stdin`` (argparse cannot place an
    optional positional after options)."""
    if not argv or argv[0] != "set":
        return argv
    return ["--stdin" if arg == "-" and argv[index - 1] not in _TAKES_VALUE else arg for index, arg in enumerate(argv)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_stdin_dash(list(sys.argv[1:] if argv is None else argv)))
    if getattr(args, "command", None) == "history" and not (args.project or args.secret or args.preset):
        print(f"{PROG}: error: history: give a PROJECT, --secret NAME or --preset NAME", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SecretsProviderError as err:
        # Messages from this package name fields and keys, never values.
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as err:  # a kubeconfig or connection problem: name it, print nothing it carried
        print(f"{PROG}: error: {_describe_foreign(err)}", file=sys.stderr)
        return EXIT_FAILURE


def _describe_foreign(err: Exception) -> str:
    name = type(err).__name__
    if name == "ConfigException":
        return "cannot load the cluster configuration (kubeconfig, --context or in-cluster): ConfigException"
    if name == "AirflowNotFoundException":
        return "--conn-id: no such Airflow connection"
    return f"unexpected {name}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
