"""Fact keys for LoCoMo turns, read by the local LLM (memory.fact_keys), for memory_locomo.py.

Each turn is read with the one before it, through the product's ``LocalLLM`` at
temperature 0. The keys go to ``--out`` as ``{conversation index: {dia_id: [facts]}}``,
written every 10 turns; a second run resumes where the first stopped (at ~7 s a turn on
a 2-core CPU, a LoCoMo conversation takes 45-80 minutes).

    .venv/bin/python benchmarks/locomo_fact_keys.py --conversations 1 --out keys.json [--data PATH]
        [--model NAME_OR_GGUF] [--limit N] [--json OUT]

then ``memory_locomo.py --conversations 1 --fact-keys keys.json`` (and without
``--fact-keys`` for the same conversations' baseline).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.memory_locomo import conversation_memories  # noqa: E402
from memory import fact_keys  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json"


def turns(conv: dict, index: int):
    """(dia_id, speaker, text, previous (speaker, text) or None), in order: the turns as
    memory_locomo.py stores them (photo captions in the text), each with the one before it
    in its session, as the daemon's ``MemoryService.read_fact_keys`` reads them."""
    previous = None
    for m in conversation_memories(conv, index, captions=True):
        if previous and previous.session_id != m.session_id:
            previous = None
        yield m.ref, m.speaker, m.text, (previous.speaker, previous.text) if previous else None
        previous = m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--conversations", required=True, help="comma-separated indexes, e.g. 1 or 0,2")
    ap.add_argument("--out", required=True, type=Path, help="the keys file (read first: a run resumes)")
    ap.add_argument("--model", default="", help="a bundled LLM's name or a GGUF file (default: the product's)")
    ap.add_argument("--limit", type=int, default=0, help="read at most this many new turns")
    ap.add_argument("--json", metavar="OUT", help="also write the timing figures as JSON")
    args = ap.parse_args()

    try:
        data = json.loads(Path(args.data).read_text())
        wanted = [int(x) for x in args.conversations.split(",")]
        bad = [i for i in wanted if not 0 <= i < len(data)]
    except (OSError, ValueError) as e:
        print(f"locomo_fact_keys: cannot read {args.data} or --conversations ({e.__class__.__name__}); "
              "give a LoCoMo JSON file and indexes like 1,2", file=sys.stderr)
        return 2
    if bad:
        print(f"locomo_fact_keys: no conversation {bad[0]} in {args.data} (it has {len(data)})", file=sys.stderr)
        return 2
    keys: dict = json.loads(args.out.read_text()) if args.out.exists() else {}

    from assistant.config import load_config
    from assistant.errors import ModelError
    from assistant.llm import LocalLLM
    from assistant.paths import resolve_paths
    from models.registry import LLMS
    from models.resolve import assemble_llm
    cfg = load_config(None).llm
    name = args.model or cfg.model or "qwen2.5-coder-1.5b"
    try:
        path = assemble_llm(resolve_paths().model_cache, spec=LLMS[name]) if name in LLMS else Path(name)
        llm = LocalLLM(cfg, path)
    except ModelError as e:
        print(f"locomo_fact_keys: {e}", file=sys.stderr)
        return 2

    def complete(msgs: list[dict]) -> str:
        return "".join(llm.stream(msgs, max_tokens=fact_keys.MAX_TOKENS, temperature=0.0))

    todo = [(str(ci), item) for ci in wanted for item in turns(data[ci], ci)
            if item[0] not in keys.get(str(ci), {})]
    if args.limit:
        todo = todo[:args.limit]
    print(f"{len(todo)} turns to read with {path.name}", file=sys.stderr, flush=True)
    started, done = time.perf_counter(), 0
    for ci, (dia_id, speaker, text, previous) in todo:
        facts = fact_keys.parse(complete(fact_keys.messages(speaker, text, previous)))
        keys.setdefault(ci, {})[dia_id] = facts
        done += 1
        if done % 10 == 0 or done == len(todo):
            tmp = args.out.with_suffix(".partial")
            tmp.write_text(json.dumps(keys, indent=0))
            os.replace(tmp, args.out)
            per = (time.perf_counter() - started) / done
            print(f"{done}/{len(todo)} turns, {per:.2f} s a turn, ~{per * (len(todo) - done) / 60:.0f} min left",
                  file=sys.stderr, flush=True)
    per_turn = (time.perf_counter() - started) / max(done, 1)
    figures = {"turns": done, "s_per_turn": round(per_turn, 2), "model": path.name,
               "load_average": [round(x, 2) for x in os.getloadavg()],
               "turns_with_facts": sum(bool(v) for c in keys.values() for v in c.values()),
               "turns_keyed": sum(len(c) for c in keys.values())}
    print(f"read {done} turns at {per_turn:.2f} s a turn ({path.name}); {figures['turns_with_facts']} of "
          f"{figures['turns_keyed']} keyed turns state facts")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
