"""The Wyoming server: one handler per connection, dispatching to asr, tts and handle.

    describe → info                 ping → pong                select-program → (checked)
    [transcribe] audio-start/chunk*/stop → transcript
    synthesize → audio-start/chunk*/stop
    synthesize-start, synthesize-chunk*, [synthesize], synthesize-stop
                 → audio-start/chunk*/stop (sentence by sentence as text arrives), synthesize-stopped
    transcript {text, context.conversation_id}
                 → handled-start, handled-chunk* (a sentence each), handled-stop, handled {text, context}

A malformed or oversized event gets an ``error`` event and the connection is closed;
an unknown type gets an ``error`` and the connection stays; a request over its limit
(audio, text) gets an ``error`` and is dropped. Nothing a client sends ends the server.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Info
from wyoming.ping import Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import SynthesizeStopped

from ..errors import AssistantError
from .framing import BadEvent, Limits, read_event
from .speech import Speech, sentences_of, splitter

log = logging.getLogger(__name__)

SAMPLES_PER_CHUNK = 1024            # as wyoming-piper sends
RATES = (8000, 96000)               # audio-start rates accepted


class WyomingServiceError(AssistantError):
    """The Wyoming service cannot start (bad URI, port in use)."""

    exit_code = 6


@dataclass(frozen=True)
class Endpoint:
    scheme: str                     # tcp | unix
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.scheme == "tcp" else f"unix://{self.path}"


def parse_uri(uri: str) -> Endpoint:
    """tcp://HOST:PORT or unix:///path; anything else is a one-line error naming the fix."""
    fix = "use tcp://HOST:PORT (e.g. tcp://127.0.0.1:10700) or unix:///path/to.sock"
    try:
        parsed = urlparse(uri)
        port = parsed.port
    except ValueError:
        raise WyomingServiceError(f"wyoming URI {uri!r} is not valid; {fix}")
    if parsed.scheme == "tcp":
        if not parsed.hostname or port is None:
            raise WyomingServiceError(f"wyoming URI {uri!r} needs a host and a port; {fix}")
        return Endpoint("tcp", parsed.hostname, port)
    if parsed.scheme == "unix" and parsed.path:
        return Endpoint("unix", path=parsed.path)
    raise WyomingServiceError(f"wyoming URI {uri!r} is not supported; {fix}")


def _chunks(audio: np.ndarray, rate: int) -> list[Event]:
    data = audio.astype("<i2", copy=False).tobytes()
    step = SAMPLES_PER_CHUNK * 2
    return [AudioChunk(rate=rate, width=2, channels=1, audio=data[i:i + step]).event()
            for i in range(0, len(data), step)]


class ConnectionHandler(AsyncEventHandler):
    """One client. Reads with the caps of ``Limits``; answers each request in order."""

    def __init__(self, server: "WyomingServer", reader, writer) -> None:
        super().__init__(reader, writer)
        self.server, self.speech, self.limits = server, server.speech, server.limits
        self._write_lock = asyncio.Lock()
        # asr
        self._audio: list[bytes] | None = None
        self._audio_bytes = 0
        self._audio_dropped = False
        self._converter = AudioChunkConverter(rate=16000, width=2, channels=1)
        self._language: str | None = None
        # tts streaming
        self._stream = None
        self._stream_chars = 0
        self._stream_started = False
        self._tts_rate = 0

    async def write_event(self, event: Event) -> None:
        async with self._write_lock:
            await async_write_event(event, self.writer)

    async def error(self, text: str, code: str) -> None:
        await self.write_event(Error(text=text, code=code).event())

    async def run(self) -> None:
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await read_event(self.reader, self.limits)
                except BadEvent as e:
                    log.info("wyoming client sent a bad event: %s", e)
                    await self.error(str(e), e.code)
                    break
                if event is None or not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:                         # a bug: logged, this client dropped, the server goes on
            log.exception("wyoming connection failed")
            try:
                await self.error("internal error; see the assistant's log", "internal")
            except Exception:
                pass
        finally:
            try:
                self.writer.close()
            except Exception:
                pass

    async def handle_event(self, event: Event) -> bool:
        kind, data = event.type, event.data
        services = self.server.services
        if kind == "describe":
            await self.write_event(self.server.info.event())
        elif kind == "ping":
            await self.write_event(Pong(text=data.get("text") if isinstance(data.get("text"), str) else None).event())
        elif kind == "select-program":
            names = {p.name for p in (*self.server.info.asr, *self.server.info.tts, *self.server.info.handle)}
            if data.get("name") not in names:
                await self.error(f"no program named {data.get('name')!r}; describe lists {sorted(names)}",
                                 "unknown-program")
        elif kind in ("transcribe", "audio-start", "audio-chunk", "audio-stop") and "asr" in services:
            await self._asr(kind, event)
        elif kind in ("synthesize", "synthesize-start", "synthesize-chunk", "synthesize-stop") and "tts" in services:
            await self._tts(kind, data)
        elif kind == "transcript" and "handle" in services:
            await self._handle(data)
        elif kind in ("error", "pong"):
            pass
        else:
            served = ", ".join(self.server.services)
            await self.error(f"event type {kind!r} is not served here (this server offers: {served})",
                             "unknown-event")
        return True

    # -- asr ---------------------------------------------------------------------------
    async def _asr(self, kind: str, event: Event) -> None:
        data = event.data
        if kind == "transcribe":
            language = data.get("language")
            self._language = language if isinstance(language, str) else None
            return
        if kind == "audio-start":
            self._audio, self._audio_bytes, self._audio_dropped = [], 0, False
            return
        if kind == "audio-chunk":
            if self._audio_dropped:
                return
            if self._audio is None:
                self._audio, self._audio_bytes = [], 0      # audio-start is optional for us
            try:
                chunk = AudioChunk.from_event(event)
                if not (RATES[0] <= chunk.rate <= RATES[1] and chunk.width in (1, 2, 4)
                        and chunk.channels in (1, 2)):
                    raise ValueError
                pcm = self._converter.convert(chunk).audio
            except Exception:           # missing fields, odd sizes: audioop and the dataclass raise
                self._audio, self._audio_dropped = None, True
                await self.error("audio-chunk needs rate (8000-96000), width (1, 2 or 4) and channels (1 or 2) "
                                 "and a payload of whole samples", "bad-audio")
                return
            self._audio.append(pcm)
            self._audio_bytes += len(pcm)
            if self._audio_bytes > self.limits.audio_s * 16000 * 2:
                self._audio, self._audio_dropped = None, True
                await self.error(f"audio over {self.limits.audio_s:g} s in one request; end the request "
                                 "(audio-stop) sooner", "too-long")
            return
        # audio-stop
        audio, self._audio = self._audio, None
        if self._audio_dropped:
            self._audio_dropped = False
            return
        if audio is None:
            await self.error("audio-stop without audio; send audio-start and audio-chunk first", "no-audio")
            return
        samples = np.frombuffer(b"".join(audio), dtype="<i2").astype(np.int16)
        result = await self.speech.transcribe(samples)
        language = self._language or self.server.language
        from wyoming.asr import Transcript
        await self.write_event(Transcript(text=result.text, language=language).event())
        self._language = None

    # -- tts ---------------------------------------------------------------------------
    async def _send_audio(self, sentences) -> None:
        rate = self.speech.sample_rate
        async for audio in self.speech.speak(sentences):
            if not self._stream_started:
                await self.write_event(AudioStart(rate=rate, width=2, channels=1).event())
                self._stream_started = True
            for chunk in _chunks(audio, rate):
                await self.write_event(chunk)

    async def _finish_audio(self) -> None:
        if not self._stream_started:
            await self.write_event(AudioStart(rate=self.speech.sample_rate, width=2, channels=1).event())
        await self.write_event(AudioStop().event())
        self._stream_started = False

    def _text(self, data: dict) -> str | None:
        text = data.get("text", "")
        return text if isinstance(text, str) else None

    async def _tts(self, kind: str, data: dict) -> None:
        if kind == "synthesize":
            if self._stream is not None:
                return                  # sent beside a stream for older servers: the stream says it all
            text = self._text(data)
            if text is None or len(text) > self.limits.text_chars:
                await self.error(f"synthesize needs \"text\" of at most {self.limits.text_chars} characters",
                                 "bad-text")
                return
            self._stream_started = False
            await self._send_audio(sentences_of(text))
            await self._finish_audio()
            return
        if kind == "synthesize-start":
            self._stream, self._stream_chars, self._stream_started = splitter(), 0, False
            return
        if self._stream is None:
            await self.error(f"{kind} outside a stream; send synthesize-start first", "no-stream")
            return
        if kind == "synthesize-chunk":
            text = self._text(data)
            self._stream_chars += len(text or "")
            if text is None or self._stream_chars > self.limits.text_chars:
                self._stream = None
                await self.error(f"synthesize stream over {self.limits.text_chars} characters, or a chunk "
                                 "without \"text\"; the stream is dropped", "bad-text")
                return
            await self._send_audio(list(self._stream.feed(text)))
            return
        # synthesize-stop
        stream, self._stream = self._stream, None
        await self._send_audio(list(stream.flush()))
        await self._finish_audio()
        await self.write_event(SynthesizeStopped().event())

    # -- handle ------------------------------------------------------------------------
    async def _handle(self, data: dict) -> None:
        text = self._text(data)
        if not text or not text.strip() or len(text) > self.limits.text_chars:
            await self.error(f"transcript needs \"text\" of 1 to {self.limits.text_chars} characters", "bad-text")
            return
        context = data.get("context") if isinstance(data.get("context"), dict) else {}
        conversation_id = context.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id or len(conversation_id) > 200:
            conversation_id = uuid.uuid4().hex
        context = {"conversation_id": conversation_id}
        cancel = threading.Event()
        started, reply, failed = False, "", None
        async for kind, value in self.speech.respond(text.strip(), conversation_id, cancel):
            if kind == "sentence":
                if not started:
                    await self.write_event(HandledStart(context=context).event())
                    started = True
                await self.write_event(HandledChunk(text=value + " ").event())
            elif kind == "done":
                reply = value or ""
            elif kind == "error":
                failed = value
        if started:
            await self.write_event(HandledStop().event())
        if failed is not None:
            await self.write_event(NotHandled(text=f"Sorry, that went wrong ({failed}).", context=context).event())
        else:
            await self.write_event(Handled(text=reply, context=context).event())


class WyomingServer:
    """Serves ``speech`` on ``endpoint``; ``run()`` in the foreground or ``start()`` in a thread."""

    def __init__(self, speech: Speech, endpoint: Endpoint, info: Info, services: tuple[str, ...],
                 limits: Limits = Limits(), language: str = "en", zeroconf_name: str | None = None) -> None:
        self.speech, self.endpoint, self.info, self.services = speech, endpoint, info, services
        self.limits, self.language = limits, language
        self.zeroconf_name = zeroconf_name          # None: no zeroconf
        self.clients = 0
        self.served = 0
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._zeroconf = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    async def _client(self, reader, writer) -> None:
        if self.clients >= self.limits.max_clients:
            try:
                await async_write_event(Error(text=f"server busy: {self.limits.max_clients} clients connected; "
                                                   "try again shortly", code="busy").event(), writer)
            finally:
                writer.close()
            return
        self.clients += 1
        self.served += 1
        try:
            await ConnectionHandler(self, reader, writer).run()
        finally:
            self.clients -= 1

    async def open(self) -> None:
        ep, limit = self.endpoint, self.limits.header_bytes + 1
        try:
            if ep.scheme == "tcp":
                self._server = await asyncio.start_server(self._client, ep.host, ep.port, limit=limit,
                                                          reuse_address=True)
            else:
                Path(ep.path).parent.mkdir(parents=True, exist_ok=True)
                if os.path.exists(ep.path):
                    os.unlink(ep.path)
                self._server = await asyncio.start_unix_server(self._client, ep.path, limit=limit)
        except OSError as e:
            raise WyomingServiceError(f"cannot listen on {ep} ({e.strerror or e}); choose another port with "
                                      "--uri or [wyoming] uri, or stop what uses it")
        if ep.scheme == "tcp" and ep.port == 0:
            self.endpoint = Endpoint("tcp", ep.host, self._server.sockets[0].getsockname()[1])
        if self.zeroconf_name is not None and self.endpoint.scheme == "tcp":
            await self._register_zeroconf()
        log.info("wyoming service on %s (%s)", self.endpoint, ", ".join(self.services))

    async def _register_zeroconf(self) -> None:
        """Announce ``_wyoming._tcp.local.`` so Home Assistant discovers the server.

        Bound to loopback, it is announced on loopback only (nothing else could connect);
        a failure (no multicast) is logged and the server serves on regardless."""
        try:
            from zeroconf import IPVersion
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
            host = self.endpoint.host
            if host in ("0.0.0.0", "", "::"):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    probe.connect(("224.0.0.251", 1))
                    host = probe.getsockname()[0]
                finally:
                    probe.close()
            address = socket.gethostbyname(host)
            interfaces = [address] if address.startswith("127.") else None
            self._zeroconf = AsyncZeroconf(interfaces=interfaces or "all", ip_version=IPVersion.V4Only)
            name = self.zeroconf_name or f"assistant-{socket.gethostname()}"
            info = AsyncServiceInfo("_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.",
                                    addresses=[socket.inet_aton(address)], port=self.endpoint.port,
                                    properties={"program": "local-voice-assistant"})
            await self._zeroconf.async_register_service(info)
            log.info("zeroconf: announced %s on %s:%d", name, address, self.endpoint.port)
        except Exception as e:
            log.warning("zeroconf announcement failed (%s); Home Assistant can still add the server by "
                        "host and port", e)
            self._zeroconf = None

    async def close(self) -> None:
        if self._zeroconf is not None:
            try:
                await self._zeroconf.async_unregister_all_services()
                await self._zeroconf.async_close()
            except Exception:
                pass
            self._zeroconf = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.endpoint.scheme == "unix" and os.path.exists(self.endpoint.path):
            os.unlink(self.endpoint.path)

    async def serve(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await self.open()
        if on_ready:
            on_ready()
        try:
            await stop.wait()
        finally:
            await self.close()

    # -- in a thread (the daemon) ---------------------------------------------------------
    def start(self) -> None:
        """Serve from a thread of its own; raises here if the port cannot be opened."""
        self._thread = threading.Thread(target=self._thread_main, name="wyoming", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise self._failure

    def _thread_main(self) -> None:
        async def main() -> None:
            self._stop_event = asyncio.Event()
            await self.serve(self._stop_event, on_ready=self._ready.set)
        try:
            asyncio.run(main())
        except BaseException as e:
            self._failure = e
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and getattr(self, "_stop_event", None) is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
