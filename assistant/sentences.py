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


@dataclass
class SentenceSplitter:
    min_chars: int = 12
    _buf: str = field(default="", init=False)

    def feed(self, text: str) -> Iterator[str]:
        self._buf += text
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
