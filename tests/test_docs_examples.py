"""The documentation's Python examples run: every ```python block of the pages below is a DAG file.

Each block is executed on its own, in a fresh namespace, with the real package and Airflow, as a
DAG file is when Airflow parses it: no cluster, and no socket or secret lookup allowed (the same
guard as the example DAGs'). A block that raises, or opens a connection, fails the test naming
the page and the block's line. The blocks are real examples (operators in a DAG, the pod spec
they build), so an API change that breaks one breaks the build instead of the reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.parse_guard import forbid_parse_time_io

REPO = Path(__file__).resolve().parents[1]
# Pages whose Python blocks are all complete, runnable examples, and how many each has at least
# (so an extraction that silently finds nothing cannot pass).
PAGES = {"README.md": 1, "docs/getting-started.md": 1, "docs/operator.md": 6}

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_RST = re.compile(r"^\.\. code-block:: python[ \t]*\n(?:[ \t]+:[^\n]*\n)*\n((?:(?:[ \t]+[^\n]*)?\n)+)", re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python (Markdown) and ``.. code-block:: python`` (reST) blocks: (first line, source)."""
    blocks = [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _FENCE.finditer(text)]
    for m in _RST.finditer(text):
        body = m.group(1)
        indent = min(len(line) - len(line.lstrip()) for line in body.splitlines() if line.strip())
        source = "\n".join(line[indent:] for line in body.splitlines())
        blocks.append((text.count("\n", 0, m.start(1)) + 1, source.rstrip("\n") + "\n"))
    return sorted(blocks)


def run_block(source: str, origin: str) -> dict[str, object]:
    """Execute one block as a DAG file: fresh globals; tracebacks name ``origin`` (page:line)."""
    namespace: dict[str, object] = {"__name__": "__docs_example__"}
    exec(compile(source, origin, "exec"), namespace)
    return namespace


def _cases() -> list[object]:
    return [
        pytest.param(page, line, source, id=f"{page}:{line}")
        for page in PAGES
        for line, source in python_blocks((REPO / page).read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize(("page", "line", "source"), _cases())
def test_the_example_runs_as_a_dag_file(page: str, line: int, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = forbid_parse_time_io(monkeypatch)
    run_block(source, f"{page}:{line}")
    assert attempts == [], f"{page}:{line} opened a connection or read a secret: {attempts}"


@pytest.mark.parametrize(("page", "least"), PAGES.items())
def test_each_page_has_its_examples(page: str, least: int) -> None:
    blocks = python_blocks((REPO / page).read_text(encoding="utf-8"))
    assert len(blocks) >= least, f"{page}: {len(blocks)} python blocks, expected at least {least}"


def test_blocks_are_found_in_both_syntaxes() -> None:
    text = (
        "intro\n\n```python\nx = 1\n```\n\n```bash\nnot python\n```\n\n"
        ".. code-block:: python\n   :caption: reST\n\n   y = 2\n   if y:\n       z = 3\n\nafter\n"
    )
    assert python_blocks(text) == [(4, "x = 1\n"), (14, "y = 2\nif y:\n    z = 3\n")]


def test_a_broken_example_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner really runs a block: a typo in a provider kind is the package's own error."""
    from airflow_secrets_provider import SecretConfigError

    forbid_parse_time_io(monkeypatch)
    broken = (
        "from airflow_secrets_provider import SecretTaskOperator, with_secrets\n"
        "SecretTaskOperator(task_id='t', image='i', secrets=[with_secrets('kuberentes', ['A'])])\n"
    )
    with pytest.raises(SecretConfigError, match="kind"):
        run_block(broken, "broken.md:1")


def test_an_example_that_reads_a_secret_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.parse_guard import Forbidden

    attempts = forbid_parse_time_io(monkeypatch)
    with pytest.raises(Forbidden):
        run_block("from airflow.sdk import Variable\nVariable.get('token')\n", "reads.md:1")
    assert attempts == ["Variable.get"]
