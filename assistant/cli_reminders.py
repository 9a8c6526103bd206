"""``assistant reminders``: list and cancel timers and reminders from the command line.

Kept apart from ``cli.py``, which only registers it. No model is loaded: reminders are
a JSON file under the data directory (``skills/reminders.py``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict


def add_parser(sub, common) -> None:
    p = sub.add_parser("reminders", parents=[common], help="list or cancel timers and reminders")
    rsub = p.add_subparsers(dest="reminders_command", metavar="ACTION")
    ls = rsub.add_parser("list", parents=[common], help="waiting reminders (default)")
    ls.add_argument("--all", action="store_true", help="also those already announced or cancelled")
    cancel = rsub.add_parser("cancel", parents=[common], help="cancel by id, by words, or 'all'")
    cancel.add_argument("which", help="a reminder's id, words of its message, or 'all'")


def cmd_reminders(ctx) -> int:
    from skills.context import Clock
    from skills.reminders import ReminderBook, describe
    book = ReminderBook(ctx.paths.data_dir / "reminders.json")
    tz = Clock(ctx.cfg.skills.timezone).tz
    if getattr(ctx.args, "reminders_command", None) == "cancel":
        from .errors import AssistantError
        from .limits import is_text
        which = ctx.args.which.strip()
        if not which or not is_text(which):
            raise AssistantError("say which reminder to cancel: its id, words of its message, or 'all' "
                                 "(see assistant reminders list)")
        if not book.pending():
            ctx.out([], "nothing to cancel: no reminder is waiting")
            return 0
        cancelled = book.cancel(which)
        if not cancelled:
            raise AssistantError(f"no waiting reminder matches {which!r}; see assistant reminders list")
        ctx.out([asdict(r) for r in cancelled], "\n".join(f"cancelled {r.id}  {describe(r)}" for r in cancelled))
        return 0
    rows = book.all() if getattr(ctx.args, "all", False) else book.pending()
    human = "\n".join(f"{r.id}  {dt.datetime.fromtimestamp(r.due, tz):%Y-%m-%d %H:%M:%S}  {r.status:<9}  {describe(r)}"
                      for r in rows) or "(no reminders)"
    ctx.out([asdict(r) for r in rows], human)
    return 0
