"""Where this home's memory lives, from ``[memory]``: a settings record for memory/.

memory/ does not read our config classes; it gets a ``memory.location.Location``.
"""
from __future__ import annotations

from pathlib import Path

from memory.location import Location, cache_dir_for, is_remote

from .config import MemoryConfig
from .paths import AppPaths


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def memory_location(m: MemoryConfig, paths: AppPaths) -> Location:
    if not m.uri:
        return Location.local(paths.memory_db)
    if not is_remote(m.uri):
        return Location.local(Path(m.uri.removeprefix("file://")).expanduser())
    return Location(m.uri, {k: _text(v) for k, v in m.storage_options.items()},
                    cache_dir_for(paths.data_dir / "memory-remote", m.uri), m.refresh_seconds)


def remote_status(runtime) -> dict:
    """What ``status`` says about the shared parts, without loading anything."""
    built = runtime.__dict__
    out: dict = {}
    store = built.get("store")
    if store is not None:
        out["memory_store"] = {"location": store.location.uri, "remote": store.location.remote,
                               "health": "ok" if store.health.ok else "unreachable",
                               "error": store.health.error or None, "unwritten": len(store.buffer)}
    llm = built.get("llm")
    if llm is not None and hasattr(llm, "status"):
        out["llm_backend"] = llm.status()
    return out
