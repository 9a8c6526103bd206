"""Blocks to passages that answer questions: split by headings and paragraphs.

Paragraphs of one section are packed up to ``target_words``; a heading starts a new
passage; a paragraph longer than ``max_words`` is cut between sentences. Consecutive
passages of one section share a short sentence (``overlap_words`` at most), so a fact
stated across a cut is whole in one of them. ~120 words keeps a passage inside MiniLM's
256-token window with its source line, and is about one SQuAD paragraph (mean ~120 words).

Each chunk's ``doc`` — what is embedded and full-text indexed — starts with where it
comes from ("boiler notes › Pressure: …"), as a memory row starts with who said it.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .parsers import Block, Document

_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_GENERIC = {"notes", "note", "manual", "guide", "recipe", "recipes", "list", "log", "journal", "diary",
            "letter", "report", "book", "handbook", "instructions", "minutes", "plan", "checklist", "faq"}


@dataclass(frozen=True)
class ChunkSettings:
    target_words: int = 120
    max_words: int = 180
    overlap_words: int = 30


@dataclass(frozen=True)
class Chunk:
    path: str
    title: str
    source: str                 # how the reply names it: "boiler notes"
    headings: tuple[str, ...]
    seq: int                    # position in its file
    start: int                  # character span in the file's extracted text
    end: int
    text: str

    @property
    def heading(self) -> str:
        return " › ".join(self.headings)

    @property
    def doc(self) -> str:
        """The indexed text: the passage says where it comes from."""
        where = self.source
        trail = [h for h in self.headings if h.lower() != self.title.lower()]
        if self.title.lower() != self.source.lower() and self.title.lower() not in self.source.lower():
            trail.insert(0, self.title)
        if trail:
            where += " › " + " › ".join(trail)
        return f"{where}: {self.text}"


def source_name(path: str | Path) -> str:
    """A short spoken name for a file: ``Boiler.md`` → "boiler notes", ``oven-manual.pdf``
    → "oven manual", ``Guide.html`` → "guide"."""
    p = Path(path)
    words = re.sub(r"[_\-.]+", " ", p.stem).split()
    name = " ".join(words).lower() or p.name.lower()
    if words and words[-1].lower() in _GENERIC:
        return name
    return f"{name} {'document' if p.suffix.lower() in ('.pdf', '.html', '.htm') else 'notes'}"


def _words(text: str) -> int:
    return len(text.split())


def _sentences(block: Block) -> list[Block]:
    """A long paragraph as sentence blocks (spans approximate: whitespace was normalised)."""
    out, pos = [], 0
    for part in _SENTENCE.split(block.text):
        at = block.text.find(part, pos)
        at = pos if at < 0 else at
        out.append(Block(block.headings, part, block.start + at, min(block.end, block.start + at + len(part))))
        pos = at + len(part)
    return out


def _pieces(blocks: tuple[Block, ...], s: ChunkSettings) -> list[Block]:
    out: list[Block] = []
    for b in blocks:
        if _words(b.text) <= s.max_words:
            out.append(b)
            continue
        for sent in _sentences(b):          # a sentence longer than max_words is cut by words
            words = sent.text.split()
            for i in range(0, len(words), s.max_words):
                out.append(Block(sent.headings, " ".join(words[i:i + s.max_words]), sent.start, sent.end))
    return out


def chunk(doc: Document, s: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    source = source_name(doc.path)
    chunks: list[Chunk] = []
    current: list[Block] = []

    def emit() -> None:
        if current:
            chunks.append(Chunk(doc.path, doc.title, source, current[0].headings, len(chunks),
                                current[0].start, current[-1].end, " ".join(b.text for b in current)))

    for piece in _pieces(doc.blocks, s):
        same_section = current and piece.headings == current[0].headings
        if current and (not same_section or sum(_words(b.text) for b in current) + _words(piece.text) > s.target_words
                        and sum(_words(b.text) for b in current) >= s.target_words // 3):
            emit()
            tail = _sentences(current[-1])[-1] if same_section else None
            current = [tail] if tail is not None and _words(tail.text) <= s.overlap_words \
                and tail.text != piece.text else []
        current.append(piece)
    emit()
    return chunks


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
