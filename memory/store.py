"""Every turn, kept on disk in LanceDB with its embedding, per user profile.

One table, ``memories``, holds user utterances and assistant replies (kind ``turn``).
Each row carries the text, the role, the session id, the time and the vector, so that a
later process, days later, can find it again.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from assistant.errors import MemoryStoreError

TABLE = "memories"


@dataclass
class Memory:
    text: str
    role: str                   # "user" | "assistant"
    session_id: str
    profile: str = "default"
    kind: str = "turn"
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Hit:
    memory: Memory
    relevance: float            # cosine similarity, -1..1

    def as_dict(self) -> dict:
        return {**asdict(self.memory), "relevance": round(self.relevance, 4)}


def _schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.string()), pa.field("profile", pa.string()),
        pa.field("session_id", pa.string()), pa.field("role", pa.string()),
        pa.field("kind", pa.string()), pa.field("text", pa.string()),
        pa.field("ts", pa.float64()), pa.field("vector", pa.list_(pa.float32(), dim)),
    ])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_names(db) -> set[str]:
    return set(db.list_tables().tables)


def open_db(path: Path):
    import lancedb
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"memory database {path} is a file, not a directory; move it "
                               "away or choose another --home")
    try:
        path.mkdir(parents=True, exist_ok=True)
        return lancedb.connect(str(path))
    except OSError as e:
        raise MemoryStoreError(f"cannot open memory database {path} ({e.strerror or e}); "
                               "check the directory's permissions or choose another --home")


class MemoryStore:
    def __init__(self, db_path: Path, dim: int, profile: str = "default") -> None:
        self.path, self.dim, self.profile = db_path, dim, profile
        self.db = open_db(db_path)
        try:
            if TABLE in table_names(self.db):
                self.table = self.db.open_table(TABLE)
                width = self.table.schema.field("vector").type.list_size
                if width != dim:
                    raise MemoryStoreError(
                        f"memory database {db_path} holds {width}-d vectors but the embedding model "
                        f"gives {dim}-d; use the model it was built with or another --home")
            else:
                self.table = self.db.create_table(TABLE, schema=_schema(dim))
        except MemoryStoreError:
            raise
        except Exception as e:
            raise MemoryStoreError(f"memory database {db_path} is unreadable ({str(e).splitlines()[0][:120]}); "
                                   "restore it from a backup or move it away to start afresh")

    def add(self, memories: list[Memory], vectors: np.ndarray) -> None:
        rows = [{**asdict(m), "vector": v.astype(np.float32).tolist()} for m, v in zip(memories, vectors)]
        try:
            self.table.add(rows)
        except Exception as e:
            raise MemoryStoreError(f"cannot write to memory database {self.path} "
                                   f"({str(e).splitlines()[0][:120]}); check free disk space")

    def count(self) -> int:
        return self.table.count_rows(f"profile = {_quote(self.profile)}")

    def search(self, vector: np.ndarray, k: int, exclude_ids: set[str] = frozenset(),
               min_relevance: float = -1.0) -> list[Hit]:
        if k <= 0:
            return []
        rows = (self.table.search(vector.astype(np.float32)).metric("cosine")
                .where(f"profile = {_quote(self.profile)}", prefilter=True)
                .limit(k + len(exclude_ids)).to_list())
        hits = []
        for row in rows:
            if row["id"] in exclude_ids:
                continue
            relevance = 1.0 - float(row["_distance"])
            if relevance < min_relevance:
                continue
            hits.append(Hit(_memory(row), relevance))
        return hits[:k]

    def recent(self, limit: int = 20) -> list[Memory]:
        rows = (self.table.search().where(f"profile = {_quote(self.profile)}")
                .select(["id", "profile", "session_id", "role", "kind", "text", "ts"])
                .limit(max(limit, 1) * 50 + 1000).to_list())
        rows.sort(key=lambda r: r["ts"], reverse=True)
        return [_memory(r) for r in rows[:limit]]


def _memory(row: dict) -> Memory:
    return Memory(text=row["text"], role=row["role"], session_id=row["session_id"],
                  profile=row["profile"], kind=row["kind"], ts=row["ts"], id=row["id"])
