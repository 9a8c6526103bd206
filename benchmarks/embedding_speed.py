"""Embedding: start-up, per-query latency and batch throughput of each backend.

Each backend runs in a fresh process, so the import cost is what a command pays:
ONNX Runtime (memory/minilm_onnx.py, the default for MiniLM; its graph cached by the first
round, as the model cache keeps it), the NumPy forward pass (memory/minilm.py, its
fallback) and, when the extra is installed, sentence-transformers on torch, at 1 and 2
threads. It also checks that they give the same vectors.

    .venv/bin/python benchmarks/embedding_speed.py [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
from memory.embeddings import Embedder
from benchmarks.memory_locomo import packaged_model_dir
import numpy as np
from pathlib import Path
e = Embedder(packaged_model_dir(), threads={threads}, backend={backend!r}, cache_dir=Path({cache!r}))
load = time.perf_counter() - t0
e.warm()
queries = [f"When did Caroline go to the support group number {{i}}?" for i in range(60)]
lat = []
for q in queries:
    t = time.perf_counter(); e.embed_one(q); lat.append((time.perf_counter() - t) * 1000)
texts = [f"(8 May 2023) Caroline: I went to a support group {{i}} yesterday and it was so powerful, "
         "we talked about our stories and I felt accepted." for i in range(512)]
t = time.perf_counter(); vectors = e.embed(texts, 32); batch = len(texts) / (time.perf_counter() - t)
np.save({out!r}, np.concatenate([e.embed(queries[:5]), vectors[:5]]))
print(json.dumps({{"backend": e.backend, "threads": {threads}, "import_and_load_s": round(load, 2),
                  "query_p50_ms": round(float(np.percentile(lat, 50)), 2),
                  "query_p95_ms": round(float(np.percentile(lat, 95)), 2), "batch_texts_per_s": round(batch, 1)}}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each backend, best kept (default 2)")
    args = ap.parse_args()
    import tempfile

    import numpy as np
    import importlib.util
    backends = ["onnx", "numpy"] + (["sentence-transformers"] if importlib.util.find_spec("sentence_transformers") else [])
    saved = {}
    with tempfile.TemporaryDirectory() as tmp:
        best: dict[tuple, dict] = {}
        for _round in range(args.rounds):      # interleaved, best of each: a shared CPU is noisy
            for backend in backends:
                for threads in (1, 2):
                    out = f"{tmp}/{backend}-{threads}.npy"
                    code = CHILD.format(repo=str(REPO), threads=threads, backend=backend, out=out, cache=tmp)
                    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
                    if done.returncode != 0:
                        print(done.stderr[-2000:], file=sys.stderr)
                        return 1
                    run = json.loads(done.stdout.strip().splitlines()[-1])
                    key = (backend, threads)
                    if key in best:
                        run = {k: (max(v, best[key][k]) if k.endswith("_per_s") else
                                   min(v, best[key][k]) if k.endswith(("_s", "_ms")) else v) for k, v in run.items()}
                    best[key] = run
                    saved[key] = np.load(out)
        rows = list(best.values())
        agreement = {f"{b}_vs_numpy": round(float(np.min(np.sum(saved[(b, 1)] * saved[("numpy", 1)], axis=1))), 6)
                     for b in backends if b != "numpy"}
    print(f"{'backend':<22} {'threads':>7} {'import+load s':>13} {'query p50 ms':>12} {'p95 ms':>7} {'batch/s':>8}")
    for r in rows:
        print(f"{r['backend']:<22} {r['threads']:>7} {r['import_and_load_s']:>13} {r['query_p50_ms']:>12} "
              f"{r['query_p95_ms']:>7} {r['batch_texts_per_s']:>8}")
    print("lowest cosine against NumPy's vectors: " + ", ".join(f"{k} {v}" for k, v in agreement.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "min_cosine": agreement}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
