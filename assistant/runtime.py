"""Builds and owns the components, each loaded lazily and warmed at start.

Commands ask only for what they need (``assistant transcribe`` never loads the LLM);
the voice loop calls ``load(...)`` up front so that no model loads on the first turn.
"""
from __future__ import annotations

import logging
import sys
import time
from functools import cached_property
from pathlib import Path

from models.resolve import model_path

from .config import Config
from .paths import AppPaths

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, cfg: Config, paths: AppPaths, quiet: bool = False, config_file: Path | None = None) -> None:
        self.cfg, self.paths, self.quiet = cfg, paths, quiet
        self.config_file = config_file or paths.config_file    # where voice edits of the config go
        paths.ensure()

    def _path(self, stage: str) -> Path:
        return model_path(self.cfg, stage, self.paths.model_cache, quiet=self.quiet)

    def _timed(self, what: str, build):
        started = time.perf_counter()
        if not self.quiet:
            print(f"loading {what}…", file=sys.stderr, flush=True)
        value = build()
        log.info("loaded %s in %.2f s", what, time.perf_counter() - started)
        return value

    @cached_property
    def stt(self):
        from audio.stt import Transcriber
        return self._timed("speech recognition", lambda: Transcriber(self.cfg.stt, self._path("stt")))

    @cached_property
    def tts(self):
        from audio.tts import Synthesizer
        return self._timed("voice", lambda: Synthesizer(self.cfg.tts, self._path("tts")))

    @cached_property
    def llm(self):
        from .llm import LocalLLM
        return self._timed("language model", lambda: LocalLLM(self.cfg.llm, self._path("llm")))

    @cached_property
    def embedder(self):
        from memory.embeddings import Embedder
        return self._timed("embeddings", lambda: Embedder(self._path("embeddings"), self.cfg.llm.threads))

    @cached_property
    def db(self):
        from memory.store import open_db
        return open_db(self.paths.memory_db)

    @cached_property
    def store(self):
        from memory.store import MemoryStore
        return MemoryStore(self.paths.memory_db, self.embedder.dim, self.cfg.memory.profile)

    @cached_property
    def skills(self):
        from skills.index import BUILTIN_DOCS, SkillIndex
        dirs = [BUILTIN_DOCS] + ([Path(self.cfg.skills.user_dir).expanduser()] if self.cfg.skills.user_dir else [])
        index = SkillIndex(self.db, self.embedder, dirs)
        report = index.sync()
        if report.added or report.updated or report.removed:
            log.info("skill docs indexed: %s", report)
        return index

    @cached_property
    def skill_registry(self):
        from skills.registry import SkillRegistry
        return SkillRegistry(self.skills)

    @cached_property
    def clock(self):
        from skills.context import Clock
        return Clock(self.cfg.skills.timezone)

    @cached_property
    def reminders(self):
        from skills.reminders import ReminderBook
        return ReminderBook(self.paths.data_dir / "reminders.json")

    @cached_property
    def announcer(self):
        """Due reminders as sentences; the voice loop polls it between turns."""
        from skills.reminders import Announcer
        return Announcer(self.reminders, self.clock.tz)

    @cached_property
    def dispatcher(self):
        from skills.context import Services, Settings, SkillInfo
        from skills.dispatch import SkillDispatcher
        from skills.memory_api import MemoryFacts
        registry = self.skill_registry

        def catalogue():
            return [SkillInfo(d.name, d.title, d.summary, bool(d.handler))
                    for d in sorted(registry.docs.values(), key=lambda d: d.path)]
        services = Services(clock=self.clock, reminders=self.reminders,
                            memory=MemoryFacts(self.store, self.embedder),
                            settings=Settings(self.cfg, self.config_file), skills=catalogue)
        return SkillDispatcher(registry, services, self.llm, self.cfg.skills)

    @cached_property
    def engine(self):
        from .engine import Engine
        return Engine(self.cfg, self.llm, self.embedder, self.store, self.skills, actions=self.dispatcher)

    def load(self, *, stt: bool = False, tts: bool = False, engine: bool = False) -> None:
        """Load and warm what a command needs, so the first turn pays no load cost."""
        started = time.perf_counter()
        if stt:
            self.stt.warm()
        if engine:
            self.embedder.warm()
            self.llm.warm()
            _ = self.engine
            self.skill_registry.refresh()
        if tts:
            self.tts.warm()
        log.info("ready in %.2f s", time.perf_counter() - started)
