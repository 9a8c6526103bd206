"""Split a streamed reply into sentences as tokens arrive, for speech.

A sentence ends at . ! ? or a newline followed by whitespace (so "3.5" never splits),
unless the dot ends an initial or a common abbreviation ("Dr."). Very short fragments are
held back and joined to the next, so the voice does not stutter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e",
                 "a.m", "p.m", "no", "approx", "dept", "est", "fig", "inc", "ltd", "mt"}
_END = re.compile(r"([.!?]+[\"')\]]*|\n+)(\s+)")


_CLAUSE = re.compile(r"([,;:]|\s[-–—])(\s+)")
# A first chunk with no comma may also end before a word that opens a new clause, once it
# has PHRASE_WORDS words: "The narrative would be tedious to him | and painful to me."
_PHRASE = re.compile(r"(\s+)(?=(?:and|but|or|because|which|who|when|while|so|although|though|since|"
                     r"unless|until|where|whereas)\s)", re.IGNORECASE)
PHRASE_WORDS = 6
# A long first chunk with neither may end before a preposition once it has
# LONG_FIRST_WORDS words: "The invention of movable metal letters | in the middle of the
# fifteenth century ...". Every word of the first chunk delays the voice by ~40 ms: ~30 ms
# to write it, ~13 ms to synthesise it.
_PREPOSITION = re.compile(r"(\s+)(?=(?:in|on|at|of|for|with|from|by|to|into|about|as|than|during|after|"
                          r"before|over|under|between|through|without|like)\s)", re.IGNORECASE)
LONG_FIRST_WORDS = 6
# ... but not right after a verb that needs what follows: "The birthday is | on May third".
_NEEDS_COMPLEMENT = {"is", "are", "was", "were", "be", "been", "being", "am", "it's", "that's", "there's",
                     "he's", "she's", "seems", "looks", "sounds", "lives", "live", "lived", "went", "goes"}


@dataclass
class SentenceSplitter:
    min_chars: int = 12
    first_clause_words: int = 0     # >0: the first chunk may end at a comma once it has this many words
    _buf: str = field(default="", init=False)
    _emitted: int = field(default=0, init=False)

    def feed(self, text: str) -> Iterator[str]:
        """Speech starts sooner when the first clause ("Sure, ...") goes to the voice alone."""
        self._buf += text
        if self.first_clause_words and not self._emitted:
            head = self._first_clause()
            if head is not None:
                self._emitted += 1
                yield head
        for sentence in self._sentences():
            self._emitted += 1
            yield sentence

    def _first_clause(self) -> str | None:
        """The reply's opening clause, if it can go to the voice alone; taken off the buffer."""
        for pattern, min_words, end in ((_CLAUSE, self.first_clause_words, 1), (_PHRASE, PHRASE_WORDS, 0),
                                        (_PREPOSITION, LONG_FIRST_WORDS, 0)):
            for m in pattern.finditer(self._buf):
                head = self._buf[:m.end(end)].strip()
                if _END.search(head + " "):
                    return None             # a whole sentence came first: split as usual
                words = head.split()
                if len(words) >= min_words and not (pattern is _PREPOSITION
                                                     and words[-1].lower() in _NEEDS_COMPLEMENT):
                    self._buf = self._buf[m.end():]
                    return head
        return None

    def _sentences(self) -> Iterator[str]:
        start = 0
        for m in _END.finditer(self._buf):
            candidate = self._buf[start:m.end(1)].strip()
            if m.group(1).startswith(".") and self._is_abbreviation(self._buf[:m.start(1)]):
                continue
            if len(candidate) < self.min_chars:
                continue
            yield candidate
            start = m.end()
        self._buf = self._buf[start:]

    def flush(self) -> Iterator[str]:
        rest = self._buf.strip()
        self._buf = ""
        if rest:
            yield rest

    @staticmethod
    def _is_abbreviation(before: str) -> bool:
        word = re.search(r"([A-Za-z.]+)$", before)
        if not word:
            return False
        w = word.group(1).lower().rstrip(".")
        return w in ABBREVIATIONS or (len(w) == 1 and w.isalpha())


def split_all(text: str) -> list[str]:
    s = SentenceSplitter()
    return [*s.feed(text + " "), *s.flush()]
