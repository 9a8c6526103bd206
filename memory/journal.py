"""A small append-only journal of unflushed rows, so a crash loses nothing said.

Rows wait in memory for a batched write (``memory.buffer``); each is also appended here,
one JSON line with its vector, in ``pending-<pid>.jsonl`` beside the table. A flush
empties the file. When a process dies before flushing (SIGKILL, power cut after the OS
wrote the line), the next process that opens the store writes the orphaned rows into the
table, skipping any that did reach it, and removes the file.
"""
from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"pending-{os.getpid()}.jsonl"
        self._fd: int | None = None

    def append(self, memories, vectors: np.ndarray) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        lines = "".join(json.dumps({**asdict(m), "vector": base64.b64encode(
            np.asarray(v, np.float32).tobytes()).decode()}) + "\n" for m, v in zip(memories, vectors))
        os.write(self._fd, lines.encode())

    def clear(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)

    def orphans(self) -> list[Path]:
        """Journals of processes that are gone."""
        found = []
        for p in self.directory.glob("pending-*.jsonl"):
            try:
                pid = int(p.stem.split("-", 1)[1])
            except ValueError:
                continue
            if pid != os.getpid() and not _alive(pid):
                found.append(p)
        return found

    @staticmethod
    def read(path: Path, memory_type) -> tuple[list, list[np.ndarray]]:
        memories, vectors = [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                vectors.append(np.frombuffer(base64.b64decode(row.pop("vector")), np.float32))
                memories.append(memory_type(**row))
            except (ValueError, TypeError, KeyError):
                log.warning("skipping a damaged line in %s", path)   # a torn last line after a crash
        return memories, vectors
