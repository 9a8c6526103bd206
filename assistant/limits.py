"""How much a request may say: refused in one line before anything is stored, or cut.

A typed request (``ask``, ``chat``, the socket's ``ask``) longer than ``MAX_INPUT_CHARS``
is refused with the limit and the fix; nothing is embedded or stored. A spoken one is
never refused: Whisper writes at most 448 tokens for a 30 s window (its decoder's
length), about 1,800 characters of English, so a transcript of one ≤ 30 s utterance is
always under the limit; a longer utterance (``vad.max_utterance_s`` up to 300 s) keeps
its last ``MAX_INPUT_CHARS`` characters, where the request usually ends.

The character limit alone cannot promise the prompt fits: text in another script can
be a token a character. ``Engine`` counts the prompt's real tokens and drops the oldest
history first (see ``fit_messages``); only a request that alone overflows is refused.
"""
from __future__ import annotations

from typing import Callable

from .errors import InputError

# The control socket's own limit for a text argument; a 30 s transcript is < 1,800.
MAX_INPUT_CHARS = 4000
# Tokens kept free besides the reply: the chat template's own tokens, rounding.
PROMPT_MARGIN_TOKENS = 16


def check_request(text: str, what: str = "question") -> str:
    """``text`` stripped, or an ``InputError`` saying what to change."""
    text = (text or "").strip()
    if not is_text(text):
        raise InputError(f"the {what} is not UTF-8 text (it has undecodable bytes); give it as plain text")
    if not text:
        raise InputError(f"the {what} is empty; give it as text, e.g. assistant ask \"what time is it?\"")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(f"the {what} is {len(text):,} characters, more than the {MAX_INPUT_CHARS:,} the "
                         "assistant reads at once (a few minutes of speech); shorten it, or split it "
                         "into several questions")
    return text


def is_text(value: str) -> bool:
    """False for a string holding undecodable bytes (lone surrogates from a non-UTF-8
    argument or file): it could not be stored, printed or sent."""
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def fit_transcript(text: str, limit: int = MAX_INPUT_CHARS) -> str:
    """A transcript cut to its last ``limit`` characters, at a word boundary."""
    text = text.strip()
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    cut = tail.find(" ")
    return tail[cut + 1:] if 0 <= cut < limit // 4 else tail


def fit_messages(messages: list[dict], count: Callable[[list[dict]], int], budget: int) -> list[dict]:
    """``messages`` (system, history…, the request) within ``budget`` tokens.

    The oldest history goes first (the system prompt and the request stay); a request
    that does not fit alone is refused. ``count`` returns a prompt's tokens."""
    n = count(messages)
    while n > budget and len(messages) > 2:
        messages = [messages[0], *messages[2:]]
        n = count(messages)
    if n > budget:
        raise InputError(f"the question needs {n:,} tokens but the model reads at most {budget:,} "
                         "besides its reply; shorten it (or raise llm.context_tokens)")
    return messages
