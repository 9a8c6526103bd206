"""The ``assistant`` command line: one entry point for every way of using the assistant.

Every failure a user can cause ends in a single line on stderr and a non-zero exit;
tracebacks go to the log file only.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import cli_reminders
from .errors import AssistantError

log = logging.getLogger("assistant")

DEMO_WAV = Path(__file__).resolve().parent / "data" / "demo_conversation.wav"


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error, with where to read more."""

    def error(self, message: str):
        self.exit(2, f"error: {message.splitlines()[0]}; see '{self.prog} --help'\n")


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Global options, accepted before or after the command. On subcommands their defaults
    are suppressed, so a value given before the command is not reset after it."""
    d = {"default": argparse.SUPPRESS} if suppress else {}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="your config.toml (default: the XDG config path)", **d)
    common.add_argument("--home", metavar="DIR", help="keep all state under DIR (or set ASSISTANT_HOME)", **d)
    common.add_argument("--json", action="store_true", help="print results as JSON", **d)
    common.add_argument("-v", "--verbose", action="store_true", help="log more to stderr", **d)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress messages", **d)
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    p = _Parser(prog="assistant", parents=[_common(suppress=False)],
                description="A private, local voice assistant with memory.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="the voice loop: microphone in, speaker out")
    run.add_argument("--input", metavar="WAV", help="read the 'microphone' from a recording")
    run.add_argument("--output", metavar="WAV", help="write what the assistant says to a WAV file")
    run.add_argument("--realtime", action="store_true", help="pace --input at real-time speed")
    run.add_argument("--metrics", metavar="FILE.jsonl", help="write one JSON object per turn")
    run.add_argument("--demo", action="store_true", help="run on the bundled demo recording")
    run.add_argument("--listen-mode", choices=["wake", "conversation", "push_to_talk"],
                     help="override audio.listen_mode (default for --input: conversation)")

    sub.add_parser("chat", parents=[common], help="a text conversation, same engine and memory")
    ask = sub.add_parser("ask", parents=[common], help="one turn: print the reply")
    ask.add_argument("text", help="the question or request, in quotes")
    ask.add_argument("--speak", action="store_true", help="also speak the reply")
    ask.add_argument("--output", metavar="WAV", help="write the spoken reply to a WAV file")

    tr = sub.add_parser("transcribe", parents=[common], help="speech to text for a recording")
    tr.add_argument("wav", help="a WAV file (any rate, mono or stereo)")
    say = sub.add_parser("say", parents=[common], help="speak text")
    say.add_argument("text", help="what to say, in quotes")
    say.add_argument("--output", metavar="WAV", help="write to a WAV file instead of the speaker")

    from . import cli_memory
    cli_memory.register(sub, common)

    from . import cli_daemon
    cli_daemon.add_parsers(sub, common)

    from . import cli_knowledge
    cli_knowledge.register(sub, common)

    models = sub.add_parser("models", parents=[common], help="which model each stage uses")
    models.add_argument("--no-verify", action="store_true", help="skip the checksum check")
    models.add_argument("--prepare", action="store_true", help="assemble the LLM now (once), with progress")
    doctor = sub.add_parser("doctor", parents=[common],
                            help="check every stage (LLM, STT, voice, embeddings, memory) in a child process")
    doctor.add_argument("--stage", action="append", choices=["build", "llm", "stt", "tts", "embeddings", "memory"],
                        help="check only this stage (repeatable)")
    cli_reminders.add_parser(sub, common)
    from . import cli_config
    cli_config.add_parser(sub, common)
    from . import cli_wyoming
    cli_wyoming.add_parser(sub, common)
    _describe_commands(p)
    return p


def _describe_commands(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's help line becomes its description (``assistant ask --help``),
    so every module registering a command gets it without repeating the text."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sub in action.choices.items():
            if sub.description is None and helps.get(name):
                sub.description = helps[name][0].upper() + helps[name][1:] + "."
            _describe_commands(sub)


def _report_native_crashes(log_file: Path) -> None:
    """A crash in native code (llama.cpp, ONNX Runtime) kills the process before Python can
    say anything: faulthandler writes the Python stack of that moment to the log, so the
    log shows which stage died; `assistant doctor` then names the fix."""
    import faulthandler
    try:
        faulthandler.enable(file=open(log_file, "a"), all_threads=True)   # kept open for the process's life
    except OSError:
        faulthandler.enable()


class Ctx:
    """What every command needs: parsed args, paths and the validated config."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .logs import setup_logging
        from .paths import resolve_paths
        self.args = args
        if args.home and Path(args.home).expanduser().exists() and not Path(args.home).expanduser().is_dir():
            raise AssistantError(f"--home {args.home} is a file, not a directory; give a directory "
                                 "(it is created if missing)")
        self.paths = resolve_paths(args.home)
        setup_logging(self.paths.log_file, args.verbose)
        if args.command != "daemon":      # the daemon's stderr is daemon.out or the journal
            _report_native_crashes(self.paths.log_file)
        else:
            import faulthandler
            faulthandler.enable(all_threads=True)
        self.user_config = Path(args.config).expanduser() if args.config else self.paths.config_file
        self.json = args.json
        self._cfg = None

    @property
    def cfg(self):
        """Loaded on first use: `status` and `stop` must work while the config file is broken."""
        if self._cfg is None:
            from .config import load_config
            self._cfg = load_config(self.user_config, required=bool(self.args.config))
        return self._cfg

    def runtime(self):
        from .runtime import Runtime
        return Runtime(self.cfg, self.paths, quiet=self.args.quiet, config_file=self.user_config)

    def out(self, obj, human: str) -> None:
        print(json.dumps(obj, ensure_ascii=False) if self.json else human, flush=True)


# -- commands --------------------------------------------------------------------------

def cmd_models(ctx: Ctx) -> int:
    from models.resolve import describe, model_path
    if ctx.args.prepare:
        model_path(ctx.cfg, "llm", ctx.paths.model_cache, quiet=ctx.args.quiet)
    rows = [describe(ctx.cfg, stage, ctx.paths.model_cache, verify=not ctx.args.no_verify)
            for stage in ("stt", "llm", "tts", "embeddings")]
    human = "\n".join(f"{r.stage:<11} {r.name}\n{'':<11} path:     {r.path}\n{'':<11} source:   {r.source}\n"
                      f"{'':<11} size:     {r.size_bytes / 1e6:.1f} MB\n{'':<11} checksum: {r.checksum}"
                      for r in rows)
    ctx.out([r.as_dict() for r in rows], human)
    return 0 if all(not r.checksum.startswith(("MISMATCH", "MISSING")) for r in rows) else 3


def cmd_doctor(ctx: Ctx) -> int:
    """Each stage in its own process, so a crash in native code is reported, not fatal."""
    from .doctor import STAGES, run_stage
    results = []
    for stage in ctx.args.stage or STAGES:
        r = run_stage(stage, ctx.args.config, str(ctx.paths.config_file.parent) if ctx.args.home else None)
        results.append(r)
        if not ctx.json:
            print(f"{'ok ' if r.ok else 'FAIL'} {r.stage:<10} {r.detail} ({r.seconds:.1f} s)", flush=True)
    failed = [r for r in results if not r.ok]
    if ctx.json:
        print(json.dumps({"ok": not failed, "stages": [r.as_dict() for r in results]}), flush=True)
    elif failed:
        print(f"error: doctor: {failed[0].stage}: {failed[0].detail}", file=sys.stderr)
    return 6 if failed else 0


def cmd_transcribe(ctx: Ctx) -> int:
    from audio.wavio import read_audio
    audio = read_audio(ctx.args.wav)
    t = ctx.runtime().stt.transcribe(audio)
    ctx.out({"file": ctx.args.wav, "text": t.text, "no_speech_prob": round(t.no_speech_prob, 3),
             "avg_logprob": round(t.avg_logprob, 3), "dropped": t.dropped}, t.text)
    return 0


def _speak(rt, text: str, output: str | None) -> None:
    from audio.playback import SpeakerSink, WavSink
    audio = rt.tts.synthesize(text)
    sink = WavSink(output, rt.tts.sample_rate) if output else SpeakerSink(rt.tts.sample_rate, rt.cfg.audio.output_device)
    sink.write(audio)
    sink.close()


def cmd_say(ctx: Ctx) -> int:
    from .limits import check_request
    text = check_request(ctx.args.text, "text to say")
    rt = ctx.runtime()
    _speak(rt, text, ctx.args.output)
    if ctx.json or ctx.args.output:
        ctx.out({"text": text, "output": ctx.args.output}, f"wrote {ctx.args.output}")
    return 0


def _memory_lines(memories: list[dict]) -> str:
    from .prompt import when
    if not memories:
        return "(none)"
    return "\n            ".join(f"{m['relevance']:.2f}  ({when(m['ts'])}) {m['role']}: {m['text']}" for m in memories)


def cmd_ask(ctx: Ctx) -> int:
    from .limits import check_request
    from .metrics import TurnTimings
    check_request(ctx.args.text)             # before any model loads
    rt = ctx.runtime()
    rt.load(engine=True)
    timings = TurnTimings()
    reply, retrieved, acted = "", None, None
    from .engine import Acted, ReplyDone, Retrieved
    for event in rt.engine.respond(ctx.args.text, timings):
        if isinstance(event, Retrieved):
            retrieved = event
        elif isinstance(event, Acted):
            acted = event.action.as_dict()
        elif isinstance(event, ReplyDone):
            reply = event.text
    memories = [h.as_dict() for h in retrieved.memories] if retrieved else []
    knowledge = [h.as_dict() for h in retrieved.knowledge] if retrieved else []
    ctx.out({"question": ctx.args.text, "reply": reply, "memories": memories, "knowledge": knowledge, "skill": acted,
             "latency_ms": timings.relative_ms()}, reply)
    if ctx.args.speak or ctx.args.output:
        _speak(rt, reply, ctx.args.output)
    return 0


def cmd_chat(ctx: Ctx) -> int:
    rt = ctx.runtime()
    rt.load(engine=True)
    if not ctx.json:
        print("chat with the assistant; an empty line or Ctrl-D ends it", file=sys.stderr)
    while True:
        try:
            text = input("" if ctx.json or not sys.stdin.isatty() else "you> ").strip()
        except EOFError:
            return 0
        except UnicodeDecodeError:
            _report(ctx, AssistantError("that line is not UTF-8 text; type it again"))
            continue
        if not text:
            return 0
        try:
            _chat_turn(ctx, rt, text)
        except AssistantError as e:          # one refused line does not end the session
            _report(ctx, e)


def _chat_turn(ctx: Ctx, rt, text: str) -> None:
    from .engine import Acted, ReplyDone, Retrieved, Sentence
    retrieved, acted = None, None
    for event in rt.engine.respond(text):
        if isinstance(event, Retrieved):
            retrieved = event
        elif isinstance(event, Acted):
            acted = event.action.as_dict()
        elif isinstance(event, Sentence) and not ctx.json:
            print(event.text, end=" ", flush=True)
        elif isinstance(event, ReplyDone):
            if ctx.json:
                print(json.dumps({"you": text, "reply": event.text, "skill": acted,
                                  "memories": [h.as_dict() for h in retrieved.memories] if retrieved else []},
                                 ensure_ascii=False), flush=True)
            else:
                print(flush=True)


def cmd_memory(ctx: Ctx) -> int:
    from . import cli_memory
    return cli_memory.run(ctx)


def cmd_run(ctx: Ctx) -> int:
    from audio.capture import FileSource, MicSource, has_input_device
    from audio.playback import SpeakerSink, WavSink

    from .metrics import MetricsWriter
    from .voice_loop import VoiceLoop
    args, cfg = ctx.args, ctx.cfg
    input_path, output_path, realtime = args.input, args.output, args.realtime
    if args.demo or (not input_path and not has_input_device(cfg.audio.input_device)):
        if not args.demo:
            print("no microphone found: running on the bundled demo recording instead "
                  f"({DEMO_WAV.name}), paced in real time; use --input FILE.wav for your own", file=sys.stderr)
        input_path = str(DEMO_WAV)
        output_path = output_path or str(ctx.paths.state_dir / "demo-replies.wav")
        realtime = True      # read as fast as possible, turns queue and the latency shown is not what a user feels
    if not input_path and cfg.audio.echo_handling == "aec":
        from audio.echo import ensure_echo_cancel
        ensure_echo_cancel()
    source = FileSource(input_path, cfg.vad.frame_ms, realtime=realtime) if input_path \
        else MicSource(cfg.audio.input_device, cfg.vad.frame_ms)
    rt = ctx.runtime()
    rt.load(stt=True, tts=True, engine=True)
    sink = WavSink(output_path, rt.tts.sample_rate) if output_path \
        else SpeakerSink(rt.tts.sample_rate, cfg.audio.output_device)

    def show(record) -> None:
        if ctx.json:
            print(record.to_json(), flush=True)
            return
        lat = record.latency_ms
        stages = [("stt", "transcript_ready"), ("retrieval", "retrieval_ready"), ("first token", "first_token"),
                  ("first sentence", "first_sentence"), ("tts", "first_sentence_synth"),
                  ("first audio", "first_audio")]
        latency = " | ".join(f"{name} {lat[k]:.0f}ms" for name, k in stages if lat.get(k) is not None)
        print(f"── turn {record.turn} " + "─" * 40, flush=True)
        print(f"you:        {record.transcript}")
        print(f"memories:   {_memory_lines(record.memories)}")
        if record.skill:
            print(f"skill:      {record.skill['skill']} {json.dumps(record.skill['args'])} → {record.skill['status']}")
        if record.skill_docs:
            print("skill docs: " + ", ".join(d["title"] for d in record.skill_docs))
        print(f"assistant:  {record.reply}")
        print(f"latency:    from end of speech: {latency}", flush=True)

    def announce(text: str) -> None:
        print(json.dumps({"announcement": text}) if ctx.json else f"reminder:   {text}", flush=True)

    loop = VoiceLoop(rt, source, sink, on_turn=show, on_announcement=announce,
                     metrics=MetricsWriter(Path(args.metrics) if args.metrics else None))
    # A recording is addressed to the assistant by construction; a live mic is not.
    loop.listen_mode = args.listen_mode or ("conversation" if input_path else None)
    stop = lambda *_: source.stop()  # noqa: E731
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    if source.live:
        print(f"listening on {source.device_name}… (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        turns = loop.run()
    except KeyboardInterrupt:
        source.stop()
        turns = loop.turns
    if output_path and not ctx.json:
        if getattr(sink, "written", True):
            print(f"{turns} turn(s); spoken replies written to {output_path}", flush=True)
        else:
            print(f"{turns} turn(s); nothing was said, so {output_path} was not written", flush=True)
    return 0


def _cmd_knowledge(ctx) -> int:
    from .cli_knowledge import cmd_knowledge
    return cmd_knowledge(ctx)


def _cmd_config(ctx) -> int:
    from .cli_config import cmd_config
    return cmd_config(ctx)


def _via_daemon(ctx) -> int | None:
    """ask, say and memory search go through a running daemon: one set of models, one memory."""
    from .cli_daemon import running_client
    from .limits import check_request
    args = ctx.args
    output = str(Path(args.output).expanduser().resolve()) if getattr(args, "output", None) else None
    extra = {"output": output} if output else {}
    if args.command == "ask":
        text = check_request(args.text)
        client = running_client(ctx)
        if client:
            with client:
                result = client.call("ask", text=text, speak=bool(args.speak), **extra)
            ctx.out(result, result["reply"] + (f"\n(spoken reply written to {output})" if output else ""))
            if result.get("not_spoken"):       # the reply is printed (and in the JSON); one line why unheard
                from .errors import AudioInputError
                print(f"error: {result['not_spoken']}", file=sys.stderr)
                return AudioInputError.exit_code
            return 0
    elif args.command == "say":
        text = check_request(args.text, "text to say")
        client = running_client(ctx)
        if client:
            with client:
                result = client.call("say", text=text, **extra)
            if ctx.json or output:
                ctx.out({"text": text, "output": output, **result}, f"wrote {output}")
            return 0
    elif args.command == "memory" and args.memory_command == "search":
        client = running_client(ctx)
        if client:
            from .cli_memory import _line
            with client:
                rows = client.call("memory.search", query=args.query, k=args.k)
            ctx.out(rows, "\n".join(_line(r, r["relevance"]) for r in rows) or "(no memories)")
            return 0
    return None


def _cmd_wyoming(ctx) -> int:
    from .cli_wyoming import cmd_wyoming
    return cmd_wyoming(ctx)


def _dispatch(ctx) -> int:
    from . import cli_daemon
    if ctx.args.command in cli_daemon.COMMANDS:
        return cli_daemon.COMMANDS[ctx.args.command](ctx)
    if ctx.args.command == "wyoming":
        return _cmd_wyoming(ctx)
    routed = _via_daemon(ctx)
    if routed is not None:
        return routed
    return COMMANDS[ctx.args.command](ctx)


COMMANDS = {"run": cmd_run, "chat": cmd_chat, "ask": cmd_ask, "transcribe": cmd_transcribe,
            "say": cmd_say, "memory": cmd_memory, "models": cmd_models, "doctor": cmd_doctor,
            "reminders": cli_reminders.cmd_reminders, "config": _cmd_config,
            "knowledge": _cmd_knowledge}


def _report(ctx_or_json, e: AssistantError) -> None:
    """One line on stderr; with ``--json`` also a JSON error object on stdout."""
    as_json = ctx_or_json if isinstance(ctx_or_json, bool) else bool(getattr(ctx_or_json, "json", False))
    print(f"{e.label}: {e}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps(e.as_dict()), flush=True)      # ASCII: any bytes in the message survive


def _unexpected(e: BaseException) -> AssistantError:
    """Any other failure as one line naming the thing; the traceback is in the log."""
    from .logs import log_file_in_use
    where = log_file_in_use()
    details = f"details in {where}" if where else "details: rerun with -v"
    if isinstance(e, OSError) and (e.filename or e.strerror):
        thing = e.filename or "a file"
        err = AssistantError(f"cannot use {thing}: {e.strerror or e.__class__.__name__}; check that the path "
                             f"exists, is a directory where one is needed, and is writable ({details})")
        err.kind = "os"
        return err
    first = str(e).splitlines()[0][:200] if str(e) else ""
    err = AssistantError(f"unexpected {e.__class__.__name__}{': ' + first if first else ''} "
                         f"({details}; please report it)")
    err.exit_code, err.kind = 70, "bug"
    return err


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        ctx = Ctx(args)
        return _dispatch(ctx)
    except AssistantError as e:
        _report(bool(getattr(args, "json", False)), e)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # a bug: one line for the user, the traceback for the log only
        log.error("unexpected error in %s", args.command, exc_info=True, extra={"file_only": True})
        err = _unexpected(e)
        _report(bool(getattr(args, "json", False)), err)
        return err.exit_code
