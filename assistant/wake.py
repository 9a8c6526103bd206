"""Wake phrase matching on the transcript: fuzzy, since Whisper spells names freely.

"Hey Juniper, what time is it?" → addressed, "what time is it?". Matching on text rather
than audio needs no extra model; the cost is that STT runs on everything heard, which the
VAD and noise filters keep cheap.
"""
from __future__ import annotations

import difflib
import re

GREETINGS = {"hey", "hi", "ok", "okay", "hello", "yo", "oi"}


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0).lower(), m.start(), m.end()) for m in re.finditer(r"[A-Za-z']+", text)]


def find_wake(text: str, name: str, threshold: float = 0.75) -> str | None:
    """The text after the wake phrase when ``name`` is said, else None."""
    target = name.lower().split()
    if not target:
        return None
    words = _words(text)
    n = len(target)
    for i in range(len(words) - n + 1):
        said = " ".join(w for w, _, _ in words[i:i + n])
        if difflib.SequenceMatcher(None, said, " ".join(target)).ratio() >= threshold:
            start, end = words[i][1], words[i + n - 1][2]
            rest = text[end:].lstrip(" ,.!?:;-")
            if all(w in GREETINGS for w, _, _ in words[:i]):
                return rest                      # "Hey Juniper, ..." → "..."
            # Named inside the request ("Tell me, Juniper, about ..."): keep the rest of it.
            return " ".join((text[:start].rstrip(" ,") + " " + rest).split())
    return None
