"""The long-lived service: the voice loop on the real devices, a control socket, live config.

    main thread: signals, config watch, watchdog     voice thread: VoiceLoop.run()
    control threads: one per client (assistant/control.py)

SIGTERM/SIGINT end it cleanly (the turn in flight is cut, memory flushed, socket and
lock removed); SIGHUP reloads the config. A config edit that does not validate is
reported in the log and in `status`, and the daemon carries on with the last good one.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import Config, load_config
from .control import ControlServer, ProtocolError, text_arg
from .errors import AssistantError, ConfigError
from .instance import InstanceLock
from .paths import DEFAULT_CONFIG_FILE, AppPaths
from .runtime import Runtime
from .systemd import sd_notify, watchdog_interval_s
from .voice_loop import VoiceLoop

log = logging.getLogger(__name__)

CONFIG_POLL_S = 0.5
# How often freed native memory goes back to the system (assistant/memtrim.py); 0 = never
# (ASSISTANT_MALLOC_TRIM_S, for benchmarks/soak.py's comparison).
TRIM_EVERY_S = float(os.environ.get("ASSISTANT_MALLOC_TRIM_S", "30"))


class SilentSource:
    """Stands in for a microphone when there is none: the daemon still serves its socket,
    and a recording given with ``hear`` (the socket's ``hear``) is heard as if spoken,
    followed by silence, so a voice turn runs without any audio device."""

    live = True
    device_name = "(no microphone)"
    TAIL_S = 1.5             # silence after a recording: the endpointer closes the utterance

    def __init__(self, frame_ms: int = 30) -> None:
        self._stop = threading.Event()
        self._heard: "queue.Queue[np.ndarray]" = queue.Queue()
        self.frame_samples = 16000 * frame_ms // 1000

    def hear(self, audio_int16: np.ndarray) -> None:
        self._heard.put(audio_int16)

    def frames(self) -> Iterator[np.ndarray]:
        from audio.vad import frames_of
        tail = np.zeros(int(self.TAIL_S * 16000), np.int16)
        while not self._stop.is_set():
            try:
                audio = self._heard.get(timeout=0.2)
            except queue.Empty:
                continue
            for frame in frames_of(np.concatenate([audio, tail]), self.frame_samples):
                if self._stop.is_set():
                    return
                yield frame

    def stop(self) -> None:
        self._stop.set()


class SilentSink:
    """Stands in for a speaker when none can be opened: takes every sample (nothing is
    interrupted), but is not ``audible``, so the voice loop reports what went unheard
    and delivers reminders another way."""

    audible = False

    def __init__(self, reason: str = "no speaker") -> None:
        self.reason = reason

    def write(self, samples) -> int:
        return len(samples)

    def gap(self, seconds: float) -> None: ...
    def interrupt(self) -> None: ...
    def close(self) -> None: ...


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


class Daemon:
    def __init__(self, cfg: Config, paths: AppPaths, config_file: Path, config_required: bool) -> None:
        self.cfg, self.paths = cfg, paths
        self.config_file, self.config_required = config_file, config_required
        self.config_errors: list[str] = []
        self.config_actions: list[str] = []
        self.started = time.time()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._reload_lock = threading.Lock()
        self._lock = InstanceLock(paths.lock_file)
        self.runtime: Runtime | None = None
        self.wyoming = None             # the Wyoming server, when [wyoming] uri is set
        self.rooms = None               # satellites, when [wyoming] satellites lists any
        self.wyoming_error = ""
        self.loop: VoiceLoop | None = None
        self.server: ControlServer | None = None
        self.text_turns = 0           # asks through the socket, besides the voice loop's turns

    # -- lifecycle ------------------------------------------------------------------
    def run(self) -> int:
        self._lock.acquire()
        try:
            return self._serve()
        finally:
            self._shutdown()

    def _serve(self) -> int:
        started = time.perf_counter()
        sd_notify("STATUS=loading models")
        self.runtime = rt = Runtime(self.cfg, self.paths, quiet=True, config_file=self.config_file)
        rt.load(stt=True, tts=True, engine=True)
        rt.watch_knowledge()
        self.loop = VoiceLoop(rt, self._open_source(), self._open_sink(), on_turn=self._on_turn,
                              on_state=self._on_state, on_notice=lambda text: log.info("%s", text),
                              on_announcement=self._on_announcement, on_unplayed=self._on_unplayed)
        self._start_wyoming(rt)          # before the socket: once `ping` answers, Wyoming serves too
        self.server = ControlServer(self.paths.socket, self._handlers())
        self.server.serve_in_background()
        self._voice = voice = threading.Thread(target=self._run_voice, name="voice", daemon=True)
        voice.start()
        self._install_signals()
        ready_s = time.perf_counter() - started
        log.info("ready in %.2f s; control socket %s", ready_s, self.paths.socket)
        sd_notify(f"READY=1\nSTATUS=listening on {getattr(self.loop.source, 'device_name', '?')}")
        self.ready_s = ready_s
        watchdog = watchdog_interval_s()
        config_stamp = self._config_stamp()
        next_ping = 0.0
        next_trim = time.monotonic() + TRIM_EVERY_S
        while not self._stop.wait(CONFIG_POLL_S):
            now = time.monotonic()
            if TRIM_EVERY_S > 0 and now >= next_trim and self.loop.state == "idle":
                from .memtrim import release_freed_memory
                release_freed_memory()
                next_trim = now + TRIM_EVERY_S
            if watchdog and now >= next_ping and voice.is_alive():
                sd_notify("WATCHDOG=1")
                next_ping = now + watchdog
            stamp = self._config_stamp()
            if stamp != config_stamp or self._reload.is_set():
                config_stamp = stamp
                self._reload.clear()
                self.reload()
            if not voice.is_alive():
                log.error("the voice loop stopped; shutting down")
                return 1
        return 0

    def _start_wyoming(self, rt: Runtime) -> None:
        """[wyoming]: serve Home Assistant and run a voice loop per satellite (a failure is
        logged and shown by `status`; the local voice loop and the socket go on)."""
        w = self.cfg.wyoming
        if w.uri:
            from .cli_wyoming import build_server
            try:
                self.wyoming = build_server(rt, w.uri, tuple(w.services), w.zeroconf, load=False)
                self.wyoming.start()
            except AssistantError as e:
                self.wyoming, self.wyoming_error = None, str(e)
                log.error("%s", e)
        if w.satellites:
            from .wyoming_service.satellite import Rooms
            self.rooms = Rooms(rt, w.satellites,
                               on_turn=lambda room, record: self._publish("turn", {**asdict(record), "room": room}),
                               on_state=lambda room, state: self._publish("state", {"state": state, "room": room}))
            self.rooms.start()

    def _run_voice(self) -> None:
        try:
            self.loop.run()
        except Exception:
            log.exception("voice loop failed")
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self.loop is not None:
            self.loop.stop()

    def _shutdown(self) -> None:
        sd_notify("STOPPING=1")
        if self.loop is not None:
            self.loop.stop()
            voice = getattr(self, "_voice", None)
            if voice is not None:
                voice.join(timeout=15)      # the turn in flight is cut, then stored
        if self.server is not None:
            self.server.close()
        if self.rooms is not None:
            self.rooms.stop()
        if self.wyoming is not None:
            self.wyoming.stop()
        watcher = self.runtime.__dict__.get("knowledge_watcher") if self.runtime else None
        if watcher is not None:
            watcher.stop()
        store = self.runtime.__dict__.get("store") if self.runtime else None
        if store is not None and hasattr(store, "flush"):
            store.flush()
        self._lock.release()
        log.info("stopped")

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    def _open_source(self):
        from audio.capture import MicSource, has_input_device
        if self.cfg.audio.echo_handling == "aec":
            from audio.echo import ensure_echo_cancel
            ensure_echo_cancel()
        if not has_input_device(self.cfg.audio.input_device):
            log.warning("no microphone found; voice input is off (the control socket still works)")
            return SilentSource(self.cfg.vad.frame_ms)
        return MicSource(self.cfg.audio.input_device, self.cfg.vad.frame_ms)

    def _open_sink(self):
        from audio.playback import SpeakerSink
        try:
            return SpeakerSink(self.runtime.tts.sample_rate, self.cfg.audio.output_device)
        except AssistantError as e:
            log.warning("%s; replies will not be heard, reminders go to notifications and the log", e)
            return SilentSink(str(e))

    # -- configuration --------------------------------------------------------------
    def _config_stamp(self) -> tuple:
        return (_mtime(self.config_file), _mtime(DEFAULT_CONFIG_FILE))

    def reload(self) -> dict:
        """Validate the config files and apply what changed; keep the last good config on error."""
        with self._reload_lock:
            return self._reload_config()

    def _reload_config(self) -> dict:
        try:
            new = load_config(self.config_file, required=self.config_required)
        except ConfigError as e:
            self.config_errors = [str(e)]
            log.error("%s (still running on the last good config)", e)
            self._publish("config", {"ok": False, "error": str(e)})
            return {"ok": False, "error": str(e)}
        try:
            actions = self.runtime.reconfigure(new)
        except AssistantError as e:
            self.config_errors = [str(e)]
            log.error("%s (still running on the last good config)", e)
            self._publish("config", {"ok": False, "error": str(e)})
            return {"ok": False, "error": str(e)}
        if new.vad != self.cfg.vad:
            self.loop.reset_endpointer()
            actions.append("vad settings applied")
        self.cfg = new
        self.config_errors = []
        self.config_actions = actions
        if actions:
            log.info("config reloaded: %s", "; ".join(actions))
        self._publish("config", {"ok": True, "applied": actions})
        return {"ok": True, "applied": actions}

    # -- events and control ---------------------------------------------------------
    def _publish(self, event: str, data) -> None:
        if self.server is not None:
            self.server.events.publish(event, data)

    def _on_state(self, state: str) -> None:
        self._publish("state", {"state": state})

    def _on_turn(self, record) -> None:
        self._publish("turn", asdict(record))

    def _on_announcement(self, text: str) -> None:
        self._publish("announcement", {"text": text, "heard": self._audible()})

    def _on_unplayed(self, text: str) -> None:
        log.warning("not played (no speaker): %s", text)
        self._publish("unplayed", {"text": text, "reason": self._no_speaker()})

    def _audible(self) -> bool:
        return self.loop is not None and self.loop.audible

    def _no_speaker(self) -> str:
        reason = getattr(self.loop.sink, "reason", "no speaker") if self.loop else "not started"
        return (f"nothing was played: {reason.split(';')[0]}; set audio.output_device to a working "
                "speaker and restart, or use --output FILE.wav")

    def status(self) -> dict:
        from models.resolve import describe

        from .storage import remote_status
        loop = self.loop
        return {
            "state": loop.state if loop else "starting",
            "muted": loop.muted if loop else False,
            "listen_mode": loop.mode if loop else None,
            "barge_ins": loop.barge_ins if loop else 0,
            "barge_in_stop_ms": loop.barge_in_stop_ms if loop else None,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "ready_s": round(getattr(self, "ready_s", 0.0), 2),
            "input": getattr(loop.source, "device_name", None) if loop else None,
            "turns": (loop.turns if loop else 0) + self.text_turns,
            "voice_turns": loop.turns if loop else 0,
            "text_turns": self.text_turns,
            "speaker": self._audible(),
            "last_turn_latency_ms": loop.last_turn.latency_ms if loop and loop.last_turn else None,
            "models": [describe(self.cfg, s, self.paths.model_cache, verify=False).as_dict()
                       for s in ("stt", "llm", "tts", "embeddings")],
            "wyoming": ({"uri": str(self.wyoming.endpoint), "clients": self.wyoming.clients,
                         "served": self.wyoming.served} if self.wyoming else
                        {"error": self.wyoming_error} if self.wyoming_error else None),
            "satellites": self.rooms.status() if self.rooms else [],
            "config_file": str(self.config_file),
            "config_errors": self.config_errors,
            "config_applied": self.config_actions,
            "settings": {"tts.speed": self.cfg.tts.speed, "llm.temperature": self.cfg.llm.temperature,
                         "tts.voice": self.cfg.tts.voice, "stt.model": self.cfg.stt.model},
            **(remote_status(self.runtime) if getattr(self, "runtime", None) else {}),
        }

    def _handlers(self) -> dict:
        loop, rt = self.loop, self.runtime

        def output_arg(args) -> Path | None:
            value = args.get("output")
            if value is None:
                return None
            if not isinstance(value, str) or not value.strip() or not os.path.isabs(value):
                raise ProtocolError("\"output\" must be an absolute path to a .wav file")
            return Path(value)

        def speak(text: str, output: Path | None) -> dict:
            """Say ``text`` on the speaker, or write it to ``output``; one error if neither can be."""
            if output is not None:
                from audio.playback import WavSink
                sink = WavSink(output, rt.tts.sample_rate)
                sink.write(rt.tts.synthesize(text))
                sink.close()
                return {"output": str(output)}
            if not loop.audible:
                raise AssistantError(self._no_speaker())
            loop.say(text)
            return {"spoken": True}

        def ask(args):
            from .engine import Acted, ReplyDone, Retrieved
            text, output = text_arg(args), output_arg(args)
            voiced = bool(args.get("speak", False)) or output is not None
            reply, memories, knowledge, skill = "", [], [], None
            for event in rt.engine.respond(text):
                if isinstance(event, Retrieved):
                    memories = [h.as_dict() for h in event.memories]
                    knowledge = [h.as_dict() for h in event.knowledge]
                elif isinstance(event, Acted):
                    skill = event.action.as_dict()
                elif isinstance(event, ReplyDone):
                    reply = event.text
            self.text_turns += 1
            loop.prefill_soon()         # the history changed: read the next prompt's start while idle
            result = {"question": text, "reply": reply, "memories": memories, "knowledge": knowledge,
                      "skill": skill}
            if voiced and reply:
                try:
                    result.update(speak(reply, output))
                except AssistantError as e:          # the reply stands; say what was not heard
                    result.update({"spoken": False, "not_spoken": str(e)})
            return result

        def hear(args):
            """A recording heard as if from the microphone (a daemon without one): voice turns
            with no audio device, for tests and the soak benchmark."""
            from audio.wavio import read_audio, to_int16
            if not isinstance(loop.source, SilentSource):
                raise ProtocolError("this daemon listens to a microphone; 'hear' is for a daemon without one")
            value = args.get("wav")
            if not isinstance(value, str) or not os.path.isabs(value):
                raise ProtocolError("\"wav\" must be an absolute path to a WAV recording")
            audio = to_int16(read_audio(value))
            loop.source.hear(audio)
            return {"queued_s": round(len(audio) / 16000, 2)}

        def say(args):
            text = text_arg(args)
            return {"said": text, **speak(text, output_arg(args))}

        def memory_search(args):
            query = text_arg(args, "query")
            k = args.get("k", 10)
            if not isinstance(k, int) or not 1 <= k <= 100:
                raise ProtocolError("\"k\" must be an integer from 1 to 100")
            return [h.as_dict() for h in rt.engine.memory.search(query, k, min_relevance=-10.0)]

        def mode(args):
            value = args.get("mode")
            if value not in ("wake", "conversation", "push_to_talk"):
                raise ProtocolError("\"mode\" must be one of: wake, conversation, push_to_talk")
            loop.listen_mode = value
            return {"mode": value}

        def mute(_args, value=True):
            loop.mute(value)
            return {"muted": value}

        return {
            "ping": lambda args: "pong",
            "status": lambda args: self.status(),
            "say": say,
            "hear": hear,
            "ask": ask,
            "listen": lambda args: loop.listen() or {"listening": True},
            "mute": mute,
            "unmute": lambda args: mute(args, False),
            "stop": lambda args: loop.interrupt() or {"stopped": True},
            "mode": mode,
            "reload": lambda args: self.reload(),
            "memory.search": memory_search,
            "shutdown": lambda args: self.stop() or {"stopping": True},
        }
