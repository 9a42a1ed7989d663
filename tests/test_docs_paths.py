"""What the documentation names exists: files, modules, objects, README's links, every module's API page.

The package was reorganised once already (``cleanup_listener`` became ``cleanup/listener.py``);
prose that names a path or a dotted name is not checked by Sphinx, so this is. Also: a new module
without an ``automodule`` in docs/api/ would be missing from the API reference without a warning.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_secrets_provider"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# Inline code that names a file of the repository: it has a directory and one of these endings.
_FILE = re.compile(r"^[\w.\-]+(?:/[\w.\-]+)+\.(?:py|sh|yml|yaml|toml|md|rst|patch|json)$")
_DOTTED = re.compile(rf"^{PACKAGE}(?:\.\w+)+")
# Files that the stack or the tests write at run time (the pages say where), not repository files.
RUNTIME = ("secrets/", ".airflow-stack/", "test-artifacts/", "logs/")


def _code_spans(text: str) -> set[str]:
    return {span.split("::")[0].rstrip(".,") for span in re.findall(r"`([^`\s]+)`", text)}


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_named_files_exist(page: Path) -> None:
    named = {span for span in _code_spans(page.read_text(encoding="utf-8")) if _FILE.match(span)}
    missing = sorted(
        n for n in named if not n.startswith(RUNTIME) and not (REPO / n).exists() and not (REPO / PACKAGE / n).exists()
    )
    assert not missing, f"{_page_id(page)} names files that do not exist: {missing}"


def resolves(dotted: str) -> bool:
    """``a.b.c`` is a module, or an attribute path below the longest importable module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_named_modules_and_objects_exist(page: Path) -> None:
    spans = _code_spans(page.read_text(encoding="utf-8"))
    named = {m.group(0) for span in spans if (m := _DOTTED.match(span.replace(":", ".")))}
    missing = sorted(n for n in named if not resolves(n))
    assert not missing, f"{_page_id(page)} names modules or objects that do not exist: {missing}"


def test_resolves_tells_a_stale_name() -> None:
    assert resolves(f"{PACKAGE}.cleanup.listener.CleanupPlugin")
    assert not resolves(f"{PACKAGE}.cleanup_listener")
    assert not resolves(f"{PACKAGE}.kube.projects.NoSuchStore")


def test_readme_links_point_at_files() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in target]
    assert links, "README links to no docs page"
    missing = sorted({link for link in links if link and not (REPO / link).exists()})
    assert not missing, f"README links to files that do not exist: {missing}"


def test_every_module_has_an_api_page() -> None:
    modules = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / PACKAGE).rglob("*.py")
    }
    documented = set()
    for page in (REPO / "docs" / "api").glob("*.rst"):
        documented |= set(re.findall(r"^\.\. automodule:: (\S+)", page.read_text(encoding="utf-8"), re.M))
    assert sorted(modules - documented) == [], "modules missing from docs/api/*.rst"
    assert sorted(documented - modules) == [], "docs/api/*.rst documents modules that do not exist"
