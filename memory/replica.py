"""A local, read-only copy of a remote memory table: what a turn searches.

Searching the table on the object store costs a turn too much: at 10k rows on SeaweedFS
over loopback, full-text search took 220 ms and the hybrid retrieval 240-400 ms, against
36 ms on local disk (benchmarks/memory_s3.py), because every query fetches index pages
and rows over HTTP. A Lance table is a directory of immutable files (data, deletion
files, indexes, one manifest per version), so the copy is kept by copying the files it
lacks, like rsync: a sync lists the table's prefix, downloads new files (manifests last,
so a version is complete before it is visible) and removes files cleanup removed.
Listing is lexicographic and ``_versions/`` sorts before ``data/``, so a manifest seen in
a listing never refers to a data file that listing missed.

The store syncs after each of its own writes (before the written rows leave the
in-memory buffer: nothing is ever invisible) and every ``refresh_seconds`` for other
devices' writes. When the store is away the copy still answers.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .location import Location, object_store

log = logging.getLogger(__name__)

ROOT = "replica"


class Replica:
    def __init__(self, loc: Location, table: str) -> None:
        self.loc, self.name = loc, table
        self.dir = loc.path / ROOT
        self.table_dir = self.dir / f"{table}.lance"
        self.prefix = f"{loc.prefix}/{table}.lance/" if loc.prefix else f"{table}.lance/"
        self._store = object_store(loc)
        self._lock = threading.Lock()
        self._table = None
        self.synced_files = 0

    def sync(self) -> int:
        """Bring the copy up to the store's latest version; returns files fetched + removed."""
        import obstore
        with self._lock:
            listed: dict[str, int] = {}
            for batch in obstore.list(self._store, self.prefix, chunk_size=1000):
                for meta in batch:
                    listed[meta["path"][len(self.prefix):]] = meta["size"]
            have = {str(p.relative_to(self.table_dir)): p.stat().st_size
                    for p in self.table_dir.rglob("*") if p.is_file() and not p.name.endswith(".part")} \
                if self.table_dir.exists() else {}
            fetch = [k for k, size in listed.items() if have.get(k) != size]
            manifests = [k for k in fetch if k.startswith("_versions/")]
            data = [k for k in fetch if not k.startswith("_versions/")]
            if data:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(self._fetch, data))
            for key in sorted(manifests):
                self._fetch(key)
            stale = [k for k in have if k not in listed]
            for key in stale:
                (self.table_dir / key).unlink(missing_ok=True)
            self.synced_files += len(fetch)
            return len(fetch) + len(stale)

    def _fetch(self, key: str) -> None:
        import obstore
        target = self.table_dir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(bytes(obstore.get(self._store, self.prefix + key).bytes()))
        os.replace(part, target)

    def table(self):
        """The local copy, opened once; every read sees its latest synced version."""
        if self._table is None:
            import lancedb
            from .caches import indexes_on_disk, session
            db = lancedb.connect(str(self.dir), read_consistency_interval=dt.timedelta(0),
                                 session=session(indexes_on_disk(self.dir)))
            self._table = db.open_table(self.name)
        return self._table

    def reopen(self) -> None:
        """Open the copy again at the next read (its cache budget follows its indexes)."""
        self._table = None

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.table_dir.rglob("*") if p.is_file()) \
            if self.table_dir.exists() else 0
