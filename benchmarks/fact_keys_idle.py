"""Fact keys read between turns (memory.fact_keys): their cost, and what they cost a turn.

The daemon reads a stored turn's fact keys with the LLM while nobody speaks
(``Engine.read_fact_keys``). This measures, through the product's engine on a real
store and the bundled models:

- the cost per keyed turn on an idle engine (LLM reading and writing, embedding the turn
  again, rewriting its session);
- what it costs a turn that arrives while a key is being read: time to the first token
  of ``Engine.respond`` with a reading in progress (stopped by the turn), against the
  same question with none, the two interleaved round by round, and whether the turn
  still finds the conversation's prompt in the LLM's cache.

    .venv/bin/python benchmarks/fact_keys_idle.py [--data LOCOMO.json] [--conversation 1]
        [--turns 12] [--rounds 8] [--json OUT]

The stored turns are the first ``--turns`` of a LoCoMo conversation (default: the shared
``data/locomo``), in their speakers' names.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json"
QUESTIONS = ["What did Caroline say about the support group?", "What does Melanie do to relax?",
             "What are Caroline's plans for the summer?", "Which book did Melanie mention?"]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else 0.0


def first_token_ms(engine, question: str) -> tuple[float, int, int]:
    """(ms to the first sentence's first token, prompt tokens, of which cached) of one turn."""
    from assistant.engine import ReplyDone
    from assistant.metrics import TurnTimings
    timings = TurnTimings()
    started = time.perf_counter()
    first = None
    for event in engine.respond(question, timings):
        if first is None and timings.first_token is not None:
            first = (time.perf_counter() - started) * 1000
        if isinstance(event, ReplyDone):
            break
    return first or (time.perf_counter() - started) * 1000, timings.prompt_tokens, timings.prompt_cached


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--conversation", type=int, default=1)
    ap.add_argument("--turns", type=int, default=12, help="stored turns to read keys for")
    ap.add_argument("--rounds", type=int, default=8, help="turns with and without a reading in progress")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    try:
        conv = json.loads(Path(args.data).read_text())[args.conversation]["conversation"]
    except (OSError, ValueError, IndexError, KeyError) as e:
        print(f"fact_keys_idle: cannot read conversation {args.conversation} of {args.data} "
              f"({e.__class__.__name__}); give a LoCoMo JSON file with --data", file=sys.stderr)
        return 2

    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    from memory.store import Memory, describe
    print("loading the models ...", file=sys.stderr, flush=True)
    cfg = load_config(None)
    cfg.llm.max_reply_tokens = 24            # the first token is what is measured
    rt = Runtime(cfg, resolve_paths(Path(tempfile.mkdtemp(prefix="fact-keys-idle-"))), quiet=True)
    engine, store = rt.engine, rt.store
    turns = [t for n in range(1, 4) for t in conv.get(f"session_{n}", [])][:args.turns]
    memories = [Memory(text=t["text"], role="user", session_id="locomo", speaker=t["speaker"], seq=j,
                       ts=time.time() - 3600 + j) for j, t in enumerate(turns)]
    store.add_now(memories, rt.embedder.embed([describe(m) for m in memories]))

    # 1. Cost per keyed turn, nothing else running.
    costs = []
    while True:
        started = time.perf_counter()
        if not engine.read_fact_keys():
            break
        costs.append(time.perf_counter() - started)
        print(f"  keyed {len(costs)}/{len(memories)} turns, {costs[-1]:.1f} s", file=sys.stderr, flush=True)
    keyed = sum(1 for m in store.session_turns("locomo") if m.keys)

    # 2. A turn arriving during a reading, against one arriving with none: interleaved.
    rng = random.Random(7)
    plain, during, cached_plain, cached_during = [], [], [], []
    for r in range(args.rounds):
        question = QUESTIONS[r % len(QUESTIONS)]
        for mode in ("plain", "during") if r % 2 == 0 else ("during", "plain"):
            engine.prefill()
            store.flush()
            if mode == "during":
                reader = threading.Thread(target=engine.read_fact_keys, daemon=True)
                reader.start()
                time.sleep(rng.uniform(0.5, 5.0))        # somewhere in its prompt or its reply
                if not reader.is_alive():
                    print("  (the reading ended before the turn; round counted anyway)", file=sys.stderr)
            ms, total, cached = first_token_ms(engine, question)
            if mode == "during":
                reader.join()
                during.append(ms)
                cached_during.append(cached)
            else:
                plain.append(ms)
                cached_plain.append(cached)
        print(f"  round {r + 1}/{args.rounds}: first token {plain[-1]:.0f} ms without, {during[-1]:.0f} ms "
              f"during a reading", file=sys.stderr, flush=True)

    result = {
        "turns_keyed": keyed, "turns": len(memories),
        "seconds_per_keyed_turn": {"p50": round(statistics.median(costs), 2) if costs else 0.0,
                                   "p95": pct(costs, 0.95)},
        "first_token_ms": {"without": {"p50": pct(plain, 0.5), "p95": pct(plain, 0.95)},
                           "during_reading": {"p50": pct(during, 0.5), "p95": pct(during, 0.95)}},
        "added_ms_p50": round(pct(during, 0.5) - pct(plain, 0.5), 1),
        "ratio_p50": round(pct(during, 0.5) / max(pct(plain, 0.5), 1e-9), 2),
        "prompt_cached_tokens": {"without": statistics.median(cached_plain),
                                 "during_reading": statistics.median(cached_during)},
        "rounds": args.rounds,
    }
    print(f"keyed {keyed}/{len(memories)} turns: {result['seconds_per_keyed_turn']['p50']} s a turn (p50), "
          f"p95 {result['seconds_per_keyed_turn']['p95']} s")
    print(f"first token: {result['first_token_ms']['without']['p50']:.0f} ms p50 / "
          f"{result['first_token_ms']['without']['p95']:.0f} p95 without a reading; "
          f"{result['first_token_ms']['during_reading']['p50']:.0f} / "
          f"{result['first_token_ms']['during_reading']['p95']:.0f} with one in progress "
          f"(x{result['ratio_p50']} at p50)")
    print(f"prompt tokens already cached at the turn: {result['prompt_cached_tokens']['without']} without, "
          f"{result['prompt_cached_tokens']['during_reading']} during a reading")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
