"""The voice pipeline: source → VAD → STT → engine (retrieval, LLM) → TTS → sink.

Three stages run in their own threads, joined by queues, so that each overlaps the
next: while the LLM writes sentence two, sentence one is being synthesised and played.

    capture/VAD (caller's thread) ──utterances──▶ turn worker (STT, engine)
        ──sentences──▶ speech worker (TTS, sink) ──▶ TurnRecord callback

Each stage is a plain object with one method, so any of them can be swapped (file or
mic, WAV or speaker) or tested on its own.

Between turns the turn worker polls the runtime's ``announcer`` (due timers and
reminders) and queues what it returns for speech, so an announcement never cuts into a
reply; reminders that fell due while the assistant was off are announced at start.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from audio.capture import AudioSource
from audio.playback import AudioSink
from audio.vad import Endpointer, Utterance

from .engine import Acted, ReplyDone, Retrieved, Sentence
from .errors import AssistantError
from .metrics import MetricsWriter, TurnRecord, TurnTimings

log = logging.getLogger(__name__)

SPEAKING_TAIL_S = 0.3   # the room still rings briefly after playback
ANNOUNCE_POLL_S = 0.25  # how often, between turns, due reminders are checked


@dataclass
class _Turn:
    number: int
    utterance: Utterance
    timings: TurnTimings
    transcript: str = ""
    retrieved: Retrieved | None = None
    reply: str = ""
    cancelled: bool = False
    skill: dict | None = None


@dataclass
class _Speak:
    turn: _Turn
    text: str


@dataclass
class _EndOfReply:
    turn: _Turn


@dataclass
class _Announcement:
    text: str


@dataclass
class VoiceLoop:
    runtime: object                       # assistant.runtime.Runtime
    source: AudioSource
    sink: AudioSink
    on_turn: Callable[[TurnRecord], None] = lambda record: None
    on_notice: Callable[[str], None] = lambda text: None
    on_announcement: Callable[[str], None] = lambda text: None
    metrics: MetricsWriter = field(default_factory=lambda: MetricsWriter(None))
    turns: int = 0
    _speaking_until: float = 0.0
    _speaking: bool = False

    def __post_init__(self) -> None:
        cfg = self.runtime.cfg
        self.endpointer = Endpointer(cfg.vad)
        self.gate_mic = self.source.live and cfg.audio.mute_mic_while_speaking
        self._utterances: queue.Queue[Utterance | None] = queue.Queue()
        self._speech: queue.Queue[_Speak | _EndOfReply | _Announcement | None] = queue.Queue()
        self.announcer = getattr(self.runtime, "announcer", None)

    # -- stage 1: capture and endpointing (runs in the caller's thread) -------------
    def run(self) -> int:
        turn_worker = threading.Thread(target=self._turn_worker, name="turns", daemon=True)
        speech_worker = threading.Thread(target=self._speech_worker, name="speech", daemon=True)
        turn_worker.start()
        speech_worker.start()
        try:
            for frame in self.source.frames():
                if self.gate_mic and self.is_speaking():
                    self.endpointer.reset()      # never hear our own voice
                    continue
                utterance = self.endpointer.feed(frame)
                if utterance is not None:
                    self._utterances.put(utterance)
            last = self.endpointer.flush()
            if last is not None:
                self._utterances.put(last)
        finally:
            self._utterances.put(None)
            turn_worker.join()
            self._speech.put(None)
            speech_worker.join()
            self.sink.close()
        return self.turns

    def is_speaking(self) -> bool:
        return self._speaking or time.perf_counter() < self._speaking_until

    # -- stage 2: STT and the engine -------------------------------------------------
    def _announce_due(self) -> None:
        if self.announcer is None:
            return
        try:
            for text in self.announcer.due():
                log.info("announcing: %s", text)
                self.on_announcement(text)
                self._speech.put(_Announcement(text))
        except Exception:   # a broken reminders file must not stop the conversation
            log.exception("checking reminders failed")

    def _next_utterance(self) -> Utterance | None:
        """The next utterance; while waiting for it, announce what falls due."""
        while True:
            self._announce_due()
            try:
                return self._utterances.get(timeout=ANNOUNCE_POLL_S)
            except queue.Empty:
                continue

    def _turn_worker(self) -> None:
        number = 0
        while (utterance := self._next_utterance()) is not None:
            timings = TurnTimings(speech_end=utterance.speech_end)
            try:
                transcript = self.runtime.stt.transcribe(utterance.audio)
                timings.mark("transcript_ready")
                if not transcript.accepted:
                    log.info("ignored %.1f s of audio: %s (no_speech=%.2f logprob=%.2f)",
                             utterance.duration_s, transcript.dropped, transcript.no_speech_prob,
                             transcript.avg_logprob)
                    continue
                number += 1
                turn = _Turn(number, utterance, timings, transcript=transcript.text)
                self.on_notice(f"you: {transcript.text}")
                for event in self.runtime.engine.respond(transcript.text, timings):
                    if isinstance(event, Retrieved):
                        turn.retrieved = event
                    elif isinstance(event, Acted):
                        turn.skill = event.action.as_dict()
                    elif isinstance(event, Sentence):
                        self._speech.put(_Speak(turn, event.text))
                    elif isinstance(event, ReplyDone):
                        turn.reply, turn.cancelled = event.text, event.cancelled
                self._speech.put(_EndOfReply(turn))
            except AssistantError as e:
                log.error("%s", e)
                self.on_notice(f"error: {e}")
            except Exception:  # a bug in one turn must not end the loop
                log.exception("turn failed")
                self.on_notice("error: this turn failed; details are in the log")

    # -- stage 3: TTS and playback ----------------------------------------------------
    def _speech_worker(self) -> None:
        tts = self.runtime.tts
        while (item := self._speech.get()) is not None:
            try:
                if isinstance(item, _Announcement):
                    audio = tts.synthesize(item.text)
                    if len(audio):
                        self._speaking = True
                        self.sink.write(audio)
                        self.sink.gap(self.runtime.cfg.audio.gap_between_replies_ms / 1000)
                    continue
                if isinstance(item, _Speak):
                    audio = tts.synthesize(item.text)
                    item.turn.timings.mark("first_sentence_synth")
                    if len(audio):
                        self._speaking = True
                        item.turn.timings.mark("first_audio")
                        self.sink.write(audio)
                    continue
                self.sink.gap(self.runtime.cfg.audio.gap_between_replies_ms / 1000)
                self._finish(item.turn)
            except AssistantError as e:
                log.error("%s", e)
            except Exception:
                log.exception("speech failed")
            finally:
                if self._speech.empty():
                    self._speaking = False
                    self._speaking_until = time.perf_counter() + SPEAKING_TAIL_S

    def _finish(self, turn: _Turn) -> None:
        self.turns += 1
        retrieved = turn.retrieved or Retrieved([], [])
        record = TurnRecord(
            turn=turn.number, transcript=turn.transcript, reply=turn.reply,
            memories=[h.as_dict() for h in retrieved.memories],
            skill_docs=[d.as_dict() for d in retrieved.docs],
            latency_ms=turn.timings.relative_ms(),
            input_position_s=round(turn.utterance.stream_end_s, 2) if not self.source.live else None,
            interrupted=turn.cancelled, skill=turn.skill)
        log.info("turn %d: %s", turn.number, turn.timings.summary())
        self.metrics.write(record)
        self.on_turn(record)

