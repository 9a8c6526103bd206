from assistant.sentences import SentenceSplitter, split_all


def test_streamed_tokens_become_sentences_as_soon_as_they_end():
    s = SentenceSplitter()
    out = []
    for piece in ["Hello", " there, my", " friend. How", " are you", " today? I", " am fine."]:
        out.extend(s.feed(piece))
        if piece == " friend. How":
            assert out == ["Hello there, my friend."]   # emitted before the reply ends
    out.extend(s.flush())
    assert out == ["Hello there, my friend.", "How are you today?", "I am fine."]


def test_abbreviations_numbers_and_short_fragments_do_not_split():
    assert split_all("Dr. Smith paid $3.50 for it. That is cheap.") == \
        ["Dr. Smith paid $3.50 for it.", "That is cheap."]
    assert split_all("Yes. I think the answer is March 14.") == ["Yes. I think the answer is March 14."]


def test_history_window_keeps_its_start_for_several_turns():
    """A stable prompt prefix lets llama.cpp reuse its KV cache."""
    from assistant.prompt import HistoryTurn, history_window
    history = [HistoryTurn("user" if i % 2 == 0 else "assistant", f"t{i}", str(i)) for i in range(40)]
    starts = [history_window(history[:n], 6)[0].memory_id if n else None for n in range(0, 40, 2)]
    changes = sum(1 for a, b in zip(starts, starts[1:]) if a != b)
    assert changes <= 7                                   # not on every one of 19 turns
    for n in range(0, 41, 2):
        window = history_window(history[:n], 6)
        assert len(window) <= 12 and (n < 12 or len(window) >= 6)
        assert not window or window[0].role == "user"     # never starts mid-exchange
        assert window == history[n - len(window):n]       # always the most recent turns


def test_trimmed_history_shows_the_same_window():
    """Old turns are dropped from memory without moving the window (or its cached prefix)."""
    from assistant.prompt import HistoryTurn, history_window, trim_history
    full, trimmed = [], []
    for i in range(500):
        turn = HistoryTurn("user" if i % 2 == 0 else "assistant", f"t{i}", str(i))
        full.append(turn)
        trimmed = trim_history([*trimmed, turn], 6)
        assert history_window(trimmed, 6) == history_window(full, 6)
    assert len(trimmed) <= 4 * 12 + 6


def test_the_first_chunk_ends_at_a_clause_so_speech_starts_sooner():
    from assistant.sentences import SentenceSplitter

    def chunks(text: str) -> list[str]:
        s = SentenceSplitter(first_clause_words=3)
        out = []
        for i in range(0, len(text), 3):          # as tokens arrive
            out += s.feed(text[i:i + 3])
        return out + list(s.flush())
    assert chunks("Sure thing, your sister's birthday is on May third. Anything else?") == \
        ["Sure thing, your sister's birthday is on May third.", "Anything else?"]   # 2 words: not alone
    assert chunks("Your sister Ana, who lives in Lisbon, turns thirty in May.")[0] == \
        "Your sister Ana,"                                            # 3 words before a comma at least
    assert chunks("The narrative would be tedious to him and painful to myself. Yes.") == \
        ["The narrative would be tedious to him", "and painful to myself.", "Yes."]
    assert chunks("It is late and dark. Go home.") == ["It is late and dark.", "Go home."]   # short: no cut
    assert chunks("I think that the big meeting and the dinner are both on Friday.")[0] == \
        "I think that the big meeting"                                 # 'and' after 6 words
    assert chunks("The invention of movable metal letters in the middle of the fifteenth century was new.")[0] == \
        "The invention of movable metal letters"                      # long: before a preposition
    assert chunks("Your sister's birthday is on May third.") == ["Your sister's birthday is on May third."]
    assert chunks("The big annual summer parade is on Main Street today.") == \
        ["The big annual summer parade is on Main Street today."]    # never 'is | on Main Street'
    assert chunks("My old friend from school now lives in a small town in Spain.") == \
        ["My old friend from school now lives in a small town", "in Spain."]
