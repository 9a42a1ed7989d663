"""The backend's ``file`` source (secrets/file_source.py): LocalFilesystemBackend formats."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.support.backend import backend
from tests.support.canaries import canary


def test_file_source_reads_env_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "conns.json").write_text(
        json.dumps({"api": {"conn_type": "http", "host": "h", "password": "json-file-pw"}, "uri": "http://u:p@h"})
    )
    (tmp_path / "vars.env").write_text("# comment\n\nplain = env-file-value\nmy-var=a=b=c\n")
    (tmp_path / "config.yaml").write_text(
        "sql_conn: sqlite:////tmp/y.db\nstructured:\n  a: 1\n  since: 2024-01-01\nrelease: 2024-02-03\n"
    )
    chain = backend(
        {
            "kind": "file",
            "connections_file": str(tmp_path / "conns.json"),
            "variables_file": str(tmp_path / "vars.env"),
            "config_file": str(tmp_path / "config.yaml"),
        }
    )
    conn = chain.get_connection("api")
    assert conn is not None
    assert (conn.conn_type, conn.password) == ("http", "json-file-pw")
    assert chain.get_conn_value("uri") == "http://u:p@h"
    assert chain.get_variable("plain") == "env-file-value"
    assert chain.get_variable("my-var") == "a=b=c"
    assert chain.get_config("sql_conn") == "sqlite:////tmp/y.db"
    assert json.loads(chain.get_config("structured") or "") == {"a": 1, "since": "2024-01-01"}
    assert chain.get_config("release") == "2024-02-03"  # YAML reads it as a date; served as text
    assert chain.get_variable("nope") is None


def test_file_source_kind_without_a_file_is_off_and_missing_file_is_empty(tmp_path: Path) -> None:
    chain = backend({"kind": "file", "variables_file": str(tmp_path / "later.json")})
    assert chain.get_variable("x") is None
    assert chain.get_conn_value("x") is None


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.env", f"ok=1\nsecret-line-without-equals-{canary('hunter2')}\n"),
        ("bad.json", f'{{"k": "{canary("hunter2")}-json", }}'),
        ("bad.yaml", f"k: [{canary('hunter2')}-yaml\n"),
    ],
)
def test_file_parse_errors_name_the_line_not_the_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    chain = backend({"kind": "file", "variables_file": str(path)})
    with caplog.at_level(logging.WARNING):
        assert chain.get_variable("k") is None
    assert str(path) in caplog.text
    assert "line" in caplog.text
    assert canary("hunter2") not in caplog.text
