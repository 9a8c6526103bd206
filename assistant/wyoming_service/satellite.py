"""Satellites: a wyoming-satellite in another room as the voice loop's microphone and speaker.

The daemon connects to each satellite (``[wyoming] satellites``), sends ``run-satellite``
and receives its microphone as ``audio-chunk`` events; ``SatelliteSource`` turns them
into the VAD frames a ``MicSource`` yields and ``SatelliteSink`` sends replies back as
``audio-start/chunk/stop``, so an ordinary ``VoiceLoop`` (endpointing, STT, wake or
follow-up, the reply streamed sentence by sentence) runs on each room unaware.

All links share one asyncio thread; each is its own task with timeouts on connect and
write, so a dead satellite never stalls another, and each room's voice loop runs in
its own thread, apart from the local microphone's. A link that drops reconnects with
backoff (0.5 s doubling to 10 s); a pending utterance is closed with silence, and a
reply being sent stops where the satellite went away (memory keeps what was sent).
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.event import Event, async_write_event
from wyoming.info import Describe, Info
from wyoming.satellite import RunSatellite

from .framing import BadEvent, Limits, read_event
from .server import parse_uri

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
BACKOFF_S = (0.5, 10.0)             # first retry, longest wait
CONNECT_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0
AHEAD_S = 0.3                       # reply audio sent ahead of real time (the satellite buffers it)
SILENCE_ON_DROP_S = 1.0             # fed when a link drops, so an utterance in progress ends


@dataclass
class LinkStatus:
    uri: str
    room: str
    connected: bool = False
    connects: int = 0
    last_error: str = ""
    since: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {"uri": self.uri, "room": self.room, "connected": self.connected, "connects": self.connects,
                "last_error": self.last_error, "since": round(self.since, 1)}


class SatelliteSource:
    """The satellite's microphone as 16 kHz int16 frames of ``frame_ms`` (an ``AudioSource``)."""

    live = True

    def __init__(self, room: str, frame_ms: int = 30) -> None:
        self.device_name = f"satellite {room}"
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=2000)   # 60 s of frames
        self._rest = np.zeros(0, dtype=np.int16)
        self._stopped = threading.Event()

    def push(self, pcm: bytes) -> None:
        """From the link's thread: mono 16 kHz int16 bytes, cut into frames."""
        audio = np.concatenate([self._rest, np.frombuffer(pcm, dtype="<i2").astype(np.int16)])
        whole = len(audio) // self.frame_samples * self.frame_samples
        self._rest = audio[whole:]
        for start in range(0, whole, self.frame_samples):
            try:
                self._queue.put_nowait(audio[start:start + self.frame_samples])
            except queue.Full:          # the voice loop is far behind: drop, as a mic overflow does
                break

    def silence(self, seconds: float) -> None:
        self._rest = np.zeros(0, dtype=np.int16)
        self.push(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16).tobytes())

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            yield frame

    def stop(self) -> None:
        self._stopped.set()
        self._queue.put(None)


class SatelliteSink:
    """Replies to the satellite's speaker (an ``AudioSink``). ``write`` is paced at real time,
    like a speaker, so the voice loop's gating and follow-up timing hold; it returns early,
    with what was sent, on an interrupt or when the satellite goes away."""

    BLOCK_S = 0.05

    def __init__(self, link: "SatelliteLink", sample_rate: int) -> None:
        self.link, self.sample_rate = link, sample_rate
        self._interrupted = threading.Event()

    def write(self, samples: np.ndarray) -> int:
        self._interrupted.clear()
        if not self.link.send(AudioStart(rate=self.sample_rate, width=2, channels=1).event()):
            return 0
        block = int(self.BLOCK_S * self.sample_rate)
        started = time.monotonic()
        sent = 0
        try:
            for start in range(0, len(samples), block):
                if self._interrupted.is_set():
                    return sent
                part = np.ascontiguousarray(samples[start:start + block]).astype("<i2").tobytes()
                if not self.link.send(AudioChunk(rate=self.sample_rate, width=2, channels=1, audio=part).event()):
                    return sent
                sent = min(len(samples), start + block)
                ahead = started + sent / self.sample_rate - AHEAD_S - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            remaining = started + sent / self.sample_rate - time.monotonic()
            while remaining > 0 and not self._interrupted.is_set() and self.link.connected:
                time.sleep(min(remaining, self.BLOCK_S))
                remaining = started + sent / self.sample_rate - time.monotonic()
            return sent
        finally:
            self.link.send(AudioStop().event())

    def gap(self, seconds: float) -> None:
        time.sleep(seconds)

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        pass


class SatelliteLink:
    """One satellite: connect, ``run-satellite``, feed its audio to the source; reconnect."""

    def __init__(self, uri: str, loop: asyncio.AbstractEventLoop, frame_ms: int, limits: Limits = Limits()) -> None:
        self.endpoint = parse_uri(uri)
        self.uri, self.loop, self.limits = uri, loop, limits
        self.status = LinkStatus(uri, room=self.endpoint.host)
        self.source = SatelliteSource(self.status.room, frame_ms)
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: asyncio.Queue[Event] | None = None
        self._stopping = False
        self._up = False
        self.task: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self.status.connected

    @property
    def room(self) -> str:
        return self.status.room

    def send(self, event: Event) -> bool:
        """From any thread: queue an event for the satellite; False when it is not connected."""
        outbox = self._outbox
        if not self.status.connected or outbox is None:
            return False
        self.loop.call_soon_threadsafe(outbox.put_nowait, event)
        return True

    async def run(self) -> None:
        delay = BACKOFF_S[0]
        while not self._stopping:
            self._up = False
            try:
                await self._session()
                delay = BACKOFF_S[0]            # it was up: the next drop retries quickly
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, BadEvent, asyncio.IncompleteReadError) as e:
                self.status.last_error = f"{e.__class__.__name__}: {e}"[:200]
            except Exception as e:              # a bug: logged, and the link retries
                log.exception("satellite %s failed", self.uri)
                self.status.last_error = f"{e.__class__.__name__}: {e}"[:200]
            if self._up:
                self.status.connected = False
                log.warning("satellite %s (%s) went away; reconnecting", self.room, self.uri)
                self.status.connected = False
                self.status.since = time.time()
                self.source.silence(SILENCE_ON_DROP_S)
            if self._stopping:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_S[1])

    async def _session(self) -> None:
        ep = self.endpoint
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ep.host, ep.port, limit=self.limits.header_bytes + 1), CONNECT_TIMEOUT_S)
        try:
            await asyncio.wait_for(async_write_event(Describe().event(), writer), WRITE_TIMEOUT_S)
            await asyncio.wait_for(async_write_event(RunSatellite().event(), writer), WRITE_TIMEOUT_S)
            self._writer, self._outbox = writer, asyncio.Queue()
            self.status.connected = self._up = True
            self.status.connects += 1
            self.status.since = time.time()
            self.status.last_error = ""
            log.info("satellite %s connected (%s)", self.room, self.uri)
            sender = asyncio.create_task(self._send_loop(writer, self._outbox))
            try:
                await self._receive(reader)
            finally:
                sender.cancel()
                self._outbox = None
        finally:
            self._writer = None
            writer.close()

    async def _send_loop(self, writer: asyncio.StreamWriter, outbox: asyncio.Queue) -> None:
        try:
            while True:
                event = await outbox.get()
                await asyncio.wait_for(async_write_event(event, writer), WRITE_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            self.status.connected = False       # the receive side notices too
            writer.close()

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        converter = AudioChunkConverter(rate=SAMPLE_RATE, width=2, channels=1)
        while True:
            event = await read_event(reader, self.limits)
            if event is None:
                return
            if event.type == "audio-chunk":
                try:
                    self.source.push(converter.convert(AudioChunk.from_event(event)).audio)
                except Exception:
                    log.debug("satellite %s: unusable audio chunk dropped", self.room)
            elif event.type == "info":
                try:
                    sat = Info.from_event(event).satellite
                except Exception:
                    sat = None
                if sat is not None and (sat.area or sat.name):
                    self.status.room = sat.area or sat.name
                    self.source.device_name = f"satellite {self.status.room}"
            elif event.type == "error":
                log.warning("satellite %s: %s", self.room, event.data.get("text"))

    def stop(self) -> None:
        self._stopping = True
        self.source.stop()
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)


class RoomRuntime:
    """The runtime as one room's voice loop sees it: the same models, its own session."""

    announcer = None                # reminders are spoken by the local loop only

    def __init__(self, runtime, engine, room: str) -> None:
        self._runtime, self._engine, self.room = runtime, engine, room

    @property
    def engine(self):
        return self._runtime.up_to_date(self._engine)     # a live config edit applies from the next turn

    def __getattr__(self, name: str):
        return getattr(self._runtime, name)


class Rooms:
    """Every satellite: links on one asyncio thread, a VoiceLoop thread per room."""

    def __init__(self, runtime, uris: list[str], on_turn=None, on_state=None) -> None:
        self.runtime, self.uris = runtime, list(uris)
        self.on_turn = on_turn or (lambda room, record: None)
        self.on_state = on_state or (lambda room, state: None)
        self.loop = asyncio.new_event_loop()
        self.links: list[SatelliteLink] = []
        self.voice_loops: list = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        from ..voice_loop import VoiceLoop
        rt = self.runtime
        frame_ms = rt.cfg.vad.frame_ms
        self.links = [SatelliteLink(uri, self.loop, frame_ms) for uri in self.uris]
        io = threading.Thread(target=self._io_main, name="satellites", daemon=True)
        io.start()
        self._threads.append(io)
        for link in self.links:
            engine = rt.session_engine(f"room-{link.endpoint.host}-{link.endpoint.port}"[:40])
            room_rt = RoomRuntime(rt, engine, link.room)
            voice = VoiceLoop(room_rt, link.source, SatelliteSink(link, rt.tts.sample_rate),
                              on_turn=lambda record, link=link: self._turn(link, record),
                              on_state=lambda state, link=link: self.on_state(link.room, state))
            self.voice_loops.append(voice)
            thread = threading.Thread(target=self._run_voice, args=(voice, link), name=f"room-{link.room}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _io_main(self) -> None:
        asyncio.set_event_loop(self.loop)
        for link in self.links:
            link.task = self.loop.create_task(link.run())
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def _turn(self, link: SatelliteLink, record) -> None:
        """Tell the satellite what was heard (its --transcript-command, its LEDs), then the daemon."""
        from wyoming.asr import Transcript
        if getattr(record, "transcript", ""):
            link.send(Transcript(text=record.transcript).event())
        self.on_turn(link.room, record)

    @staticmethod
    def _run_voice(voice, link: SatelliteLink) -> None:
        try:
            voice.run()
        except Exception:
            log.exception("voice loop of satellite %s failed", link.room)

    def status(self) -> list[dict]:
        return [{**link.status.as_dict(), "turns": voice.turns, "state": voice.state}
                for link, voice in zip(self.links, self.voice_loops)]

    def stop(self) -> None:
        for voice in self.voice_loops:
            voice.stop()
        for link in self.links:
            link.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        for thread in self._threads:
            thread.join(timeout=10)
