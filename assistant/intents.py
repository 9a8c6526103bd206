"""Memory commands said out loud: "remember that …" and "forget …".

The engine asks ``parse`` before it calls the LLM: a small model cannot be trusted to
store or delete anything, and these commands need an exact, spoken confirmation. The
patterns are anchored and narrow on purpose — "forget it" or "do you remember my
sister?" are conversation, not commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from skills.spoken import second_person


@dataclass(frozen=True)
class Remember:
    fact: str


@dataclass(frozen=True)
class Forget:
    topic: str


Intent = Remember | Forget

_POLITE = r"(?:(?:please|hey|ok(?:ay)?|so|and|also|oh|actually|no|wait)[\s,]+)*"
_REMEMBER = re.compile(_POLITE + r"(?:(?:can|could|would|will) you\s+)?(?:please\s+)?"
                       r"(?:remember|don'?t forget|do not forget|make a note|note|keep in mind)"
                       r"(?:\s+that|\s*:|,)?\s+(?P<fact>.+?)[\s.!]*$", re.I | re.S)
_NOT_A_FACT = re.compile(r"^(?:when|what|who|where|why|how|if|whether|the time|me\b|to\b|it\b|this\b|that\b)", re.I)
_FORGET = re.compile(_POLITE + r"(?:(?:can|could|would) you\s+)?(?:please\s+)?forget\s+"
                     r"(?:(?:what|everything|all|anything)\s+(?:that\s+)?(?:i|i've|i have)\s+"
                     r"(?:told|said to|tell|say to|mentioned to|shared with)\s+you\s+|all\s+)?"
                     r"(?:about|regarding|on)\s+(?P<topic>.+?)[\s.!]*$", re.I | re.S)
_FORGET_THAT = re.compile(_POLITE + r"(?:please\s+)?forget\s+that\s+(?P<topic>.{8,}?)[\s.!]*$", re.I | re.S)
_VAGUE = {"it", "that", "this", "them", "him", "her", "everything", "all", "anything", "me", "you"}


def parse(text: str) -> Intent | None:
    text = text.strip()
    if not text or text.endswith("?"):
        return None         # "do you remember …?" is a question for the LLM
    m = _REMEMBER.match(text)
    if m and not _NOT_A_FACT.match(m.group("fact")) and len(m.group("fact").split()) >= 3:
        return Remember(m.group("fact").strip())
    m = _FORGET.match(text) or _FORGET_THAT.match(text)
    if m:
        topic = m.group("topic").strip().strip("\"'")
        if topic.lower() not in _VAGUE:
            return Forget(topic)
    return None


def remembered_reply(fact: str, replaced: int) -> str:
    said = second_person(fact)
    if replaced:
        return f"Got it, I've updated that: {said}."
    return f"Okay, I'll remember that {said}."


def forgot_reply(topic: str, count: int) -> str:
    about = second_person(topic)
    if count == 0:
        return f"I don't have anything about {about} to forget."
    things = "one thing" if count == 1 else f"{count} things"
    return f"Done. I've forgotten {things} about {about}."
