"""Keeps the append-heavy ``memories`` table fast and makes forgetting physical.

* Batched writes are flushed by a background thread when the oldest waits too long.
* When small data files pile up (every flush adds one), ``optimize()`` compacts them,
  brings the FTS and vector indexes up to date, and prunes versions older than the
  retention window. Until then the FTS index is still complete: LanceDB searches
  unindexed rows with a flat scan.
* Past ``ann_min_rows`` rows an ANN index (HNSW, scalar-quantised) is built in the
  background, its recall@10 is checked against exact search, and the search effort is
  raised until it meets the target; the chosen settings are kept beside the table
  (``memories.ann.json``). Below it, search is exact.
* Forgetting rewrites the data files that held the forgotten rows, rebuilds the FTS
  index (it keeps deleted tokens), and cleans up old versions: once the retention window
  has passed, the text is gone from disk. A due cleanup is remembered in
  ``memories.purge-due`` so that the next process finishes it.

On a shared object store these small state files are objects beside the table
(``memory.location.Sidecar``), compaction and index builds are done by one device at a
time (``memory.lease``), and a store that is away is retried every ``RETRY_SECONDS``,
reported once in the log and in ``health``, not every second.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import warnings

import numpy as np

from assistant.errors import MemoryStoreError

log = logging.getLogger(__name__)

ANN_SAMPLE_QUERIES = 30
SCALAR_INDEX_ROWS = 10_000      # B-trees for the filters pay off past this many rows
RETRY_SECONDS = 5.0             # a failed flush is retried this often
SHARED_CHECK_SECONDS = 60.0     # remote: how often to re-read the shared ANN settings and due purge


class Maintainer:
    def __init__(self, store) -> None:
        self.store = store
        self.settings = store.settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._fts: bool | None = None
        self._due = False
        from .lease import Lease
        from .location import Sidecar
        self.sidecar = Sidecar(store.location)
        self.lease = Lease(self.sidecar)
        self.ann_file = "memories.ann.json"
        self.purge_file = "memories.purge-due"
        self._retry_at = 0.0
        self._shared_at = self._refreshed_at = time.monotonic()
        self.ann = self._load_ann()
        self._thread: threading.Thread | None = None
        self._finish_due_purge()
        if self.settings.background:
            self._thread = threading.Thread(target=self._run, name="memory-maintenance", daemon=True)
            self._thread.start()

    # -- background -----------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread. Work that a last write asked for and the thread had not begun
        is done here, except the slow index builds (the next process does those): a CLI
        command that writes once and exits would otherwise leave the table without its
        full-text index, and the next search without its BM25 leg."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
            if self._due and not self._thread.is_alive():
                self._due = False
                self._maintain(builds=False)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                oldest = self.store.buffer.oldest
                now = time.monotonic()
                if not self.store.health.ok and now >= self._retry_at and not self.store.probe():
                    self._retry_at = now + RETRY_SECONDS
                    continue
                if self.store.replica is not None and now - self._refreshed_at >= self.store.location.refresh_seconds:
                    self._refreshed_at = now        # other devices' writes, into the local copy
                    if not self.store.refresh():
                        self._retry_at = now + RETRY_SECONDS
                if now >= self._retry_at and (len(self.store.buffer) >= self.settings.flush_rows or (
                        oldest is not None and now - oldest >= self.settings.flush_seconds)):
                    self.store.flush()
                if self._due:
                    self._due = False
                    self._maintain()
                if not self.store.location.remote or now - self._shared_at >= SHARED_CHECK_SECONDS:
                    self._shared_at = now
                    self._finish_due_purge()
                    if self.store.location.remote:
                        self.ann = self._load_ann() or self.ann
            except MemoryStoreError:    # the store is away: health says so; retry, rows wait
                self._retry_at = time.monotonic() + RETRY_SECONDS
            except Exception:       # never kill the thread; the next flush retries
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.exception("memory maintenance failed")

    # -- after every write ------------------------------------------------------------
    def after_write(self, rows: int) -> None:
        """Called after each batched write. Compaction and index builds take from 0.1 s
        to minutes, so with a background thread they run there, never in a turn."""
        if self._thread and threading.current_thread() is not self._thread and not self._stop.is_set():
            self._due = True
            self._wake.set()
            return
        self._maintain()

    def _maintain(self, builds: bool = True) -> None:
        try:
            self.ensure_fts()
            stats = self.store.table.stats()
            small = stats["fragment_stats"]["num_small_fragments"]
            rows = stats["num_rows"]
            work = (small >= self.settings.compact_fragments,
                    builds and rows >= SCALAR_INDEX_ROWS and stats["num_indices"] < 2,
                    builds and rows >= self.settings.ann_min_rows and (not self.ann or rows >= 4 * self.ann["rows"]))
            if not any(work) or not self.lease.acquire():
                return                  # another device is maintaining the shared table
            try:
                if work[0]:
                    self.optimize()
                if work[1]:
                    self.build_scalar_indexes()
                if work[2]:
                    self.build_ann()    # first time, or the table has outgrown the partitions
            finally:
                self.lease.release()
        except MemoryStoreError as e:
            log.debug("memory maintenance skipped: %s", e)
        except Exception:
            log.exception("memory maintenance after write failed")

    def has_fts(self) -> bool:
        if self._fts is None:
            self._fts = any(i.index_type == "FTS" for i in self.store.table.list_indices())
        return self._fts

    def ensure_fts(self) -> None:
        if not self.has_fts():
            from lancedb.index import FTS
            self.store.table.create_index("doc", config=FTS(), replace=True)
            self._fts = True

    def optimize(self) -> None:
        retention = dt.timedelta(minutes=self.settings.retention_minutes)
        started = time.perf_counter()
        with self.store._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the warning about retention 0 is our choice
            self.store.table.optimize(cleanup_older_than=retention)
            self.store.reopen()         # drop the caches of superseded versions and indexes (memory.caches)
        log.info("memory table optimized in %.2f s", time.perf_counter() - started)

    # -- forgetting -------------------------------------------------------------------
    def purge(self, fragments: dict[int, int]) -> None:
        """Rewrite the data files that held deleted rows, rebuild FTS, clean up versions.

        The rows are already deleted (invisible); if this fails — say another process
        committed first — it is logged and the next compaction rewrites those files."""
        from lancedb.index import FTS
        table = self.store.table
        try:
            for frag in fragments:
                lo, hi = frag << 32, (frag + 1) << 32
                cond = f"_rowid >= {lo} AND _rowid < {hi}"
                if table.count_rows(cond):
                    table.update(where=cond, values_sql={"seq": "seq"})    # rewrite, same values
            if self.has_fts():
                table.create_index("doc", config=FTS(), replace=True)
            self.optimize()
        except Exception:
            log.exception("rewriting the files of forgotten memories failed; compaction will")
        due = time.time() + self.settings.retention_minutes * 60
        if self.settings.retention_minutes > 0:
            try:
                self.sidecar.write(self.purge_file, str(due))
            except Exception:
                log.exception("cannot record the due purge; the next compaction cleans up")

    def _finish_due_purge(self) -> None:
        try:
            got = self.sidecar.read(self.purge_file)
            due = float(got[0]) if got else None
        except Exception:
            return
        if due is not None and time.time() >= due and self.lease.acquire():
            try:
                self.optimize()
                self.sidecar.delete(self.purge_file)
            finally:
                self.lease.release()

    # -- ANN index --------------------------------------------------------------------
    def _load_ann(self) -> dict:
        try:
            got = self.sidecar.read(self.ann_file)
            return json.loads(got[0]) if got else {}
        except Exception:
            return {}

    def tune(self, query, limit: int = 10):
        """Apply the search effort chosen by the recall check (HNSW needs ef ≥ limit)."""
        if self.ann.get("nprobes"):
            query = query.nprobes(self.ann["nprobes"])
        if self.ann.get("refine_factor"):
            query = query.refine_factor(self.ann["refine_factor"])
        if self.ann.get("ef"):
            query = query.ef(max(self.ann["ef"], limit))
        return query

    def build_scalar_indexes(self) -> None:
        """B-trees for the columns filters use: profile prefilter, neighbours, ids."""
        from lancedb.index import BTree
        with self.store._lock:
            for column in ("profile", "superseded_by", "session_id", "id"):
                self.store.table.create_index(column, config=BTree(), replace=True)

    def build_ann(self) -> dict:
        """Build the vector index and pick the least search effort with recall ≥ target.

        HNSW over 8-bit scalar-quantised vectors: at 100k rows (queries as far from their
        nearest rows as real questions are) it reached recall@10 0.96 in 3 ms, where
        IVF-SQ needed most partitions probed for 0.95 and IVF-PQ never got there without
        refining. It builds slower (97 s against 13 s at 100k), which is why it is built
        here, in the background, and only when the table passes a threshold or grows 4x."""
        from lancedb.index import HnswSq
        table = self.store.table
        rows = table.count_rows()
        started = time.perf_counter()
        partitions = max(1, rows // 300_000)       # one graph per 300k rows bounds build memory
        with self.store._lock:
            table.create_index("vector", config=HnswSq(distance_type="cosine", num_partitions=partitions),
                               replace=True)
            self.store.reopen()         # an index cache sized for the new index (memory.caches)
        built = time.perf_counter() - started
        self.ann = {"rows": rows, "index": "IVF_HNSW_SQ", "partitions": partitions}
        chosen = None
        for ef in (40, 80, 160, 320):
            recall = self.recall({"nprobes": partitions, "ef": ef})
            chosen = {"nprobes": partitions, "ef": ef, "recall_at_10": round(recall, 4)}
            if recall >= self.settings.ann_target_recall:
                break
        self.ann.update(chosen, build_seconds=round(built, 1))
        self.sidecar.write(self.ann_file, json.dumps(self.ann))
        log.info("ANN index on %d rows in %.1f s: %s", rows, built, self.ann)
        return self.ann

    def recall(self, params: dict, k: int = 10) -> float:
        """Mean recall@k of the index against exact search, on stored vectors as queries."""
        table = self.store.table
        sample = table.search().select(["vector"]).limit(2000).to_list()
        rng = np.random.default_rng(0)
        picks = rng.choice(len(sample), size=min(ANN_SAMPLE_QUERIES, len(sample)), replace=False)
        total = 0.0
        for i in picks:
            q = np.asarray(sample[i]["vector"], np.float32)
            # as far from the stored row as a question is from its answer (cosine ~0.7)
            q = q + rng.normal(0, 0.05, q.shape).astype(np.float32)
            q /= np.linalg.norm(q)
            exact = {r["_rowid"] for r in table.search(q).metric("cosine").bypass_vector_index()
                     .with_row_id(True).limit(k).to_list()}
            saved, self.ann = self.ann, {**self.ann, **params}
            approx = {r["_rowid"] for r in self.tune(table.search(q).metric("cosine"))
                      .with_row_id(True).limit(k).to_list()}
            self.ann = saved
            total += len(exact & approx) / max(len(exact), 1)
        return total / max(len(picks), 1)
