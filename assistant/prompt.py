"""Build the chat messages for one turn.

The system prompt and the running history come first and change little between turns,
so llama.cpp can reuse its KV cache for that prefix; what was retrieved for this turn
goes into the last user message, just before the question.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Sequence

from memory.store import Hit
from skills.index import DocHit
from skills.spoken import second_person

from .config import LlmConfig


@dataclass(frozen=True)
class HistoryTurn:
    role: str
    text: str
    memory_id: str
    seq: int = -1       # its place in the session: a reply stored late still follows its question


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%b %d, %Y")


def _said(m) -> str:
    if m.kind == "fact":
        return f"You asked me to remember: {second_person(m.text)}"
    if m.role == "user":
        return f"You told me: {second_person(m.text)}"
    return f"I replied: {m.text}"


def memory_line(hit: Hit, with_context: bool = True) -> str:
    """One note; a neighbouring turn that makes it understandable follows, indented."""
    line = f"- ({when(hit.memory.ts)}) {_said(hit.memory)}"
    for c in hit.context if with_context else ():
        line += f"\n  (context: {_said(c)})"
    return line


def approx_tokens(text: str) -> int:
    """About four characters a token for English with Qwen's and Llama's tokenizers."""
    return len(text) // 4 + 1


def chosen_notes(hits: list[Hit], budget: int, read_first: Sequence[str] = ()) -> list[tuple[Hit, str]]:
    """The best notes whose text fits ``budget`` tokens, each with its line, in the order
    to write them.

    Every note token is read by the LLM before its first word (about 4 ms a token on two
    cores), so notes are capped: a note's context line goes first, then the note. They
    are chosen best first but written oldest first (a story reads in time order), except
    that ``read_first`` — the ids of notes already read into llama.cpp at a pause in the
    same utterance, in their order — come first: the words heard by the end often find
    one note more than the words at the pause, and llama.cpp then keeps the prefix it has
    read instead of reading every note again.
    """
    chosen, left = [], budget
    for hit in hits:
        for line in (memory_line(hit), memory_line(hit, with_context=False)):
            if approx_tokens(line) <= left:
                chosen.append((hit, line))
                left -= approx_tokens(line)
                break
    place = {memory_id: i for i, memory_id in enumerate(read_first)}
    return sorted(chosen, key=lambda c: (place.get(c[0].memory.id, len(place)), c[0].memory.ts, c[0].memory.seq))


def notes_within(hits: list[Hit], budget: int, read_first: Sequence[str] = ()) -> list[str]:
    """The lines of ``chosen_notes``."""
    return [line for _, line in chosen_notes(hits, budget, read_first)]


def system_message(cfg: LlmConfig, today: dt.date | None = None) -> dict:
    today = today or dt.date.today()
    text = cfg.system_prompt.format(name=cfg.assistant_name, date=today.strftime("%A, %B %d, %Y"))
    if cfg.user_name:
        text += f" The user's name is {cfg.user_name}."
    return {"role": "system", "content": text}


def history_window(history: list[HistoryTurn], exchanges: int) -> list[HistoryTurn]:
    """The recent turns shown verbatim: between ``exchanges`` and ``2 × exchanges`` messages.

    Dropping the oldest exchange on every turn would change the text right after the
    system prompt each time, and llama.cpp would re-read the whole history. Instead the
    window's start jumps by half its size at once, so the prompt prefix, and the KV cache
    behind it, stay valid for several turns.
    """
    if exchanges <= 0:
        return []
    limit, step = 2 * exchanges, 2 * max(1, exchanges // 2)
    if len(history) <= limit:
        return list(history)
    start = ((len(history) - limit) // step + 1) * step
    return history[start:]


def trim_history(history: list[HistoryTurn], exchanges: int) -> list[HistoryTurn]:
    """Drop turns no window will show again, so a months-long session keeps constant memory.

    Whole steps of the window are dropped at once, which keeps ``history_window``'s
    jumps (and so the cached prompt prefix) where they would have been.
    """
    limit, step = 2 * max(exchanges, 1), 2 * max(1, exchanges // 2)
    extra = len(history) - 4 * limit
    if extra <= 0:
        return history
    return history[(extra // step + 1) * step:]


def prefix_messages(cfg: LlmConfig, history: list[HistoryTurn]) -> list[dict]:
    """What every prompt starts with until the history window moves: see ``LocalLLM.prefill``."""
    return [system_message(cfg)] + [{"role": t.role, "content": t.text}
                                    for t in history_window(history, cfg.history_turns)]


def _says(source: str) -> str:
    """"your boiler notes say", "your oven manual says"."""
    return "say" if source.endswith("s") else "says"


def knowledge_lines(hits: Sequence, budget: int, question: str = "") -> list[str]:
    """The user's own files, best first, within ``budget`` tokens, each saying which file
    it comes from in the words the reply should use ("Your boiler notes say: …"). A
    passage over what is left of the budget is cut to its sentences that share words
    with the question."""
    from memory.knowledge.search import matching_sentences
    lines, left = [], budget
    for hit in hits:
        c = hit.chunk
        where = f"Your {c.source}" + (f" ({c.headings[-1]})" if c.headings and c.headings[-1] != c.title else "")
        head = f"- {where} {_says(c.source)}: "
        room = (left - approx_tokens(head)) * 4
        if room < 80:
            break
        text = c.text if len(c.text) <= room else " ".join(matching_sentences(c.text, question, room))
        if not text or len(text) > room:
            continue
        lines.append(head + text)
        left -= approx_tokens(lines[-1])
    return lines


NO_NOTES = ("[Notes from earlier conversations]\n(none: unless our conversation above says it, you were "
            "never told this, so say you don't know)")
_PERSONAL = re.compile(r"\b(my|our|mine|ours|me|we|i)\b", re.IGNORECASE)


def asks_about_the_user(text: str) -> bool:
    """A question about the user's own life ("What's my cousin's favourite film?")."""
    return text.rstrip().endswith("?") and bool(_PERSONAL.search(text))


def build_messages(cfg: LlmConfig, user_text: str, history: list[HistoryTurn],
                   memories: list[Hit], docs: list[DocHit], read_first: Sequence[str] = (),
                   knowledge: Sequence = (), knowledge_tokens: int = 200) -> list[dict]:
    messages = prefix_messages(cfg, history)
    context = []
    notes = notes_within(memories, cfg.notes_tokens, read_first)
    if notes:
        context.append("[Notes from earlier conversations]\n" + "\n".join(notes))
    elif asks_about_the_user(user_text):
        # Said outright: with no notes at all, the 1.5B model invented "Your cousin's
        # favourite film is The Godfather" (benchmarks/answers.py, mem_not_told).
        context.append(NO_NOTES)
    if docs:
        # Framed as background: a doc that says 'Say "remember that ..."' was read out
        # as an instruction ("Remember that Ann's birthday is ...") by the 0.5B model.
        context.append("\n\n".join(f"[Background on one of your skills, not to read out: {d.doc.title}]\n"
                                     f"{d.doc.text}" for d in docs))
    files = knowledge_lines(knowledge, knowledge_tokens, user_text)
    if files:
        first = knowledge[0].chunk.source
        context.append(f"[From the user's own files. If they answer the question, begin the answer with "
                       f"\"Your {first} {_says(first)}\".]\n" + "\n".join(files))
    content = user_text
    if context:
        content = "\n\n".join(context) + f"\n\n[User]\n{user_text}"
    messages.append({"role": "user", "content": content})
    return messages
