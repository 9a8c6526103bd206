"""The chunks of the user's files: one LanceDB table per profile, ``knowledge_<profile>``.

Apart from conversation memory (``memories``) so that a sync, which deletes and adds
whole files, never rewrites conversation data, and so that a profile's search touches
only its own rows (no profile filter). Rows carry the file's sha256: a file renamed or
copied is matched by content and its vectors reused, never embedded again.

Indexes follow memory's: full-text (BM25) on ``doc`` after every sync that changed rows
(``optimize`` folds new rows in; until then LanceDB scans unindexed rows too), and past
``ann_min_rows`` rows an HNSW index over scalar-quantised vectors whose search effort is
raised until recall@10 against exact search meets the target (``memory.maintenance``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from memory.store import MemoryStoreError, arrow_rows, open_db, quote, table_names

from .chunker import Chunk

log = logging.getLogger(__name__)

COLUMNS = ["id", "path", "file_hash", "mtime_ns", "size", "title", "source", "heading", "seq", "start", "end",
           "text", "doc"]


@dataclass(frozen=True)
class KnowledgeStoreSettings:
    ann_min_rows: int = 10_000          # exact search below (≈15 ms at 10k rows)
    ann_target_recall: float = 0.95
    retention_minutes: float = 10.0     # old table versions kept this long (readers in other processes)


def _schema(dim: int) -> pa.Schema:
    s, i = pa.string(), pa.int64()
    return pa.schema([pa.field("id", s), pa.field("path", s), pa.field("file_hash", s), pa.field("mtime_ns", i),
                      pa.field("size", i), pa.field("title", s), pa.field("source", s), pa.field("heading", s),
                      pa.field("seq", i), pa.field("start", i), pa.field("end", i), pa.field("text", s),
                      pa.field("doc", s), pa.field("vector", pa.list_(pa.float32(), dim))])


def table_name(profile: str) -> str:
    return f"knowledge_{profile}"


def row_chunk(row: dict) -> Chunk:
    return Chunk(row["path"], row["title"], row["source"], tuple(h for h in row["heading"].split(" › ") if h),
                 row["seq"], row["start"], row["end"], row["text"])


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [e.__class__.__name__])[0][:160]


class KnowledgeStore:
    def __init__(self, db_path: Path, dim: int, profile: str = "default",
                 settings: KnowledgeStoreSettings | None = None) -> None:
        self.path, self.dim, self.profile = db_path, dim, profile
        self.settings = settings or KnowledgeStoreSettings()
        self.name = table_name(profile)
        self.db = open_db(db_path)
        self.lock = threading.RLock()
        self.ann_file = db_path / f"{self.name}.ann.json"
        try:
            self.ann = json.loads(self.ann_file.read_text())
        except (OSError, ValueError):
            self.ann = {}
        self.table = self._open()
        self._fts: bool | None = None

    def _open(self):
        try:
            if self.name not in table_names(self.db):
                try:
                    return self.db.create_table(self.name, schema=_schema(self.dim))
                except Exception:
                    if self.name not in table_names(self.db):
                        raise
            table = self.db.open_table(self.name)
            if table.schema != _schema(self.dim):   # derived data: an older layout is rebuilt by the next sync
                log.warning("knowledge table %s has an older layout; it is rebuilt", self.name)
                self.db.drop_table(self.name)
                return self.db.create_table(self.name, schema=_schema(self.dim))
            return table
        except Exception as e:
            raise MemoryStoreError(f"cannot open the knowledge index {self.path}/{self.name} ({_first_line(e)}); "
                                   "move it away or choose another --home")

    def _guard(self, fn, verb: str = "read"):
        try:
            return fn()
        except MemoryStoreError:
            raise
        except Exception as e:
            raise MemoryStoreError(f"cannot {verb} the knowledge index {self.path}/{self.name} ({_first_line(e)}); "
                                   "check free disk space and permissions, or delete it and run assistant knowledge sync")

    # -- files ------------------------------------------------------------------------
    def files(self) -> dict[str, tuple[str, int, int, int]]:
        """{path: (sha256, mtime_ns, size, chunks)} of every indexed file."""
        t = self._guard(lambda: self.table.search().select(["path", "file_hash", "mtime_ns", "size"])
                        .limit(None).to_arrow())
        out: dict[str, tuple[str, int, int, int]] = {}
        for p, h, m, s in zip(*(t.column(c).to_pylist() for c in ("path", "file_hash", "mtime_ns", "size"))):
            old = out.get(p)
            out[p] = (h, m, s, (old[3] if old else 0) + 1)
        return out

    def vectors_of(self, file_hash: str) -> dict[int, tuple[str, np.ndarray]]:
        """{seq: (doc, vector)} of a file's chunks, by content hash: a renamed file's vectors."""
        cond = f"file_hash = {quote(file_hash)}"
        rows = self._guard(lambda: arrow_rows(self.table.search().where(cond).select(["seq", "doc", "vector"])
                                              .limit(None).to_arrow()))
        return {r["seq"]: (r["doc"], r["vector"]) for r in rows}

    def add(self, chunks: list[Chunk], file_hashes: list[str], stats: list[tuple[int, int]], vectors) -> None:
        rows = [{"id": hashlib.sha1(f"{c.path}\0{c.seq}".encode()).hexdigest()[:20], "path": c.path, "file_hash": h,
                 "mtime_ns": st[0], "size": st[1], "title": c.title, "source": c.source, "heading": c.heading,
                 "seq": c.seq, "start": c.start, "end": c.end, "text": c.text, "doc": c.doc,
                 "vector": np.asarray(v, np.float32)} for c, h, st, v in zip(chunks, file_hashes, stats, vectors)]
        if rows:
            with self.lock:
                self._guard(lambda: self.table.add(pa.Table.from_pylist(rows, schema=_schema(self.dim))), "write to")

    def delete_paths(self, paths: list[str]) -> None:
        with self.lock:
            for start in range(0, len(paths), 200):
                part = paths[start:start + 200]
                cond = "path IN (" + ", ".join(quote(p) for p in part) + ")"
                self._guard(lambda: self.table.delete(cond), "write to")

    def touch(self, path: str, mtime_ns: int, size: int) -> None:
        """The file was saved unchanged: remember its new stat so it is not hashed again."""
        with self.lock:
            self._guard(lambda: self.table.update(where=f"path = {quote(path)}",
                                                  values={"mtime_ns": mtime_ns, "size": size}), "write to")

    def count(self) -> int:
        return self._guard(lambda: self.table.count_rows())

    # -- indexes ----------------------------------------------------------------------
    def has_fts(self) -> bool:
        """Only a yes is cached: another process (``knowledge add``) may build the index later."""
        if not self._fts:
            self._fts = any(i.index_type == "FTS" for i in self._guard(lambda: self.table.list_indices()))
        return self._fts

    def maintain(self) -> None:
        """After a sync that changed rows: FTS, compaction, old versions, ANN past the threshold."""
        from lancedb.index import FTS
        with self.lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = self.table.count_rows()
            if not rows:
                return
            if not self.has_fts():
                self.table.create_index("doc", config=FTS(), replace=True)
                self._fts = True
            self.table.optimize(cleanup_older_than=dt.timedelta(minutes=self.settings.retention_minutes))
            self._reopen()
            if rows >= self.settings.ann_min_rows and (not self.ann or rows >= 4 * self.ann["rows"]):
                self.build_ann(rows)

    def _reopen(self) -> None:
        """A new connection after compaction or an index build: its caches drop the
        superseded versions and index copies, and fit the indexes now on disk (memory.caches)."""
        self.db = open_db(self.path)
        self.table = self._open()

    def build_ann(self, rows: int) -> dict:
        """HNSW-SQ, as memory.maintenance builds it; ef raised until recall@10 ≥ target."""
        from lancedb.index import HnswSq
        started = time.perf_counter()
        partitions = max(1, rows // 300_000)
        self.table.create_index("vector", config=HnswSq(distance_type="cosine", num_partitions=partitions),
                                replace=True)
        self._reopen()
        built = time.perf_counter() - started
        sample = self.table.search().select(["vector"]).limit(2000).to_list()
        rng = np.random.default_rng(0)
        picks = rng.choice(len(sample), size=min(30, len(sample)), replace=False)
        queries = []
        for i in picks:
            q = np.asarray(sample[i]["vector"], np.float32) + rng.normal(0, 0.05, self.dim).astype(np.float32)
            queries.append(q / np.linalg.norm(q))
        exact = [{r["_rowid"] for r in self.table.search(q).metric("cosine").bypass_vector_index()
                  .with_row_id(True).limit(10).to_list()} for q in queries]
        chosen = {}
        for ef in (40, 80, 160, 320):
            got = [{r["_rowid"] for r in self.table.search(q).metric("cosine").nprobes(partitions).ef(ef)
                    .with_row_id(True).limit(10).to_list()} for q in queries]
            recall = float(np.mean([len(a & b) / max(len(a), 1) for a, b in zip(exact, got)]))
            chosen = {"nprobes": partitions, "ef": ef, "recall_at_10": round(recall, 4)}
            if recall >= self.settings.ann_target_recall:
                break
        self.ann = {"rows": rows, "index": "IVF_HNSW_SQ", "build_seconds": round(built, 1), **chosen}
        self.ann_file.write_text(json.dumps(self.ann))
        log.info("knowledge ANN index on %d rows in %.1f s: %s", rows, built, self.ann)
        return self.ann

    # -- search -----------------------------------------------------------------------
    def dense(self, vector: np.ndarray, n: int) -> list[tuple[dict, float]]:
        q = self.table.search(np.asarray(vector, np.float32)).metric("cosine")
        if self.ann.get("ef"):
            q = q.nprobes(self.ann["nprobes"]).ef(max(self.ann["ef"], n))
        rows = self._guard(lambda: arrow_rows(q.select(COLUMNS + ["vector", "_distance"]).limit(n).to_arrow()))
        return [(r, 1.0 - float(r["_distance"])) for r in rows]

    def fulltext(self, text: str, n: int) -> list[tuple[dict, float]]:
        if not text.strip() or not self.has_fts():
            return []
        try:
            rows = arrow_rows(self.table.search(text, query_type="fts", fts_columns="doc")
                              .select(COLUMNS + ["vector", "_score"]).limit(n).to_arrow())
        except Exception as e:      # e.g. a query of stop words only
            log.debug("knowledge full-text search failed for %r: %s", text, e)
            return []
        return [(r, float(r["_score"])) for r in rows]

    def disk_bytes(self) -> int:
        d = self.path / f"{self.name}.lance"
        return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) if d.exists() else 0
