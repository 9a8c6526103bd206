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
    # (not "my sister": a personal question with no notes also carries prompt.NO_NOTES)
    full = llm._prompt_tokens(build_messages(cfg, "Where does Ana live?", history, [], []))
    assert full[:len(cached)] == cached              # the turn reuses every prefilled token
    assert len(full) - len(cached) < 25               # and reads only its own message
    assert llm.prefill(prefix_messages(cfg, history)) == 0      # nothing left to do
    reply = "".join(llm.stream(build_messages(cfg, "Where does Ana live?", history, [], []),
                               max_tokens=12, temperature=0.0))
    assert "Lisbon" in reply


def test_prefill_stops_when_a_turn_is_waiting(runtime):
    llm, cfg = runtime.llm, runtime.cfg.llm
    llm.llm.reset()
    assert llm.prefill(prefix_messages(cfg, _history()), should_stop=lambda: True) == 0
    calls = []
    read = llm.prefill(prefix_messages(cfg, _history()), should_stop=lambda: calls.append(1) or len(calls) > 1)
    assert 0 < read <= 24                              # one chunk, then it yielded


def test_notes_are_capped_best_first_and_context_goes_before_a_note():
    from assistant.config import LlmConfig
    from assistant.prompt import approx_tokens, notes_within
    from memory.store import Hit, Memory
    def hit(text, rel, context=()):
        return Hit(Memory(text=text, role="user", session_id="s", profile="default"), rel, context)
    long_context = (Memory(text="What do you know about my family? " * 6, role="user", session_id="s",
                           profile="default"),)
    hits = [hit("My sister Ana lives in Lisbon.", 0.9, long_context),
            hit("My brother works as a nurse in Porto.", 0.8),
            hit("I walk the dog every morning before work.", 0.7)]
    everything = notes_within(hits, 10_000)
    assert len(everything) == 3 and "context:" in everything[0]
    tight = notes_within(hits, 40)
    assert sum(approx_tokens(n) for n in tight) <= 40
    assert "Lisbon" in tight[0] and "context:" not in tight[0]     # the best note kept, without its context
    assert notes_within(hits, 0) == []
    messages = build_messages(LlmConfig(notes_tokens=0), "Where does Ana live?", [], hits, [])
    assert messages[-1]["content"] == "Where does Ana live?"


def _three_notes():
    from memory.store import Hit, Memory

    def hit(text, ts, rel):
        return Hit(Memory(text=text, role="user", session_id="s", profile="default", ts=ts), rel)
    return (hit("My sister Ana lives in Lisbon.", 1_700_000_000, 0.6),
            hit("I walk the dog every morning.", 1_700_100_000, 0.5),
            hit("I started a new job at the library.", 1_700_200_000, 0.9))


def test_notes_are_written_oldest_first_so_a_changed_set_keeps_its_start():
    from assistant.prompt import notes_within
    ana, dog, job = _three_notes()
    at_pause = notes_within([job, ana], 10_000)               # ranked best first ...
    assert "Lisbon" in at_pause[0] and "library" in at_pause[1]   # ... written in time order
    final = notes_within([job, ana, dog], 10_000)             # the final words found one more
    assert final[0] == at_pause[0] and "dog" in final[1]      # the older note's text is unchanged


def test_notes_read_at_a_pause_are_written_first_again():
    from assistant.prompt import chosen_notes
    ana, dog, job = _three_notes()
    at_pause = [h.memory.id for h, _ in chosen_notes([job, dog], 10_000)]          # oldest first
    assert at_pause == [dog.memory.id, job.memory.id]
    final = [h for h, _ in chosen_notes([job, ana, dog], 10_000, read_first=at_pause)]
    assert final == [dog, job, ana]            # what was read stays in place; the new note follows


def test_a_pause_in_the_same_utterance_keeps_the_notes_already_read_in_front(runtime, tmp_path):
    from assistant.engine import Engine
    from memory.store import MemoryStore, StoreSettings
    store = MemoryStore(tmp_path / "db", runtime.embedder.dim, settings=StoreSettings(background=False))
    engine = Engine(runtime.cfg, runtime.llm, runtime.embedder, store, None)     # its own memories
    for fact in ("my sister Ana lives in Lisbon", "my sister Ana has a dog called Pepper",
                 "my sister Ana works at the city library"):
        engine.memory.add_fact(fact, engine.session_id)
    assert engine.prepare("What did I tell you about my sister", write_while=lambda: False) is None
    # Pretend they were read newest first, so that order differs from the usual time order.
    first = engine._speculation.note_ids = tuple(reversed(engine._speculation.note_ids))
    assert engine.prepare("What did I tell you about my sister Ana and her dog Pepper?",
                          write_while=lambda: False) is None
    final = engine._speculation.note_ids
    engine.discard_speculation()
    assert first and final
    kept = tuple(i for i in first if i in final)
    assert len(kept) >= 2 and final[:len(kept)] == kept


def test_a_turn_begun_during_the_pause_is_adopted_whole(runtime):
    """The reply written ahead during the pause is the start of the turn's reply, and the
    turn reads no prompt: it carries on the same suspended generation."""
    from assistant.engine import ReplyDone, Sentence
    from assistant.metrics import TurnTimings
    engine, llm = runtime.engine, runtime.llm
    question = "Tell me about grey cats in three sentences."
    first = engine.prepare(question)
    assert first and engine._speculation.started
    assert llm._lock.locked() or engine._speculation._finished    # suspended, or already done
    timings = TurnTimings()
    events = list(engine.respond(question, timings))
    sentences = [e.text for e in events if isinstance(e, Sentence)]
    reply = next(e.text for e in events if isinstance(e, ReplyDone))
    assert sentences[0] == first and reply.startswith(first.split()[0])
    assert timings.prompt_tokens > 30 and not llm._lock.locked()


def test_a_turn_on_other_words_drops_the_early_reply(runtime):
    from assistant.engine import ReplyDone
    engine, llm = runtime.engine, runtime.llm
    assert engine.prepare("Tell me a fact about owls.")
    events = list(engine.respond("Tell me a fact about owls and their eyes."))
    assert events[-1].text and isinstance(events[-1], ReplyDone)
    assert not llm._lock.locked()
    assert engine.prepare("Name a colour.")
    engine.discard_speculation()                  # the utterance was not for the assistant
    assert not llm._lock.locked()
    # Commands and skills are not begun early.
    assert engine.prepare("remember that my cat is called Smoke") is None
    assert engine.prepare("what time is it") is None


def test_a_sentence_synthesised_ahead_is_used_once_and_only_for_its_text(runtime):
    tts = runtime.tts
    tts.prepare("Lisbon is lovely in spring.")
    assert tts.synthesize("Something else entirely.") is not None     # another text: synthesised anew
    tts.prepare("Lisbon is lovely in spring.")
    ahead = tts._ready[1]
    assert tts.synthesize("Lisbon is lovely in spring.") is ahead     # the audio made ahead, at once
    again = tts.synthesize("Lisbon is lovely in spring.")
    assert again is not ahead and len(again) > 0                        # used once, then synthesised again


def test_when_speech_resumes_the_prompt_is_read_but_no_reply_written(runtime):
    """The notes found for the words so far are read into the KV cache, so the turn on
    the whole request finds them there; writing a reply to half a request is wasted."""
    from assistant.prompt import build_messages
    engine, llm = runtime.engine, runtime.llm
    words = "What did I tell you about my sister"
    assert engine.prepare(words, write_while=lambda: False) is None
    spec = engine._speculation
    assert spec is not None and not spec.started and not llm._lock.locked()
    messages = build_messages(runtime.cfg.llm, words, engine.history, spec.memories, spec.docs)
    total, cached = llm.prompt_reuse(messages)
    assert cached == total                                  # the whole prompt was read
    engine.discard_speculation()


def test_an_adopted_turn_embeds_nothing_on_its_way_to_the_first_word(runtime, monkeypatch):
    """The stored text's embedding was made during the pause, with the query's."""
    from assistant.engine import ReplyDone, Sentence
    engine = runtime.engine
    question = "Which colour do owls like best?"
    assert engine.prepare(question)
    calls = []
    original = engine.embedder.embed_one
    monkeypatch.setattr(engine.embedder, "embed_one", lambda text: calls.append(text) or original(text))
    before_first_word = None
    for event in engine.respond(question):
        if isinstance(event, Sentence) and before_first_word is None:
            before_first_word = list(calls)
    assert isinstance(event, ReplyDone) and before_first_word == []


def test_the_llm_writes_one_token_between_holds(runtime):
    """``hold`` runs before every token, and the generation is lazy: while the voice
    loop's hold waits for a synthesis, llama.cpp computes nothing."""
    import time
    engine, llm = runtime.engine, runtime.llm
    seen = []

    def hold():
        seen.append(llm.llm.n_tokens)
        if len(seen) == 3:
            time.sleep(0.2)
            assert llm.llm.n_tokens == seen[-1]      # nothing computed while held
    list(engine.respond("Count from one to ten, please.", hold=hold))
    steps = [b - a for a, b in zip(seen[1:], seen[2:])]
    assert len(steps) > 5 and set(steps) <= {0, 1} and sum(steps) >= len(steps) - 1   # one token per hold


def test_weights_copied_at_load_leave_the_resident_set(runtime):
    """llama.cpp copies (repacks) most weights out of the mapped GGUF; the pages it read
    are dropped from RSS, and the model still answers from what it kept."""
    import os
    path = os.path.realpath(runtime.llm.path)
    reply = "".join(runtime.llm.stream([{"role": "user", "content": "What is the capital of France? One word."}],
                                       max_tokens=6, temperature=0.0))
    assert "Paris" in reply
    resident, current = 0, None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:
                current = line.rstrip().endswith(path)
            elif current and line.startswith("Rss:"):
                resident += int(line.split()[1]) * 1024
    assert resident < 0.6 * os.path.getsize(path), f"{resident / 1e6:.0f} MB of the GGUF resident"


def test_each_reply_frees_its_sampler_without_waiting_for_the_gc(runtime):
    """llama-cpp-python's sampler chain is cyclic garbage once a reply ends; left to the
    GC it lived on (with a vocabulary-sized buffer) until a full collection, a heap
    sawtooth that fragmented the daemon's memory. Replies, a cancelled one included,
    leave none behind."""
    import gc
    import threading

    from llama_cpp._internals import LlamaSampler
    gc.collect()
    gc.disable()
    try:
        for question in ("What is two plus two?", "Name a colour.", "Say hello."):
            "".join(runtime.llm.stream([{"role": "user", "content": question}], max_tokens=4, temperature=0.0))
        cancel = threading.Event()
        for _ in runtime.llm.stream([{"role": "user", "content": "Count to twenty."}], max_tokens=30,
                                    cancel=cancel):
            cancel.set()
        alive = sum(isinstance(o, LlamaSampler) for o in gc.get_objects())
    finally:
        gc.enable()
    assert alive == 0, f"{alive} sampler chains waiting for the garbage collector"
