"""``file``: ``KEY=VALUE`` lines read from a file on the worker at execute time.

Format (MLRun's): one ``KEY=VALUE`` per line; ``#`` starts a comment line; blank lines are
ignored; whitespace around the key and the ``=`` is stripped, the value keeps everything after
the first ``=`` except surrounding whitespace. A malformed line is reported by line number,
never by content (it may hold a value). A file with no ``KEY=VALUE`` line at all (empty, or
only comments and blank lines) is an error: the task asked for its secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_secrets_provider.core.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    drops_original_error,
)
from airflow_secrets_provider.core.key_value import parse_key_value_lines
from airflow_secrets_provider.core.model import ResolveContext, ValueRequest
from airflow_secrets_provider.core.redaction import is_shown, shown
from airflow_secrets_provider.core.text_files import read_secrets_file
from airflow_secrets_provider.core.validation import check_env_name, is_templated
from airflow_secrets_provider.core.values import SecretValues

KIND = "file"


def parse_secrets_text(text: str, origin: str, *, provider: str = KIND) -> SecretValues:
    """A secrets file for a task: keys become environment variable names, so they must be valid ones."""
    return SecretValues(parse_key_value_lines(text, origin, provider=provider, check_key=check_env_name))


@dataclass(frozen=True)
class FileSecrets(ValueRequest):
    path: str

    kind = KIND
    template_fields = ("path",)

    def validate(self) -> None:
        if not is_templated(self.path) and not self.path.strip():
            raise SecretConfigError("source", "must be a file path", provider=KIND)
        if "\x00" in self.path:
            raise SecretConfigError("source", "must not contain a NUL character (no file name can)", provider=KIND)

    def env_names(self) -> None:
        return None  # the keys are in the file, which is only read on the worker

    @drops_original_error
    def resolve(self, context: ResolveContext) -> SecretValues:
        # The path is described, not quoted, if it looks like a value (``DB_PASSWORD=...``
        # given where a path belongs).
        where = shown(self.path, "file path")
        try:
            text = read_secrets_file(self.path, "source", provider=KIND).text
        except FileNotFoundError:
            raise SecretNotFoundError(KIND, self.path, "the worker's file system") from None
        except PermissionError:
            raise SecretAccessError(KIND, where, "permission denied") from None
        values = parse_secrets_text(text, self.path if is_shown(self.path) else "source")
        if not values:
            # The task asked for this file's secrets: running with none of them would be the
            # silent failure (a file truncated by a failed write, the wrong path's empty file).
            raise SecretConfigError(
                "source", f"the file {where} holds no KEY=VALUE line (an empty secrets file is refused)", provider=KIND
            )
        return values


def parse(source: object) -> FileSecrets:
    if not isinstance(source, str):
        raise SecretConfigError("source", f"must be a file path string, got {type(source).__name__}", provider=KIND)
    request = FileSecrets(source)
    request.validate()
    return request
