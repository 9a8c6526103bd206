"""Delete the memories about one topic, through the memory adapter."""
import re

from skills.spoken import second_person

_LEAD = re.compile(r"^(?:(?:hey|ok|okay|please|can you|could you|i want you to|i need you to)\s+)*"
                   r"(?:forget|delete|erase|remove|wipe|drop|stop remembering|i don'?t want you to remember)\s+"
                   r"(?:(?:what|everything|anything|all) i (?:told|said to|said|mentioned to) you|"
                   r"(?:what|everything|anything|all) i (?:told|said|mentioned)|"
                   r"the (?:memory|memories|note|notes|fact|facts|thing)|what you know|my note)?\s*"
                   r"(?:about|that|regarding|of|on)?\s*", re.I)


def parse(text: str):
    t = text.strip().rstrip(".!?")
    m = _LEAD.match(t)
    if not m or m.end() >= len(t):
        return None
    about = re.sub(r"\s+please$", "", t[m.end():].strip(" ,"), flags=re.I)
    if re.fullmatch(r"(it|that|this|them|those|these|him|her|me|about it|that then)\W*", about, re.I):
        return None         # "forget it": never mind, not a topic
    if re.match(r"(everything|all\b|it all|anything|your (?:entire |whole )?memory|me\b)", about, re.I) \
            or re.search(r"\b(reminders?|timers?|alarms?)$", about, re.I):
        return None         # forget_everything, or a reminder to cancel
    return {"about": about} if len(about) >= 2 else None


def run(args: dict, ctx) -> str:
    found = ctx.memory.about(args["about"])
    if not found:
        return f"I don't have anything about {second_person(args['about'])} to forget."
    n = ctx.memory.forget([m.id for m in found])
    return f"Done. I forgot {n} thing{'s' if n != 1 else ''} about {second_person(args['about'])}."
