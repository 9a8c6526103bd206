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
