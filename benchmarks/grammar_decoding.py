"""What grammar-constrained decoding costs on this machine, with the default Qwen 0.5B.

For a few skills' argument prompts (``skills/arguments.py``), the same greedy generation
three ways: unconstrained, under this project's small GBNF (``skills/grammar.py``), and
under llama-cpp-python's own JSON-schema grammar. The KV cache is cleared before every
run, so each pays for its prompt; the median of ``--repeat`` runs is shown. The load
average is printed too: on a shared machine it explains most of the variance.

    .venv/bin/python benchmarks/grammar_decoding.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = [("time_date", "what's the time"), ("configure", "talk slower please"),
         ("calculator", "what's eight times nine"), ("remember", "remember that my passport expires in June"),
         ("set_reminder", "remind me in twenty minutes to take the bread out")]


def run_once(llm, messages, grammar) -> tuple[float, float, int, str]:
    llm.reset()                                   # no KV reuse: every run reads its prompt
    started, stamps, text = time.perf_counter(), [], ""
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=60, temperature=0.0,
                                            grammar=grammar, stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            stamps.append(time.perf_counter() - started)
            text += piece
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return stamps[0], statistics.mean(gaps) if gaps else 0.0, len(stamps), text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    opts = ap.parse_args()
    os.environ.setdefault("ASSISTANT_MODEL_CACHE", str(Path.home() / ".cache" / "assistant" / "models"))
    from llama_cpp import LlamaGrammar

    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    from skills.arguments import llm_messages
    from skills.grammar import schema_to_gbnf
    rt = Runtime(load_config(None), resolve_paths(tempfile.mkdtemp(prefix="grammar-bench-")), quiet=True)
    rt.load(engine=True)
    rt.skill_registry.refresh()
    llm = rt.llm.llm
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  "
          f"(threads: {rt.cfg.llm.threads}, cores: {os.cpu_count()})")
    print(f"{'skill':13s} {'decoding':12s} {'prompt→1st token':>17s} {'per token':>10s} {'tokens':>6s}  output")
    rows = []
    for name, text in CASES:
        doc = rt.skill_registry.by_name(name)
        messages = llm_messages(doc, text)
        grammars = {"free": None, "our GBNF": LlamaGrammar.from_string(schema_to_gbnf(doc.parameters), verbose=False)}
        try:
            grammars["json-schema"] = LlamaGrammar.from_json_schema(json.dumps(doc.parameters), verbose=False)
        except Exception as e:       # its converter does not cover every schema (anyOf of required)
            print(f"{name:13s} {'json-schema':12s} cannot convert this schema: {str(e)[:70]}")
        for label, grammar in grammars.items():
            runs = [run_once(llm, messages, grammar) for _ in range(opts.repeat)]
            first = statistics.median(r[0] for r in runs) * 1000
            per = statistics.median(r[1] for r in runs) * 1000
            print(f"{name:13s} {label:12s} {first:14.0f} ms {per:7.0f} ms {runs[0][2]:6d}  {runs[0][3]}", flush=True)
            rows.append({"skill": name, "decoding": label, "first_token_ms": first, "ms_per_token": per,
                         "tokens": runs[0][2], "output": runs[0][3]})
    print(f"load average at end:   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if opts.json:
        opts.json.write_text(json.dumps({"model": rt.cfg.llm.model or "default", "threads": rt.cfg.llm.threads,
                                         "repeat": opts.repeat, "rows": rows,
                                         "load_average_end": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
