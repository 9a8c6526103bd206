"""The live set of skills: docs indexed, handlers loaded, kept in step with the folders.

``refresh`` is called at the start of every turn. It only stats the skill folders
(a few microseconds); when a doc or handler was added, changed or removed it re-syncs
the index (re-embedding just the changed docs) and drops stale handler modules. That is
what makes a skill dropped into ``skills.user_dir`` usable on the very next turn,
without a restart.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

from assistant.errors import AssistantError

from .index import BUILTIN_DOCS, SkillIndex
from .runner import call_with_timeout
from .spec import SkillDoc

log = logging.getLogger(__name__)

GUARD_TIMEOUT_S = 1.0   # a user's handler import or parser that takes longer is switched off


class HandlerError(AssistantError):
    """A handler module that cannot be imported or has no ``run``."""


def _signature(dirs: list[Path]) -> tuple:
    entries = []
    for d in dirs:
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.name.endswith((".md", ".py")) and e.is_file():
                        st = e.stat()
                        entries.append((e.path, st.st_mtime_ns, st.st_size))
        except OSError:
            continue
    return tuple(sorted(entries))


class SkillRegistry:
    def __init__(self, index: SkillIndex) -> None:
        self.index = index
        self._signature: tuple | None = None
        self._modules: dict[str, tuple[int, ModuleType]] = {}
        self._quarantined: dict[str, int] = {}      # handler path → mtime of the version that hung
        self._lock = threading.Lock()
        self.rows: list[dict] = []
        self.vectors = np.zeros((0, index.embedder.dim), np.float32)

    def refresh(self) -> bool:
        """Re-sync when the folders changed since the last call; True when they had."""
        signature = _signature(self.index.dirs)
        if signature == self._signature:
            return False
        with self._lock:
            report = self.index.sync()
            self.rows, self.vectors = self.index.rows()
            self._signature = signature
        if self._signature is not None and (report.added or report.updated or report.removed):
            log.info("skills re-indexed: %s", report)
        return True

    @property
    def docs(self) -> dict[str, SkillDoc]:
        return self.index.docs

    def by_name(self, name: str) -> SkillDoc | None:
        return next((d for d in self.docs.values() if d.name == name), None)

    def parse(self, doc: SkillDoc, text: str):
        """The doc's parser on ``text``: its arguments, None (not a request for it), or
        ``NotImplemented`` when it has no parser. Built-in parsers run inline; the user's
        run under a deadline, and one that hangs is switched off until its file changes."""
        module = self.handler(doc)
        parse = getattr(module, "parse", None)
        if parse is None:
            return NotImplemented
        if Path(doc.path).parent == BUILTIN_DOCS:
            return parse(text)
        status, value = call_with_timeout(f"parse-{doc.name}", lambda: parse(text), GUARD_TIMEOUT_S)
        if status == "timeout":
            self._quarantined[doc.handler] = self._modules[doc.handler][0]
            self._modules.pop(doc.handler, None)
            log.error("skill %s: parse() took over %g s; switched off until %s changes", doc.name, GUARD_TIMEOUT_S,
                      Path(doc.handler).name)
            raise HandlerError(f"skill {doc.name}: parse() took over {GUARD_TIMEOUT_S:g} s; switched off until "
                               f"{Path(doc.handler).name} changes")
        if status == "error":
            raise value
        return value

    def handler(self, doc: SkillDoc) -> ModuleType:
        """The doc's handler module, imported afresh whenever its file changed."""
        path = Path(doc.handler)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            raise HandlerError(f"skill {doc.name}: handler {path} is missing; put it beside {Path(doc.path).name}")
        cached = self._modules.get(doc.handler)
        if cached and cached[0] == mtime:
            return cached[1]
        if self._quarantined.get(doc.handler) == mtime:
            raise HandlerError(f"skill {doc.name}: {path} hung before; it stays off until the file changes")
        spec = importlib.util.spec_from_file_location(f"skill_handler_{doc.name}_{mtime}", path)
        module = importlib.util.module_from_spec(spec)
        status, error = call_with_timeout(f"import-{doc.name}", lambda: spec.loader.exec_module(module),
                                          GUARD_TIMEOUT_S)
        if status == "timeout":
            self._quarantined[doc.handler] = mtime
            raise HandlerError(f"skill {doc.name}: importing {path} took over {GUARD_TIMEOUT_S:g} s; fix the handler")
        if status == "error":
            raise HandlerError(f"skill {doc.name}: cannot import {path} ({error.__class__.__name__}: {error}); "
                               "fix the handler")
        if not callable(getattr(module, "run", None)):
            raise HandlerError(f"skill {doc.name}: {path} has no run(args, ctx) function; add one")
        self._modules[doc.handler] = (mtime, module)
        return module
