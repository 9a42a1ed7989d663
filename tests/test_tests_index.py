"""tests/README.md's index: every module of the package has a row, and every file a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_package_layout import PACKAGE, modules

TESTS = Path(__file__).resolve().parent
ROW = re.compile(r"^\| `(?P<module>[^`]+)` \| (?P<files>.*) \|$")


def index() -> dict[str, list[str]]:
    rows = {}
    for line in (TESTS / "README.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            module = match["module"]
            name = PACKAGE if module == "(package)" else f"{PACKAGE}.{module}"
            rows[name] = re.findall(r"`([^`]+)`", match["files"])
    return rows


def test_every_module_has_a_row_with_tests() -> None:
    rows = index()
    assert sorted(set(modules()) - set(rows)) == []
    assert sorted(name for name, files in rows.items() if not files) == []


def test_every_row_names_existing_modules_and_test_files() -> None:
    rows = index()
    assert sorted(set(rows) - set(modules())) == []
    missing = sorted({name for files in rows.values() for name in files if not (TESTS / name).is_file()})
    assert missing == []
