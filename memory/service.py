"""What the engine, the CLI and the benchmarks do with memory, in one place.

Storing a turn or a fact (embedding its self-describing text), searching, forgetting by
topic, and export/import. Keeping these here means a fact added by voice and one added
with ``assistant memory add`` are stored, superseded and found the same way.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.errors import MemoryStoreError

from . import fact_keys, facts
from .retrieval import RetrievalSettings, search
from .store import FIELDS, KEYED_TURNS, Hit, Memory, MemoryStore, describe

# Words that say nothing about what to forget ("my sister" is about "sister").
_STOP = set("""a an the my our your his her their its me i we you to of about on in at for and or
that this what everything anything all told said is are was were be with from""".split())
FORGET_SIMILARITY = 0.7     # or, without the topic's words, this close in meaning


class MemoryService:
    def __init__(self, store: MemoryStore, embedder, settings: RetrievalSettings | None = None,
                 user_name: str = "User", assistant_name: str = "Assistant") -> None:
        self.store, self.embedder = store, embedder
        self.settings = settings or RetrievalSettings()
        self.names = {"user": user_name or "User", "assistant": assistant_name or "Assistant"}

    def new_memory(self, role: str, text: str, session_id: str, kind: str = "turn", seq: int = 0) -> Memory:
        return Memory(text=text, role=role, session_id=session_id, profile=self.store.profile, kind=kind,
                      speaker=self.names.get(role, role), seq=seq)

    def store_memory(self, memory: Memory, vector: np.ndarray | None = None) -> Memory:
        """Store one memory; ``vector`` must be the embedding of ``describe(memory)``."""
        if vector is None:
            vector = self.embedder.embed_one(describe(memory))
        self.store.add([memory], np.asarray(vector, np.float32)[None, :])
        return memory

    def read_fact_keys(self, complete: Callable[[list[dict]], str | None], should_stop=lambda: False,
                       limit: int = 1) -> int:
        """Read the fact keys of up to ``limit`` turns that have none yet (memory.fact_keys),
        one session at a time, newest turn first (the likeliest to be asked about soon),
        each with the turn before it; returns the turns keyed. Only people's turns are
        read: the assistant's replies state little about anyone that the question before
        them did not, and reading them would double the LLM time.

        ``complete(messages)`` is the LLM; it returns None when it was stopped, and then
        this stops too, keeping what was read before. Each keyed turn is embedded again
        with its keys (``describe``) and written with them."""
        turns = self.store.session_to_key()
        unread = [(before, m) for before, m in zip([None, *turns], turns) if m.keys == "" and m.role == "user"]
        todo = unread[::-1][:limit]
        read: dict[str, tuple[str, np.ndarray]] = {}
        for before, m in todo:
            if should_stop():
                break
            earlier = (before.speaker or before.role, before.text) if before is not None else None
            reply = complete(fact_keys.messages(m.speaker or m.role, m.text, earlier))
            if reply is None:
                break
            m.keys = fact_keys.keys_text(fact_keys.parse(reply))
            read[m.id] = (m.keys, self.embedder.embed_one(describe(m)))
        return self.store.set_keys(turns[0].session_id, read) if read else 0

    def add_fact(self, text: str, session_id: str = "cli") -> tuple[Memory, list[str]]:
        """Store "remember that X" as a fact; facts it contradicts are marked superseded."""
        text = facts.clean(text)
        if not text:
            raise MemoryStoreError("nothing to remember: give the fact as text, e.g. "
                                   "assistant memory add \"my sister's birthday is March 14\"")
        active = [(m.id, m.text, m.ts) for m, _ in self.store.facts()]
        replaced = facts.superseded(text, active)
        if len(replaced) == 1:
            text = facts.resolve(text, next(t for i, t, _ in active if i == replaced[0]))
        memory = self.new_memory("user", text, session_id, kind="fact")
        parsed = facts.parse(text)
        if parsed:
            memory.subject = parsed.key()
        self.store_memory(memory)
        self.store.mark_superseded(replaced, memory.id)
        return memory, replaced

    def search(self, text: str, k: int | None = None, exclude_ids=frozenset(), vector: np.ndarray | None = None,
               min_relevance: float | None = None) -> list[Hit]:
        if vector is None:
            vector = self.embedder.embed_one      # embedded while full-text search runs
        s = self.settings
        s = replace(s, k=s.k if k is None else k,
                    min_relevance=s.min_relevance if min_relevance is None else min_relevance)
        return search(self.store, text, vector, s, exclude_ids)

    def about(self, topic: str) -> list[Memory]:
        """Memories about ``topic``: every one that has all its words, or is very close in
        meaning. Used to forget ("forget what I told you about my sister")."""
        words = [w for w in re.findall(r"[a-z0-9']+", topic.lower()) if w not in _STOP]
        vector = self.embedder.embed_one(topic)
        found: dict[str, Memory] = {}
        candidates = self.store.fulltext(" ".join(words) or topic, 1000, active_only=False)
        candidates += self.store.dense(vector, 200, active_only=False)
        for row, _ in candidates:
            text = row["text"].lower()
            has_words = bool(words) and all(re.search(rf"\b{re.escape(w)}(?:s|es|'s)?\b", text) for w in words)
            close = float(np.asarray(row["vector"], np.float32) @ vector) >= FORGET_SIMILARITY
            if has_words or close:
                found[row["id"]] = Memory(**{k: row[k] for k in FIELDS if k in row})
        return sorted(found.values(), key=lambda m: m.ts)

    def forget(self, ids: list[str]) -> int:
        return self.forget_and_revive(ids)[0]

    def forget_and_revive(self, ids: list[str]) -> tuple[int, list[Memory]]:
        """Delete ``ids``; a fact one of them had superseded is current again (or points
        to the newest fact that is left), never hidden behind an id that is gone.
        Returns (deleted, facts made current again)."""
        gone = set(ids)
        facts_all = [m for m, _ in self.store.facts(active_only=False)]
        by_id = {m.id: m for m in facts_all}

        def successor(fid: str) -> str:
            seen = set()
            while fid in gone and fid not in seen:     # skip the chain of forgotten facts
                seen.add(fid)
                fid = by_id[fid].superseded_by if fid in by_id else ""
            return fid
        moved: dict[str, list[str]] = {}
        for m in facts_all:
            if m.id not in gone and m.superseded_by in gone:
                moved.setdefault(successor(m.superseded_by), []).append(m.id)
        count = self.store.delete(list(ids))
        for new_id, old_ids in moved.items():
            self.store.mark_superseded(old_ids, new_id)
        revived = [by_id[i] for i in moved.get("", [])]
        for m in revived:
            m.superseded_by = ""
        return count, revived

    # -- export / import --------------------------------------------------------------
    def export(self, path: Path) -> int:
        n = 0
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "w", encoding="utf-8") as f:
            for row in self.store.iter_all():
                f.write(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n")
                n += 1
        tmp.replace(path)
        return n

    def import_(self, path: Path, progress: bool = False) -> tuple[int, int]:
        """Add the memories in a JSONL export, re-embedded in batches; ids already here
        are skipped, so importing twice adds nothing. Returns (added, skipped)."""
        memories = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise MemoryStoreError(f"cannot read {path} ({e.__class__.__name__}); give a JSONL file "
                                   "written by assistant memory export")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                memories.append(Memory(**{k: row[k] for k in FIELDS if k in row}))
            except (ValueError, TypeError) as e:
                raise MemoryStoreError(f"{path}:{number}: not a memory ({str(e)[:80]}); give a JSONL "
                                       "file written by assistant memory export")
        present = self.store.existing_ids([m.id for m in memories])
        new = [m for m in memories if m.id not in present]
        for m in new:
            m.profile = self.store.profile
        started = time.perf_counter()
        vectors = self.embedder.embed_many([describe(m) for m in new], progress=progress, desc="importing")
        self.last_import_rate = len(new) / max(time.perf_counter() - started, 1e-9)
        for start in range(0, len(new), 5000):
            self.store.add_now(new[start:start + 5000], vectors[start:start + 5000])
        return len(new), len(memories) - len(new)

    def stats(self) -> dict:
        store = self.store
        table = store.table
        t = table.stats()
        versions = len(table.list_versions())
        kinds = {k: store.count(f"kind = '{k}'") for k in ("turn", "fact")}
        loc = store.location
        if loc.remote:
            disk = t.get("total_bytes", 0)
        else:
            disk = sum(p.stat().st_size for p in (store.path / "memories.lance").rglob("*") if p.is_file())
        where = {"location": loc.uri, "remote": loc.remote}
        if loc.remote:
            holder = store.maintainer.lease.holder()
            where.update(endpoint=loc.endpoint, health="ok" if store.health.ok else "unreachable",
                         health_error=store.health.error or None, journal_dir=str(loc.cache_dir),
                         refresh_seconds=loc.refresh_seconds, local_copy_bytes=store.replica.size_bytes(),
                         maintenance_lease=holder["owner"] if holder else None)
        return {**where, "profile": store.profile, "memories": store.count(), "turns": kinds["turn"], "facts": kinds["fact"],
                "superseded_facts": store.count("kind = 'fact' AND superseded_by != ''"),
                # memory.fact_keys' progress: people's turns the LLM has read, and still to read
                "turns_keyed": store.count(f"{KEYED_TURNS} AND keys != ''"),
                "turns_to_key": store.count(f"{KEYED_TURNS} AND keys = ''"),
                "unflushed": len(store.buffer), "all_profiles_rows": t["num_rows"],
                "data_files": t["fragment_stats"]["num_fragments"], "versions": versions, "disk_bytes": disk,
                "indexes": sorted(i.index_type + ":" + ",".join(i.columns) for i in table.list_indices()),
                "ann": store.maintainer.ann or None, "retention_minutes": store.settings.retention_minutes}
