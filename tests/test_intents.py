"""Voice memory commands: what counts as "remember …" / "forget …", and what does not."""
from __future__ import annotations

import pytest

from assistant.intents import Forget, Remember, forgot_reply, parse, remembered_reply


@pytest.mark.parametrize("said, fact", [
    ("Remember that my sister's birthday is March 14.", "my sister's birthday is March 14"),
    ("Please remember my locker code is 4711", "my locker code is 4711"),
    ("Actually, remember that her birthday is March 15.", "her birthday is March 15"),
    ("Don't forget that the dentist is on Friday", "the dentist is on Friday"),
    ("Can you remember that I parked on level 3?", None),        # a question: the LLM answers
])
def test_remember(said, fact):
    assert parse(said) == (Remember(fact) if fact else None)


@pytest.mark.parametrize("said, topic", [
    ("Forget what I told you about my sister.", "my sister"),
    ("please forget everything I said to you about work", "work"),
    ("Forget about my old address", "my old address"),
    ("forget that my locker code is 4711", "my locker code is 4711"),
    ("Forget it.", None), ("forget about it", None), ("Forget everything.", None),
    ("I always forget my keys", None), ("Do you remember my sister?", None),
    ("Remember when we went to Paris", None),
])
def test_forget_and_not_a_command(said, topic):
    assert parse(said) == (Forget(topic) if topic else None)


def test_confirmations_speak_to_the_user():
    assert remembered_reply("my sister's birthday is March 14", 0) == \
        "Okay, I'll remember that your sister's birthday is March 14."
    assert forgot_reply("my sister", 2) == "Done. I've forgotten 2 things about your sister."
    assert forgot_reply("my sister", 0) == "I don't have anything about your sister to forget."
