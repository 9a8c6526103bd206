"""Erase every memory of this profile; the dispatcher has already heard a spoken yes."""
import re

_WIPE = re.compile(r"^(?:(?:hey|ok|okay|please|can you|could you|i want you to|i'd like you to|now)\s+)*"
                   r"(?:forget|erase|delete|wipe|clear|reset|remove|purge|start over|start afresh|start again)\b", re.I)
_ALL = re.compile(r"\b(everything|all|entire|whole|completely|blank|every memory|your memory|clean slate)\b", re.I)


def parse(text: str):
    """{} for "forget everything" and its paraphrases; None for anything narrower."""
    t = text.strip(" .!?")
    if _WIPE.match(t) and _ALL.search(t) and not re.search(r"\b(reminders?|timers?|alarms?)\b", t, re.I) \
            and not re.search(r"\b(about|that)\s+(?!me\b)\w", t, re.I):
        return {}
    return None


def run(args: dict, ctx) -> str:
    n = ctx.memory.forget_everything()
    return f"Done. I erased all {n} memories. I'm starting with a blank slate."
