"""First token and first audio: the local LLM backend against the ``openai`` backend, in one run.

Starts ``python -m llama_cpp.server`` (tests/servers.py, 127.0.0.1) with a GGUF (default:
the bundled model), builds two runtimes from the same config but for ``llm.backend``
("local", and "openai" pointed at that server), and asks both the same questions,
alternating, through the real engine: retrieval, prompt, streamed reply, sentence
splitting; the first sentence is synthesised with the real voice (first audio). Prints
p50/p95 of time to first token and to first audio per backend, and the ratio.

On one machine both backends share its cores, so this measures what the HTTP hop and the
server add, not what a GPU server would save: on the household's GPU machine the
server's own first-token time replaces the local one.

    .venv/bin/python benchmarks/llm_remote.py [--turns 6] [--model GGUF] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import LlamaServer  # noqa: E402

QUESTIONS = ["What is a good name for a cat?", "Give me one tip for sleeping better.",
             "Why is the sky blue?", "Suggest a quick breakfast.", "What rhymes with moon?",
             "How do I boil an egg?", "Name a famous painter.", "What is the capital of Spain?"]


def runtime(home: Path, backend: str, base_url: str, model: str):
    from assistant.config import Config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    cfg = Config.model_validate({"llm": {"backend": backend, "base_url": base_url, "model": model,
                                         "first_token_timeout_s": 60.0, "max_reply_tokens": 40}})
    rt = Runtime(cfg, resolve_paths(home), quiet=True)
    rt.load(engine=True, tts=True)
    return rt


def one_turn(rt, text: str) -> dict:
    from assistant.engine import ReplyDone, Sentence
    from assistant.metrics import TurnTimings
    timings = TurnTimings()
    for event in rt.engine.respond(text, timings):
        if isinstance(event, Sentence) and timings.first_audio is None:
            rt.tts.synthesize(event.text)
            timings.mark("first_audio")
        elif isinstance(event, ReplyDone):
            pass
    ms = timings.relative_ms()
    return {"first_token_ms": ms["first_token"], "first_audio_ms": ms["first_audio"],
            "answered_by": getattr(rt.llm, "state", None) and rt.llm.state.last_answered_by or "local"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=6, help="turns per backend")
    ap.add_argument("--model", default="", help="GGUF for both (default: the bundled LLM)")
    ap.add_argument("--server-threads", type=int, default=2)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    from assistant.config import load_config
    from models.resolve import model_path
    os.environ.setdefault("ASSISTANT_MODEL_CACHE", str(Path.home() / ".cache" / "assistant" / "models"))
    gguf = Path(args.model) if args.model else model_path(load_config(None), "llm",
                                                          Path(os.environ["ASSISTANT_MODEL_CACHE"]), quiet=True)
    root = Path(tempfile.mkdtemp(prefix="llm-remote-"))
    server = LlamaServer(gguf, threads=args.server_threads).start()
    rts = {}
    try:
        rts = {"local": runtime(root / "local", "local", server.base_url, str(gguf)),
               "openai": runtime(root / "openai", "openai", server.base_url, str(gguf))}
        rows = {name: [] for name in rts}
        for i in range(args.turns):
            for name, rt in rts.items():            # alternating: load hits both alike
                rows[name].append(one_turn(rt, QUESTIONS[i % len(QUESTIONS)]))
                print(f"  {name} turn {i + 1}: {rows[name][-1]}", file=sys.stderr, flush=True)
    finally:
        server.stop()
        for rt in rts.values():             # write their turns before their homes go
            if "store" in rt.__dict__:
                rt.store.close()
        shutil.rmtree(root, ignore_errors=True)
    summary = {}
    for name, turns in rows.items():
        for what in ("first_token_ms", "first_audio_ms"):
            values = [t[what] for t in turns if t[what] is not None]
            summary[f"{name}_{what}_p50"] = round(float(np.percentile(values, 50)), 1)
            summary[f"{name}_{what}_p95"] = round(float(np.percentile(values, 95)), 1)
        summary[f"{name}_answered_by"] = sorted({t["answered_by"] for t in turns})
    for what in ("first_token_ms", "first_audio_ms"):
        summary[f"{what}_p50_ratio_openai_vs_local"] = round(summary[f"openai_{what}_p50"] / summary[f"local_{what}_p50"], 2)
    load = os.getloadavg()
    print(f"model {gguf.name}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    print(f"{'backend':>8} {'first token p50':>16} {'p95':>8} {'first audio p50':>16} {'p95':>8}")
    for name in rows:
        print(f"{name:>8} {summary[f'{name}_first_token_ms_p50']:>16} {summary[f'{name}_first_token_ms_p95']:>8} "
              f"{summary[f'{name}_first_audio_ms_p50']:>16} {summary[f'{name}_first_audio_ms_p95']:>8}")
    print(f"{'ratio':>8} {summary['first_token_ms_p50_ratio_openai_vs_local']:>16} {'':>8} "
          f"{summary['first_audio_ms_p50_ratio_openai_vs_local']:>16}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "turns": rows, "model": str(gguf),
                                               "loadavg": load}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
