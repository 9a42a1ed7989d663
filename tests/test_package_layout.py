"""The package's layout rules, checked on its source: what a newcomer is promised about where things are.

* no import cycle between the package's modules (any import, lazy or type-checking-only ones
  included: a cycle there still means two modules that cannot be read apart);
* ``core/`` is pure: it imports only the standard library, pydantic (the typed option models) and itself;
* only ``hooks/`` (the Airflow hook) and ``kube/client.py`` build a Kubernetes client, so every
  caller gets the same connection rules, retry policy and timeout;
* ``hooks/`` holds Airflow hooks only.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "airflow_secrets_provider"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Calls that build a Kubernetes API client or a hook that owns one.
CLIENT_BUILDERS = {"ApiClient", "CoreV1Api", "KubernetesHook", "SecretsKubernetesHook", "new_client_from_config"}
CLIENT_MODULES = {f"{PACKAGE}.kube.client", f"{PACKAGE}.hooks.kubernetes"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(path: Path) -> Iterator[str]:
    """Every module name an import statement in ``path`` names (``from a import b`` gives ``a.b`` and ``a``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def package_imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules ``path`` imports. ``from pkg import mod`` names ``pkg.mod``, not ``pkg``:
    a submodule import runs its parent package too, but that is how packages load, not a dependency
    between the two modules."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            if submodules:
                found |= submodules
            if len(submodules) < len(node.names) and node.module in known:
                found.add(node.module)
    return found


def package_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        graph[name] = package_imports_of(path, known) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: two modules importing each other are reported."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_core_imports_only_the_standard_library_pydantic_and_itself() -> None:
    """Nothing of Kubernetes, Azure or Airflow's runtime: the rules can be read and run without them."""
    stdlib = set(sys.stdlib_module_names) | {"__future__", "pydantic", "pydantic_core", "typing_extensions"}
    offenders = {}
    for name, path in modules().items():
        if not name.startswith(f"{PACKAGE}.core"):
            continue
        outside = {
            imported
            for imported in imports_of(path)
            if imported.split(".")[0] not in stdlib and not imported.startswith(f"{PACKAGE}.core")
        }
        if outside:
            offenders[name] = sorted(outside)
    assert offenders == {}


def client_builders(path: Path) -> set[str]:
    built = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in CLIENT_BUILDERS:
                built.add(called)
    return built


def test_only_the_client_module_and_the_hook_build_kubernetes_clients() -> None:
    builders = {name: client_builders(path) for name, path in modules().items()}
    elsewhere = {name: sorted(found) for name, found in builders.items() if found and name not in CLIENT_MODULES}
    assert elsewhere == {}
    assert builders[f"{PACKAGE}.kube.client"], (
        "kube/client.py no longer builds the hook: the check above proves nothing"
    )


def test_hooks_holds_airflow_hooks_only() -> None:
    from airflow.sdk.bases.hook import BaseHook

    hook_modules = [name for name in modules() if name.startswith(f"{PACKAGE}.hooks.")]
    assert hook_modules, "hooks/ is empty"
    import importlib
    import inspect

    for name in hook_modules:
        module = importlib.import_module(name)
        own_classes = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == name]
        assert own_classes, f"{name} defines no class"
        for cls in own_classes:
            assert issubclass(cls, BaseHook), f"{name}.{cls.__name__} is not an Airflow hook"
