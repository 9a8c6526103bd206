"""LLM speed levers side by side: prefill tok/s and decode ms/token, interleaved rounds.

Each variant is a model plus llama.cpp settings; every round runs each variant once on
the same turn-sized prompt (system prompt, six notes, a question: ~300 tokens, read from
an empty cache) and then writes ``--tokens`` tokens greedily, so a change in the machine's
load hits all variants alike. The first variant is the baseline for the ratios.

    .venv/bin/python benchmarks/llm_speed.py [--variant NAME:KEY=VALUE,...]... [--rounds N]
        [--tokens N] [--draft-estimate] [--json OUT]

Keys: ``model`` (a bundled name or a GGUF path), ``threads``, ``batch``, ``flash_attn``
(true/false), ``kv`` (f16, q8_0, q4_0: K and V cache type), ``requant`` (q4_0: requantize the
model once into the model cache with llama.cpp's own quantizer, for measuring).

``--draft-estimate`` also measures what speculative decoding with the 0.5B drafting for
the 1.5B could gain on this CPU: the 1.5B's cost to verify a batch of k+1 tokens against
one token, and the 0.5B's cost per drafted token, then the expected speed-up for draft
acceptance rates of 0.5 to 0.8 (Leviathan et al., 2023, eq. 1 with these costs).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from latency import parse_variant  # noqa: E402

CACHE = Path(os.environ.get("ASSISTANT_MODEL_CACHE", Path.home() / ".cache" / "assistant" / "models"))
KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}       # ggml_type ids
NOTES = [
    "(Nov 28, 2026) You told me: your sister Anna's birthday is on March 14.",
    "(Nov 29, 2026) You told me: your dentist is Dr Patel, on Elm Street.",
    "(Nov 30, 2026) You asked me to remember: the wifi password is on the fridge.",
    "(Dec 01, 2026) You told me: your cat Pepper is allergic to chicken.",
    "(Dec 01, 2026) You told me: you are taking the train to Vienna next month.",
    "(Dec 02, 2026) I replied: your piano lesson moved to Thursdays.",
]


def model_file(name: str) -> Path:
    from models.registry import LLMS
    from models.resolve import assemble_llm
    if name in LLMS:
        return assemble_llm(CACHE, quiet=True, spec=LLMS[name])
    return Path(name)


def requantized(src: Path, kind: str) -> Path:
    """``src`` requantized to ``kind`` with llama.cpp's quantizer (once, into the cache)."""
    import llama_cpp
    out = CACHE / f"{src.stem}.requant-{kind}.gguf"
    if out.exists():
        return out
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q4_0": 2, "q8_0": 7}[kind]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 2
    tmp = out.with_suffix(".partial")
    print(f"requantizing {src.name} to {kind}…", file=sys.stderr, flush=True)
    if llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params) != 0:
        raise SystemExit(f"error: requantizing {src} failed")
    tmp.replace(out)
    return out


def load(settings: dict):
    from llama_cpp import Llama
    path = model_file(str(settings.get("model", "qwen2.5-coder-1.5b")))
    if settings.get("requant"):
        path = requantized(path, settings["requant"])
    kv = KV_TYPES[str(settings.get("kv", "f16"))]
    threads = int(settings.get("threads", 2))
    return Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                 n_batch=int(settings.get("batch", 512)), flash_attn=bool(settings.get("flash_attn", True)),
                 type_k=kv, type_v=kv, verbose=False), path


def prompt_tokens(llm) -> list[int]:
    from assistant.config import LlmConfig
    from assistant.prompt import system_message
    text = (system_message(LlmConfig())["content"] + "\n\n[Notes from earlier conversations]\n"
            + "\n".join(NOTES) + "\n\n[User]\nWhen is my sister Anna's birthday, and what should I get her?")
    return llm.tokenize(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n".encode(), special=True)


def one_round(llm, tokens: list[int], n_out: int) -> tuple[float, float]:
    """(prefill tok/s, decode ms per token) for a prompt read from an empty cache."""
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    t1 = time.perf_counter()
    times = []
    for _ in range(n_out):
        token = llm.sample(temp=0.0)
        s = time.perf_counter()
        llm.eval([token])
        times.append(time.perf_counter() - s)
    return len(tokens) / (t1 - t0), 1000 * statistics.median(times)


def batch_cost(llm, tokens: list[int], k: int, reps: int = 5) -> float:
    """ms to evaluate k tokens in one batch after the prompt (what a verifier pays)."""
    llm.reset()
    llm.eval(tokens)
    base = llm.n_tokens
    out = []
    for _ in range(reps):
        llm.n_tokens = base
        s = time.perf_counter()
        llm.eval(tokens[-k:])
        out.append(time.perf_counter() - s)
    return 1000 * statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--draft-estimate", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variant] or [
        ("0.5b", {"model": "qwen2.5-coder-0.5b"}), ("1.5b", {"model": "qwen2.5-coder-1.5b"})]
    # parse_variant reads "key=value" as section "key" with an empty field name
    variants = [(n, {sec: d[""] for sec, d in s.items()}) if all("" in d for d in s.values()) else (n, s)
                for n, s in variants]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    loaded = {}
    for name, settings in variants:
        llm, path = load(settings)
        loaded[name] = (llm, prompt_tokens(llm))
        print(f"{name}: {path.name} {settings}", flush=True)
    results: dict[str, dict[str, list[float]]] = {n: {"prefill": [], "decode": []} for n, _ in variants}
    for r in range(args.rounds):
        for name, _ in variants:
            llm, tokens = loaded[name]
            pf, dc = one_round(llm, tokens, args.tokens)
            results[name]["prefill"].append(pf)
            results[name]["decode"].append(dc)
            print(f"  round {r + 1} {name:<10} prefill {pf:6.0f} tok/s  decode {dc:6.1f} ms/token", flush=True)
    base = variants[0][0]
    summary = {}
    print(f"\n{'variant':<12}{'prompt':>7}{'prefill tok/s':>15}{'decode ms/tok':>15}{'x prefill':>11}{'x decode':>10}")
    for name, _ in variants:
        pf, dc = statistics.median(results[name]["prefill"]), statistics.median(results[name]["decode"])
        bpf, bdc = statistics.median(results[base]["prefill"]), statistics.median(results[base]["decode"])
        summary[name] = {"prompt_tokens": len(loaded[name][1]), "prefill_tok_s": round(pf, 1),
                         "decode_ms_per_token": round(dc, 2), "prefill_ratio": round(pf / bpf, 3),
                         "decode_ratio": round(dc / bdc, 3)}
        print(f"{name:<12}{len(loaded[name][1]):>7}{pf:>15.0f}{dc:>15.1f}{pf / bpf:>11.2f}{dc / bdc:>10.2f}")
    if args.draft_estimate:
        big, small = loaded.get("1.5b"), loaded.get("0.5b")
        if big and small:
            one = batch_cost(big[0], big[1], 1)
            draft = summary["0.5b"]["decode_ms_per_token"]
            est = {"verify_ms": {}, "speedup": {}}
            print(f"\nspeculative decoding estimate (1.5B verifies, 0.5B drafts {draft:.1f} ms/token):")
            for k in (2, 3, 4, 6):
                verify = batch_cost(big[0], big[1], k + 1)
                est["verify_ms"][k + 1] = round(verify, 1)
                for a in (0.5, 0.6, 0.7, 0.8):
                    tokens = (1 - a ** (k + 1)) / (1 - a)
                    speed = tokens * one / (k * draft + verify)
                    est["speedup"][f"k{k}_a{a}"] = round(speed, 2)
                print(f"  k={k}: verify {k + 1} tokens {verify:.0f} ms (1 token {one:.0f} ms); speed-up at "
                      + ", ".join(f"a={a}: {est['speedup'][f'k{k}_a{a}']}x" for a in (0.5, 0.6, 0.7, 0.8)))
            summary["draft_estimate"] = est
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"variants": dict(variants), "rounds": args.rounds, "summary": summary,
                                         "raw": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
