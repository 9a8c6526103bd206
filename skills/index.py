"""Skill docs: markdown files indexed into LanceDB and retrieved like memories.

A doc is re-embedded only when its content hash changes; docs that disappear are
removed from the index. A whole doc embeds poorly against a short spoken question, so
each doc is indexed as several rows: its title and description, each example utterance
from its front matter, and each counter-example (a near miss that must not trigger it,
kept so the router can tell them apart; never retrieved into a prompt). A query scores
a doc by its best row. The built-in docs live in ``skills/docs``; ``skills.user_dir``
adds the user's own.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from assistant.errors import AssistantError, MemoryStoreError
from memory.store import table_names

from .spec import SkillDoc, read_doc

log = logging.getLogger(__name__)

BUILTIN_DOCS = Path(__file__).resolve().parent / "docs"
TABLE = "skill_docs"

__all__ = ["BUILTIN_DOCS", "DocHit", "IndexReport", "SkillDoc", "SkillIndex", "discover", "read_doc"]


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


def discover(dirs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for d in dirs:
        if d.is_dir():
            found.extend(sorted(d.glob("*.md")))
    return found


def _schema(dim: int) -> pa.Schema:
    return pa.schema([pa.field("path", pa.string()), pa.field("title", pa.string()),
                      pa.field("text", pa.string()), pa.field("sha256", pa.string()),
                      pa.field("kind", pa.string()), pa.field("row_text", pa.string()),
                      pa.field("vector", pa.list_(pa.float32(), dim))])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class SkillIndex:
    def __init__(self, db, embedder, dirs: list[Path]) -> None:
        self.db, self.embedder, self.dirs = db, embedder, dirs
        schema = _schema(embedder.dim)
        if TABLE in table_names(db):
            self.table = db.open_table(TABLE)
            if self.table.schema != schema:     # an older layout: the index is derived, rebuild it
                db.drop_table(TABLE)
                self.table = db.create_table(TABLE, schema=schema)
        else:
            self.table = db.create_table(TABLE, schema=schema)
        self.docs: dict[str, SkillDoc] = {}     # path → parsed doc, as of the last sync

    def sync(self) -> IndexReport:
        """Bring the index in line with the docs on disk; embed only what changed."""
        indexed = {r["path"]: r["sha256"] for r in
                   self.table.search().select(["path", "sha256"]).limit(1_000_000).to_list()}
        docs = []
        for path in discover(self.dirs):
            try:
                docs.append(read_doc(path))
            except AssistantError as e:
                log.warning("%s", e)        # one bad doc must not hide the others
            except (OSError, UnicodeDecodeError):
                log.warning("skill doc %s is unreadable; skipped", path)
        self.docs = {d.path: d for d in docs}
        changed = [d for d in docs if indexed.get(d.path) != d.sha256]
        stale = [p for p in indexed if p not in self.docs or p in {d.path for d in changed}]
        try:
            for p in stale:
                self.table.delete(f"path = {_quote(p)}")
            if changed:
                rows = [(d, kind, t) for d in changed for kind, t in d.index_texts()]
                vectors = self.embedder.embed([t for _, _, t in rows])
                self.table.add([{"path": d.path, "title": d.title, "text": d.text, "sha256": d.sha256,
                                 "kind": kind, "row_text": t, "vector": v.tolist()}
                                for (d, kind, t), v in zip(rows, vectors)])
        except Exception as e:
            raise MemoryStoreError(f"cannot update the skill index ({str(e).splitlines()[0][:120]}); "
                                   "check free disk space")
        added = sum(1 for d in changed if d.path not in indexed)
        return IndexReport(added=added, updated=len(changed) - added,
                           removed=len([p for p in indexed if p not in self.docs]),
                           unchanged=len(docs) - len(changed))

    def rows(self) -> tuple[list[dict], np.ndarray]:
        """Every indexed row (path, kind, row_text) and its vector: the router's evidence."""
        data = self.table.to_arrow().select(["path", "kind", "row_text", "vector"]).to_pylist()
        vectors = np.array([r.pop("vector") for r in data], dtype=np.float32).reshape(len(data), -1)
        return data, vectors

    def search(self, vector: np.ndarray, k: int, min_relevance: float) -> list[DocHit]:
        if k <= 0:
            return []
        rows = (self.table.search(vector.astype(np.float32)).metric("cosine")
                .where("kind != 'counter'", prefilter=True).limit(k * 8 + 8).to_list())
        best: dict[str, DocHit] = {}
        for r in rows:   # rows come best first: keep each doc's best
            if r["path"] not in best:
                doc = self.docs.get(r["path"]) or SkillDoc(r["path"], r["title"], r["text"], r["sha256"])
                best[r["path"]] = DocHit(doc, 1.0 - float(r["_distance"]))
        hits = list(best.values())[:k]
        return [h for h in hits if h.relevance >= min_relevance]
