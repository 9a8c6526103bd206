"""Set a timer or a reminder: parse "in ten minutes" / "at 6 pm" and the message."""
import datetime as dt
import re

from skills.spoken import second_person
from skills.spoken import digits, parse_duration, say_duration

_AT = re.compile(r"\b(?:at|for|by)\s+(\d{1,2})(?:[:.](\d{2})|\s+(\d{2})(?!\s*(?:min|sec|hour)))?\s*"
                 r"(a\.?\s?m\.?|p\.?\s?m\.?|o'?\s?clock)?(?=\W|$)", re.I)
_NOON = re.compile(r"\b(?:at|by)\s+(noon|midday|midnight)\b", re.I)
_DURATION = (r"(?:(?:in|for|after)\s+)?(?:(?:an?|\d+(?:\.\d+)?|half an?|a quarter of an?|\d+ quarters of an?|"
             r"a couple of|a few)\s*-?\s*(?:and a (?:half|quarter)\s+)?(?:seconds?|secs?|minutes?|mins?|hours?|"
             r"hrs?|days?|weeks?)(?:\s+and a (?:half|quarter))?(?:\s+and\s+)?)+")
_LEAD = re.compile(r"^(?:(?:hey|ok|okay|please|can you|could you|would you|will you|i need you to|i want you to)\s+)*", re.I)
_VERB = re.compile(r"^(?:(?:(?:set|start|put|make|create|add)\s+(?:me\s+)?(?:up\s+)?(?:on\s+)?)?(?:a|an|the)?\s*"
                   r"(?:new\s+)?(?:timer|reminder|alarm|countdown)(?:\s+on)?|remind me|count\s*down(?:\s+from)?|"
                   r"don'?t let me forget|make sure i (?:remember|don'?t forget)|wake me up|alert me|i need reminding|"
                   r"reminding|(?:ping|nudge) me)\b", re.I)


def _clock(text: str):
    m = _NOON.search(text)
    if m:
        return ("12:00" if m.group(1).lower() != "midnight" else "00:00"), m.span()
    m = _AT.search(text)
    if not m or (m.group(4) is None and m.group(2) is None and m.group(3) is None
                 and m.group(0).lower().startswith("for")):
        return None, None       # "a timer for 5": minutes, not five o'clock
    hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
    suffix = (m.group(4) or "").lower().replace(".", "").replace(" ", "")
    if suffix.startswith("p") and hour < 12:
        hour += 12
    if suffix.startswith("a") and hour == 12:
        hour = 0
    if not suffix.startswith(("a", "p")) and 1 <= hour <= 6:
        hour += 12          # "at 3 o'clock", "at 5:30": people mean the afternoon
    if hour > 23 or minute > 59:
        return None, None
    return f"{hour:02d}:{minute:02d}", m.span()


_REQUEST = re.compile(r"\bremind me\b(?!\s*,)(?!\s+of\b)|\bneed reminding\b|\b(?:ping|nudge) me\b|\btimer\b|\breminder\b|\bcount\s*down\b|\balarm\b|"
                      r"don'?t let me forget|make sure i (?:remember|don'?t forget)|\bwake me\b|\balert me\b", re.I)
_NOT = re.compile(r"\b(cancel|delete|remove|stop|turn off|clear|how long|how much time|what|which|list|any)\b", re.I)


def parse(text: str):
    """Arguments when the text asks for a timer or reminder; without a time it returns
    what it found (the schema then fails and the LLM gets to fill the time in)."""
    t = digits(text.strip().rstrip(".?!"))
    if not _REQUEST.search(t) or _NOT.match(t) or re.match(r"^\W*(?:what|which|how|is|are|do|does|why)\b", t, re.I):
        return None
    kind = "timer" if re.search(r"\b(timer|count\s*down)\b", t, re.I) else "reminder"
    seconds = None
    m = re.search(_DURATION, t, re.I)
    at, span = (None, None)
    if m:
        seconds = parse_duration(m.group(0))
        t = (t[:m.start()] + " " + t[m.end():]).strip()
    else:
        at, span = _clock(t)
        if at:
            t = (t[:span[0]] + " " + t[span[1]:]).strip()
    if seconds is None and at is None and not re.search(r"\bremind me\b|\bneed reminding\b", t, re.I):
        return None         # "the timer on my oven is broken": a timer with no time is no request
    t = re.sub(r"\s+", " ", t)
    t = _LEAD.sub("", t)
    t = re.sub(r"^(?:i need|i want|i'd like|give me|get me)\s+", "", t, flags=re.I)
    t = _VERB.sub("", t, count=1).strip(" ,")
    t = re.sub(r"^(?:please\s+|me\s+)+", "", t, flags=re.I)
    t = re.sub(r"^(?:to|that|about|for|of|so that|so)\s+", "", t, flags=re.I)
    t = re.sub(r"\s*(?:please|thanks|thank you)$", "", t, flags=re.I).strip(" ,")
    args = {"kind": kind}
    if seconds:
        args["seconds"] = seconds
    elif at:
        args["at"] = at
    if t:
        args["message"] = t[:120]
    return args


def run(args: dict, ctx) -> str:
    now = ctx.clock.now()
    if "seconds" in args:
        seconds = args["seconds"]
        due = now.timestamp() + seconds
        when = f"in {say_duration(seconds)}"
    else:
        hour, minute = map(int, args["at"].split(":"))
        target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if target <= now:
            target += dt.timedelta(days=1)
        due, seconds = target.timestamp(), int(target.timestamp() - now.timestamp())
        when = "at " + target.strftime("%I:%M %p").lstrip("0") + ("" if target.date() == now.date() else " tomorrow")
    message = args.get("message", "")
    ctx.reminders.add(args["kind"], message, due, seconds if args["kind"] == "timer" else 0)
    if args["kind"] == "timer":
        return f"Okay, a {say_duration(seconds, adjective=True)} timer, starting now." if "seconds" in args \
            else f"Okay, a timer for {when[3:]}."
    return f"Okay, I'll remind you {when}: {second_person(message)}." if message \
        else f"Okay, I'll remind you {when}."
