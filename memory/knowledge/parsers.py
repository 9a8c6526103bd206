"""Files to text blocks: Markdown, plain text, HTML and PDF.

Each parser returns the document's text as ``Block``s (a heading trail and a paragraph,
with its character span in the extracted text), which the chunker packs into passages.
A file that cannot be used raises ``Skip`` with a short reason; the indexer names it in
one line and goes on. Binaries are recognised by a NUL byte in the first 8 KiB (what
git and grep do); text must be UTF-8 (or UTF-16 with a BOM): guessing a legacy code
page would index mojibake.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

TEXT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
                 ".rst": "text", ".org": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}


class Skip(Exception):
    """This file is left out of the index, for the reason given (one short phrase)."""


@dataclass(frozen=True)
class Block:
    headings: tuple[str, ...]   # the heading trail above this paragraph
    text: str
    start: int                  # character span in the extracted text
    end: int


@dataclass(frozen=True)
class Document:
    path: str
    kind: str                   # "markdown" | "text" | "html" | "pdf"
    title: str                  # first top heading, else the file name
    blocks: tuple[Block, ...]


def kind_of(path: Path) -> str | None:
    return TEXT_SUFFIXES.get(path.suffix.lower())


def read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise Skip(f"unreadable ({e.strerror or e.__class__.__name__})")
    if size > max_bytes:
        raise Skip(f"too large ({size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB cap: knowledge.max_file_mb)")
    try:
        return path.read_bytes()
    except OSError as e:
        raise Skip(f"unreadable ({e.strerror or e.__class__.__name__})")


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Skip("not valid UTF-16 text")
    if b"\x00" in data[:8192]:
        raise Skip("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Skip(f"not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8")


def parse(path: Path, max_bytes: int, data: bytes | None = None) -> Document:
    kind = kind_of(path)
    if kind is None:
        raise Skip("unsupported file type")
    data = read_bytes(path, max_bytes) if data is None else data
    try:
        if kind == "pdf":
            blocks, title = _pdf(data)
        else:
            text = decode(data)
            blocks, title = {"markdown": _markdown, "text": _plain, "html": _html}[kind](text)
    except Skip:
        raise
    except Exception as e:      # a parser's own failure: name the file, keep going
        raise Skip(f"cannot parse as {kind} ({str(e).splitlines()[0][:80] if str(e) else e.__class__.__name__})")
    return Document(str(path), kind, title or _stem_title(path), tuple(b for b in blocks if b.text.strip()))


def _stem_title(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip()


def _paragraphs(text: str, offset: int, headings: tuple[str, ...]) -> list[Block]:
    """Blank-line separated paragraphs of ``text`` (which starts at ``offset``)."""
    out = []
    for m in re.finditer(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", text, re.S):
        para = " ".join(m.group(0).split())
        out.append(Block(headings, para, offset + m.start(), offset + m.end()))
    return out


_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def _markdown(text: str) -> tuple[list[Block], str]:
    body_start = 0
    if text.startswith("---\n"):                      # YAML front matter
        end = text.find("\n---", 4)
        if end > 0:
            body_start = end + 4
    blocks: list[Block] = []
    trail: list[tuple[int, str]] = []
    title = ""
    pos = body_start
    for m in _MD_HEADING.finditer(text, body_start):
        blocks += _paragraphs(text[pos:m.start()], pos, tuple(h for _, h in trail))
        level, heading = len(m.group(1)), m.group(2).strip()
        trail = [(lv, h) for lv, h in trail if lv < level] + [(level, heading)]
        if not title and level == 1:
            title = heading
        pos = m.end()
    blocks += _paragraphs(text[pos:], pos, tuple(h for _, h in trail))
    return blocks, title


def _plain(text: str) -> tuple[list[Block], str]:
    return _paragraphs(text, 0, ()), ""


class _HtmlText(HTMLParser):
    BLOCK = {"p", "div", "li", "br", "tr", "td", "th", "section", "article", "blockquote", "pre", "dd", "dt",
             "table", "ul", "ol", "header", "footer", "main", "nav", "aside", "figure", "figcaption", "hr"}
    HIDDEN = {"script", "style", "head", "noscript", "template", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.blocks: list[tuple[tuple[str, ...], str]] = []
        self.trail: list[tuple[int, str]] = []
        self.hidden = 0
        self.heading: list[str] | None = None
        self.level = 0
        self.title = ""

    def _end_block(self) -> None:
        text = " ".join("".join(self.parts).split())
        if text:
            self.blocks.append((tuple(h for _, h in self.trail), text))
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._end_block()
            self.heading, self.level = [], int(tag[1])
        elif tag in self.BLOCK:
            self._end_block()

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            heading = " ".join("".join(self.heading).split())
            self.heading = None
            if heading:
                self.trail = [(lv, h) for lv, h in self.trail if lv < self.level] + [(self.level, heading)]
                if not self.title and self.level == 1:
                    self.title = heading
        elif tag in self.BLOCK:
            self._end_block()

    def handle_data(self, data):
        if self.hidden:
            return
        (self.heading if self.heading is not None else self.parts).append(data)


def _html(text: str) -> tuple[list[Block], str]:
    p = _HtmlText()
    p.feed(text)
    p.close()
    p._end_block()
    blocks, pos = [], 0
    for headings, para in p.blocks:         # spans in the extracted text, paragraphs joined by blank lines
        blocks.append(Block(headings, para, pos, pos + len(para)))
        pos += len(para) + 2
    return blocks, p.title


def _pdf(data: bytes) -> tuple[list[Block], str]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    logging.getLogger("pypdf").setLevel(logging.ERROR)     # it warns at length about damaged files
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise Skip("encrypted PDF (needs a password)")
            except Skip:
                raise
            except Exception:
                raise Skip("encrypted PDF (needs a password)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise Skip(f"not a readable PDF ({str(e).splitlines()[0][:80] if str(e) else e.__class__.__name__})")
    blocks, pos = [], 0
    for number, page in enumerate(pages, 1):
        for b in _paragraphs(page.replace("\r", ""), 0, (f"page {number}",)):
            blocks.append(Block(b.headings, b.text, pos + b.start, pos + b.end))
        pos += len(page) + 2
    if not any(b.text for b in blocks):
        raise Skip("PDF has no text layer (scanned images?)")
    title = ""
    try:
        title = (reader.metadata.title or "").strip() if reader.metadata else ""
    except Exception:
        pass
    return blocks, title
