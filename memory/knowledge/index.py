"""Bring a profile's knowledge table in line with the folders: only what changed is embedded.

A sync walks the folders (hidden files and folders left out), and for each supported
file compares its size and mtime with the index; only files that differ are read and
hashed. Same hash: nothing to do. A hash the index already holds under another path (a
rename or a copy): the rows are written again under the new path with their stored
vectors, no embedding. Otherwise the file is parsed, chunked and embedded in batches.
Indexed paths no longer on disk (or no longer under a folder) leave the index.

Files that cannot be used — binary content, over the size cap, not UTF-8, unreadable,
failing to parse — are listed in the report with a short reason, one each; files of
other types are only counted. Nothing here raises for one bad file.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .chunker import Chunk, ChunkSettings, chunk, file_hash
from .parsers import Skip, kind_of, parse, read_bytes
from .store import KnowledgeStore

log = logging.getLogger(__name__)

EMBED_BATCH = 32            # texts per forward pass; progress and pausing happen between batches
PAUSABLE_BATCH = 4          # ... when the sync can be paused: ~0.3 s of one core, so a turn waits less
WRITE_ROWS = 2000           # rows per Lance append (each append is a data file)


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int


@dataclass
class SyncReport:
    files: int = 0              # supported files seen
    added: int = 0
    updated: int = 0
    renamed: int = 0            # new paths whose content was already indexed: vectors reused
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    other_files: int = 0        # files of types not indexed
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.renamed or self.removed)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "skipped"}
        d["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return d

    def summary(self) -> str:
        return (f"{self.files} files: {self.added} added, {self.updated} updated, {self.renamed} renamed, "
                f"{self.removed} removed, {self.unchanged} unchanged; {self.chunks_embedded} chunks embedded, "
                f"{self.chunks_reused} reused; {len(self.skipped)} skipped, {self.other_files} of other types "
                f"({self.seconds:.1f} s)")


def walk(folders: list[Path]):
    """(path, stat) of every regular file under the folders, hidden ones left out."""
    for folder in folders:
        if folder.is_file():
            yield folder, None
            continue
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(root) / name, None


def under(path: str, folders: list[Path]) -> bool:
    return any(path == str(f) or path.startswith(str(f).rstrip("/") + "/") for f in folders)


class Indexer:
    def __init__(self, store: KnowledgeStore, embedder, chunking: ChunkSettings = ChunkSettings(),
                 max_file_bytes: int = 20_000_000) -> None:
        self.store, self.embedder, self.chunking, self.max_file_bytes = store, embedder, chunking, max_file_bytes

    def sync(self, folders: list[Path], progress: Callable[[Progress], None] | None = None,
             pause: Callable[[], bool] | None = None, prune: bool = True) -> SyncReport:
        """Index what changed under ``folders``. ``pause()`` is polled between batches:
        while it is true (a turn is running) no embedding is done. With ``prune``, indexed
        files outside the folders are removed too (a folder taken off the list)."""
        started = time.perf_counter()
        folders = [Path(f).expanduser().resolve() for f in folders]
        report = SyncReport()
        with self.store.lock:
            indexed = self.store.files()
            seen: set[str] = set()
            todo: list[tuple[str, str, tuple[int, int], list[Chunk], dict | None]] = []
            known_hashes = {h: p for p, (h, *_rest) in indexed.items()}
            for path, _ in walk([f for f in folders if f.exists()]):
                key = str(path)
                if kind_of(path) is None:
                    report.other_files += 1
                    continue
                report.files += 1
                seen.add(key)
                try:
                    st = path.stat()
                    if not stat.S_ISREG(st.st_mode):
                        raise Skip("not a regular file")
                    old = indexed.get(key)
                    if old and (old[1], old[2]) == (st.st_mtime_ns, st.st_size):
                        report.unchanged += 1
                        continue
                    data = read_bytes(path, self.max_file_bytes)
                    digest = file_hash(data)
                    if old and old[0] == digest:
                        self.store.touch(key, st.st_mtime_ns, st.st_size)
                        report.unchanged += 1
                        continue
                    chunks = chunk(parse(path, self.max_file_bytes, data), self.chunking)
                except Skip as e:
                    report.skipped.append((key, str(e)))
                    seen.discard(key)       # a file now unusable: its old chunks go
                    continue
                except OSError as e:        # vanished or unreadable between listing and reading
                    report.skipped.append((key, f"unreadable ({e.strerror or e.__class__.__name__})"))
                    seen.discard(key)
                    continue
                reuse = None
                if digest in known_hashes:
                    reuse = self.store.vectors_of(digest)
                todo.append((key, digest, (st.st_mtime_ns, st.st_size), chunks, reuse))
                if old:
                    report.updated += 1
                elif reuse is not None:
                    report.renamed += 1
                else:
                    report.added += 1
            # A folder that is not there (an unmounted disk) keeps its passages until it is back.
            missing = [f for f in folders if not f.exists()]
            gone = [p for p in indexed if p not in seen and (prune or under(p, folders)) and not under(p, missing)]
            replaced = [key for key, *_ in todo if key in indexed]
            if gone or replaced:
                self.store.delete_paths(gone + replaced)
            moved = {digest for _, digest, _, _, reuse in todo if reuse is not None}
            report.removed = sum(1 for p in gone if indexed[p][0] not in moved)   # a rename is not a removal
            self._write(todo, report, progress, pause)
            if report.changed:
                self.store.maintain()
        report.seconds = time.perf_counter() - started
        return report

    def _write(self, todo, report: SyncReport, progress, pause) -> None:
        """Reuse stored vectors where the content is known; embed the rest in batches."""
        pending: list[tuple[Chunk, str, tuple[int, int]]] = []
        ready: list[tuple[Chunk, str, tuple[int, int], np.ndarray]] = []
        file_ends: list[int] = []       # chunk count at which each embedded file is complete
        for key, digest, st, chunks, reuse in todo:
            # Same content, same chunks: the vectors stand. (Their source line still has the
            # old name; the full-text ``doc`` gets the new one.)
            if reuse is not None and len(reuse) == len(chunks) and all(c.seq in reuse for c in chunks):
                ready += [(c, digest, st, reuse[c.seq][1]) for c in chunks]
                report.chunks_reused += len(chunks)
                continue
            pending += [(c, digest, st) for c in chunks]
            file_ends.append(len(pending))
        total, files_total = len(pending), len(file_ends)
        if progress:
            progress(Progress(0, files_total, 0, total))
        batch = PAUSABLE_BATCH if pause else EMBED_BATCH
        for start in range(0, total, batch):
            while pause and pause():
                time.sleep(0.05)
            part = pending[start:start + batch]
            vectors = self.embedder.embed([c.doc for c, _, _ in part], batch)
            ready += [(c, h, st, v) for (c, h, st), v in zip(part, vectors)]
            report.chunks_embedded += len(part)
            if len(ready) >= WRITE_ROWS:
                self._flush(ready)
                ready = []
            if progress:
                done = start + len(part)
                progress(Progress(sum(1 for e in file_ends if e <= done), files_total, done, total))
        self._flush(ready)

    def _flush(self, ready) -> None:
        if ready:
            self.store.add([r[0] for r in ready], [r[1] for r in ready], [r[2] for r in ready], [r[3] for r in ready])
