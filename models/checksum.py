"""sha256 of model files, cached by (size, mtime) so a check costs a stat after the first."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

CHUNK = 4 << 20


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


class ChecksumCache:
    """Remembers verified hashes in a small JSON file under the model cache."""

    def __init__(self, file: Path) -> None:
        self.file = file
        try:
            self._data: dict[str, dict] = json.loads(file.read_text())
        except (OSError, ValueError):
            self._data = {}

    def _key(self, path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return str(path.resolve()), st.st_size, st.st_mtime_ns

    def get(self, path: Path) -> str | None:
        name, size, mtime = self._key(path)
        entry = self._data.get(name)
        if entry and entry["size"] == size and entry["mtime_ns"] == mtime:
            return entry["sha256"]
        return None

    def put(self, path: Path, sha: str) -> None:
        name, size, mtime = self._key(path)
        self._data[name] = {"size": size, "mtime_ns": mtime, "sha256": sha}
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data, indent=1))
            tmp.replace(self.file)
        except OSError:
            pass  # a cache that cannot be written only costs time

    def sha256(self, path: Path, progress: Callable[[int], None] | None = None) -> str:
        cached = self.get(path)
        if cached:
            return cached
        sha = sha256_file(path, progress)
        self.put(path, sha)
        return sha
