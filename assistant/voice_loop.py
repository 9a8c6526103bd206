"""The voice pipeline: source → VAD → STT → engine (retrieval, LLM) → TTS → sink.

Three stages run in their own threads, joined by queues, so that each overlaps the
next: while the LLM writes sentence two, sentence one is being synthesised and played.

    capture/VAD (caller's thread) ──utterances──▶ turn worker (STT, engine)
        ──sentences──▶ speech worker (TTS, sink) ──▶ TurnRecord callback

Each stage is a plain object with one method, so any of them can be swapped (file or
mic, WAV or speaker) or tested on its own.
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

from .engine import ReplyDone, Retrieved, Sentence
from .errors import AssistantError
from .metrics import MetricsWriter, TurnRecord, TurnTimings

log = logging.getLogger(__name__)

SPEAKING_TAIL_S = 0.3   # the room still rings briefly after playback


@dataclass
class _Turn:
    number: int
    utterance: Utterance | None
    timings: TurnTimings
    transcript: str = ""
    retrieved: Retrieved | None = None
    reply: str = ""
    cancelled: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Speak:
    turn: _Turn | None          # None: an announcement or `say`, not part of a turn
    text: str


@dataclass
class _EndOfReply:
    turn: _Turn


class State:
    IDLE, LISTENING, THINKING, SPEAKING = "idle", "listening", "thinking", "speaking"


@dataclass
class VoiceLoop:
    runtime: object                       # assistant.runtime.Runtime
    source: AudioSource
    sink: AudioSink
    on_turn: Callable[[TurnRecord], None] = lambda record: None
    on_notice: Callable[[str], None] = lambda text: None
    on_state: Callable[[str], None] = lambda state: None
    metrics: MetricsWriter = field(default_factory=lambda: MetricsWriter(None))
    turns: int = 0
    muted: bool = False
    state: str = State.IDLE
    last_turn: TurnRecord | None = None
    _speaking_until: float = 0.0
    _speaking: bool = False
    _listen_once: bool = False
    _current: _Turn | None = None

    def __post_init__(self) -> None:
        cfg = self.runtime.cfg
        self.endpointer = Endpointer(cfg.vad)
        self.gate_mic = self.source.live and cfg.audio.mute_mic_while_speaking
        self._utterances: queue.Queue[Utterance | None] = queue.Queue()
        self._speech: queue.Queue[_Speak | _EndOfReply | None] = queue.Queue()
        self._pending = 0                 # utterances and replies not yet fully spoken
        self._lock = threading.Lock()

    # -- control, from any thread -----------------------------------------------------
    def stop(self) -> None:
        """End the loop: the current reply is cut, queued work is finished."""
        self.interrupt()
        self.source.stop()

    def mute(self, muted: bool = True) -> None:
        self.muted = muted
        self._update_state()

    def listen(self) -> None:
        """Push-to-talk: take the next utterance even while muted."""
        self._listen_once = True

    def say(self, text: str) -> None:
        """Speak text outside any turn (announcements, the `say` command)."""
        from .sentences import split_all
        for sentence in split_all(text):
            self._speech.put(_Speak(None, sentence))

    def interrupt(self) -> None:
        """Stop speaking now and cancel the reply being generated."""
        current = self._current
        if current is not None:
            current.cancel.set()
        kept = []
        while True:               # drop queued sentences, keep the turn bookkeeping
            try:
                item = self._speech.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Speak):
                kept.append(item)
        for item in kept:
            self._speech.put(item)
        self.sink.interrupt()

    def reset_endpointer(self) -> None:
        self.endpointer = Endpointer(self.runtime.cfg.vad)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_state(state)

    def _update_state(self) -> None:
        if self._speaking:
            self._set_state(State.SPEAKING)
        elif self._pending:
            self._set_state(State.THINKING)
        elif self.endpointer.in_speech:
            self._set_state(State.LISTENING)
        else:
            self._set_state(State.IDLE)

    # -- stage 1: capture and endpointing (runs in the caller's thread) -------------
    def run(self) -> int:
        turn_worker = threading.Thread(target=self._turn_worker, name="turns", daemon=True)
        speech_worker = threading.Thread(target=self._speech_worker, name="speech", daemon=True)
        turn_worker.start()
        speech_worker.start()
        try:
            for frame in self.source.frames():
                if (self.muted and not self._listen_once) or (self.gate_mic and self.is_speaking()):
                    if self.endpointer.in_speech:
                        self.endpointer.reset()      # never hear our own voice
                    continue
                was_in_speech = self.endpointer.in_speech
                utterance = self.endpointer.feed(frame)
                if utterance is not None:
                    self._listen_once = False
                    self._enqueue(utterance)
                elif self.endpointer.in_speech != was_in_speech:
                    self._update_state()
            last = self.endpointer.flush()
            if last is not None:
                self._enqueue(last)
        finally:
            self._utterances.put(None)
            turn_worker.join()
            self._speech.put(None)
            speech_worker.join()
            self.sink.close()
        return self.turns

    def _enqueue(self, utterance: Utterance) -> None:
        with self._lock:
            self._pending += 1
        self._utterances.put(utterance)
        self._update_state()

    def _done_one(self) -> None:
        with self._lock:
            self._pending = max(0, self._pending - 1)
        self._update_state()

    def is_speaking(self) -> bool:
        return self._speaking or time.perf_counter() < self._speaking_until

    # -- stage 2: STT and the engine -------------------------------------------------
    def _turn_worker(self) -> None:
        number = 0
        while (utterance := self._utterances.get()) is not None:
            timings = TurnTimings(speech_end=utterance.speech_end)
            handed_over = False
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
                self._current = turn
                self.on_notice(f"you: {transcript.text}")
                for event in self.runtime.engine.respond(transcript.text, timings, cancel=turn.cancel):
                    if isinstance(event, Retrieved):
                        turn.retrieved = event
                    elif isinstance(event, Sentence):
                        self._speech.put(_Speak(turn, event.text))
                    elif isinstance(event, ReplyDone):
                        turn.reply, turn.cancelled = event.text, event.cancelled
                self._speech.put(_EndOfReply(turn))
                handed_over = True
            except AssistantError as e:
                log.error("%s", e)
                self.on_notice(f"error: {e}")
            except Exception:  # a bug in one turn must not end the loop
                log.exception("turn failed")
                self.on_notice("error: this turn failed; details are in the log")
            finally:
                if not handed_over:
                    self._done_one()

    # -- stage 3: TTS and playback ----------------------------------------------------
    def _speech_worker(self) -> None:
        while (item := self._speech.get()) is not None:
            try:
                if isinstance(item, _Speak):
                    if item.turn is not None and item.turn.cancel.is_set():
                        continue
                    audio = self.runtime.tts.synthesize(item.text)
                    if item.turn is not None:
                        item.turn.timings.mark("first_sentence_synth")
                    if len(audio):
                        self._speaking = True
                        self._update_state()
                        if item.turn is not None:
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
                if isinstance(item, _EndOfReply):
                    self._done_one()
                else:
                    self._update_state()

    def _finish(self, turn: _Turn) -> None:
        self.turns += 1
        if self._current is turn:
            self._current = None
        retrieved = turn.retrieved or Retrieved([], [])
        record = TurnRecord(
            turn=turn.number, transcript=turn.transcript, reply=turn.reply,
            memories=[h.as_dict() for h in retrieved.memories],
            skill_docs=[d.as_dict() for d in retrieved.docs],
            latency_ms=turn.timings.relative_ms(),
            input_position_s=round(turn.utterance.stream_end_s, 2)
            if turn.utterance is not None and not self.source.live else None,
            interrupted=turn.cancelled or turn.cancel.is_set())
        log.info("turn %d: %s", turn.number, turn.timings.summary())
        self.last_turn = record
        self.metrics.write(record)
        self.on_turn(record)
