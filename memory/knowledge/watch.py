"""Keep the index current while the daemon runs: watchdog events, plus a periodic sync.

Events (created, modified, moved, deleted) under the folders wake a worker that waits
until the folder has been quiet for ``debounce_s`` (an editor's save is several events)
and then syncs; a sync only stats unchanged files, so a full one after an event costs
milliseconds for a few thousand files and catches everything the event named and
anything a missed event did not. A periodic sync every ``interval_s`` covers what no
event reports (a network share, a folder created after start).

The worker thread runs under Linux's SCHED_IDLE policy (nice 19 where that is refused),
and the sync pauses between small embedding batches while ``pause()`` is true (a turn
is running, or ended less than a moment ago): llama.cpp's two threads wait for each
other at every operation, so even a niced thread that preempts one stalls both.
benchmarks/knowledge_scale.py --turns measures turns with indexing held and running,
alternately in one run.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


def lowest_priority() -> None:
    """Run this thread only when the CPU is otherwise idle (Linux applies it per thread)."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, 19)
    except (OSError, AttributeError):
        log.debug("cannot lower the indexing thread's priority")


def settled(busy: Callable[[], bool], quiet_s: float = 1.5) -> Callable[[], bool]:
    """``busy()``, extended by ``quiet_s`` after it last held: the end of a turn's text is
    not the end of its work (the last sentence is still being voiced), and the next turn
    often follows at once."""
    last = [float("-inf")]

    def pause() -> bool:
        if busy():
            last[0] = time.monotonic()
            return True
        return time.monotonic() - last[0] < quiet_s
    return pause


class KnowledgeWatcher:
    def __init__(self, sync: Callable[[], object], folders: list[Path], interval_s: float = 600.0,
                 debounce_s: float = 1.0) -> None:
        self._sync, self.folders = sync, folders
        self.interval_s, self.debounce_s = interval_s, debounce_s
        self._event = threading.Event()
        self._stop = threading.Event()
        self._last_event = 0.0
        self._observer = None
        self._thread: threading.Thread | None = None
        self.syncs = 0
        self.last_report = None

    def start(self) -> "KnowledgeWatcher":
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                watcher._last_event = time.monotonic()
                watcher._event.set()

        self._observer = Observer()
        for folder in self.folders:
            target = folder if folder.is_dir() else folder.parent
            if target.is_dir():
                self._observer.schedule(Handler(), str(target), recursive=True)
            else:
                log.warning("knowledge folder %s does not exist; it is synced periodically", folder)
        self._observer.daemon = True
        self._observer.start()
        self._thread = threading.Thread(target=self._run, name="knowledge-index", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        lowest_priority()
        self._once()                            # catch up with what changed while stopped
        next_full = time.monotonic() + self.interval_s if self.interval_s else float("inf")
        while not self._stop.is_set():
            self._event.wait(timeout=max(0.1, min(next_full - time.monotonic(), 60.0)))
            if self._stop.is_set():
                return
            if self._event.is_set():
                while time.monotonic() - self._last_event < self.debounce_s and not self._stop.is_set():
                    time.sleep(0.1)             # let a save (several events) finish
                self._event.clear()
                self._once()
            elif time.monotonic() >= next_full:
                self._once()
                next_full = time.monotonic() + self.interval_s

    def _once(self) -> None:
        try:
            self.last_report = report = self._sync()
            self.syncs += 1
            if getattr(report, "changed", False) or getattr(report, "skipped", None):
                log.info("knowledge synced: %s", report.summary())
                for path, reason in report.skipped:
                    log.info("knowledge: skipped %s: %s", path, reason)
        except Exception:                       # never kill the thread: the next event retries
            log.exception("knowledge sync failed")
