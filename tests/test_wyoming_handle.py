"""The assistant as Home Assistant's conversation agent over Wyoming (`handle`): the whole
engine, memory shared across conversations, a session per conversation_id."""
from __future__ import annotations

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from tests.wyoming_helpers import ServerProcess, read_until, run


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("wyh") / "home", "asr,tts,handle")
    yield proc
    assert proc.stop() == 0, proc.err.read_text()


async def _say(port: int, text: str, conversation_id: str | None = None):
    async with AsyncTcpClient("127.0.0.1", port) as c:
        context = {"conversation_id": conversation_id} if conversation_id else None
        await c.write_event(Transcript(text=text, context=context, language="en").event())
        return await read_until(c, {"handled", "not-handled"}, timeout=180)


def test_describe_offers_the_conversation_agent(server):
    async def go():
        async with AsyncTcpClient("127.0.0.1", server.port) as c:
            await c.write_event(Describe().event())
            return Info.from_event((await read_until(c, {"info"}, timeout=5))[-1])
    info = run(go())
    handle = info.handle[0]
    assert handle.installed and handle.supports_handled_streaming and handle.models[0].installed
    assert handle.name == "local-voice-assistant-conversation"
    assert len(info.asr) == 1 and len(info.tts) == 1


def test_a_fact_told_in_one_conversation_is_recalled_in_another(server):
    told = run(_say(server.port, "Remember that my locker code is 4512.", "ha-conversation-1"))
    assert told[-1].type == "handled"
    assert told[-1].data["context"] == {"conversation_id": "ha-conversation-1"}
    types = [e.type for e in told]
    assert types[0] == "handled-start" and "handled-chunk" in types and types[-2:] == ["handled-stop", "handled"]
    streamed = "".join(e.data["text"] for e in told if e.type == "handled-chunk").strip()
    assert streamed.split() == told[-1].data["text"].split()
    # a new connection and a new conversation: only memory can answer
    asked = run(_say(server.port, "Tell me my locker code.", "ha-conversation-2"))
    assert asked[-1].type == "handled"
    assert "4512" in asked[-1].data["text"].replace(",", ""), asked[-1].data["text"]


def test_a_conversation_without_an_id_gets_one_to_continue_with(server):
    first = run(_say(server.port, "What is twelve times seven?"))
    cid = first[-1].data["context"]["conversation_id"]
    assert cid and "84" in first[-1].data["text"]
    again = run(_say(server.port, "What is two plus two?", cid))
    assert again[-1].data["context"]["conversation_id"] == cid
    assert "4" in again[-1].data["text"] or "four" in again[-1].data["text"].lower()


def test_an_empty_transcript_is_an_error_not_a_turn(server):
    async def go():
        async with AsyncTcpClient("127.0.0.1", server.port) as c:
            await c.write_event(Transcript(text="   ").event())
            return await read_until(c, {"error", "handled"}, timeout=30)
    assert run(go())[-1].type == "error"
