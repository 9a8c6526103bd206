"""Bounded LanceDB caches for a process that runs for weeks.

LanceDB's defaults (``lancedb.Session``) are 1 GB of metadata cache and 6 GB of index
cache, and in a process that appends all day they fill: every write is a new table
version, and each version's manifest and file metadata stay cached, as does every
superseded copy of the full-text index after a compaction. Measured (one-row writes,
``benchmarks/memory_growth.py`` and a bare store): the session grew ~50 KB a version
without end, and that was the memory path's whole RSS growth. A query needs only the
current version's metadata and the live indexes. So the metadata cache gets a small fixed
budget, the index cache twice what the table's indexes take on disk (at least
``INDEX_CACHE_FLOOR``, so the 1M-row HNSW index stays in memory), and after each
compaction and index build the store swaps in a new connection (``MemoryStore.reopen``),
whose empty caches drop every superseded copy at once.
"""
from __future__ import annotations

from pathlib import Path

METADATA_CACHE_BYTES = 16 << 20
INDEX_CACHE_FLOOR = 32 << 20


def indexes_on_disk(db_dir: Path) -> int:
    """Bytes of every table's index files under a local database directory (0 if none)."""
    total = 0
    try:
        for indices in Path(db_dir).glob("*.lance/_indices"):
            total += sum(p.stat().st_size for p in indices.rglob("*") if p.is_file())
    except OSError:
        pass
    return total


def session(index_bytes: int = 0):
    """A LanceDB session with bounded caches, sized for indexes of ``index_bytes``."""
    import lancedb
    return lancedb.Session(index_cache_size_bytes=max(INDEX_CACHE_FLOOR, 2 * index_bytes),
                           metadata_cache_size_bytes=METADATA_CACHE_BYTES)
