"""One utterance to one skill action: route, fill arguments, confirm, run, say the result.

The stage between retrieval and the LLM in ``Engine.respond``: ``act`` returns an
``Action`` (what to say, and what was done) when the utterance asks for a skill, or
None when it is conversation. Nothing in here raises into the turn: an unknown or
broken skill, arguments that do not fit the schema, a handler that raises or hangs —
each becomes a short spoken apology plus a log line.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

import numpy as np

from .arguments import BadArguments, Filled, fill
from .context import Services, SkillContext
from .memory_api import MemoryFacts
from .registry import HandlerError, SkillRegistry
from .router import Route, Router
from .runner import run_with_timeout
from .settings import SkillsConfig
from .spec import SkillDoc

log = logging.getLogger(__name__)

CONFIRM_WINDOW_S = 120
YES = re.compile(r"^\W*(yes|yeah|yep|yup|sure|ok(ay)?|confirm(ed)?|do it|go ahead|i'?m sure|"
                 r"absolutely|of course|please do|that'?s right|correct)\b", re.I)
NO = re.compile(r"^\W*(no|nope|nah|don'?t|do not|cancel|stop|never ?mind|wait|not now)\b", re.I)

SORRY = {
    "unknown": "Sorry, I can't do that right now: that skill isn't working.",
    "bad_arguments": "Sorry, I didn't catch the details of that. Could you say it another way?",
    "error": "Sorry, something went wrong while I tried to do that.",
    "timeout": "Sorry, that took too long, so I stopped waiting for it.",
}


@dataclass
class Plan:
    route: Route
    doc: SkillDoc | None = None
    filled: Filled | None = None
    status: str = "planned"         # "planned" | "unknown" | "bad_arguments"
    error: str = ""
    module: object = None
    ms: dict = field(default_factory=dict)


@dataclass
class Action:
    skill: str
    args: dict
    status: str                     # "ok" | "error" | "timeout" | "unknown" | "bad_arguments" | "confirm" | "declined"
    reply: str
    route: dict
    args_source: str = ""
    ms: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"skill": self.skill, "args": self.args, "status": self.status, "args_source": self.args_source,
                "route": self.route, "ms": {k: round(v, 1) for k, v in self.ms.items()}}


@dataclass
class _Pending:
    plan: Plan
    asked: float


class SkillDispatcher:
    def __init__(self, registry: SkillRegistry, services: Services, llm, cfg: SkillsConfig) -> None:
        self.registry, self.services, self.llm, self.cfg = registry, services, llm, cfg
        self.router = Router(registry, cfg.route_min_relevance, cfg.route_margin)
        self._pending: _Pending | None = None
        self.use_parser = True          # False: the LLM fills every argument (benchmark comparison)

    def reconfigure(self, cfg: SkillsConfig, *, llm, memory: MemoryFacts, live) -> None:
        """Act from the next request with a new config.toml: its [skills] section, the LLM
        that fills arguments and the memory skills write to (either may have been rebuilt),
        and ``live``, the whole config that voice edits change."""
        self.cfg, self.llm = cfg, llm
        self.router.min_relevance, self.router.margin = cfg.route_min_relevance, cfg.route_margin
        self.services.memory = memory
        self.services.settings.live = live

    def plan(self, text: str, vector: np.ndarray) -> Plan | None:
        """Which skill and which arguments; None when the utterance is not a request."""
        started = time.perf_counter()
        self.registry.refresh()
        route = self.router.route(vector, text)
        ms = {"route": (time.perf_counter() - started) * 1000}
        if route.doc is None:
            log.debug("no skill for %r: %s", text, route.as_dict())
            return None
        plan = Plan(route, route.doc, ms=ms)
        try:
            plan.module = self.registry.handler(route.doc)
        except HandlerError as e:
            log.error("%s", e)
            plan.status, plan.error = "unknown", str(e)
            return plan
        try:
            parse = (lambda _text: route.parsed) if route.parsed is not None else getattr(plan.module, "parse", None)
            plan.filled = fill(route.doc, text, parse,
                               self.llm if self.cfg.llm_arguments else None, use_parser=self.use_parser)
            ms["args"] = plan.filled.ms
        except BadArguments as e:
            log.warning("%s", e)
            plan.status, plan.error = "bad_arguments", str(e)
            ms["args"] = (time.perf_counter() - started) * 1000 - ms["route"]
        return plan

    def would_act(self, text: str, vector: np.ndarray) -> bool:
        """Whether ``act`` would take this utterance (a skill, or an answer awaited), without acting."""
        if self._pending and time.monotonic() - self._pending.asked < CONFIRM_WINDOW_S:
            return True
        self.registry.refresh()
        return self.router.route(vector, text).doc is not None

    def act(self, text: str, vector: np.ndarray) -> Action | None:
        pending, self._pending = self._pending, None
        if pending and time.monotonic() - pending.asked < CONFIRM_WINDOW_S:
            if YES.match(text):
                return self._run(pending.plan)
            if NO.match(text):
                return self._action(pending.plan, "declined", "Okay, I won't.")
        plan = self.plan(text, vector)
        if plan is None:
            return None
        if plan.status != "planned":
            return self._action(plan, plan.status, SORRY[plan.status])
        if plan.doc.confirm:
            self._pending = _Pending(plan, time.monotonic())
            log.info("skill %s waits for a spoken yes", plan.doc.name)
            return self._action(plan, "confirm", plan.doc.confirm)
        return self._run(plan)

    def _run(self, plan: Plan) -> Action:
        doc = plan.doc
        ctx = SkillContext(doc.name, self.services, doc.needs)
        result = run_with_timeout(doc.name, plan.module.run, plan.filled.args, ctx, self.cfg.handler_timeout_s)
        plan.ms["run"] = result.ms
        if result.status != "ok":
            return self._action(plan, result.status, SORRY[result.status])
        log.info("skill %s %s → %r", doc.name, plan.filled.args, result.text)
        return self._action(plan, "ok", result.text)

    def _action(self, plan: Plan, status: str, reply: str) -> Action:
        return Action(plan.doc.name, plan.filled.args if plan.filled else {}, status, reply,
                      plan.route.as_dict(), plan.filled.source if plan.filled else "", dict(plan.ms))
