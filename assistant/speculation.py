"""A reply started while the user pauses, kept or thrown away when they go on.

During the trailing silence the turn worker already has a transcript. A ``Speculation``
holds what a turn on that text would do first: the retrieved notes, the prompt read into
llama.cpp, and the reply's opening tokens, written by a generation that is then left
suspended. If the user said nothing more, the turn adopts it and carries on the very
same generation, so nothing is computed twice and the first sentence is ready the moment
the endpoint falls. If they went on, ``close`` ends the generation; only idle CPU time
was spent.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Generator

import numpy as np

from .sentences import SentenceSplitter

# Tokens written ahead at most: enough for a first clause or sentence, no more, since
# the work is lost if the user goes on.
AHEAD_TOKENS = 40


@dataclass
class Speculation:
    key: tuple                          # (text, history state): which turn it is valid for
    vector: np.ndarray
    memories: list
    docs: list
    stored: tuple[str, np.ndarray]      # the turn's text as it will be stored, and its embedding
    prompt: tuple[int, int] = (0, 0)    # (tokens, already cached) when generation began
    note_ids: tuple[str, ...] = ()      # the notes in its prompt, in the order written
    pieces: list[str] = field(default_factory=list)
    knowledge: list = field(default_factory=list)   # passages of the user's files in its prompt
    first_sentence: str | None = None
    _stream: Generator[str, None, None] | None = None
    _finished: bool = False

    @property
    def started(self) -> bool:
        """The generation began (else the turn generates from the prompt read so far)."""
        return self._stream is not None or self._finished

    def write_ahead(self, stream: Generator[str, None, None], splitter: SentenceSplitter,
                    should_stop: Callable[[], bool]) -> str | None:
        """Pull the reply until its first sentence (or ``should_stop()``); keep it suspended."""
        self._stream = stream
        while not should_stop() and len(self.pieces) < AHEAD_TOKENS:
            piece = next(stream, None)
            if piece is None:
                self._finished = True
                self.first_sentence = next(iter(splitter.flush()), None)
                break
            self.pieces.append(piece)
            sentence = next(iter(splitter.feed(piece)), None)
            if sentence is not None:
                self.first_sentence = sentence
                break
        return self.first_sentence

    def continued(self, cancel: threading.Event | None) -> Generator[str, None, None]:
        """The pieces written ahead, then the rest of the same generation."""
        yield from self.pieces
        if self._stream is None or self._finished:
            return
        try:
            for piece in self._stream:
                if cancel is not None and cancel.is_set():
                    break
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        """End the suspended generation (which frees the LLM for other work)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
