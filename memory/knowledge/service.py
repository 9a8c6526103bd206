"""One profile's knowledge: the store, its indexer and its search, built from settings records."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .chunker import ChunkSettings
from .index import Indexer, Progress, SyncReport
from .search import KnowledgeHit, KnowledgeSettings, search
from .store import KnowledgeStore, KnowledgeStoreSettings


class KnowledgeBase:
    def __init__(self, db_path: Path, embedder, profile: str, search_settings: KnowledgeSettings,
                 chunking: ChunkSettings = ChunkSettings(), max_file_bytes: int = 20_000_000,
                 store_settings: KnowledgeStoreSettings | None = None) -> None:
        self.embedder, self.settings = embedder, search_settings
        self.store = KnowledgeStore(db_path, embedder.dim, profile, store_settings)
        self.indexer = Indexer(self.store, embedder, chunking, max_file_bytes)

    def sync(self, folders: list[Path], progress: Callable[[Progress], None] | None = None,
             pause: Callable[[], bool] | None = None, prune: bool = True) -> SyncReport:
        return self.indexer.sync(folders, progress, pause, prune)

    def search(self, text: str, vector: np.ndarray | None = None, **over) -> list[KnowledgeHit]:
        s = replace(self.settings, **over) if over else self.settings
        return search(self.store, text, vector if vector is not None else self.embedder.embed_one, s)

    def files(self) -> dict[str, tuple[str, int, int, int]]:
        return self.store.files()
