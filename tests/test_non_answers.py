"""A reply that admits not knowing, or echoes the question, never comes back as a note."""
from __future__ import annotations

from assistant.engine import rank_memories
from assistant.non_answers import is_evidence
from memory.store import Hit, Memory


def _hit(role: str, text: str, relevance: float, context: tuple = ()) -> Hit:
    return Hit(memory=Memory(text=text, role=role, session_id="s"), relevance=relevance, context=context)


def test_admissions_and_echoes_are_not_evidence():
    assert not is_evidence("I'm sorry, but I don't have enough information to answer your question "
                           "about your sister Anna's birthday.")
    assert not is_evidence("I don't know your cousin's favourite film.")
    assert not is_evidence("When is my sister Anna's birthday?")
    assert not is_evidence("When my sister Anna's birthday is.", "When is my sister Anna's birthday?")
    assert is_evidence("Your sister Anna's birthday is on March 14.", "When is my sister Anna's birthday?")
    assert is_evidence("Happy birthday! How will you celebrate?")


def test_the_readme_scenario_keeps_only_the_fact():
    """Issue 17: the fact and the model's earlier non-answer were both retrieved; only the fact may be a note."""
    question = _hit("user", "When is my sister Anna's birthday?", 0.95)
    fact = _hit("user", "Please remember this: my sister Anna's birthday is on March 14.", 1.01)
    sorry = _hit("assistant", "I'm sorry, but I don't have enough information to answer your question "
                 "about your sister Anna's birthday.", 0.89, context=(question.memory,))
    echo = _hit("assistant", "When my sister Anna's birthday is.", 0.88, context=(question.memory,))
    assert rank_memories([question, fact, sorry, echo], 4) == [fact]
