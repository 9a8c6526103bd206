"""Routing benchmark: does each utterance reach the right skill, with the right arguments?

Runs every case of ``skills_routing_cases.py`` through the real pipeline stage — the
default embedding model, the skill index in LanceDB, the router, and argument filling
(handler parsers, and the default Qwen 0.5B under a GBNF grammar where a parser finds
nothing) — without running any handler. Prints skill accuracy, exact-argument accuracy,
the false-activation rate on distractors, latency, and every failure.

    .venv/bin/python benchmarks/skills_routing.py              # parsers first, LLM fallback
    .venv/bin/python benchmarks/skills_routing.py --args llm   # the LLM fills every argument
    .venv/bin/python benchmarks/skills_routing.py --cases holdout   # the held-out set

Exact arguments: every expected key with the expected value and no extra keys; strings
compared lower-case without punctuation or articles ("the", "a", "an"), arithmetic
expressions by their value.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import skills_routing_cases  # noqa: E402
import skills_routing_holdout  # noqa: E402

TARGETS = {"skill": 0.95, "args": 0.90, "false": 0.02}


def _norm(value):
    if isinstance(value, str):
        text = re.sub(r"[^a-z0-9 ]+", "", value.lower())
        return " ".join(w for w in text.split() if w not in ("the", "a", "an"))
    return value


def args_match(skill: str, expected: dict | None, got: dict) -> bool:
    expected = expected or {}
    if set(expected) != set(got):
        return False
    for key, want in expected.items():
        if skill == "calculator" and key == "expression":
            from skills.arithmetic import evaluate
            try:
                if abs(evaluate(want) - evaluate(got[key])) > 1e-9:
                    return False
            except Exception:
                return False
        elif _norm(want) != _norm(got[key]):
            return False
    return True


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--args", choices=["auto", "llm"], default="auto",
                    help="auto: handler parsers, LLM where they find nothing; llm: the LLM fills every argument")
    ap.add_argument("--cases", choices=["dev", "holdout"], default="dev",
                    help="dev: skills_routing_cases.py (used while tuning); holdout: skills_routing_holdout.py")
    ap.add_argument("--json", metavar="FILE", help="also write every case's result as JSON")
    ap.add_argument("--all", action="store_true", help="print every case, not just failures")
    opts = ap.parse_args()

    os.environ.setdefault("ASSISTANT_MODEL_CACHE", str(Path.home() / ".cache" / "assistant" / "models"))
    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    home = tempfile.mkdtemp(prefix="skills-bench-")
    rt = Runtime(load_config(None), resolve_paths(home), quiet=True)
    rt.load(engine=True)
    dispatcher = rt.dispatcher
    dispatcher.use_parser = opts.args == "auto"

    cases = (skills_routing_cases if opts.cases == "dev" else skills_routing_holdout).CASES
    rows = []
    for n, (text, want_skill, want_args) in enumerate(cases, 1):
        print(f"\r{n}/{len(cases)}", end="", file=sys.stderr, flush=True)
        started = time.perf_counter()
        vector = rt.embedder.embed_one(text)
        embed_ms = (time.perf_counter() - started) * 1000
        plan = dispatcher.plan(text, vector)
        total_ms = (time.perf_counter() - started) * 1000
        got_skill = plan.doc.name if plan else None
        got_args = plan.filled.args if plan and plan.filled else {}
        rows.append({
            "text": text, "want_skill": want_skill, "got_skill": got_skill, "want_args": want_args,
            "got_args": got_args, "status": plan.status if plan else "conversation",
            "source": plan.filled.source if plan and plan.filled else "", "error": plan.error if plan else "",
            "route": plan.route.as_dict() if plan else dispatcher.router.route(vector).as_dict(),
            "skill_ok": got_skill == want_skill,
            "args_ok": want_skill is not None and got_skill == want_skill and plan.status == "planned"
            and args_match(want_skill, want_args, got_args),
            "embed_ms": embed_ms, "args_ms": plan.ms.get("args", 0.0) if plan else 0.0, "total_ms": total_ms})

    skill_cases = [r for r in rows if r["want_skill"]]
    distractors = [r for r in rows if not r["want_skill"]]
    skill_acc = sum(r["skill_ok"] for r in rows) / len(rows)
    args_acc = sum(r["args_ok"] for r in skill_cases) / len(skill_cases)
    false_rate = sum(1 for r in distractors if r["got_skill"]) / len(distractors)
    missed = sum(1 for r in skill_cases if r["got_skill"] is None)

    print(f"\n{len(rows)} utterances ({opts.cases} set): {len(skill_cases)} requests for {len({r['want_skill'] for r in skill_cases})} "
          f"skills, {len(distractors)} distractors; arguments: {opts.args}")
    print(f"  skill accuracy          {skill_acc:6.1%}   (target ≥ {TARGETS['skill']:.0%})")
    print(f"  exact-argument accuracy {args_acc:6.1%}   (target ≥ {TARGETS['args']:.0%}; of the {len(skill_cases)} requests)")
    print(f"  false activations       {false_rate:6.1%}   (target ≤ {TARGETS['false']:.0%}; "
          f"{sum(1 for r in distractors if r['got_skill'])} of {len(distractors)} distractors)")
    print(f"  missed requests         {missed} of {len(skill_cases)} (routed to conversation)")
    totals = [r["total_ms"] for r in rows]
    print(f"\nlatency, utterance text → skill and valid arguments (embedding included), ms:")
    print(f"  all            n={len(totals):3d}  p50 {pct(totals, .5):7.1f}  p95 {pct(totals, .95):7.1f}  "
          f"max {max(totals):7.1f}")
    for source in ("none", "parser", "llm"):
        part = [r["total_ms"] for r in rows if r["source"] == source]
        args_part = [r["args_ms"] for r in rows if r["source"] == source]
        if part:
            print(f"  args by {source:<6} n={len(part):3d}  p50 {pct(part, .5):7.1f}  p95 {pct(part, .95):7.1f}  "
                  f"max {max(part):7.1f}   (argument step alone: p50 {pct(args_part, .5):.1f}, "
                  f"max {max(args_part):.1f})")
    conv = [r["total_ms"] for r in rows if r["got_skill"] is None]
    if conv:
        print(f"  no skill       n={len(conv):3d}  p50 {pct(conv, .5):7.1f}  p95 {pct(conv, .95):7.1f}  "
              f"(before the usual LLM reply)")
    print(f"  embedding alone: p50 {statistics.median(r['embed_ms'] for r in rows):.1f} ms")

    failures = [r for r in rows if not r["skill_ok"] or (r["want_skill"] and not r["args_ok"])]
    shown = rows if opts.all else failures
    if shown:
        print(f"\n{'cases' if opts.all else 'failures'} ({len(failures)} failing):")
    for r in shown:
        mark = "ok  " if r in rows and r not in failures else "FAIL"
        route = r["route"]
        print(f"  {mark} {r['text']!r}\n       want {r['want_skill']} {json.dumps(r['want_args'])}\n"
              f"       got  {r['got_skill']} {json.dumps(r['got_args'])} [{r['status']}, args by {r['source'] or '-'}"
              f", {r['total_ms']:.0f} ms] route: {route['reason']} {route['relevance']:.2f} vs {route['runner_up']:.2f}"
              f" near {route['matched']!r}" + (f"\n       {r['error']}" if r["error"] else ""))
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=1))
    ok = skill_acc >= TARGETS["skill"] and args_acc >= TARGETS["args"] and false_rate <= TARGETS["false"]
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
