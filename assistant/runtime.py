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
        from memory.embeddings import limit_blas_threads
        limit_blas_threads(cfg.memory.embedding_threads)     # one BLAS state for every stage, from the start

    def _path(self, stage: str) -> Path:
        return model_path(self.cfg, stage, self.paths.model_cache, quiet=self.quiet)

    def _timed(self, what: str, build):
        started = time.perf_counter()
        if not self.quiet:
            print(f"loading {what}…", file=sys.stderr, flush=True)
        value = build()
        log.info("loaded %s in %.2f s", what, time.perf_counter() - started)
        return value

    def _build(self, stage: str, cfg: Config):
        """A new STT, TTS or LLM component for ``cfg``: at start, and on a live reload."""
        path = model_path(cfg, stage, self.paths.model_cache, quiet=self.quiet)
        if stage == "stt":
            from audio.stt import Transcriber
            return Transcriber(cfg.stt, path, cfg.llm.assistant_name)
        if stage == "tts":
            from audio.tts import Synthesizer
            return Synthesizer(cfg.tts, path)
        from .llm import LocalLLM
        from .llm_remote import build
        return build(cfg.llm, LocalLLM(cfg.llm, path))      # llm.backend "openai": server first

    @cached_property
    def stt(self):
        return self._timed("speech recognition", lambda: self._build("stt", self.cfg))

    @cached_property
    def tts(self):
        return self._timed("voice", lambda: self._build("tts", self.cfg))

    @cached_property
    def llm(self):
        return self._timed("language model", lambda: self._build("llm", self.cfg))

    @cached_property
    def embedder(self):
        from memory.embeddings import Embedder
        m = self.cfg.memory
        return self._timed("embeddings", lambda: Embedder(self._path("embeddings"), m.embedding_threads,
                                                          m.embedding_backend, self.paths.model_cache))

    @cached_property
    def db(self):
        from memory.store import open_db
        return open_db(self.paths.memory_db)

    @cached_property
    def store(self):
        import atexit

        from memory.store import MemoryStore, StoreSettings
        m = self.cfg.memory
        settings = StoreSettings(flush_rows=m.flush_rows, flush_seconds=m.flush_seconds,
                                 compact_fragments=m.compact_fragments, retention_minutes=m.retention_minutes,
                                 ann_min_rows=m.ann_min_rows, ann_target_recall=m.ann_target_recall,
                                 date_keys=m.date_keys)
        from .storage import memory_location
        store = MemoryStore(memory_location(m, self.paths), self.embedder.dim, m.profile, settings)
        atexit.register(store.close)        # unflushed turns are written before the process ends
        return store

    @cached_property
    def memory(self):
        from .engine import memory_service
        return memory_service(self.cfg, self.store, self.embedder)

    @cached_property
    def knowledge(self):
        """The user's notes and documents (``memory.knowledge``), this profile's table."""
        from memory.knowledge.service import KnowledgeBase
        from memory.knowledge.store import KnowledgeStoreSettings
        k = self.cfg.knowledge
        return KnowledgeBase(self.paths.memory_db, self.embedder, self.cfg.memory.profile, k.search_settings(),
                             k.chunk_settings(), int(k.max_file_mb * 1e6),
                             KnowledgeStoreSettings(k.ann_min_rows, self.cfg.memory.ann_target_recall,
                                                    self.cfg.memory.retention_minutes))

    def watch_knowledge(self):
        """Start (or restart, after a config change) re-indexing the folders in the background."""
        old = self.__dict__.pop("knowledge_watcher", None)
        if old is not None:
            old.stop()
        k = self.cfg.knowledge
        if not (k.folders and k.watch):
            return None
        from memory.knowledge.watch import KnowledgeWatcher, settled
        kb, engine = self.knowledge, self.__dict__.get("engine")
        busy = settled(engine.busy) if engine is not None else (lambda: False)
        watcher = KnowledgeWatcher(lambda: kb.sync(self.cfg.knowledge.paths(), pause=busy), k.paths(),
                                   k.sync_interval_s)
        self.__dict__["knowledge_watcher"] = watcher.start()
        return watcher

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
                            memory=MemoryFacts(self.memory),
                            settings=Settings(self.cfg, self.config_file), skills=catalogue)
        return SkillDispatcher(registry, services, self.llm, self.cfg.skills)

    @property
    def active_knowledge(self):
        """The user's notes when config.toml names folders, else None (nothing to search)."""
        return self.knowledge if self.cfg.knowledge.folders else None

    @cached_property
    def engine(self):
        return self.session_engine()

    def session_engine(self, session_id: str | None = None):
        """An engine with a session of its own (the local loop's; a Wyoming conversation's;
        a satellite room's), sharing this runtime's models, memory, notes and skills."""
        from .engine import Engine
        return Engine(self.cfg, self.llm, self.embedder, self.store, self.skills, session_id=session_id,
                      actions=self.dispatcher, knowledge=self.active_knowledge, memory=self.memory)

    def up_to_date(self, engine):
        """``engine`` with this runtime's config, models, memory and notes after a live
        config edit: ``reconfigure`` calls it for the main engine, and a Wyoming
        conversation or a room calls it for its own before each turn."""
        if engine.cfg is not self.cfg:
            engine.reconfigure(self.cfg, llm=self.llm, memory=self.memory, knowledge=self.active_knowledge)
        return engine

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

    # -- live reconfiguration ----------------------------------------------------------
    # stage → (keys that need a new component, when the other keys take effect)
    RELOADABLE = {"tts": (("voice",), "from the next sentence"),
                  "stt": (("model", "compute_type", "threads"), "from the next utterance"),
                  "llm": (("model", "backend", "base_url", "remote_model", "api_key_env"), "from the next turn")}
    RESTART_KEYS = {("audio", "input_device"), ("audio", "output_device"), ("memory", "embedding_model"),
                    ("llm", "context_tokens"), ("llm", "threads"), ("memory", "uri"), ("memory", "storage_options")}

    def reconfigure(self, new: Config) -> list[str]:
        """Apply a new config, rebuilding only the components whose section changed.

        Each replacement is built and warmed before it is swapped in, so a failure
        (a model that will not load) leaves the old component serving; the caller keeps
        the old config too.
        """
        old, actions = self.cfg, []
        changed = [name for name in Config.model_fields if getattr(old, name) != getattr(new, name)]
        needs_restart = sorted(f"{s}.{k}" for s, k in self.RESTART_KEYS
                               if getattr(getattr(old, s), k) != getattr(getattr(new, s), k))
        loaded = self.__dict__
        swaps: dict[str, object] = {}
        for stage, (rebuild_keys, when) in self.RELOADABLE.items():
            if stage not in changed or stage not in loaded:
                continue
            before, after = getattr(old, stage), getattr(new, stage)
            if any(getattr(before, k) != getattr(after, k) for k in rebuild_keys):
                swaps[stage] = self._build(stage, new)
                swaps[stage].warm()
            else:                            # the component reads its settings on each use
                getattr(self, stage).cfg = after
                actions.append(f"{stage} settings apply {when}")
        for name, component in swaps.items():
            loaded[name] = component
            actions.append(f"reloaded {name}")
        self.cfg = new
        if "memory" in changed or new.llm.assistant_name != old.llm.assistant_name:
            if new.memory.profile != old.memory.profile and "store" in loaded:
                loaded.pop("store").close()          # flushes what is buffered
                actions.append(f"memory profile is now {new.memory.profile!r}")
            loaded.pop("memory", None)      # one memory API, shared by the engine and the skills
            if "memory" in changed:
                actions.append("memory settings apply from the next turn")
        if "stt" in loaded:
            self.stt.assistant_name = new.llm.assistant_name     # a renamed assistant is heard by name
        if "dispatcher" in loaded:
            from skills.memory_api import MemoryFacts
            self.dispatcher.reconfigure(new.skills, llm=self.llm, memory=MemoryFacts(self.memory), live=new)
        if "engine" in loaded:
            if "knowledge" in changed or new.memory.profile != old.memory.profile:
                loaded.pop("knowledge", None)       # new search settings, or another profile's table
                if "knowledge_watcher" in loaded or new.knowledge.watch:
                    self.watch_knowledge()
                    if new.knowledge.folders:
                        actions.append("knowledge folders re-indexed in the background")
            self.up_to_date(self.engine)
        if "skills" in changed and "skills" in loaded:
            from skills.index import BUILTIN_DOCS
            self.skills.dirs = [BUILTIN_DOCS] + ([Path(new.skills.user_dir).expanduser()] if new.skills.user_dir else [])
            self.skills.sync()
            actions.append("skill docs re-indexed")
        if needs_restart:
            actions.append("restart needed for " + ", ".join(needs_restart))
        return actions
