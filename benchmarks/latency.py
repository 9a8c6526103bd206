"""End-of-speech → first-audio latency of the real voice loop, over a folder of recordings.

Each utterance of a manifest TSV (columns: file, transcript, source, license; ``file`` is
relative to the manifest's folder) is played, at real-time speed by default, into its own
``VoiceLoop`` — the same pipeline as ``assistant run`` — sharing one ``Runtime``, so the
models are loaded and warmed once. Replies go to a WAV file (no sound card needed). The
assistant's home is a fresh temporary directory unless ``--home`` is given, so memory
starts empty and grows over the run, as in a real conversation.

Run it from the repository root:

    .venv/bin/python benchmarks/latency.py [--limit N] [--no-realtime] [--json FILE]
        [--variant NAME:KEY=VALUE,...]...

With ``--variant`` (repeatable) several configurations run in one invocation, each with
its own runtime and home, on the same recordings, interleaved utterance by utterance so
that a change in the machine's load hits all of them alike; the first variant is the
baseline and the summary prints every other's first-audio p50/p95 as a ratio to it.
``--variant 0.5b:llm.model=qwen2.5-coder-0.5b --variant 1.5b:`` compares the two
bundled LLMs (an empty list of settings is the defaults).

``ASSISTANT_MODEL_CACHE`` points at an existing model cache (the assembled LLM), if any.
The default manifest is ``../shared/data/speech/manifest.tsv`` next to the repository;
``tests/data/manifest.tsv`` is used when that is missing.

All figures are milliseconds after the last voiced frame, so with ``--realtime`` they
include the endpointer's wait of ``vad.trailing_silence_ms`` before the turn starts.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make the repo's packages importable

from assistant.config import load_config  # noqa: E402
from assistant.logs import setup_logging  # noqa: E402
from assistant.metrics import STAGES, TurnRecord  # noqa: E402
from assistant.paths import resolve_paths  # noqa: E402
from assistant.runtime import Runtime  # noqa: E402
from assistant.voice_loop import VoiceLoop  # noqa: E402
from audio.capture import FileSource  # noqa: E402
from audio.playback import WavSink  # noqa: E402
from audio.wavio import SAMPLE_RATE, read_audio  # noqa: E402

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent.parent / "shared/data/speech/manifest.tsv"
FALLBACK_MANIFEST = REPO / "tests/data/manifest.tsv"

# Each stage's own duration: (label, previous stamp or None for end of speech, stamp).
DURATIONS = [
    ("stt (incl. endpoint wait)", None, "transcript_ready"),
    ("retrieval", "transcript_ready", "retrieval_ready"),
    ("llm first token", "retrieval_ready", "first_token"),
    ("first sentence", "first_token", "first_sentence"),
    ("tts first sentence", "first_sentence", "first_sentence_synth"),
    ("playback start", "first_sentence_synth", "first_audio"),
]


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        row["path"] = path.parent / row["file"]
    return rows


def stats(values: list[float]) -> str:
    if not values:
        return f"{0:>4}  {'-':>7}  {'-':>7}  {'-':>7}"
    a = np.asarray(values, dtype=float)
    return f"{len(a):>4}  {np.percentile(a, 50):>7.0f}  {np.percentile(a, 95):>7.0f}  {a.mean():>7.0f}"


def duration(lat: dict, start: str | None, end: str) -> float | None:
    if lat.get(end) is None or (start is not None and lat.get(start) is None):
        return None
    return lat[end] - (lat[start] if start else 0.0)


def parse_variant(text: str) -> tuple[str, dict]:
    """"NAME:section.key=value,..." → (NAME, {section: {key: value}}); values are TOML."""
    import tomllib
    name, _, settings = text.partition(":")
    overlay: dict = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        section, _, field = key.strip().partition(".")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value                       # a bare word: a string
        overlay.setdefault(section, {})[field] = parsed
    return name or "default", overlay


def write_config(path: Path, overlay: dict) -> None:
    import tomlkit
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(overlay))


def report(name: str, records: list[dict], cfg, realtime: bool) -> dict:
    """Print one variant's tables; return its first-audio summary."""
    lats = [r["latency_ms"] for r in records]
    print(f"\n=== {name}: {len(records)} turn(s)")
    print(f"{'from end of speech (ms)':<28}{'n':>4}  {'p50':>7}  {'p95':>7}  {'mean':>7}")
    for stage in STAGES:
        print(f"{stage:<28}{stats([v for lat in lats if (v := lat.get(stage)) is not None])}")
    print(f"\n{'stage durations (ms)':<28}{'n':>4}  {'p50':>7}  {'p95':>7}  {'mean':>7}")
    for label, start, end in DURATIONS:
        print(f"{label:<28}{stats([v for lat in lats if (v := duration(lat, start, end)) is not None])}")
    prompts = [r for r in records if r.get("prompt_tokens")]
    if prompts:
        print(f"\n{'llm prompt (tokens)':<28}{'n':>4}  {'p50':>7}  {'p95':>7}  {'mean':>7}")
        print(f"{'  whole prompt':<28}{stats([r['prompt_tokens'] for r in prompts])}")
        print(f"{'  read this turn':<28}{stats([r['prompt_read'] for r in prompts])}")
    first_audio = [v for lat in lats if (v := lat.get("first_audio")) is not None]
    summary = {"n": len(first_audio)}
    if first_audio:
        summary.update(p50=float(np.percentile(first_audio, 50)), p95=float(np.percentile(first_audio, 95)))
        print(f"\nend of speech → first audio: p50 {summary['p50']:.0f} ms, p95 {summary['p95']:.0f} ms "
              f"(n={len(first_audio)})")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=None, help=f"TSV of recordings (default: {DEFAULT_MANIFEST})")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N utterances")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="pace input at 1x speed, as a microphone would (default: on)")
    p.add_argument("--home", metavar="DIR", help="assistant home (default: a fresh temporary directory); "
                   "with several variants, each gets a sub-folder")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                   help="a configuration to run (repeatable; the first is the baseline for ratios)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw per-turn records here")
    p.add_argument("--skip-short", type=float, default=0.0, metavar="SECONDS",
                   help="skip utterances shorter than this (default: 0)")
    args = p.parse_args(argv)

    manifest = args.manifest
    if manifest is None:
        manifest = DEFAULT_MANIFEST
        if not manifest.exists():
            print(f"note: {manifest} not found; using {FALLBACK_MANIFEST} instead", file=sys.stderr)
            manifest = FALLBACK_MANIFEST
    rows = read_manifest(manifest)[:args.limit]
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]

    tmp = tempfile.TemporaryDirectory(prefix="latency-bench-")
    base = Path(args.home) if args.home else Path(tmp.name) / "home"
    print(f"manifest:  {manifest} ({len(rows)} utterances)")
    print(f"machine:   {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = []
    for name, overlay in variants:
        home = base if len(variants) == 1 else base / name
        paths = resolve_paths(home)
        paths.ensure()
        if overlay:
            write_config(paths.config_file, overlay)
        if not runs:
            setup_logging(paths.log_file)
        cfg = load_config(paths.config_file)
        runtime = Runtime(cfg, paths)
        started = time.perf_counter()
        runtime.load(stt=True, tts=True, engine=True)
        print(f"{name}: {overlay or 'defaults'}; llm {Path(runtime.llm.path).name}, threads stt {cfg.stt.threads} "
              f"llm {cfg.llm.threads}; loaded and warmed in {time.perf_counter() - started:.1f} s", flush=True)
        runs.append({"name": name, "overlay": overlay, "cfg": cfg, "runtime": runtime, "records": [],
                     "no_turn": []})
    print(f"input:     {'real time (1x)' if args.realtime else 'as fast as possible (no endpoint wait)'}", flush=True)

    skipped = 0
    for i, row in enumerate(rows, 1):
        audio_s = len(read_audio(row["path"])) / SAMPLE_RATE
        if audio_s < args.skip_short:
            skipped += 1
            print(f"[{i}/{len(rows)}] {Path(row['file']).name} skipped ({audio_s:.1f} s)", file=sys.stderr, flush=True)
            continue
        shown = []
        for run in runs:
            cfg, runtime = run["cfg"], run["runtime"]
            turns: list[TurnRecord] = []
            source = FileSource(row["path"], cfg.vad.frame_ms, realtime=args.realtime)
            sink = WavSink(Path(tmp.name) / f"replies-{run['name']}.wav", runtime.tts.sample_rate)
            loop = VoiceLoop(runtime, source, sink, on_turn=turns.append)
            loop.listen_mode = "conversation"      # recordings are addressed to the assistant
            loop.run()
            if not turns:
                run["no_turn"].append(row["file"])
            for record in turns:
                run["records"].append({"file": row["file"], "audio_s": round(audio_s, 2),
                                       "expected": row["transcript"], **asdict(record)})
            first = [t.latency_ms.get("first_audio") for t in turns]
            shown.append(f"{run['name']} " + (", ".join("-" if v is None else f"{v:.0f} ms" for v in first)
                                              or "no turn"))
        print(f"[{i}/{len(rows)}] {Path(row['file']).name} ({audio_s:.1f} s) first audio: {'; '.join(shown)}",
              file=sys.stderr, flush=True)

    for run in runs:
        if run["no_turn"]:
            print(f"{run['name']}: no turn for " + ", ".join(run["no_turn"]))
        run["summary"] = report(run["name"], run["records"], run["cfg"], args.realtime)
    if len(runs) > 1 and runs[0]["summary"].get("p50"):
        b = runs[0]["summary"]
        print(f"\nfirst audio against {runs[0]['name']} (same recordings, interleaved):")
        for run in runs[1:]:
            s = run["summary"]
            if s.get("p50"):
                run["summary"].update(ratio_p50=s["p50"] / b["p50"], ratio_p95=s["p95"] / b["p95"])
                print(f"  {run['name']:<12} p50 {s['p50']:.0f} / {b['p50']:.0f} ms = {s['ratio_p50']:.2f}x   "
                      f"p95 {s['p95']:.0f} / {b['p95']:.0f} ms = {s['ratio_p95']:.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        first = runs[0]
        args.json.write_text(json.dumps({
            "manifest": str(manifest), "realtime": args.realtime,
            "trailing_silence_ms": first["cfg"].vad.trailing_silence_ms, "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "no_turn": first["no_turn"], "turns": first["records"],
            "variants": [{"name": r["name"], "settings": r["overlay"], "summary": r["summary"],
                          "no_turn": r["no_turn"], "turns": r["records"]} for r in runs]},
            ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"raw records: {args.json}")
    for run in runs:
        if "store" in vars(run["runtime"]):
            run["runtime"].store.close()   # write what is buffered before the temporary home goes
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
