"""Skill docs: markdown files indexed into LanceDB and retrieved like memories.

A doc is re-embedded only when its content hash changes; docs that disappear are
removed from the index. A whole doc embeds poorly against a short spoken question, so
each doc is indexed as several rows: its title and description, and each example
utterance from its front matter; a query scores a doc by its best row. The built-in docs live in ``skills/docs``; ``skills.user_dir``
adds the user's own.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from assistant.errors import MemoryStoreError
from memory.store import table_names

BUILTIN_DOCS = Path(__file__).resolve().parent / "docs"
TABLE = "skill_docs"


@dataclass(frozen=True)
class SkillDoc:
    path: str
    title: str
    text: str
    sha256: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def index_texts(self) -> list[str]:
        return [f"{self.title}. {self.description}".strip(), *self.examples]


@dataclass(frozen=True)
class DocHit:
    doc: SkillDoc
    relevance: float

    def as_dict(self) -> dict:
        return {"path": self.doc.path, "title": self.doc.title, "relevance": round(self.relevance, 4)}


@dataclass(frozen=True)
class IndexReport:
    added: int
    updated: int
    removed: int
    unchanged: int


def front_matter(raw: str) -> tuple[dict[str, object], str]:
    """A tiny YAML subset: ``key: value`` lines and ``- item`` lists under a key."""
    m = re.match(r"^---\n(.*?)\n---\n?", raw, flags=re.S)
    if not m:
        return {}, raw
    meta: dict[str, object] = {}
    key = None
    for line in m.group(1).splitlines():
        item = re.match(r"^\s*-\s+(.*)$", line)
        if item and key:
            meta.setdefault(key, [])
            if isinstance(meta[key], list):
                meta[key].append(item.group(1).strip().strip('"'))
            continue
        kv = re.match(r"^([A-Za-z_][\w-]*):\s*(.*)$", line)
        if kv:
            key, value = kv.group(1), kv.group(2).strip().strip('"')
            meta[key] = value if value else []
    return meta, raw[m.end():]


def read_doc(path: Path) -> SkillDoc:
    raw = path.read_text(encoding="utf-8")
    meta, body = front_matter(raw)
    m = re.search(r"^#\s+(.+)$", body, flags=re.M)
    title = str(meta.get("name") or (m.group(1).strip() if m else path.stem.replace("_", " ")))
    examples = meta.get("examples") if isinstance(meta.get("examples"), list) else []
    return SkillDoc(str(path.resolve()), title, body.strip(), hashlib.sha256(raw.encode()).hexdigest(),
                    description=str(meta.get("description") or ""), examples=tuple(examples))


def discover(dirs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for d in dirs:
        if d.is_dir():
            found.extend(sorted(d.glob("*.md")))
    return found


def _schema(dim: int) -> pa.Schema:
    return pa.schema([pa.field("path", pa.string()), pa.field("title", pa.string()),
                      pa.field("text", pa.string()), pa.field("sha256", pa.string()),
                      pa.field("vector", pa.list_(pa.float32(), dim))])


class SkillIndex:
    def __init__(self, db, embedder, dirs: list[Path]) -> None:
        self.db, self.embedder, self.dirs = db, embedder, dirs
        if TABLE in table_names(db):
            self.table = db.open_table(TABLE)
        else:
            self.table = db.create_table(TABLE, schema=_schema(embedder.dim))

    def sync(self) -> IndexReport:
        """Bring the index in line with the docs on disk; embed only what changed."""
        indexed = {r["path"]: r["sha256"] for r in
                   self.table.search().select(["path", "sha256"]).limit(1_000_000).to_list()}
        docs = []
        for path in discover(self.dirs):
            try:
                docs.append(read_doc(path))
            except (OSError, UnicodeDecodeError):
                continue  # unreadable doc: skip it rather than fail the whole index
        on_disk = {d.path for d in docs}
        changed = [d for d in docs if indexed.get(d.path) != d.sha256]
        stale = [p for p in indexed if p not in on_disk or p in {d.path for d in changed}]
        try:
            for p in stale:
                self.table.delete("path = '" + p.replace("'", "''") + "'")
            if changed:
                rows = [(d, t) for d in changed for t in d.index_texts()]
                vectors = self.embedder.embed([t for _, t in rows])
                self.table.add([{"path": d.path, "title": d.title, "text": d.text, "sha256": d.sha256,
                                 "vector": v.tolist()} for (d, _), v in zip(rows, vectors)])
        except Exception as e:
            raise MemoryStoreError(f"cannot update the skill index ({str(e).splitlines()[0][:120]}); "
                                   "check free disk space")
        added = sum(1 for d in changed if d.path not in indexed)
        return IndexReport(added=added, updated=len(changed) - added,
                           removed=len([p for p in indexed if p not in on_disk]),
                           unchanged=len(docs) - len(changed))

    def search(self, vector: np.ndarray, k: int, min_relevance: float) -> list[DocHit]:
        if k <= 0:
            return []
        rows = self.table.search(vector.astype(np.float32)).metric("cosine").limit(k * 8 + 8).to_list()
        best: dict[str, DocHit] = {}
        for r in rows:   # rows come best first: keep each doc's best
            if r["path"] not in best:
                best[r["path"]] = DocHit(SkillDoc(r["path"], r["title"], r["text"], r["sha256"]),
                                         1.0 - float(r["_distance"]))
        hits = list(best.values())[:k]
        return [h for h in hits if h.relevance >= min_relevance]
