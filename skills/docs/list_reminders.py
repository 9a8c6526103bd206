"""Say which timers and reminders are waiting, soonest first."""
import re

from skills.spoken import second_person
from skills.reminders import clock_time, describe
from skills.spoken import say_duration

_ASK = re.compile(r"^(?:(?:hey|ok|okay|so|please|can you|could you)\s+)*(?:what|which|list|show|tell|read|any|"
                  r"do i|have i|are there|is there|how long|how much time|when)\b", re.I)


def parse(text: str):
    t = text.lower()
    if _ASK.match(t) and re.search(r"\b(reminders?|timers?|alarms?|reminder list|remind me)\b", t) \
            and not re.search(r"\b(cancel|delete|remove|stop|clear)\b|\b(set|start|put|make) (a|an|me)\b", t):
        return {}
    return None


def run(args: dict, ctx) -> str:
    pending = ctx.reminders.pending()
    if not pending:
        return "You have no timers or reminders set."
    now = ctx.clock.now().timestamp()
    parts = []
    for r in pending[:5]:
        left = int(r.due - now)
        when = f"in {say_duration(max(left, 1))}" if left < 3600 else f"at {clock_time(r.due, ctx.clock.tz)}"
        parts.append(f"{second_person(describe(r))}, {when}")
    head = "You have one: " if len(pending) == 1 else f"You have {len(pending)}: "
    more = f", and {len(pending) - 5} more" if len(pending) > 5 else ""
    return head + "; ".join(parts) + more + "."
