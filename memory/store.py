"""Every turn and fact, kept on disk in LanceDB with its embedding, per user profile.

One table, ``memories``, holds user utterances and assistant replies (kind ``turn``) and
facts the user asked to keep (kind ``fact``). Each row carries the verbatim text and a
self-describing ``doc`` ("(8 May 2023) Caroline: ...") that is what gets embedded and
full-text indexed: a row read alone says who said it and when.

Writes are batched (``memory.buffer``) because every Lance append is a new data file;
unflushed rows are searched too. Compaction, version cleanup and indexes are kept by
``memory.maintenance``. Readers in other processes see each flushed write at once
(``read_consistency_interval=0``).

The table may also live on an S3 object store shared by several devices
(``memory.location``). Writes go to the store; reads go to a local copy of its files
(``memory.replica``), synced after each write of this device and every
``refresh_seconds`` for the others'. A failed write is retried after checking which of
its rows did land (a commit whose outcome is unknown is never dropped nor doubled).
While the store is unreachable ``health`` says so, turns go on searching the copy and
the rows not yet written, and what they say waits in this device's journal.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from assistant.errors import MemoryStoreError

from .buffer import WriteBuffer
from .fact_keys import indexed
from .journal import Journal
from .location import Location, explain, preflight

log = logging.getLogger(__name__)

TABLE = "memories"
ACTIVE = "superseded_by = ''"


@dataclass
class Memory:
    text: str
    role: str                   # "user" | "assistant"
    session_id: str
    profile: str = "default"
    kind: str = "turn"          # "turn" | "fact"
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    speaker: str = ""           # who said it, by name; "" = the role
    seq: int = 0                # position in its session: finds the neighbouring turns
    ref: str = ""               # an outside id kept through import/export (e.g. LoCoMo dia_id)
    subject: str = ""           # facts: what the fact is about, for contradictions
    superseded_by: str = ""     # facts: the id of the newer fact that replaced this one
    keys: str = ""              # turns: facts extracted from it, indexed beside its text (memory.fact_keys)


FIELDS = [f.name for f in fields(Memory)]
KEYED_TURNS = "kind = 'turn' AND role = 'user'"   # the rows memory.fact_keys reads (not the assistant's)


def keyed_turn(row: dict) -> bool:
    """``KEYED_TURNS`` for a row already read."""
    return row["kind"] == "turn" and row["role"] == "user"


READ_COLUMNS = FIELDS + ["vector"]      # all but ``doc``, which only the indexes need


@dataclass(frozen=True)
class Hit:
    memory: Memory
    relevance: float            # fused score: see memory.retrieval
    context: tuple[Memory, ...] = ()   # neighbouring turns shown with it

    def as_dict(self) -> dict:
        d = {**asdict(self.memory), "relevance": round(self.relevance, 4)}
        if self.context:
            d["context"] = [asdict(m) for m in self.context]
        return d


def when(ts: float) -> str:
    d = dt.datetime.fromtimestamp(ts)
    return f"{d.day} {d:%B %Y}"


def describe(m: Memory) -> str:
    """The indexed text: speaker and date make a row meaningful on its own (a bare
    "I went yesterday" is found by neither BM25 nor embeddings). A turn's fact keys
    follow in brackets; a search still returns the turn's own text."""
    keys = indexed(m.keys)
    return f"({when(m.ts)}) {m.speaker or m.role}: {m.text}" + (f" [{keys}]" if keys else "")


def document(m: Memory, date_keys: bool = True) -> str:
    """What full-text search indexes: ``describe`` plus, with ``date_keys``, the date its
    relative time words point to ("yesterday" said on 8 May → "[on 7 May 2023]")."""
    from .timeparse import date_key
    key = date_key(m.text, m.ts) if date_keys and m.kind == "turn" else ""
    return f"{describe(m)} {key}" if key else describe(m)


def _schema(dim: int) -> pa.Schema:
    s = pa.string()
    return pa.schema([
        pa.field("id", s), pa.field("profile", s), pa.field("session_id", s), pa.field("role", s),
        pa.field("kind", s), pa.field("text", s), pa.field("ts", pa.float64()),
        pa.field("speaker", s), pa.field("seq", pa.int64()), pa.field("ref", s), pa.field("subject", s),
        pa.field("superseded_by", s), pa.field("doc", s), pa.field("vector", pa.list_(pa.float32(), dim)),
        pa.field("keys", s),    # last: where add_columns puts it in a table made before it
    ])


# Columns added since the first release, with the SQL that fills them in old tables.
_MIGRATIONS = {"speaker": "role", "seq": "CAST(0 AS BIGINT)", "ref": "''", "subject": "''",
               "superseded_by": "''", "doc": "text", "keys": "''"}


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def id_list(ids) -> str:
    return "(" + ", ".join(quote(i) for i in ids) + ")"


def table_names(db) -> set[str]:
    return set(db.list_tables().tables)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [e.__class__.__name__])[0][:160]


def unreadable(path, e: Exception) -> MemoryStoreError:
    if isinstance(path, Location) and path.remote:
        return explain(path, e)
    return MemoryStoreError(f"memory database {path} is unreadable ({_first_line(e)}); restore it "
                            "from a backup, or move it away to start afresh")


def open_db(path: Path | Location):
    """A connection with bounded caches (memory.caches), sized for the indexes on disk."""
    import lancedb
    from .caches import indexes_on_disk, session
    if isinstance(path, Location):
        if not path.remote:
            return open_db(path.path)
        preflight(path)             # a one-line error naming what is wrong, before any local change
        try:
            db = lancedb.connect(path.uri, storage_options=path.connect_options(), session=session(),
                                 read_consistency_interval=dt.timedelta(seconds=path.refresh_seconds))
        except Exception as e:
            raise explain(path, e) from None
        path.path.mkdir(parents=True, exist_ok=True)
        return db
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"memory database {path} is a file, not a directory; move it "
                               "away or choose another --home")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # 0: every read checks for a newer version, so a CLI reader sees the daemon's
        # writes and never reads a version that cleanup has removed.
        return lancedb.connect(str(path), read_consistency_interval=dt.timedelta(0),
                               session=session(indexes_on_disk(path)))
    except OSError as e:
        raise MemoryStoreError(f"cannot open memory database {path} ({e.strerror or e}); "
                               "check the directory's permissions or choose another --home")


def _warm(table):
    """Load the table's indexes into its caches with one tiny search of each kind."""
    columns = {c for i in table.list_indices() for c in i.columns}
    if "doc" in columns:
        table.search("warm", query_type="fts", fts_columns="doc").limit(1).to_arrow()
    if "vector" in columns:
        dim = table.schema.field("vector").type.list_size
        table.search(np.ones(dim, np.float32)).metric("cosine").limit(1).to_arrow()
    return table


def run_async(coroutine):
    """Run a query of LanceDB's async API on its own event loop, from any thread.

    The vector and full-text searches a turn waits for go through the async API
    (``MemoryStore.async_reads``) because the sync one adds ~1.5 ms of Python per query
    (schema lookups, blob checks) and holds the GIL meanwhile, which slowed the question's
    embedding running beside the full-text search (LoCoMo retrieval p50 33.7 → 27.7 ms
    with the other changes of that commit, 2-core AMD EPYC). Taking neighbours by row id
    was no faster through it, so that stays sync."""
    from lancedb.background_loop import LOOP
    return LOOP.run(coroutine)


def arrow_rows(table: pa.Table) -> list[dict]:
    """Rows as dicts, with the vector as a NumPy array (much cheaper than Python lists)."""
    if "vector" not in table.column_names:
        return table.to_pylist()
    col = table.column("vector").combine_chunks()
    width = col.type.list_size
    vectors = col.values.to_numpy(zero_copy_only=False).reshape(-1, width) if len(col) else np.zeros((0, width), np.float32)
    rows = table.drop_columns(["vector"]).to_pylist()
    for row, v in zip(rows, vectors):
        row["vector"] = v
    return rows


def row_memory(row: dict) -> Memory:
    return Memory(**{k: row[k] for k in FIELDS if k in row})


@dataclass
class StoreSettings:
    flush_rows: int = 16                # unflushed rows that trigger a write
    flush_seconds: float = 5.0          # the oldest unflushed row waits at most this long
    compact_fragments: int = 16         # small data files that trigger compaction
    retention_minutes: float = 10.0     # old versions (and forgotten text in them) kept this long
    ann_min_rows: int = 10_000          # below this, exact vector search (Lance flat search: ~15 ms at 10k)
    ann_target_recall: float = 0.95
    background: bool = True             # flush and maintain in a background thread
    date_keys: bool = True              # index turns also under the date "yesterday" etc. means


@dataclass
class Health:
    """Whether the store answered the last time it was asked; shown by stats and status."""
    ok: bool = True
    error: str = ""
    since: float = field(default_factory=time.time)

    def set(self, ok: bool, error: str = "") -> bool:
        """Record the outcome; True when it changed (log it once, not every retry)."""
        changed = ok != self.ok
        if changed:
            self.since = time.time()
        self.ok, self.error = ok, "" if ok else error
        return changed


class MemoryStore:
    def __init__(self, db_path: Path | Location, dim: int, profile: str = "default",
                 settings: StoreSettings | None = None) -> None:
        from .maintenance import Maintainer
        self.location = db_path if isinstance(db_path, Location) else Location.local(db_path)
        self.path, self.dim, self.profile = self.location.path, dim, profile
        self.settings = settings or StoreSettings()
        self.health = Health()
        self._uncertain = False     # the last write failed: some of its rows may have landed
        self.db = open_db(self.location)
        self.table = self._open_table()
        self.replica = None         # remote: the local copy turns search (memory.replica)
        self._synced_at = 0.0
        if self.location.remote:
            from .replica import Replica
            self.replica = Replica(self.location, TABLE)
            self.refresh()
        self._lock = threading.RLock()      # one writer at a time inside this process
        self._journal_lock = threading.Lock()
        self.buffer = WriteBuffer()
        self.journal = Journal(self.path)      # on this device, for a remote store too
        self.maintainer = Maintainer(self)
        self._closed = False
        self._replay_orphans()

    # -- opening --------------------------------------------------------------------
    def _open_table(self, db=None):
        db = db or self.db
        try:
            if TABLE not in table_names(db):
                try:
                    return db.create_table(TABLE, schema=_schema(self.dim))
                except Exception:
                    if TABLE not in table_names(db):   # not a creation race: a real error
                        raise
            table = db.open_table(TABLE)
            width = table.schema.field("vector").type.list_size
            if width != self.dim:
                raise MemoryStoreError(
                    f"memory database {self.location} holds {width}-d vectors but the embedding model "
                    f"gives {self.dim}-d; use the model it was built with or another --home")
            missing = {k: v for k, v in _MIGRATIONS.items() if k not in table.schema.names}
            if missing:
                table.add_columns(missing)
            table.count_rows()          # touch the data: a broken manifest fails here, not later
            return table
        except MemoryStoreError:
            raise
        except Exception as e:
            raise unreadable(self.location, e)

    def reopen(self) -> None:
        """Swap in a new connection, its caches empty and sized for the indexes now on disk
        (memory.caches): called after compaction and index builds, whose superseded
        versions and index copies the old caches would keep. The new table's indexes are
        loaded here, in the maintenance thread, before a turn's search can need them. If
        opening fails, the old connection goes on serving."""
        with self._lock:
            try:
                db = open_db(self.location)
                table = _warm(self._open_table(db))
            except Exception as e:
                log.warning("memory store %s: keeping the old connection (%s)", self.location, _first_line(e))
                return
            self.db, self.table = db, table
            if self.replica is not None:
                self.replica.reopen()

    def where(self, extra: str = "") -> str:
        base = f"profile = {quote(self.profile)}"
        return f"{base} AND ({extra})" if extra else base

    @property
    def reads(self):
        """The table searches and listings read: the local copy of a remote table."""
        if self.replica is None:
            return self.table
        if not self.settings.background and time.monotonic() - self._synced_at >= self.location.refresh_seconds:
            self.refresh()              # no maintenance thread to keep the copy fresh: do it here
        return self.replica.table()

    @property
    def async_reads(self):
        """``reads`` as LanceDB's ``AsyncTable`` (what its sync ``LanceTable`` wraps), for
        the queries ``run_async`` runs."""
        return self.reads._table

    def refresh(self) -> bool:
        """Remote: fetch what other devices (and this one) wrote into the local copy."""
        if self.replica is None:
            return True
        try:
            self.replica.sync()
            self._synced_at = time.monotonic()
        except Exception as e:
            self._mark(False, str(explain(self.location, e)))
            return False
        self._mark(True)
        return True

    # -- writing --------------------------------------------------------------------
    def add(self, memories: list[Memory], vectors: np.ndarray) -> None:
        """Queue rows for the next batched write; they are searchable at once."""
        for m in memories:
            m.profile = self.profile
        vectors = np.asarray(vectors, np.float32)
        with self._journal_lock:
            self._guard(lambda: self.journal.append(memories, vectors), "write to")
            self.buffer.add(memories, vectors)
        if not self.settings.background:
            self.flush()
        else:
            self.maintainer.wake()      # the maintenance thread writes: never the caller's turn

    def flush(self) -> int:
        with self._lock:
            memories, vectors = self.buffer.take()
            if not memories:
                return 0
            try:
                if self._uncertain:     # "commit result unknown": write only what did not land
                    present = self._present_anywhere([m.id for m in memories])
                    kept = [(m, v) for m, v in zip(memories, vectors) if m.id not in present]
                    if present:
                        log.info("%d of %d rows of an uncertain write had landed", len(present), len(memories))
                    if kept:
                        self._write([m for m, _ in kept], [v for _, v in kept])
                else:
                    self._write(memories, vectors)
                self._uncertain = False
                self._mark(True)
                self.refresh()          # the rows are searchable in the copy before they leave the buffer
            except MemoryStoreError as e:
                self._uncertain = True
                self._mark(False, str(e))
                self.buffer.put_back(memories, vectors)
                raise
            with self._journal_lock:
                self.buffer.flushed(memories)
                self._rejournal()
        self.maintainer.after_write(len(memories))
        return len(memories)

    def _rejournal(self) -> None:
        """Make the journal hold exactly the rows still waiting (call with _journal_lock)."""
        self.journal.clear()
        waiting = self.buffer.rows()
        if waiting:
            self.journal.append([row_memory(r) for r in waiting], [r["vector"] for r in waiting])

    def _write(self, memories: list[Memory], vectors) -> None:
        rows = [{**asdict(m), "doc": document(m, self.settings.date_keys), "vector": np.asarray(v, np.float32)} for m, v in zip(memories, vectors)]
        try:
            self.table.add(pa.Table.from_pylist(rows, schema=_schema(self.dim)))
        except Exception as e:
            if self.location.remote:
                raise explain(self.location, e) from None
            raise MemoryStoreError(f"cannot write to memory database {self.path} "
                                   f"({_first_line(e)}); check free disk space and permissions")

    def _replay_orphans(self) -> None:
        """Write the rows a crashed process left in its journal (see memory.journal)."""
        for path in self.journal.orphans():
            memories, vectors = Journal.read(path, Memory)
            with self._lock:
                present = self._present_anywhere([m.id for m in memories])
                todo = [(m, v) for m, v in zip(memories, vectors) if m.id not in present]
                if todo:
                    self._write([m for m, _ in todo], [v for _, v in todo])
                    log.warning("recovered %d unwritten memories from %s", len(todo), path.name)
            path.unlink(missing_ok=True)

    def _present_anywhere(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            cond = f"id IN {id_list(ids[start:start + 500])}"
            found.update(self._guard(lambda: self.table.search().where(cond).select(["id"]).limit(None)
                                     .to_arrow().column("id").to_pylist()))
        return found

    def add_now(self, memories: list[Memory], vectors: np.ndarray) -> None:
        """One batched write, bypassing the buffer (imports, benchmarks)."""
        self.add(memories, vectors)
        self.flush()

    def session_to_key(self, recent_days: float = 2.0) -> list[Memory]:
        """The turns, in order, of a session with people's turns whose fact keys were never
        read (memory.fact_keys; the assistant's replies are not read): the newest such
        session of the last ``recent_days``, else the first one left (a store from before
        keys is read bit by bit). [] when all are read. Turns still in the write buffer
        wait for their write."""
        unread = f"{KEYED_TURNS} AND keys = ''"
        for cond, limit in ((f"{unread} AND ts >= {time.time() - recent_days * 86400.0}", None), (unread, 1)):
            rows = self._guard(lambda: self.reads.search().where(self.where(cond))
                               .select(["session_id", "ts"]).limit(limit).to_list())
            if rows:
                return self.session_turns(max(rows, key=lambda r: r["ts"])["session_id"])
        return []

    def _session(self, session_id: str) -> str:
        """The filter for one session's turns (its facts are not part of it)."""
        return self.where(f"session_id = {quote(session_id)} AND kind = 'turn'")

    def session_turns(self, session_id: str) -> list[Memory]:
        """A session's stored turns in order."""
        cond = self._session(session_id)
        rows = self._guard(lambda: self.reads.search().where(cond).select(FIELDS).limit(None).to_list())
        return sorted((row_memory(r) for r in rows), key=lambda m: (m.seq, m.ts))

    def set_keys(self, session_id: str, keys: dict[str, tuple[str, np.ndarray]]) -> int:
        """Give turns of one session their fact keys: {id: (keys, embedding of the turn's
        ``describe`` with them)}. Returns the turns updated (a forgotten one is not revived).

        The whole session is rewritten, in order, in one commit. A rewritten row moves to
        a new data file, and ``neighbours`` finds a turn's neighbours at the adjacent row
        ids: rewriting only the keyed turns would part them from the turns around them.
        The session's turns stay together (and compaction keeps them so), at the cost of
        writing its other turns again: ~1.5 KB each, a few hundred in a day's session. A
        call's p50 was 36 ms at 50 turns and 87 ms at 800 (benchmarks/fact_keys_write.py,
        2-core Intel Xeon, the LLM reading beside it): 1-3 % of the ~3 s the LLM takes to
        read the turn."""
        if not keys:
            return 0
        with self._lock:
            cond = self._session(session_id)       # facts stay put
            rows = self._guard(lambda: arrow_rows(self.table.search().where(cond).select(READ_COLUMNS)
                                                  .limit(None).to_arrow()))
            rows.sort(key=lambda r: (r["seq"], r["ts"]))
            updated = 0
            for r in rows:
                if r["id"] in keys:
                    r["keys"], r["vector"] = keys[r["id"]][0], np.asarray(keys[r["id"]][1], np.float32)
                    updated += 1
                r["doc"] = document(row_memory(r), self.settings.date_keys)
            if not updated:
                return 0
            data = pa.Table.from_pylist(rows, schema=_schema(self.dim))

            def write():
                self.table.merge_insert("id").when_matched_update_all().execute(data)
            self._guard(write, "write to")
            self.refresh()
        self.maintainer.after_write(len(rows))
        return updated

    def mark_superseded(self, old_ids: list[str], new_id: str) -> None:
        if not old_ids:
            return
        with self._journal_lock:
            self.buffer.update(old_ids, superseded_by=new_id)
            self._rejournal()
        with self._lock:
            self._guard(lambda: self.table.update(where=self.where(f"id IN {id_list(old_ids)}"),
                                                  values={"superseded_by": new_id}), "write to")
            self.refresh()

    def delete(self, ids: list[str]) -> int:
        """Forget these memories: gone from search now, from disk after cleanup (see purge)."""
        if not ids:
            return 0
        with self._journal_lock:
            removed = self.buffer.remove(ids)
            self._rejournal()              # a forgotten row must not come back after a crash
        with self._lock:
            cond = self.where(f"id IN {id_list(ids)}")
            found = self._guard(lambda: self._fragments_of(cond), "read")
            if found:
                self._guard(lambda: self.table.delete(cond), "write to")
                self.refresh()
                self.maintainer.purge(found)
        return removed + sum(found.values())

    def delete_all(self) -> int:
        with self._journal_lock:
            removed = self.buffer.remove(None)
            self._rejournal()
        with self._lock:
            cond = self.where()
            found = self._guard(lambda: self._fragments_of(cond), "read")
            if found:
                self._guard(lambda: self.table.delete(cond), "write to")
                self.refresh()
                self.maintainer.purge(found)
        return removed + sum(found.values())

    def _fragments_of(self, cond: str) -> dict[int, int]:
        """{fragment id: rows matching} — the data files a forget must rewrite."""
        rows = self.table.search().where(cond).with_row_id(True).select(["id"]).limit(None).to_list()
        counts: dict[int, int] = {}
        for r in rows:
            counts[r["_rowid"] >> 32] = counts.get(r["_rowid"] >> 32, 0) + 1
        return counts

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.maintainer.stop()
        self.flush()
        self.journal.close()

    # -- reading --------------------------------------------------------------------
    def _mark(self, ok: bool, error: str = "") -> None:
        if self.health.set(ok, error):
            if ok:
                log.warning("memory store %s is reachable again", self.location)
            else:
                log.warning("memory store %s cannot be used (%s); turns go on, unwritten memories wait "
                            "in the journal", self.location, error)

    def _guard(self, fn, verb: str = "read"):
        try:
            return fn()
        except MemoryStoreError:
            raise
        except Exception as e:
            if self.location.remote:
                raise explain(self.location, e) from None
            if verb == "read":
                raise unreadable(self.path, e)
            raise MemoryStoreError(f"cannot {verb} memory database {self.path} ({_first_line(e)}); "
                                   "check free disk space and permissions")

    def probe(self) -> bool:
        """Is the store reachable again? (a sync of the copy; sets ``health``)."""
        return self.refresh()

    def _mine(self, rows: list[dict], active_only: bool) -> list[dict]:
        return [r for r in rows if r["profile"] == self.profile and not (active_only and r["superseded_by"])]

    def _top(self, build, n: int, active_only: bool) -> list[dict]:
        """Top ``n`` rows of this profile from a LanceDB search (``build``: an async query).

        The profile filter is applied after the search first: as a prefilter it costs
        ~13 ms at 100k rows, more than the search itself. Only when other profiles'
        rows (or superseded facts) crowd the top is the search redone with a prefilter."""
        rows = self._guard(lambda: arrow_rows(run_async(build().limit(2 * n).to_arrow())))
        mine = self._mine(rows, active_only)
        if len(mine) < n and len(rows) == 2 * n:
            cond = self.where(ACTIVE if active_only else "")
            mine = self._guard(lambda: arrow_rows(run_async(build().where(cond).limit(n).to_arrow())))
        return mine[:n]

    def dense(self, vector: np.ndarray, n: int, active_only: bool = True) -> list[tuple[dict, float]]:
        """Nearest rows by cosine: (row with its vector, cosine), flushed and unflushed."""
        def build():
            q = self.async_reads.query().nearest_to(vector.astype(np.float32)).distance_type("cosine").with_row_id()
            return self.maintainer.tune(q, 2 * n).select(READ_COLUMNS + ["_distance"])
        out = [(r, 1.0 - float(r["_distance"])) for r in self._top(build, n, active_only)]
        out += self.buffer.dense(vector, n, active_only)
        out.sort(key=lambda x: -x[1])
        return out[:n]

    def fulltext(self, text: str, n: int, active_only: bool = True) -> list[tuple[dict, float]]:
        """BM25 over the ``doc`` column (LanceDB native FTS); unindexed rows are searched too."""
        if not text.strip() or not self.maintainer.has_fts():
            return []
        def build():
            return (self.async_reads.query().nearest_to_text(text, columns="doc").with_row_id()
                    .select(READ_COLUMNS + ["_score"]))
        try:
            rows = self._top(build, n, active_only)
        except MemoryStoreError as e:             # e.g. a query of stop words only
            log.debug("full-text search failed for %r: %s", text, e)
            return []
        return [(r, float(r["_score"])) for r in rows]

    def neighbours(self, rows: list[dict]) -> list[dict]:
        """The turns just before and after these (same session, seq ± 1).

        A session's turns are written in order, so they sit at adjacent row ids; taking
        rows by id costs ~5 ms (a LoCoMo conversation, 2-core AMD EPYC) where a filter on
        ``_rowid`` took ~8 and one on session and seq 12-22 at 100k rows. Pairs that are
        not adjacent on disk (a rare cross-process interleave, a file boundary) are simply
        missed."""
        keys = {(r["session_id"], r["seq"] + d) for r in rows if r["kind"] == "turn" for d in (-1, 1)}
        keys -= {(r["session_id"], r["seq"]) for r in rows}
        if not keys:
            return []
        rowids = sorted({r["_rowid"] + d for r in rows if r.get("_rowid") is not None for d in (-1, 1)} - {-1})
        found = []
        if rowids:
            found = self._guard(lambda: arrow_rows(self.reads.take_row_ids(rowids).select(READ_COLUMNS).to_arrow()))
        found += self.buffer.rows()
        return [r for r in found if (r["session_id"], r["seq"]) in keys and r["profile"] == self.profile]

    def get(self, ids: list[str]) -> list[Memory]:
        if not ids:
            return []
        rows = self._guard(lambda: self.reads.search().where(self.where(f"id IN {id_list(ids)}"))
                           .select(FIELDS).limit(None).to_list())
        found = {r["id"]: row_memory(r) for r in rows}
        found.update({m.id: m for m in self.buffer.memories() if m.id in ids})
        return [found[i] for i in ids if i in found]

    def find_prefix(self, prefix: str) -> list[Memory]:
        """Memories whose id starts with ``prefix`` (the CLI shows 8 characters)."""
        cond = self.where(f"id LIKE {quote(prefix.replace('%', '').replace('_', '') + '%')}")
        rows = self._guard(lambda: self.reads.search().where(cond).select(FIELDS).limit(None).to_list())
        return [row_memory(r) for r in rows] + [m for m in self.buffer.memories() if m.id.startswith(prefix)]

    def facts(self, active_only: bool = True) -> list[tuple[Memory, np.ndarray]]:
        cond = self.where("kind = 'fact'" + (f" AND {ACTIVE}" if active_only else ""))
        rows = self._guard(lambda: self.reads.search().where(cond).limit(None).to_list())
        out = [(row_memory(r), np.asarray(r["vector"], np.float32)) for r in rows]
        out += [(row_memory(r), np.asarray(r["vector"], np.float32)) for r in self.buffer.rows()
                if r["kind"] == "fact" and (not active_only or not r["superseded_by"])]
        return out

    def iter_all(self, with_vectors: bool = False) -> Iterator[dict]:
        """Every row of this profile, oldest first (export)."""
        cols = FIELDS + (["vector"] if with_vectors else [])
        rows = self._guard(lambda: self.reads.search().where(self.where()).select(cols).limit(None).to_arrow())
        rows = rows.sort_by([("ts", "ascending"), ("seq", "ascending")]).to_pylist()
        pending = [{k: r[k] for k in cols} for r in self.buffer.rows()]
        yield from sorted(rows + pending, key=lambda r: (r["ts"], r["seq"]))

    def recent(self, limit: int = 20, kind: str | None = None) -> list[Memory]:
        cond = self.where(f"kind = {quote(kind)}" if kind else "")
        table = self._guard(lambda: self.reads.search().where(cond).select(FIELDS).limit(None).to_arrow())
        rows = table.sort_by([("ts", "descending")]).slice(0, max(limit, 0)).to_pylist()
        rows += [asdict(m) for m in self.buffer.memories() if not kind or m.kind == kind]
        rows.sort(key=lambda r: (r["ts"], r["seq"]), reverse=True)
        return [row_memory(r) for r in rows[:limit]]

    def count(self, extra: str = "") -> int:
        n = self._guard(lambda: self.reads.count_rows(self.where(extra)))
        return n + len(self.buffer) if not extra else n

    def existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            rows = self._guard(lambda: self.reads.search().where(self.where(f"id IN {id_list(part)}"))
                               .select(["id"]).limit(None).to_list())
            found.update(r["id"] for r in rows)
        return found | {m.id for m in self.buffer.memories() if m.id in set(ids)}

    def next_seq(self, session_id: str) -> int:
        rows = self._guard(lambda: self.reads.search().where(self.where(f"session_id = {quote(session_id)}"))
                           .select(["seq"]).limit(None).to_list())
        seqs = [r["seq"] for r in rows] + [m.seq for m in self.buffer.memories() if m.session_id == session_id]
        return max(seqs, default=-1) + 1
