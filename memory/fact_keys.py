"""Fact keys: short facts a language model reads out of a turn, indexed beside it.

A turn like "Is that your third one?" or "I just signed up for a pottery class, it's like
therapy" is hard to find from the question it answers ("How many screenplays has Joanna
written?", "What does Melanie do to destress?"). Written out as facts with names and the
topic made explicit ("Joanna has written a third screenplay"), it is found by both the
embedding and BM25; a search still returns the turn's own words (``Memory.keys`` is
appended to the indexed text only, see ``memory.store.describe``).

This module is the prompt and the parsing, with no model of its own: ``extract`` takes
any ``complete(messages) -> str``, so the local LLM, a remote one or a test's stub can
fill it. On the five LoCoMo conversations (2,760 turns, 760 questions; see
docs/architecture.md) the local 1.5B's keys, embedded and full-text indexed as the store
does, with ``keyed_neighbour_weight``, raised recall@10 from 78.5 to 81.3 (leave-one-out
78.9 ± 4.3 → 81.8 ± 2.9) and dense-only recall from 51.5 to 63.3, at 2.3–3.3 s of LLM
time per turn on a 2-core Intel Xeon (7.0 on a 2-core AMD EPYC).
"""
from __future__ import annotations

import re
from typing import Callable

NO_FACTS = "-"          # keys of a turn that was read and states nothing: not read again
MAX_FACTS = 3
MAX_TOKENS = 80         # three short facts; a reply that runs on is cut here

SYSTEM = ("You write search keys for a chat log. Given the last line of a chat, list the facts it states about "
          "the people: who did, has, likes, plans or feels what. Use names, never pronouns, and make the topic "
          "explicit using the earlier line. Write at most 3 short facts, one per line, each starting with '- '. "
          "Write '- none' if the line states no fact.")
# One worked example fixes the format; its facts are never taken as the model's answer.
_EXAMPLE_USER = ("Earlier, Anna: Did you finish the book I lent you?\n"
                 "Last line, Ben: Yes! Loved it, and I started painting again last week.\nFacts:")
_EXAMPLE_FACTS = ("Ben finished reading the book Anna lent him and loved it", "Ben started painting again")
_EXAMPLE_REPLY = "\n".join(f"- {f}" for f in _EXAMPLE_FACTS)
_COPIED = {f.lower() for f in _EXAMPLE_FACTS}
_NONE = re.compile(r"^(?:none|no facts?|n/?a|-)\W*$", re.I)


def messages(speaker: str, text: str, previous: tuple[str, str] | None = None) -> list[dict]:
    """The chat for one turn (``speaker`` said ``text``), with the turn before it
    (``previous`` = (speaker, text)) so that "Is that your third one?" can be resolved."""
    earlier = f"Earlier, {previous[0]}: {previous[1]}\n" if previous else ""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": _EXAMPLE_USER},
            {"role": "assistant", "content": _EXAMPLE_REPLY},
            {"role": "user", "content": f"{earlier}Last line, {speaker}: {text}\nFacts:"}]


def parse(reply: str) -> list[str]:
    """The facts of a reply: its "- " lines, without "none", copies of the example,
    repeats and anything past the third."""
    out: list[str] = []
    for line in reply.splitlines():
        line = line.strip()
        if not line.startswith(("- ", "* ")):
            continue
        fact = " ".join(line[2:].split()).rstrip(" .;")
        if not fact or _NONE.match(fact) or fact.lower() in _COPIED or fact.lower() in (f.lower() for f in out):
            continue
        out.append(fact)
        if len(out) == MAX_FACTS:
            break
    return out


def keys_text(facts: list[str]) -> str:
    """What ``Memory.keys`` holds: the facts joined, or NO_FACTS when there were none."""
    return "; ".join(facts) if facts else NO_FACTS


def indexed(keys: str) -> str:
    """The part of ``Memory.keys`` that is indexed: nothing for unread turns or NO_FACTS."""
    return "" if keys in ("", NO_FACTS) else keys


def extract(complete: Callable[[list[dict]], str], speaker: str, text: str,
            previous: tuple[str, str] | None = None) -> str:
    """Read one turn's facts with ``complete`` and return them as ``Memory.keys``."""
    return keys_text(parse(complete(messages(speaker, text, previous))))
