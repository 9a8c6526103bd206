"""Run one handler call with a deadline; turn every failure into a result, never a raise.

Each call runs in its own daemon thread and the turn waits at most the timeout for it.
Python cannot kill a thread, so a handler that hangs is abandoned, not stopped: it
keeps its thread until it returns, but the turn gets its apology on time and the next
turn runs normally. (A process per call could be killed, but handlers need the live
memory, reminders and settings objects, and a fork per turn costs more than it saves.)
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


def run_with_timeout(skill: str, fn, args: dict, ctx, timeout_s: float) -> RunResult:
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(args, ctx)
        except BaseException as e:      # noqa: BLE001 - reported, never raised into the turn
            box["error"] = e

    started = time.perf_counter()
    thread = threading.Thread(target=target, name=f"skill-{skill}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    ms = (time.perf_counter() - started) * 1000
    if thread.is_alive():
        log.error("skill %s: handler still running after %.1f s with %s; abandoned", skill, timeout_s, args)
        return RunResult("timeout", f"no answer within {timeout_s:g} s", ms)
    if "error" in box:
        e = box["error"]
        log.error("skill %s: handler raised %s: %s (arguments %s)", skill, e.__class__.__name__, e, args,
                  exc_info=(type(e), e, e.__traceback__))
        return RunResult("error", f"{e.__class__.__name__}: {e}", ms)
    value = box.get("value")
    if not isinstance(value, str) or not value.strip():
        log.error("skill %s: handler returned %r, not a sentence to say", skill, value)
        return RunResult("error", "handler returned no text", ms)
    return RunResult("ok", value.strip(), ms)
