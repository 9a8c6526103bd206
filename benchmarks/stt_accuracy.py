"""Speech recognition settings compared: accuracy, wake-name recall, false triggers, speed.

Each setting is ``WINDOW:HOTWORDS[:NO_SPEECH_LOGPROB]`` (``stt.window_s``, ``stt.hotwords``
and, when given, ``stt.no_speech_logprob``; ``{name}`` is the assistant's name; a third
field of 0 is the old rule, no_speech_prob alone) and runs the product's own ``Transcriber`` over:

- the shared recordings (``manifest.tsv``): word error rate after normalisation, and the
  time one transcription takes (p50 / p95);
- requests that start with the assistant's name, synthesised with the bundled piper
  voice at several speeds (each rendering differs: piper samples its noise): the share in
  which ``find_wake`` finds the name;
- speech without the name (the shared recordings and synthesised requests): how often
  ``find_wake`` finds it anyway (a false wake), which a prompt could cause;
- every noise file, cut by the real endpointer: transcripts accepted (should be none);
- the long clean and bike-noise recordings, cut by the endpointer: turns and WER.

Run it from the repository root:

    .venv/bin/python benchmarks/stt_accuracy.py [--settings 30:,30:{name},10:{name}] [--renderings 5] [--json OUT]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make the repo's packages importable

from assistant.config import load_config  # noqa: E402
from assistant.paths import resolve_paths  # noqa: E402
from assistant.runtime import Runtime  # noqa: E402
from assistant.wake import find_wake  # noqa: E402
from audio.vad import Endpointer, Utterance, frames_of  # noqa: E402
from audio.wavio import SAMPLE_RATE, read_audio, resample, to_int16  # noqa: E402
from tests.textnorm import word_errors  # noqa: E402

DEFAULT_SPEECH = REPO.parent / "shared" / "data" / "speech"
WAKE_REQUESTS = [
    "{name}, what is the capital of France?", "Hey {name}, set a timer for ten minutes.",
    "{name}, what time is it?", "{name}, remind me to call my sister tomorrow.",
    "Hey {name}, what's the weather like?", "{name}, how far away is the moon?",
    "{name}, tell me a joke.", "Okay {name}, what did I tell you about my birthday?",
    "{name}, turn the volume down a little.", "Hi {name}, how do I boil an egg?",
]
PLAIN_REQUESTS = [
    "What is the capital of France?", "Set a timer for ten minutes.", "Remind me to call my sister tomorrow.",
    "The kettle is boiling in the kitchen.", "I think Jennifer said the meeting moved to Tuesday.",
    "Can you pass me the juniper berries?", "My sister's birthday is on March fourteenth.",
]
SPEEDS = [1.0, 0.9, 1.1, 0.95, 1.05, 0.85, 1.15]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rendered(runtime, text: str, renderings: int) -> list[np.ndarray]:
    tts, pad = runtime.tts, np.zeros(SAMPLE_RATE // 5, np.float32)
    out = []
    for k in range(renderings):
        tts.cfg = tts.cfg.model_copy(update={"speed": SPEEDS[k % len(SPEEDS)]})
        voice = resample(tts.synthesize(text).astype(np.float32) / 32768, tts.sample_rate)
        out.append(np.concatenate([pad, voice, pad]))
    tts.cfg = tts.cfg.model_copy(update={"speed": 1.0})
    return out


def utterances(cfg, audio: np.ndarray) -> list[np.ndarray]:
    ep = Endpointer(cfg.vad)
    cut = []
    for frame in frames_of(to_int16(np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])), ep.frame_samples):
        event = ep.feed(frame)
        if isinstance(event, Utterance):
            cut.append(event.audio)
    return cut


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speech", type=Path, default=DEFAULT_SPEECH, help=f"shared speech folder (default {DEFAULT_SPEECH})")
    p.add_argument("--settings", default="30:,30:{name},10:{name}", help="comma-separated WINDOW:HOTWORDS[:NO_SPEECH_LOGPROB]")
    p.add_argument("--renderings", type=int, default=5, help="synthesised renderings of each request")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    with open(args.speech / "manifest.tsv", newline="", encoding="utf-8") as f:
        clips = [(row["transcript"], read_audio(args.speech / row["file"]))
                 for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    noise = {path.name: read_audio(path) for path in sorted((args.speech / "noise").glob("*.wav"))}
    long_dir = args.speech / "long"
    long_refs, long_audio = [], {}
    if (long_dir / "dev_concat_segments.tsv").exists():
        with open(long_dir / "dev_concat_segments.tsv", newline="", encoding="utf-8") as f:
            long_refs = [row["transcript"] for row in csv.DictReader(f, delimiter="\t")]
        long_audio = {"clean": read_audio(long_dir / "dev_concat_clean.wav"),
                      "bike 10 dB": read_audio(long_dir / "dev_concat_bike_snr10.wav")}

    home = Path(tempfile.mkdtemp(prefix="stt-bench-"))
    runtime = Runtime(load_config(None), resolve_paths(home), quiet=True)
    name = runtime.cfg.llm.assistant_name
    stt = runtime.stt
    wake = [a for text in WAKE_REQUESTS for a in rendered(runtime, text.format(name=name), args.renderings)]
    plain = [a for text in PLAIN_REQUESTS for a in rendered(runtime, text, args.renderings)]
    stt.warm()
    print(f"{len(clips)} recordings, {len(wake)} wake renderings, {len(plain)} plain renderings, "
          f"{len(noise)} noise files, long: {', '.join(long_audio) or 'none'}\n", flush=True)

    header = (f"{'window:hotwords':<18}{'WER %':>7}{'stt p50':>9}{'p95':>6}{'wake':>9}"
              f"{'false wake':>12}{'noise turns':>13}  long (turns / WER %)")
    print(header, flush=True)
    rows = []
    for setting in args.settings.split(","):
        window, _, rest = setting.partition(":")
        hot, has_rule, rule = rest.partition(":")
        update = {"window_s": float(window), "hotwords": hot}
        if has_rule:
            update["no_speech_logprob"] = float(rule)
        stt.cfg = stt.cfg.model_copy(update=update)
        errors = words = 0
        took, false_wake = [], 0
        for ref, audio in clips:
            started = time.perf_counter()
            text = stt.transcribe(audio).text
            took.append((time.perf_counter() - started) * 1000)
            e, n = word_errors(ref, text)
            errors, words = errors + e, words + n
            false_wake += find_wake(text, name) is not None
        false_wake += sum(find_wake(stt.transcribe(a).text, name) is not None for a in plain)
        woke = sum(find_wake(stt.transcribe(a).text, name) is not None for a in wake)
        noise_turns = sum(stt.transcribe(u).accepted for audio in noise.values() for u in utterances(runtime.cfg, audio))
        long, long_rows = [], {}
        for label, audio in long_audio.items():
            texts = [t.text for u in utterances(runtime.cfg, audio) if (t := stt.transcribe(u)).accepted]
            e, n = word_errors(" ".join(long_refs), " ".join(texts))
            long.append(f"{label} {len(texts)}/{len(long_refs)} {100 * e / n:.1f}")
            long_rows[label] = {"turns": len(texts), "reference_turns": len(long_refs), "wer": e / n}
        rows.append({"setting": setting, "stt": stt.cfg.model_dump(include={"window_s", "hotwords", "no_speech_logprob"}),
                     "wer": errors / words, "words": words, "stt_ms_p50": percentile(took, 50),
                     "stt_ms_p95": percentile(took, 95), "wake": woke, "wake_requests": len(wake),
                     "false_wake": false_wake, "non_wake_inputs": len(clips) + len(plain),
                     "noise_turns": noise_turns, "long": long_rows})
        print(f"{setting:<18}{100 * errors / words:>7.2f}{percentile(took, 50):>9.0f}{percentile(took, 95):>6.0f}"
                f"{f'{woke}/{len(wake)}':>9}{f'{false_wake}/{len(clips) + len(plain)}':>12}{noise_turns:>13}  "
              + "; ".join(long), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"renderings": args.renderings, "recordings": len(clips), "settings": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
