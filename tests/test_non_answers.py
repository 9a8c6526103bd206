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


def test_a_personal_question_with_no_notes_is_told_so():
    """With no notes at all the 1.5B invented a cousin's favourite film; the prompt now says none were found."""
    from assistant.config import LlmConfig
    from assistant.prompt import NO_NOTES, build_messages
    asked = build_messages(LlmConfig(), "What's my cousin's favourite film?", [], [], [])
    assert NO_NOTES in asked[-1]["content"]
    general = build_messages(LlmConfig(), "What's the capital of Italy?", [], [], [])
    assert general[-1]["content"] == "What's the capital of Italy?"
    fact = _hit("user", "My cousin's favourite film is Alien.", 0.9)
    noted = build_messages(LlmConfig(), "What's my cousin's favourite film?", [], [fact], [])
    assert NO_NOTES not in noted[-1]["content"] and "Alien" in noted[-1]["content"]


def test_skill_docs_come_only_with_questions_about_the_assistant(runtime):
    """A statement, or a question about the user's own things, never brings a skill doc into
    the prompt (the model acted them out); a question about the assistant still does."""
    from assistant.engine import Engine
    engine = Engine(runtime.cfg, None, runtime.embedder, runtime.store, runtime.skills)
    _, _, docs = engine.retrieve("I planted tomatoes in the garden this morning.")
    assert docs == []
    _, _, docs = engine.retrieve("What's my gym locker number?")
    assert docs == []
    _, _, docs = engine.retrieve("Do you keep my data private?")
    assert [d.doc.name for d in docs] == ["privacy"]
