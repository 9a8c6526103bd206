"""`assistant wyoming` as a real process, spoken to by the real `wyoming` client library:
describe, transcribe, synthesise and transcribe back, garbage, oversized events, many clients."""
from __future__ import annotations

import asyncio
import io
import json
import socket

import numpy as np
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.event import read_event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from audio.wavio import resample
from tests.textnorm import word_errors
from tests.wyoming_helpers import ServerProcess, audio_of, read_until, run, transcribe, wav_pcm


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("wy") / "home", "asr,tts")
    yield proc
    assert proc.stop() == 0, proc.err.read_text()


def client(server) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", server.port)


def test_describe_is_truthful_and_fast(server):
    async def go():
        async with client(server) as c:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await c.write_event(Describe().event())
            event = await read_until(c, {"info"}, timeout=5)
            return Info.from_event(event[-1]), loop.time() - started
    info, seconds = run(go())
    assert seconds < 1.0                  # Home Assistant waits 1 s for info
    assert [p.name for p in info.asr] == ["local-voice-assistant-stt"]
    assert info.asr[0].installed and info.asr[0].models[0].installed
    assert "tiny.en" in info.asr[0].models[0].name and info.asr[0].models[0].languages == ["en"]
    assert info.asr[0].models[0].version == "0.1.0"       # the bundled distribution's pin
    assert info.tts[0].installed and info.tts[0].supports_synthesize_streaming
    assert info.tts[0].voices[0].name == "en_US-joe-medium" and info.tts[0].voices[0].languages == ["en_US"]
    assert info.handle == []              # not served by this process (--services asr,tts): not claimed


def test_transcribes_a_recording_at_any_rate(server, speech_clips):
    clip = next(c for c in speech_clips if "ABIGAIL" in c.transcript)
    rate, pcm = wav_pcm(clip.path)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    pcm44 = (resample(audio, rate, 44100) * 32767).astype("<i2").tobytes()   # a 44.1 kHz client

    async def go():
        async with client(server) as c:
            return await transcribe(c, rate, pcm), await transcribe(c, 44100, pcm44)
    native, resampled = run(go())
    for event in (native, resampled):
        assert event.type == "transcript" and event.data["language"] == "en"
        errors, words = word_errors(clip.transcript, event.data["text"])
        assert errors / words <= 0.3, event.data["text"]


def test_synthesised_speech_transcribes_back(server):
    text = "The kitchen timer rings at seven. Please take the bread out of the oven."

    async def go():
        async with client(server) as c:
            await c.write_event(Synthesize(text=text).event())
            spoken = await read_until(c, {"audio-stop"})
            rate, audio = audio_of(spoken)
            pcm16 = (resample(audio.astype(np.float32) / 32768, rate, 16000) * 32767).astype("<i2").tobytes()
            return spoken, rate, await transcribe(c, 16000, pcm16)
    spoken, rate, heard = run(go())
    assert rate == 22050
    assert [e.type for e in spoken][0] == "audio-start"
    errors, words = word_errors(text, heard.data["text"])
    assert errors / words <= 0.15, heard.data["text"]


def test_streamed_text_is_spoken_sentence_by_sentence(server):
    """Audio for the first sentence arrives before the stream's text is finished."""
    async def go():
        async with client(server) as c:
            await c.write_event(SynthesizeStart().event())
            await c.write_event(SynthesizeChunk(text="Good morning to you. The weather ").event())
            first = await read_until(c, {"audio-chunk"}, timeout=30)       # before the rest is sent
            await c.write_event(SynthesizeChunk(text="is mild today.").event())
            await c.write_event(Synthesize(text="Good morning to you. The weather is mild today.").event())
            await c.write_event(SynthesizeStop().event())
            rest = await read_until(c, {"synthesize-stopped"})
            return first, rest
    first, rest = run(go())
    assert [e.type for e in first] == ["audio-start", "audio-chunk"]
    types = [e.type for e in rest]
    assert types[-2:] == ["audio-stop", "synthesize-stopped"] and "audio-start" not in types
    seconds = (sum(len(e.payload) for e in first + rest if e.type == "audio-chunk") / 2) / 22050
    assert 2.0 < seconds < 8.0            # both sentences, once (the compatibility `synthesize` ignored)


def _raw(port: int, data: bytes, read_s: float = 5.0) -> list[dict]:
    """Send raw bytes; the JSON headers of what comes back until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_s) as s:
        s.sendall(data)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except socket.timeout:
            pass
    events, stream = [], io.BytesIO(got)
    while (event := read_event(stream)) is not None:
        events.append({"type": event.type, "data": event.data})
    return events


def _still_serves(server) -> None:
    async def go():
        async with client(server) as c:
            await c.write_event(Describe().event())
            return await read_until(c, {"info"}, timeout=10)
    assert run(go())[-1].type == "info"
    assert server.alive()


@pytest.mark.parametrize("data,code", [
    (b"this is not json\n", "bad-event"),
    (b"[1, 2, 3]\n", "bad-event"),
    (b'{"data": {}}\n', "bad-event"),                                   # no type
    (b'{"type": "audio-chunk", "payload_length": 999999999999}\n', "too-large"),
    (b'{"type": "synthesize", "data_length": 10000000}\n', "too-large"),
    (b'{"type": "synthesize", "data_length": -5}\n', "bad-event"),
    (b'{"type": "synthesize", "data_length": 4}\nnope', "bad-event"),   # data that is not JSON
    (b"{" + b"x" * 20000 + b"\n", "too-large"),                         # an endless header line
])
def test_garbage_gets_an_error_and_a_closed_connection(server, data, code):
    replies = _raw(server.port, data)
    assert replies and replies[0]["type"] == "error", replies
    assert replies[0]["data"]["code"] == code, replies
    _still_serves(server)


def test_unknown_and_misplaced_events_get_an_error_and_the_connection_stays(server):
    replies = _raw(server.port, b'{"type": "launch-rockets"}\n{"type": "synthesize-chunk", "data": {"text": "x"}}\n'
                                b'{"type": "audio-stop"}\n{"type": "ping", "data": {"text": "still here"}}\n', 3)
    assert [r["type"] for r in replies] == ["error", "error", "error", "pong"]
    assert "launch-rockets" in json.dumps(replies[0])


def test_truncated_events_close_the_connection_quietly(server):
    for data in (b'{"type": "audio-chunk", "payload_length": 1000}\n' + b"\0" * 10, b'{"type": "desc'):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            reply = s.recv(1000)
            assert reply == b"" or b'"error"' in reply    # closed, at most after an error
    _still_serves(server)


def test_audio_over_the_limit_is_refused_and_the_next_request_served(server, speech_clips):
    clip = next(c for c in speech_clips if "ABIGAIL" in c.transcript)
    rate, pcm = wav_pcm(clip.path)

    async def go():
        async with client(server) as c:
            too_long = await transcribe(c, 16000, b"\0\0" * 16000 * 31, chunk=32000)   # 31 s
            return too_long, await transcribe(c, rate, pcm)
    too_long, fine = run(go())
    assert too_long.type == "error" and too_long.data["code"] == "too-long"
    assert "abigail" in fine.data["text"].lower()


def test_fifty_clients_at_once_are_all_served(server, speech_clips):
    clip = next(c for c in speech_clips if "EIGHTEEN THIRTEEN" in c.transcript)
    rate, pcm = wav_pcm(clip.path)

    async def one(i: int):
        async with client(server) as c:
            await c.write_event(Describe().event())
            await read_until(c, {"info"}, timeout=60)
            if i % 10 == 0:                # a few real requests among many idle connections
                return (await transcribe(c, rate, pcm)).data.get("text", "")
            await c.write_event(Synthesize(text="Hi.").event()) if i % 10 == 5 else None
            if i % 10 == 5:
                await read_until(c, {"audio-stop"}, timeout=120)
            return "ok"

    async def go():
        return await asyncio.gather(*(one(i) for i in range(50)))
    results = run(go())
    assert len(results) == 50
    assert all("1813" in r or "eighteen" in r.lower() for r in results[::10]), results[::10]
    _still_serves(server)


def test_a_bad_uri_is_one_line_before_any_model_loads(cli):
    result = cli("wyoming", "--uri", "http://example.org", timeout=60)
    assert result.returncode == 6
    assert result.stderr.strip().count("\n") == 0 and "tcp://HOST:PORT" in result.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        result = cli("wyoming", "--uri", f"tcp://127.0.0.1:{busy.getsockname()[1]}", "--services", "asr",
                     "--no-zeroconf", timeout=120)
    finally:
        busy.close()
    assert result.returncode == 6 and "cannot listen" in result.stderr, result.stderr


def test_zeroconf_announces_it_and_clients_past_the_cap_are_told_busy(tmp_path):
    import uuid

    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf
    name = f"wytest-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "config.toml"
    config.write_text(f'[wyoming]\nzeroconf_name = "{name}"\nmax_clients = 3\n')
    proc = ServerProcess(tmp_path / "home", "asr", config=config, zeroconf=True)
    try:
        async def browse():
            zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
            try:
                return await zc.async_get_service_info("_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.",
                                                       timeout=5000)
            finally:
                await zc.async_close()
        found = run(browse())
        assert found is not None and found.port == proc.port and found.parsed_addresses() == ["127.0.0.1"]

        async def crowd():
            held = [AsyncTcpClient("127.0.0.1", proc.port) for _ in range(3)]
            for c in held:
                await c.connect()
            for c in held:                    # each is being served
                await c.write_event(Describe().event())
                await read_until(c, {"info"}, timeout=10)
            async with AsyncTcpClient("127.0.0.1", proc.port) as extra:
                refused = await extra.read_event()
            for c in held:
                await c.disconnect()
            async with AsyncTcpClient("127.0.0.1", proc.port) as later:   # room again
                await later.write_event(Describe().event())
                return refused, (await read_until(later, {"info"}, timeout=10))[-1]
        refused, later = run(crowd())
        assert refused.type == "error" and refused.data["code"] == "busy"
        assert later.type == "info"
    finally:
        assert proc.stop() == 0, proc.err.read_text()


@pytest.mark.parametrize("line,key", [('uri = "http://example.org"', "wyoming.uri"),
                                      ('satellites = ["kitchen"]', "wyoming.satellites"),
                                      ('services = ["asr", "dance"]', "wyoming.services.1")])
def test_bad_wyoming_settings_name_file_line_and_key(cli, tmp_path, line, key):
    config = tmp_path / "config.toml"
    config.write_text(f"[wyoming]\n{line}\n")
    result = cli("--config", str(config), "wyoming", timeout=60)
    assert result.returncode == 2 and key in result.stderr and str(config) in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_silence_around_a_request_is_not_encoded(speech_clips):
    from assistant.wyoming_service.speech import SPEECH_MARGIN_S, speech_span
    clip = next(c for c in speech_clips if "ABIGAIL" in c.transcript)
    _, pcm = wav_pcm(clip.path)
    speech = np.frombuffer(pcm, dtype="<i2")
    padded = np.concatenate([np.zeros(32000, np.int16), speech, np.zeros(48000, np.int16)])
    kept = speech_span(padded)
    assert len(speech) * 0.5 < len(kept) <= len(speech) + 2 * SPEECH_MARGIN_S * 16000 + 960
    silence = np.zeros(16000, np.int16)
    assert len(speech_span(silence)) == len(silence)       # nothing voiced: Whisper decides
