"""The one error type of the press, and the QA finding record."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class BuildError(Exception):
    """A user-facing build failure: what went wrong, where (file:line), and what to do.

    The CLI prints it without a traceback; any other exception is a bug in the press.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __reduce__(self):
        # Keep file, line and hint when the error crosses from a worker process.
        return (type(self), (self.message, self.path, self.line, self.hint))

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "") + ": "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class BuildErrors(BuildError):
    """Several problems found at once (a manifest is validated whole before stopping)."""

    def __init__(self, errors: list[BuildError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def __reduce__(self):
        return (type(self), (self.errors,))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True)
class Finding:
    """One QA result: a stable code, where, and what."""

    code: str
    path: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.line else (f"{self.path}: " if self.path else "")
        return f"{where}{self.code} {self.message}"
