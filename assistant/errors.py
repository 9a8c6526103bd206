"""Errors a user can act on.

Every failure that reaches a person is an ``AssistantError``: its message is a single
line that names the thing that is wrong and how to fix it. The CLI prints it without a
traceback and exits non-zero; the voice loop logs it and carries on.
"""
from __future__ import annotations


class AssistantError(Exception):
    """A user-facing failure with a one-line, actionable message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ConfigError(AssistantError):
    """An invalid configuration file or value; ``where`` is ``file:line``."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file, self.line, self.key = file, line, key
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        prefix = f"{where}: " if where else ""
        keypart = f"{key}: " if key else ""
        super().__init__(f"config error: {prefix}{keypart}{message}")


class ModelError(AssistantError):
    """A model file is missing, corrupt or unloadable."""

    exit_code = 3


class AudioInputError(AssistantError):
    """An audio file or device that cannot be used."""

    exit_code = 4


class MemoryStoreError(AssistantError):
    """The memory database cannot be opened or written."""

    exit_code = 5
