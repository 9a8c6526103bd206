"""The user's own notes and documents, searchable: parse → chunk → embed → LanceDB → hybrid search.

Kept apart from conversation memory (its own table per profile) but ranked the same way
(``memory.retrieval``'s fused score). See ``index.Indexer`` and ``search.KnowledgeSearcher``.
"""
