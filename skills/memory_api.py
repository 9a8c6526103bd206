"""The only door from skills into memory: remember a fact, forget by topic, forget all.

Every call the remember/forget skills make on ``MemoryStore`` is here and nowhere else,
so moving to a richer memory API (facts, hybrid search, delete) means changing this one
file. ``MemoryStore`` has no delete yet: the two deletes below reach its LanceDB table
directly, by id and by profile.
"""
from __future__ import annotations

from memory.store import Memory, MemoryStore

FORGET_MIN_RELEVANCE = 0.55      # how close a memory must be to the topic to be forgotten


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class MemoryFacts:
    def __init__(self, store: MemoryStore, embedder, session_id: str = "skills") -> None:
        self.store, self.embedder, self.session_id = store, embedder, session_id

    def remember(self, fact: str) -> str:
        """Store ``fact`` (in the user's words) as a fact; returns its id."""
        memory = Memory(text=fact, role="user", session_id=self.session_id, profile=self.store.profile,
                        kind="fact")
        self.store.add([memory], self.embedder.embed_one(fact)[None, :])
        return memory.id

    def about(self, topic: str, k: int = 20) -> list[Memory]:
        """Memories about ``topic``: facts, what the user said, and replies that repeated it."""
        hits = self.store.search(self.embedder.embed_one(topic), k, min_relevance=FORGET_MIN_RELEVANCE)
        return [h.memory for h in hits]

    def forget(self, ids: list[str]) -> int:
        for i in ids:
            self.store.table.delete(f"id = {_quote(i)} AND profile = {_quote(self.store.profile)}")
        return len(ids)

    def forget_everything(self) -> int:
        n = self.store.count()
        self.store.table.delete(f"profile = {_quote(self.store.profile)}")
        return n

    def count(self) -> int:
        return self.store.count()
