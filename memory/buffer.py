"""Rows waiting for the next batched write, searchable meanwhile.

Each Lance append is a new data file (3,000 one-row appends left 3,000 files and 270 ms
queries), so turns are written in batches. Until then they live here, and search looks
here too (exact cosine; they have no BM25 score yet), so nothing said is ever missing
from recall.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict

import numpy as np


class WriteBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[object, np.ndarray]] = []
        self._in_flight: list[tuple[object, np.ndarray]] = []   # taken, being written
        self.oldest: float | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items) + len(self._in_flight)

    def add(self, memories, vectors: np.ndarray) -> None:
        with self._lock:
            if not self._items:
                self.oldest = time.monotonic()
            self._items.extend(zip(memories, vectors))

    def take(self):
        with self._lock:
            items, self._items, self.oldest = self._items, [], None
            self._in_flight = items
        return [m for m, _ in items], [v for _, v in items]

    def flushed(self, memories) -> None:
        with self._lock:
            self._in_flight = []

    def put_back(self, memories, vectors) -> None:
        with self._lock:
            self._items = list(zip(memories, vectors)) + self._items
            self._in_flight = []
            self.oldest = self.oldest or time.monotonic()

    def _all(self):
        return self._in_flight + self._items

    def memories(self) -> list:
        with self._lock:
            return [m for m, _ in self._all()]

    def rows(self) -> list[dict]:
        with self._lock:
            return [{**asdict(m), "vector": v} for m, v in self._all()]

    def remove(self, ids) -> int:
        """Drop rows by id (None: all); returns how many were dropped."""
        with self._lock:
            before = len(self._items)
            self._items = [(m, v) for m, v in self._items if ids is not None and m.id not in ids]
            return before - len(self._items)

    def update(self, ids, **values) -> None:
        with self._lock:
            for m, _ in self._all():
                if m.id in ids:
                    for k, v in values.items():
                        setattr(m, k, v)

    def dense(self, vector: np.ndarray, n: int, active_only: bool) -> list[tuple[dict, float]]:
        with self._lock:
            items = [(m, v) for m, v in self._all() if not (active_only and m.superseded_by)]
        if not items:
            return []
        scores = np.stack([v for _, v in items]) @ vector.astype(np.float32)
        order = np.argsort(-scores)[:n]
        return [({**asdict(items[i][0]), "vector": items[i][1]}, float(scores[i])) for i in order]
