"""The only door from skills into memory: remember a fact, forget by topic, forget all.

Every call the remember/forget skills make goes through ``MemoryService`` here, so facts
supersede older ones and forgetting really deletes, exactly as the CLI and the voice
commands of ``assistant/intents.py`` do.
"""
from __future__ import annotations

from memory.service import MemoryService
from memory.store import Memory


class MemoryFacts:
    def __init__(self, service: MemoryService, session_id: str = "skills") -> None:
        self.service, self.session_id = service, session_id

    @property
    def store(self):
        return self.service.store

    def remember(self, fact: str) -> str:
        """Store ``fact`` (in the user's words) as a fact; returns its id."""
        memory, _replaced = self.service.add_fact(fact, self.session_id)
        return memory.id

    def about(self, topic: str, k: int = 20) -> list[Memory]:
        """Memories about ``topic``: facts, what the user said, and replies that repeated it."""
        return self.service.about(topic)[:k]

    def forget(self, ids: list[str]) -> int:
        return self.service.forget(ids)

    def forget_everything(self) -> int:
        return self.service.store.delete_all()

    def count(self) -> int:
        return self.service.store.count()
