"""What the assistant says: spoken-request cases and LoCoMo answer F1, per LLM, side by side.

1. **Cases** (``../shared/data/answers/dev_cases.json``): each case runs in a fresh home
   through the real CLI, one process per utterance, so a fact told ("tell") is found in
   memory by a new process that is then asked ("ask"), as after a restart. A reply
   passes when it contains one of ``want`` (lower case), none of ``forbid`` and at most
   ``max_words`` words. Scores per category (the id's prefix) and every failed reply.
2. **LoCoMo answer F1** (``--locomo-limit N`` questions of categories 1-4, spread over the
   conversations): each conversation is stored as memories through the product's memory
   API, and each question goes through the product's retrieval, prompt and LLM (nothing
   is stored). F1 is the LoCoMo paper's: lower case, no punctuation or articles, token
   overlap with the gold answer (no stemming).

    .venv/bin/python benchmarks/answers.py [--variant NAME:KEY=VALUE,...]... [--cases FILE]
        [--locomo FILE] [--locomo-limit N] [--json OUT]

Each ``--variant`` (as in benchmarks/latency.py; default: ``0.5b:llm.model=qwen2.5-coder-0.5b``
and ``1.5b:``) is a config overlay; both run on the same cases in one invocation.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from latency import parse_variant, write_config  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
CASES = SHARED / "answers" / "dev_cases.json"
LOCOMO = SHARED / "locomo" / "locomo_dev.json"
DEFAULT_VARIANTS = ["0.5b:llm.model=qwen2.5-coder-0.5b", "1.5b:"]


def ask(home: Path, text: str) -> tuple[str, float]:
    """One turn in a new process, as `assistant ask` runs for a user."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant", "--home", str(home), "-q", "ask", text],
                         capture_output=True, text=True, cwd=REPO, timeout=600,
                         env={**os.environ, "ASSISTANT_MODEL_CACHE": os.environ.get(
                             "ASSISTANT_MODEL_CACHE", str(Path.home() / ".cache" / "assistant" / "models"))})
    reply = out.stdout.strip() if out.returncode == 0 else f"[error {out.returncode}: {out.stderr.strip()[-200:]}]"
    return reply, time.perf_counter() - started


def judge(case: dict, reply: str) -> str | None:
    """None when the reply passes, else why it fails."""
    low = reply.lower()
    want = case.get("want") or []
    if want and not any(w in low for w in want):
        return f"wanted one of {want}"
    bad = [f for f in case.get("forbid", []) if f in low]
    if bad:
        return f"forbidden {bad}"
    words = len(reply.split())
    if case.get("max_words") and words > case["max_words"]:
        return f"{words} words > {case['max_words']}"
    return None


def run_cases(cases: list[dict], overlay: dict, tmp: Path, name: str) -> dict:
    by_cat: dict[str, list[bool]] = defaultdict(list)
    failed, seconds = [], []
    for case in cases:
        home = tmp / f"{name}-{case['id']}"
        if overlay:
            write_config(home / "config.toml", overlay)
        for told in case.get("tell", []):
            ask(home, told)
        reply, took = ask(home, case["ask"])
        seconds.append(took)
        why = judge(case, reply)
        by_cat[case["id"].split("_")[0]].append(why is None)
        mark = "ok  " if why is None else "FAIL"
        print(f"  {name:<6} {mark} {case['id']:<20} {reply[:110]}", file=sys.stderr, flush=True)
        if why:
            failed.append({"id": case["id"], "ask": case["ask"], "reply": reply, "why": why})
    total = sum(sum(v) for v in by_cat.values())
    n = sum(len(v) for v in by_cat.values())
    return {"right": total, "cases": n, "percent": round(100 * total / max(n, 1), 1),
            "by_category": {c: f"{sum(v)}/{len(v)}" for c, v in sorted(by_cat.items())},
            "failed": failed, "mean_seconds_per_ask": round(sum(seconds) / max(len(seconds), 1), 2)}


# -- LoCoMo answer F1 ------------------------------------------------------------------

def normalize(text: str) -> list[str]:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the|and)\b", " ", text)
    return text.split()


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction), normalize(str(gold))
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def locomo_f1(path: Path, limit: int, overlay: dict, tmp: Path, name: str) -> dict:
    """Answers through the product's retrieval, prompt and LLM, scored by token F1."""
    import tomllib
    from dataclasses import replace

    from assistant.config import load_config
    from assistant.engine import Engine
    from assistant.paths import resolve_paths
    from assistant.prompt import build_messages
    from assistant.runtime import Runtime
    from memory.store import MemoryStore, StoreSettings, describe
    from memory_locomo import CATEGORIES, conversation_memories
    home = tmp / f"{name}-locomo"
    if overlay:
        write_config(home / "config.toml", overlay)
    paths = resolve_paths(home)
    cfg = load_config(paths.config_file if overlay else None)
    rt = Runtime(cfg, paths, quiet=True)
    rt.llm.warm()
    data = json.loads(path.read_text())
    per_conv = max(1, limit // max(len(data), 1))
    scores: dict[str, list[float]] = defaultdict(list)
    samples = []
    for ci, conv in enumerate(data):
        memories = conversation_memories(conv, ci, True)
        store = MemoryStore(home / "locomo.lancedb", rt.embedder.dim, profile=f"locomo-{ci}",
                            settings=StoreSettings(background=False, flush_rows=10_000))
        store.add_now(memories, rt.embedder.embed_many([describe(m) for m in memories]))
        engine = Engine(cfg, rt.llm, rt.embedder, store, None)
        engine.memory.settings = replace(engine.memory.settings, now=max(m.ts for m in memories))
        questions = [q for q in conv["qa"] if q.get("category") in CATEGORIES and "answer" in q]
        step = max(1, len(questions) // per_conv)
        for q in questions[::step][:per_conv]:
            _, hits, _ = engine.retrieve(q["question"])
            messages = build_messages(cfg.llm, q["question"], [], hits, [])
            reply = "".join(rt.llm.stream(messages, max_tokens=48, temperature=0.0)).strip()
            score = f1(reply, q["answer"])
            scores[CATEGORIES[q["category"]]].append(score)
            samples.append({"question": q["question"], "gold": q["answer"], "reply": reply, "f1": round(score, 3)})
        store.close()
        print(f"  {name:<6} locomo conversation {ci}: {sum(len(v) for v in scores.values())} answered",
              file=sys.stderr, flush=True)
    allv = [s for v in scores.values() for s in v]
    return {"f1": round(100 * sum(allv) / max(len(allv), 1), 1), "questions": len(allv),
            "by_category": {c: round(100 * sum(v) / len(v), 1) for c, v in scores.items()}, "samples": samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...")
    ap.add_argument("--cases", type=Path, default=CASES)
    ap.add_argument("--locomo", type=Path, default=LOCOMO)
    ap.add_argument("--locomo-limit", type=int, default=40, metavar="N", help="LoCoMo questions (0: none)")
    ap.add_argument("--only", help="comma-separated case ids to run")
    ap.add_argument("--json", type=Path, metavar="OUT")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]
    cases = json.loads(args.cases.read_text())["cases"]
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c["id"] in keep]
    print(f"{len(cases)} cases from {args.cases}; load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="answers-bench-") as tmp:
        for name, overlay in variants:
            results[name] = {"settings": overlay, "cases": run_cases(cases, overlay, Path(tmp), name)}
        if args.locomo_limit and args.locomo.exists():
            for name, overlay in variants:
                results[name]["locomo"] = locomo_f1(args.locomo, args.locomo_limit, overlay, Path(tmp), name)
    print(f"\n{'variant':<8} {'right':>7} {'%':>6}  by category" + ("   LoCoMo F1 (by category)"
                                                              if args.locomo_limit else ""))
    for name, r in results.items():
        c = r["cases"]
        line = f"{name:<8} {c['right']:>3}/{c['cases']:<3} {c['percent']:>6}  " + \
            " ".join(f"{k} {v}" for k, v in c["by_category"].items())
        if "locomo" in r:
            lo = r["locomo"]
            line += f"   {lo['f1']} (" + ", ".join(f"{k} {v}" for k, v in lo["by_category"].items()) + \
                f"; n={lo['questions']})"
        print(line)
    for name, r in results.items():
        for f in r["cases"]["failed"]:
            print(f"  {name} FAILED {f['id']}: {f['reply'][:160]!r} ({f['why']})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
