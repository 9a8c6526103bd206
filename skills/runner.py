"""Run one handler call with a deadline; turn every failure into a result, never a raise.

Each call runs in its own daemon thread and the turn waits at most the timeout for it.
Python cannot kill a thread, so a handler that hangs is abandoned, not stopped: it
keeps its thread until it returns, but the turn gets its apology on time and the next
turn runs normally. (A process per call could be killed, but handlers need the live
memory, reminders and settings objects, and a fork per turn costs more than it saves.)
The same guard runs the user's own parsers and handler imports (see the registry).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    status: str             # "ok" | "error" | "timeout"
    text: str               # what the handler said (ok) or the error (error)
    ms: float


def call_with_timeout(name: str, fn, timeout_s: float) -> tuple[str, object]:
    """("ok", value) | ("error", exception) | ("timeout", None), never raising."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:      # noqa: BLE001 - reported, never raised into the turn
            box["error"] = e

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return "timeout", None
    if "error" in box:
        return "error", box["error"]
    return "ok", box.get("value")


def run_with_timeout(skill: str, fn, args: dict, ctx, timeout_s: float) -> RunResult:
    started = time.perf_counter()
    status, value = call_with_timeout(f"skill-{skill}", lambda: fn(args, ctx), timeout_s)
    ms = (time.perf_counter() - started) * 1000
    if status == "timeout":
        log.error("skill %s: handler still running after %.1f s with %s; abandoned", skill, timeout_s, args)
        return RunResult("timeout", f"no answer within {timeout_s:g} s", ms)
    if status == "error":
        log.error("skill %s: handler raised %s: %s (arguments %s)", skill, value.__class__.__name__, value, args,
                  exc_info=(type(value), value, value.__traceback__))
        return RunResult("error", f"{value.__class__.__name__}: {value}", ms)
    if not isinstance(value, str) or not value.strip():
        log.error("skill %s: handler returned %r, not a sentence to say", skill, value)
        return RunResult("error", "handler returned no text", ms)
    return RunResult("ok", value.strip(), ms)
