"""Between-turns prefill: the next prompt's known start is read before the user speaks."""
from __future__ import annotations

from assistant.prompt import HistoryTurn, build_messages, prefix_messages


def _history() -> list[HistoryTurn]:
    return [HistoryTurn("user", "My sister Ana lives in Lisbon.", "m1"),
            HistoryTurn("assistant", "Lisbon is a lovely city to live in.", "m2")]


def test_prefill_leaves_only_the_new_user_message_to_read(runtime):
    llm, cfg = runtime.llm, runtime.cfg.llm
    history = _history()
    read = llm.prefill(prefix_messages(cfg, history))
    assert read > 20
    cached = list(llm.llm._input_ids)
    full = llm._prompt_tokens(build_messages(cfg, "Where does my sister live?", history, [], []))
    assert full[:len(cached)] == cached              # the turn reuses every prefilled token
    assert len(full) - len(cached) < 25               # and reads only its own message
    assert llm.prefill(prefix_messages(cfg, history)) == 0      # nothing left to do
    reply = "".join(llm.stream(build_messages(cfg, "Where does my sister live?", history, [], []),
                               max_tokens=12, temperature=0.0))
    assert "Lisbon" in reply


def test_prefill_stops_when_a_turn_is_waiting(runtime):
    llm, cfg = runtime.llm, runtime.cfg.llm
    llm.llm.reset()
    assert llm.prefill(prefix_messages(cfg, _history()), should_stop=lambda: True) == 0
    calls = []
    read = llm.prefill(prefix_messages(cfg, _history()), should_stop=lambda: calls.append(1) or len(calls) > 1)
    assert 0 < read <= 24                              # one chunk, then it yielded
