"""Timers and reminders, kept in a JSON file under the data directory.

A file (not memory) because a reminder must outlive the process that set it: one
``assistant ask`` sets it, the voice loop started tomorrow announces it. Every change
is a read-modify-write under an exclusive ``flock``, so two processes never both
announce the same reminder or lose each other's changes. ``claim_due`` holds what it
returns for ``CLAIM_S`` in the same locked step; the reminder is done only when the
announcer reports it delivered (``delivered``), and comes due again if it was not heard
(``release``) or if the process died holding it (the claim expires).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .spoken import say_duration

LATE_S = 90          # announced this late, it says when it was due: the assistant was off
CLAIM_S = 120.0      # a claimed reminder not reported back by then is due again (a crash)
RETRY_S = 20.0       # a reminder cut short by a barge-in is said again this much later


@dataclass
class Reminder:
    id: str
    kind: str            # "timer" | "reminder"
    message: str
    due: float           # epoch seconds
    created: float
    seconds: int = 0     # the duration asked for (timers announce it)
    status: str = "pending"   # "pending" | "done" | "cancelled"
    announced: float | None = None
    held_until: float = 0.0   # claimed for announcing (or to be retried) until then


def _words(text: str) -> set[str]:
    stop = {"the", "a", "an", "my", "to", "for", "about", "reminder", "timer", "one", "that", "please"}
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stop}


class ReminderBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[Reminder]]:
        """The reminders, for reading and changing; written back atomically on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            items = self._read()
            before = [asdict(r) for r in items]
            yield items
            if [asdict(r) for r in items] != before:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps([asdict(r) for r in items], indent=1), encoding="utf-8")
                os.replace(tmp, self.path)

    def _read(self) -> list[Reminder]:
        try:
            return [Reminder(**r) for r in json.loads(self.path.read_text(encoding="utf-8"))]
        except FileNotFoundError:
            return []

    def add(self, kind: str, message: str, due: float, seconds: int = 0) -> Reminder:
        r = Reminder(uuid.uuid4().hex[:6], kind, message.strip(), due, time.time(), seconds)
        with self._locked() as items:
            items.append(r)
        return r

    def all(self) -> list[Reminder]:
        return sorted(self._read(), key=lambda r: r.due)

    def pending(self) -> list[Reminder]:
        return [r for r in self.all() if r.status == "pending"]

    def cancel(self, which: str) -> list[Reminder]:
        """Cancel by id, by words of the message ("the oven one"), or "all".

        Only reminders whose words match are cancelled, none when nothing matches; a
        bare "timer" or "reminder" with no match cancels the latest of that kind.
        """
        which = which.strip().lower()
        with self._locked() as items:
            pending = [r for r in items if r.status == "pending"]
            if which in ("all", "everything", "every"):
                chosen = pending
            else:
                chosen = [r for r in pending if r.id == which]
                if not chosen:
                    want = _words(which)
                    chosen = [r for r in pending if want and want <= _words(r.message + " " + r.kind)] \
                        or [r for r in pending if want & _words(r.message)]
                if not chosen and which in ("", "timer", "reminder", "alarm", "it", "last", "latest") and pending:
                    kind = [r for r in pending if r.kind == which] or pending
                    chosen = [max(kind, key=lambda r: r.created)]
            for r in chosen:
                r.status = "cancelled"
        return chosen

    def take_due(self, now: float | None = None) -> list[Reminder]:
        """Pending reminders that are due, marked done: each is announced exactly once."""
        now = time.time() if now is None else now
        with self._locked() as items:
            due = [r for r in items if r.status == "pending" and r.due <= now]
            for r in due:
                r.status, r.announced = "done", now
        return sorted(due, key=lambda r: r.due)

    def claim_due(self, now: float | None = None, hold_s: float = CLAIM_S) -> list[Reminder]:
        """Pending reminders that are due and not held, now held for ``hold_s``: one
        process announces each, and it stays pending until ``delivered``."""
        now = time.time() if now is None else now
        with self._locked() as items:
            due = [r for r in items if r.status == "pending" and r.due <= now and r.held_until <= now]
            for r in due:
                r.held_until = now + hold_s
        return sorted(due, key=lambda r: r.due)

    def delivered(self, rid: str, now: float | None = None) -> bool:
        """The user was told: the reminder is done."""
        now = time.time() if now is None else now
        with self._locked() as items:
            found = [r for r in items if r.id == rid and r.status == "pending"]
            for r in found:
                r.status, r.announced, r.held_until = "done", now, 0.0
        return bool(found)

    def release(self, rid: str, retry_s: float = RETRY_S, now: float | None = None) -> None:
        """Not heard: due again after ``retry_s``."""
        now = time.time() if now is None else now
        with self._locked() as items:
            for r in items:
                if r.id == rid and r.status == "pending":
                    r.held_until = now + retry_s

    def next_due(self) -> float | None:
        pending = self.pending()
        return pending[0].due if pending else None


def clock_time(ts: float, tz: dt.tzinfo | None) -> str:
    """"3:05 PM", or "Tuesday at 3:05 PM" when not today."""
    when = dt.datetime.fromtimestamp(ts, tz)
    text = when.strftime("%I:%M %p").lstrip("0")
    if when.date() != dt.datetime.now(tz).date():
        text = when.strftime("%A at ") + text
    return text


def describe(r: Reminder) -> str:
    if r.kind == "timer":
        label = f"{say_duration(r.seconds, adjective=True)} timer" if r.seconds else "timer"
        return f"a {label}" + (f" for {r.message}" if r.message else "")
    return f"a reminder to {r.message}" if r.message else "a reminder"


def announcement(r: Reminder, now: float, tz: dt.tzinfo | None) -> str:
    """What to say when ``r`` comes due (or, if the assistant was off, that it did)."""
    if r.kind == "timer":
        what = f"Your {say_duration(r.seconds, adjective=True)} timer is done." if r.seconds else "Your timer is done."
        if r.message:
            what = what[:-1] + f": {r.message}."
    else:
        what = f"Here is your reminder: {r.message}." if r.message else "Here is your reminder."
    if now - r.due > LATE_S:
        return f"While I was away, something came due at {clock_time(r.due, tz)}. {what}"
    return what


@dataclass(frozen=True)
class Due:
    id: str
    text: str


class Announcer:
    """What the voice loop polls between turns: due reminders as sentences to speak."""

    def __init__(self, book: ReminderBook, tz: dt.tzinfo | None) -> None:
        self.book, self.tz = book, tz

    def due(self, now: float | None = None) -> list[str]:
        """Due reminders' sentences, marked done at once (for callers that cannot report back)."""
        now = time.time() if now is None else now
        return [announcement(r, now, self.tz) for r in self.book.take_due(now)]

    def claim(self, now: float | None = None) -> list[Due]:
        """Due reminders to announce; report each back with ``delivered`` or ``release``."""
        now = time.time() if now is None else now
        return [Due(r.id, announcement(r, now, self.tz)) for r in self.book.claim_due(now)]

    def delivered(self, rid: str) -> bool:
        return self.book.delivered(rid)

    def release(self, rid: str) -> None:
        self.book.release(rid)
