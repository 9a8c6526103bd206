"""Cancel timers or reminders by what they are about, or all of them."""
import re

from skills.spoken import second_person
from skills.reminders import describe

_FILLER = re.compile(r"\b(cancel|delete|remove|stop|turn off|switch off|clear|call off|get rid of|kill|never ?mind|"
                     r"i don'?t need|any ?more|please|the|my|a|an|that|this|one|about|for|to|reminders?|timers?|alarms?)\b",
                     re.I)


_CANCEL = re.compile(r"^(?:(?:hey|ok|okay|please|can you|could you|i want you to|i'd like you to)\s+)*"
                     r"(?:cancel|delete|remove|stop|turn off|switch off|clear|call off|get rid of|kill|never ?mind|"
                     r"i don'?t need|forget (?:about )?(?:the|my) (?:\w+ )?(?:reminder|timer|alarm))\b", re.I)


def parse(text: str):
    t = text.lower().strip(" .?!")
    if not _CANCEL.match(t) or not re.search(r"\b(reminders?|timers?|alarms?|countdowns?)\b", t):
        return None
    if re.search(r"\b(all|every|everything)\b", t):
        return {"which": "all"}
    which = re.sub(r"\s+", " ", _FILLER.sub(" ", t)).strip(" ,'")
    if not which:
        noun = re.search(r"\b(timer|reminder|alarm)s?\b", t)
        which = noun.group(1) if noun else ""
    return {"which": which}


def run(args: dict, ctx) -> str:
    if not ctx.reminders.pending():
        return "There is nothing to cancel: you have no timers or reminders set."
    cancelled = ctx.reminders.cancel(args["which"])
    if not cancelled:
        return f"I couldn't find a timer or reminder about {args['which']}. Ask me to list them."
    if len(cancelled) == 1:
        return f"Okay, I cancelled {second_person(describe(cancelled[0]))}."
    return f"Okay, I cancelled {len(cancelled)} timers and reminders."
