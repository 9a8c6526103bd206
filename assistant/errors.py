"""Errors a user can act on.

Every failure that reaches a person is an ``AssistantError``: its message is a single
line that names the thing that is wrong and how to fix it. The CLI prints it without a
traceback and exits non-zero; the voice loop logs it and carries on.
"""
from __future__ import annotations


class AssistantError(Exception):
    """A user-facing failure with a one-line, actionable message."""

    exit_code = 1
    label = "error"        # what the CLI prints before the message ("error: …")
    kind = "error"         # the same, as a JSON error object's "kind"

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def as_dict(self) -> dict:
        """The JSON error object ``--json`` prints on stdout."""
        return {"error": str(self), "kind": self.kind, "exit_code": self.exit_code}


class ConfigError(AssistantError):
    """An invalid configuration file or value; ``where`` is ``file:line``."""

    exit_code = 2
    label = "config error"     # printed once, by whoever shows the message
    kind = "config"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file, self.line, self.key, self.reason = file, line, key, message
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        prefix = f"{where}: " if where else ""
        keypart = f"{key}: " if key else ""
        super().__init__(f"{prefix}{keypart}{message}")


class ModelError(AssistantError):
    """A model file is missing, corrupt or unloadable."""

    exit_code = 3
    kind = "model"


class AudioInputError(AssistantError):
    """An audio file or device that cannot be used."""

    exit_code = 4
    kind = "audio"


class MemoryStoreError(AssistantError):
    """The memory database cannot be opened or written."""

    exit_code = 5
    kind = "memory"


class InputError(AssistantError):
    """A request the assistant will not take as given: empty, or too long to read."""

    exit_code = 6
    kind = "input"
