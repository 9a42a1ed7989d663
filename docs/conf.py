"""Sphinx configuration of the airflow-secrets-provider documentation.

Pages are Markdown (MyST), like the README they grew out of; the API reference is reST, generated
by autodoc from the package's docstrings (which use reST roles such as ``:class:`` and
``:param:``). ``scripts/docs.sh`` builds it with warnings as errors, and ``scripts/test.sh`` runs
that, so a broken link, a missing page or a docstring autodoc cannot read fails CI.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# autodoc imports the package, which imports Airflow: Airflow reads (and on first use writes) its
# home when imported, so the build gets a throw-away one, never the user's ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-docs-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_secrets_provider.version import __version__  # noqa: E402


def _import_every_module() -> None:
    """Import the whole package here, before autodoc does.

    Autodoc imports a module with typing's TYPE_CHECKING-dependent code paths in a state where
    pydantic >= 2.14 refuses to build some of Airflow's and FastAPI's models
    (``__pydantic_extra__`` annotations): the same modules import cleanly here, in the ordinary
    interpreter state, and autodoc then finds them in ``sys.modules``.
    """
    import importlib
    import pkgutil

    import airflow_secrets_provider

    for module in pkgutil.walk_packages(airflow_secrets_provider.__path__, "airflow_secrets_provider."):
        importlib.import_module(module.name)


_import_every_module()

project = "airflow-secrets-provider"
author = "airflow-secrets-provider developers"
copyright = "airflow-secrets-provider developers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# GitHub-style anchors for headings down to ####, so `page.md#a-heading` links work across pages
# (and a link to a heading that does not exist is a warning, hence an error in the build).
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Classes show their own docstring; __init__'s parameters are documented there (``:param:``).
autoclass_content = "class"

html_theme = "alabaster"
html_title = f"airflow-secrets-provider {release}"
html_theme_options = {"description": "Secret-aware Kubernetes tasks for Apache Airflow 3", "fixed_sidebar": True}
