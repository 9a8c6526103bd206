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
from typing import TYPE_CHECKING, Callable, Protocol

from audio.capture import AudioSource
from audio.playback import AudioSink
from audio.stt import Transcript
from audio.vad import Endpointer, Pause, Utterance

from .engine import Acted, ReplyDone, ReplySlot, Retrieved, Sentence
from .errors import AssistantError
from .limits import fit_transcript
from .wake import find_wake
from .metrics import MetricsWriter, TurnRecord, TurnTimings

if TYPE_CHECKING:
    from audio.stt import Transcriber
    from audio.tts import Synthesizer
    from skills.reminders import Announcer

    from .config import Config
    from .engine import Engine

log = logging.getLogger(__name__)

SPEAKING_TAIL_S = 0.3   # the room still rings briefly after playback
MAX_HOLD_S = 2.0        # the LLM waits at most this long for a sentence's synthesis
ANNOUNCE_POLL_S = 0.25  # how often, between turns, due reminders are checked
FACT_KEYS_RETRY_S = 60.0  # after finding no turn left to read fact keys for, look again this much later
                          # (sooner if a turn is stored meanwhile; the wait covers turns imported)


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
    spoken: list[str] = field(default_factory=list)   # what the speaker really played
    cut: bool = False
    skill: dict | None = None
    slot: ReplySlot | None = None     # where the engine keeps the reply's place in memory


@dataclass
class _Speak:
    turn: _Turn | None          # None: an announcement or `say`, not part of a turn
    text: str
    reminder: str | None = None  # the id of the reminder this announces: done once delivered


@dataclass
class _EndOfReply:
    turn: _Turn


_TRAILING_WORDS = {"and", "or", "but", "the", "a", "an", "to", "of", "my", "your", "in", "on", "at",
                   "for", "with", "is", "are", "was", "that", "because", "so", "if", "when", "um", "uh"}


def looks_complete(text: str) -> bool:
    """A question, or a statement of four words or more that does not stop on a word that
    needs a continuation ("... my sister and"). Whisper punctuates what it hears as done."""
    words = text.rstrip(" .?!").split()
    if not words or words[-1].lower().strip(",") in _TRAILING_WORDS or text.rstrip().endswith(","):
        return False
    return text.rstrip().endswith("?") and len(words) >= 2 or text.rstrip().endswith((".", "!")) and len(words) >= 4


class LoopRuntime(Protocol):
    """What a voice loop reads from its runtime: ``assistant.runtime.Runtime`` on this
    computer, a satellite's ``RoomRuntime`` (its own session, no reminders) in a room."""

    @property
    def cfg(self) -> Config: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def stt(self) -> Transcriber: ...

    @property
    def tts(self) -> Synthesizer: ...

    @property
    def announcer(self) -> Announcer | None: ...    # None: reminders are spoken elsewhere


class State:
    IDLE, LISTENING, THINKING, SPEAKING = "idle", "listening", "thinking", "speaking"


@dataclass
class VoiceLoop:
    runtime: LoopRuntime
    source: AudioSource
    sink: AudioSink
    on_turn: Callable[[TurnRecord], None] = lambda record: None
    on_notice: Callable[[str], None] = lambda text: None
    on_state: Callable[[str], None] = lambda state: None
    on_announcement: Callable[[str], None] = lambda text: None
    on_unplayed: Callable[[str], None] = lambda text: None   # said with no speaker to hear it
    metrics: MetricsWriter = field(default_factory=lambda: MetricsWriter(None))
    turns: int = 0
    muted: bool = False
    state: str = State.IDLE
    last_turn: TurnRecord | None = None
    _speaking_until: float = 0.0
    _speaking: bool = False
    _listen_once: bool = False
    _current: _Turn | None = None
    _follow_up_until: float = 0.0
    listen_mode: str | None = None        # overrides audio.listen_mode (control socket, --listen-mode)
    barge_ins: int = 0
    barge_in_stop_ms: float | None = None   # detection → playback stopped, for the last barge-in
    _barge_in_at: float = 0.0

    def __post_init__(self) -> None:
        self.endpointer = self._new_endpointer()
        self._utterances: queue.Queue[Utterance | Pause | None] = queue.Queue()
        self._speech: queue.Queue[_Speak | _EndOfReply | None] = queue.Queue()
        self._writes: queue.Queue[tuple[str, str, ReplySlot | None] | None] = queue.Queue()
        self._pending = 0                 # utterances and replies not yet fully spoken
        self._prefill_due = True          # read the prompt's known start before the first turn
        self._active_at = time.monotonic()    # the last utterance or reply: fact keys wait for quiet
        self._keys_not_before = 0.0      # none were left to read: wait till then, or a new turn
        self._keys_none_after = -1.0     # engine.last_turn_at when none were left
        self._lock = threading.Lock()
        self._synthesized = threading.Event()   # set while no sentence is being synthesised
        self._synthesized.set()
        self.announcer = self.runtime.announcer

    @property
    def mode(self) -> str:
        return self.listen_mode or self.runtime.cfg.audio.listen_mode

    @property
    def gate_mic(self) -> bool:
        """Drop the mic while speaking: live input, and no echo canceller or headset.
        A sink that plays nowhere makes no echo, so nothing is dropped for it."""
        return self.source.live and self.audible and self.runtime.cfg.audio.echo_handling == "gate"

    # -- control, from any thread -----------------------------------------------------
    def stop(self) -> None:
        """End the loop: the current reply is cut, queued work is finished."""
        self.interrupt()
        self.source.stop()

    def mute(self, muted: bool = True) -> None:
        self.muted = muted
        self._update_state()

    def listen(self) -> None:
        """Push-to-talk: take the next utterance, even while muted or without the wake phrase."""
        self._listen_once = True

    def say(self, text: str) -> None:
        """Speak text outside any turn (announcements, the `say` command)."""
        from .sentences import split_all
        for sentence in split_all(text):
            self._speech.put(_Speak(None, sentence))

    def prefill_soon(self) -> None:
        """The conversation changed outside a voice turn (a typed `ask`): prefill again."""
        self._prefill_due = True

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
            elif item.reminder is not None:
                self._reminder_not_heard(item)     # dropped unheard: it stays due
        for item in kept:
            self._speech.put(item)
        self.sink.interrupt()

    def _new_endpointer(self) -> Endpointer:
        vad = self.runtime.cfg.vad
        return Endpointer(vad, speculative_ms=vad.speculative_ms,
                          checkpoint_ms=vad.checkpoint_ms if vad.speculative_ms else 0)

    def reset_endpointer(self) -> None:
        self.endpointer = self._new_endpointer()

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
        writer = threading.Thread(target=self._memory_writer, name="memory-writer", daemon=True)
        turn_worker.start()
        speech_worker.start()
        writer.start()
        try:
            for frame in self.source.frames():
                closed = (self.muted or self.mode == "push_to_talk") and not self._listen_once
                speaking = self.is_speaking()
                if closed or (speaking and self.gate_mic):
                    if self.endpointer.in_speech:
                        self.endpointer.reset()      # never hear our own voice
                    continue
                was_in_speech = self.endpointer.in_speech
                utterance = self.endpointer.feed(frame)
                if (speaking and self.source.live
                        and self.endpointer.voiced_ms >= self.runtime.cfg.audio.barge_in_min_speech_ms):
                    self._barge_in()
                if isinstance(utterance, Pause):
                    self._utterances.put(utterance)
                elif utterance is not None:
                    utterance.addressed = self._listen_once   # cleared once its words are accepted
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
            self._writes.put(None)
            writer.join()
            self.sink.close()
        return self.turns

    def _barge_in(self) -> None:
        """The user talks over the reply: stop the voice and the LLM, keep listening."""
        if self._current is None and self._speech.empty() and not self._speaking:
            return
        self.barge_ins += 1
        self._barge_in_at = time.perf_counter()
        log.info("barge-in: stopping the reply")
        self.interrupt()
        if not self._speaking:           # nothing was playing: stopped already
            self.barge_in_stop_ms = 0.0
        self._speaking_until = 0.0

    def _enqueue(self, utterance: Utterance) -> None:
        with self._lock:
            self._pending += 1
        self._active_at = time.monotonic()
        self._utterances.put(utterance)
        self._update_state()

    def _done_one(self) -> None:
        with self._lock:
            self._pending = max(0, self._pending - 1)
        self._update_state()

    def is_speaking(self) -> bool:
        return self._speaking or time.perf_counter() < self._speaking_until

    # -- stage 2: STT and the engine -------------------------------------------------
    def _announce_due(self) -> None:
        """Queue what fell due. A reminder is claimed, not done: it is marked done only
        once delivered (see ``_delivered``), and released to come due again if not."""
        if self.announcer is None:
            return
        try:
            for due in self.announcer.claim():
                log.info("announcing: %s", due.text)
                self._speech.put(_Speak(None, due.text, reminder=due.id))
        except Exception:   # a broken reminders file must not stop the conversation
            log.exception("checking reminders failed")

    @property
    def audible(self) -> bool:
        """False when the sink plays nowhere (the daemon found no speaker)."""
        return getattr(self.sink, "audible", True)

    def _delivered(self, item: _Speak, heard: bool) -> None:
        """A reminder reached the user: by voice, or with no speaker by a desktop
        notification, the log and the ``on_announcement`` callback (an event on the
        daemon's socket). Only then is it done."""
        if not heard:
            from .notify import desktop_notification
            shown = desktop_notification("Reminder", item.text)
            log.warning("reminder not heard (no speaker)%s: %s", "; shown as a notification" if shown else "",
                        item.text)
        self.on_announcement(item.text)
        if self.announcer is None or item.reminder is None:
            return
        try:
            self.announcer.delivered(item.reminder)
        except Exception:
            log.exception("could not mark reminder %s done", item.reminder)

    def _reminder_not_heard(self, item: _Speak) -> None:
        """Cut short or dropped (a barge-in): the reminder comes due again shortly."""
        log.info("reminder %s was not heard in full; it stays due", item.reminder)
        if self.announcer is None or item.reminder is None:
            return
        try:
            self.announcer.release(item.reminder)
        except Exception:
            log.exception("could not release reminder %s", item.reminder)

    def _next_item(self) -> Utterance | Pause | None:
        """The next utterance or pause; while waiting for it, announce what falls due and
        read the next prompt's start into the LLM (see ``LocalLLM.prefill``)."""
        while True:
            self._announce_due()
            if self._prefill_due and self._utterances.empty():
                self._prefill_due = False
                self._prefill()
            elif self._fact_keys_due():
                self._read_fact_keys()
            try:
                return self._utterances.get(timeout=ANNOUNCE_POLL_S)
            except queue.Empty:
                continue

    def _quiet(self) -> bool:
        """Nobody speaks, nothing is said or waiting to be: background LLM work may run."""
        return (self._utterances.empty() and not self._pending and not self._speaking
                and not self.endpointer.in_speech and self._synthesized.is_set() and self._speech.empty())

    def _fact_keys_due(self) -> bool:
        memory = self.runtime.cfg.memory
        now = time.monotonic()
        last_turn = self.runtime.engine.last_turn_at
        return (memory.fact_keys and (now >= self._keys_not_before or last_turn > self._keys_none_after)
                and now - max(self._active_at, last_turn) >= memory.fact_keys_after_s
                and self._quiet())

    def _read_fact_keys(self) -> None:
        """One turn's fact keys (memory.fact_keys), read while the room is quiet: it stops
        the moment someone speaks, and the turn finds the conversation's prompt still read."""
        try:
            done = self.runtime.engine.read_fact_keys(should_stop=lambda: not self._quiet())
        except Exception as e:   # background work: never fatal, and said in one line
            log.warning("reading fact keys failed (%s); trying again in %.0f s",
                        (str(e).splitlines() or [e.__class__.__name__])[0][:160], FACT_KEYS_RETRY_S)
            done = 0
        if not done and self._quiet():   # none left (not stopped by speech): look again later
            self._keys_not_before = time.monotonic() + FACT_KEYS_RETRY_S
            self._keys_none_after = self.runtime.engine.last_turn_at

    def _prefill(self) -> None:
        try:
            self.runtime.engine.prefill(should_stop=lambda: not self._utterances.empty())
        except Exception:        # only an advance on work the turn would do: never fatal
            log.exception("prefill failed")

    def _turn_worker(self) -> None:
        number = 0
        speculative: dict[int, tuple[int, Transcript]] = {}
        while (item := self._next_item()) is not None:
            if isinstance(item, Pause):
                self._transcribe_pause(item, speculative)
                continue
            utterance = item
            timings = TurnTimings(speech_end=utterance.speech_end)
            handed_over = False
            try:
                cached = speculative.pop(utterance.id, None)
                if cached is not None and cached[0] == utterance.voiced_ms:
                    transcript = cached[1]          # nothing was said after the pause
                else:
                    transcript = self.runtime.stt.transcribe(utterance.audio)
                speculative.clear()
                timings.mark("transcript_ready")
                if not transcript.accepted:
                    log.info("ignored %.1f s of audio: %s (no_speech=%.2f logprob=%.2f)",
                             utterance.duration_s, transcript.dropped, transcript.no_speech_prob,
                             transcript.avg_logprob)
                    continue
                if utterance.addressed:
                    self._listen_once = False           # push-to-talk: this was the utterance
                text = self._addressed(utterance.addressed, transcript.text)
                if text is None:
                    log.info("not addressed (listen mode %s): %r", self.mode, transcript.text)
                    continue
                text = fit_transcript(text)          # a transcript is cut to fit, never refused
                if not text:
                    self.say("Yes?")                 # just the name: ready for the request
                    self._follow_up_until = time.monotonic() + self.runtime.cfg.audio.follow_up_s + 5
                    continue
                number += 1
                turn = _Turn(number, utterance, timings, transcript=text)
                self._current = turn
                self.on_notice(f"you: {text}")
                for event in self.runtime.engine.respond(text, timings, cancel=turn.cancel,
                                                         store_reply=False, hold=self._voice_free):
                    if isinstance(event, Retrieved):
                        turn.retrieved = event
                    elif isinstance(event, Acted):
                        turn.skill = event.action.as_dict()
                    elif isinstance(event, Sentence):
                        self._speech.put(_Speak(turn, event.text))
                    elif isinstance(event, ReplyDone):
                        turn.reply, turn.cancelled, turn.slot = event.text, event.cancelled, event.slot
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
                    self.runtime.engine.discard_speculation()    # frees the LLM the early reply holds
                    self._done_one()

    def _voice_free(self) -> None:
        """Before each LLM token: wait while the voice synthesises a sentence. On two cores
        the two slow each other (the first sentence took ~190 instead of ~120 ms to
        synthesise while the LLM wrote on); the LLM writes far faster than speech plays,
        so holding it costs the reply nothing."""
        self._synthesized.wait(MAX_HOLD_S)

    def _addressed(self, addressed: bool, text: str) -> str | None:
        """The request in ``text`` if it is meant for the assistant, else None.
        ``addressed``: taken after a push-to-talk `listen`, so no wake phrase is needed."""
        if self.mode != "wake" or addressed or time.monotonic() < self._follow_up_until:
            return text
        return find_wake(text, self.runtime.cfg.llm.assistant_name)

    def _transcribe_pause(self, pause: Pause, speculative: dict) -> None:
        """STT while the trailing silence runs; end the utterance early if it is complete."""
        if not self._utterances.empty():
            return                     # the utterance already ended: no time to gain
        started = time.perf_counter()
        try:
            transcript = self.runtime.stt.transcribe(pause.audio)
        except Exception:
            log.exception("speculative transcription failed")
            return
        log.debug("pause in utterance %d, %.0f ms after speech: %r in %.0f ms", pause.utterance_id,
                  (time.perf_counter() - pause.speech_end) * 1000, transcript.text,
                  (time.perf_counter() - started) * 1000)
        speculative.clear()
        speculative[pause.utterance_id] = (pause.voiced_ms, transcript)
        if not transcript.accepted:
            return
        if (not pause.checkpoint and self.runtime.cfg.vad.adaptive_endpoint
                and looks_complete(transcript.text)):
            self.endpointer.end_now(pause.utterance_id, pause.voiced_ms)
        if request := self._addressed(self._listen_once, transcript.text):
            self._prepare(request, pause)       # the rest of the silence reads the turn's prompt

    def _prepare(self, text: str, pause: Pause) -> None:
        """Begin the turn during the pause: notes, prompt, first sentence, and its audio.

        It stops when the utterance ends (the turn carries on from there). If the user
        speaks again, the prompt is still read (the notes found for the words so far are
        mostly those of the whole request, so the turn finds them already read) but no
        reply is written: the next pause would wait for it."""
        def ended() -> bool:
            return not self._utterances.empty()

        def moved_on() -> bool:
            return ended() or self.endpointer.voiced_ms != pause.voiced_ms
        try:
            started = time.perf_counter()
            first = self.runtime.engine.prepare(text, should_stop=ended, write_while=lambda: not moved_on())
            if first and not moved_on():
                self.runtime.tts.prepare(first)
            log.debug("turn begun early in %.0f ms; first sentence %r%s", (time.perf_counter() - started) * 1000,
                      first, "" if self._utterances.empty() else " (utterance ended meanwhile)")
        except Exception:
            log.exception("speculative start of the turn failed")


    # -- stage 3: TTS and playback ----------------------------------------------------
    def _speech_worker(self) -> None:
        while (item := self._speech.get()) is not None:
            try:
                if isinstance(item, _Speak):
                    if item.turn is not None and item.turn.cancel.is_set():
                        continue
                    self._play(item)
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

    def _play(self, item: _Speak) -> None:
        """Synthesise and play one sentence; a reminder's fate follows what was heard."""
        played, total = 0, 0
        failed = True
        try:
            self._synthesized.clear()
            try:
                audio = self.runtime.tts.synthesize(item.text)
            finally:
                self._synthesized.set()
            total = len(audio)
            if item.turn is not None:
                item.turn.timings.mark("first_sentence_synth")
            if total:
                self._speaking = True
                self._update_state()
                if item.turn is not None:
                    item.turn.timings.mark("first_audio")
                played = self.sink.write(audio)
                played = total if played is None else played     # a sink that does not count
            failed = False
        finally:
            if item.reminder is not None:
                if failed or not self.audible:
                    self._delivered(item, heard=False)    # no voice: notification, log, event
                elif played >= total:
                    self._delivered(item, heard=True)
                else:
                    self._reminder_not_heard(item)
            elif not self.audible and total:
                self.on_unplayed(item.text)
        if total:
            if played < total and self._barge_in_at:
                self.barge_in_stop_ms = round((time.perf_counter() - self._barge_in_at) * 1000, 1)
                log.info("playback stopped %.0f ms after the barge-in", self.barge_in_stop_ms)
            if item.turn is not None:
                self._record_played(item.turn, item.text, played, total)

    @staticmethod
    def _record_played(turn: _Turn, text: str, played: int, total: int) -> None:
        if played >= total:
            turn.spoken.append(text)
            return
        words = text.split()
        heard = words[:round(len(words) * played / max(total, 1))]
        if heard:
            turn.spoken.append(" ".join(heard))
        turn.cut = True

    def _memory_writer(self) -> None:
        """Store replies off the speech path: a slow disk never delays the next sentence."""
        while (item := self._writes.get()) is not None:
            role, text, slot = item
            try:
                self.runtime.engine.remember(role, text, slot=slot)
            except Exception:
                log.exception("could not store the reply")
            self._prefill_due = True     # the history changed: the next prompt's start is known

    def _finish(self, turn: _Turn) -> None:
        self.turns += 1
        if self._current is turn:
            self._current = None
        interrupted = turn.cut or turn.cancelled or turn.cancel.is_set()
        stored = " ".join(turn.spoken) + (" [interrupted]" if interrupted else "")
        if stored.strip():
            self._writes.put(("assistant", stored.strip(), turn.slot))
        turn.reply = " ".join(turn.spoken) if interrupted else turn.reply
        self._follow_up_until = self._active_at = time.monotonic() + self.runtime.cfg.audio.follow_up_s
        retrieved = turn.retrieved or Retrieved([], [])
        record = TurnRecord(
            turn=turn.number, transcript=turn.transcript, reply=turn.reply,
            memories=[h.as_dict() for h in retrieved.memories],
            skill_docs=[d.as_dict() for d in retrieved.docs],
            latency_ms=turn.timings.relative_ms(),
            input_position_s=round(turn.utterance.stream_end_s, 2)
            if turn.utterance is not None and not self.source.live else None,
            interrupted=interrupted, skill=turn.skill, prompt_tokens=turn.timings.prompt_tokens,
            prompt_read=turn.timings.prompt_tokens - turn.timings.prompt_cached)
        log.info("turn %d: %s", turn.number, turn.timings.summary())
        self.last_turn = record
        self.metrics.write(record)
        self.on_turn(record)
