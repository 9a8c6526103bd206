"""What a handler may touch: only the APIs its doc declares under ``needs``.

The assistant's services (clock, reminders, memory, settings, the skill catalogue) are
built once; each handler call gets a ``SkillContext`` that hands out just the ones its
doc asked for, so a calculator cannot reach memory and a time skill cannot edit config.
This is least privilege by construction, not a sandbox: a handler is Python code the
user installed, and it runs in the assistant's process. What the *model* produces is
only ever data — arguments validated against a schema — and is never run as code or
as a shell command.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant import config_edit
from assistant.config import Config

from .memory_api import MemoryFacts
from .reminders import ReminderBook


class Clock:
    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone) if timezone else None   # None: the system's local time

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.tz) if self.tz else dt.datetime.now().astimezone()


class Settings:
    """Voice-editable settings: a whitelist of keys, changed through ``config_edit``."""

    KEYS = {"tts.speed", "tts.volume", "llm.user_name"}

    def __init__(self, live: Config, user_file: Path) -> None:
        self.live, self.user_file = live, user_file

    def get(self, key: str):
        section, name = key.split(".")
        return getattr(getattr(self.live, section), name)

    def set(self, key: str, value) -> None:
        if key not in self.KEYS:
            raise PermissionError(f"{key} cannot be changed by voice")
        config_edit.apply(self.live, config_edit.edit(self.user_file, key, value))

    def reset(self, key: str) -> None:
        if key not in self.KEYS:
            raise PermissionError(f"{key} cannot be changed by voice")
        config_edit.apply(self.live, config_edit.edit(self.user_file, key, config_edit.UNSET))


@dataclass(frozen=True)
class SkillInfo:
    name: str
    title: str
    summary: str
    acts: bool


@dataclass
class Services:
    clock: Clock
    reminders: ReminderBook
    memory: MemoryFacts
    settings: Settings
    skills: object          # a callable returning list[SkillInfo]


class SkillContext:
    def __init__(self, skill: str, services: Services, needs: tuple[str, ...]) -> None:
        self._skill = skill
        self._granted = {n: getattr(services, n) for n in needs}
        self.log = logging.getLogger(f"skills.{skill}")

    def __getattr__(self, name: str):
        granted = self.__dict__.get("_granted", {})
        if name in granted:
            return granted[name]
        raise PermissionError(f"skill {self.__dict__.get('_skill')} did not declare `needs: [{name}]` in its doc")
