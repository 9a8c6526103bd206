"""Replies that are no evidence: admissions of not knowing, and bare echoes of the question.

Such a reply is kept in the conversation's history but must never come back as a note.
Seen in issue 17: the fact "my sister Anna's birthday is on March 14" was retrieved, the
model still said "I'm sorry, but I don't have enough information…", that reply was stored,
and the next time it was retrieved (relevance 0.89) beside the fact and outweighed it.
"""
from __future__ import annotations

import re

_NOT_KNOWING = re.compile(
    r"\b(i\s+(?:do\s*n[o']t|don't|cannot|can't|am\s+not\s+able\s+to)\s+(?:know|have|recall|remember|find|access|answer)"
    r"|i'?m\s+(?:sorry|not\s+sure|afraid|unable)|i\s+apologi[sz]e|i\s+am\s+sorry|no\s+(?:information|record|data)"
    r"|not\s+(?:been\s+)?(?:told|mentioned|provided|given)|haven'?t\s+(?:told|mentioned|said|shared)"
    r"|(?:didn'?t|did\s+not)\s+(?:tell|mention|say)|not\s+aware|as\s+an\s+ai|unable\s+to)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")
# Words that carry no content for the echo test.
_FILLER = frozenset("a an the is are was were be to of in on at for and or my your i you me it its it's "
                    "that this what when where who how do does did".split())


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _FILLER}


def admits_not_knowing(reply: str) -> bool:
    return bool(_NOT_KNOWING.search(reply))


def echoes(reply: str, question: str, overlap: float = 0.8) -> bool:
    """The reply says nothing the question did not: its content words are (nearly) all the question's."""
    said, asked = content_words(reply), content_words(question)
    return bool(said) and len(said & asked) >= overlap * len(said)


def is_evidence(reply: str, question: str = "") -> bool:
    """Whether a stored reply may be retrieved as a note."""
    text = reply.strip()
    if not text or admits_not_knowing(text):
        return False
    if text.endswith("?") and text.count("?") == 1 and not re.search(r"[.!]\s", text):
        return False                    # a bare question back states nothing
    return not (question and echoes(text, question))
