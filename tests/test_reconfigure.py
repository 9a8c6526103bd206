"""Live reconfiguration (``Runtime.reconfigure``, what the daemon runs when config.toml
changes): every part that holds a rebuilt component gets the new one, so no request is
served by a model or a memory the config has left behind."""
from __future__ import annotations


def _edited(cfg, section: str, **values):
    new = cfg.model_copy(deep=True)
    for name, value in values.items():
        setattr(getattr(new, section), name, value)
    return new


def test_after_a_live_profile_switch_what_a_skill_remembers_goes_to_the_new_profile(own_runtime):
    from assistant.wyoming_service.speech import Sessions
    rt = own_runtime
    _ = rt.engine                                       # the engine and the skills, as the daemon has them
    home_assistant = Sessions(rt)
    home_assistant.engine("kitchen")                    # a Wyoming conversation begun before the edit
    actions = rt.reconfigure(_edited(rt.cfg, "memory", profile="work"))
    assert "memory profile is now 'work'" in actions

    fact_id = rt.dispatcher.services.memory.remember("my badge number is 4417")   # the remember skill's call
    rt.store.flush()
    assert rt.store.profile == "work"
    assert fact_id in {m.id for m in rt.store.recent(20, kind="fact")}
    hits = rt.engine.memory.search("what is my badge number", 3)     # the engine finds what the skill stored
    assert hits and "4417" in hits[0].memory.text
    assert rt.engine.memory is rt.memory        # one memory API for the engine and the skills
    kitchen = home_assistant.engine("kitchen")          # its next turn
    assert kitchen.store is rt.store and kitchen.memory is rt.memory


def test_a_rebuilt_language_model_serves_skills_and_wyoming_conversations_too(own_runtime):
    from assistant.wyoming_service.speech import Sessions
    rt = own_runtime
    _ = rt.engine
    home_assistant = Sessions(rt)
    home_assistant.engine("kitchen")
    old = rt.llm
    actions = rt.reconfigure(_edited(rt.cfg, "llm", model=str(old.path)))    # the same file, named: a new model
    assert "reloaded llm" in actions
    assert rt.llm is not old
    assert rt.engine.llm is rt.llm and rt.dispatcher.llm is rt.llm        # the old one is not kept alive
    assert home_assistant.engine("kitchen").llm is rt.llm                  # nor by a Wyoming conversation


def test_live_skill_thresholds_reach_the_router(own_runtime):
    rt = own_runtime
    rt.reconfigure(_edited(rt.cfg, "skills", route_min_relevance=0.9, route_margin=0.1))
    assert (rt.dispatcher.router.min_relevance, rt.dispatcher.router.margin) == (0.9, 0.1)


def test_a_wyoming_conversation_reads_the_users_notes_like_the_local_engine(tmp_path):
    from assistant.wyoming_service.speech import Sessions
    from tests.test_knowledge import runtime_with_notes
    rt, folder = runtime_with_notes(tmp_path, "watch = false\n")
    try:
        rt.knowledge.sync([folder])
        question = "What did the boiler engineer say about the pressure?"
        vector = rt.embedder.embed_one(question)
        kitchen = Sessions(rt).engine("kitchen")
        local, heard = rt.engine.from_files(question, vector), kitchen.from_files(question, vector)
        assert local and "1.5 bar" in heard[0].chunk.text
    finally:
        rt.store.close()
