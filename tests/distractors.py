"""The 10,000 chatty distractors of tests/test_memory_store.py, embedded while other tests run.

Embedding them is the suite's biggest single cost (~3 minutes on one core: the real
MiniLM, ~12 ms a text, compute-bound). Much of the suite waits on real time instead:
audio played at its own pace, daemons starting, servers answering. So when a collected
test needs these vectors, ``conftest.py`` starts this module in a process that only gets
the CPU when nothing else wants it (SCHED_IDLE), and the fixture takes its result, waiting
for the rest only if it is not done. The vectors are the same real embeddings either way.

    python -m tests.distractors OUT.npy     (writes OUT.npy whole, or nothing)
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COUNT = 10_000
NAMES = ["Tom", "Ben", "Lia", "Omar", "Sofia", "Kenji", "Priya", "Marco", "Ines", "Yusuf"]
RELATIONS = ["colleague", "neighbour", "cousin", "friend", "teacher", "dentist", "boss", "landlord"]
THINGS = ["moved to a new flat", "likes jazz", "bought a red bike", "is learning Spanish", "hates mornings",
          "went hiking", "plays chess on Sundays", "adopted a cat", "works night shifts", "runs marathons",
          "cooks great curry", "lost a phone", "visited Lisbon", "fixed the car"]
TIMES = ["yesterday", "last week", "in May", "on Friday", "this morning", "last year", "at the weekend",
         "recently", "twice", "again", "in the summer", "after work", "before lunch"]


def distractors(n: int) -> list[str]:
    combos = itertools.product(RELATIONS, NAMES, THINGS, TIMES)
    return [f"My {r} {name} {thing} {when}." for r, name, thing, when in itertools.islice(combos, n)]


def memories(n: int = COUNT):
    """The distractors as the memories the tests store (user turns, one a second)."""
    from memory.store import Memory
    return [Memory(text=t, role="user", session_id="s", speaker="User", seq=i, ts=1.7e9 + i)
            for i, t in enumerate(distractors(n))]


def embed(embedder, n: int = COUNT) -> np.ndarray:
    from memory.store import describe
    return embedder.embed_many([describe(m) for m in memories(n)])


@dataclass
class Background:
    """The embedding process started at collection; ``result`` takes its vectors."""
    out: Path
    proc: subprocess.Popen | None = None
    started: float = field(default_factory=time.monotonic)
    waited: float = 0.0
    note: str = ""

    @classmethod
    def start(cls, workdir: Path, repo: Path) -> "Background":
        job = cls(workdir / "distractors.npy")
        job.proc = subprocess.Popen([sys.executable, "-m", "tests.distractors", str(job.out)], cwd=repo,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    preexec_fn=_idle_priority)
        return job

    def result(self, embedder) -> np.ndarray:
        """The background vectors, or (if that process failed) embedded here, said in the note."""
        waited_from = time.monotonic()
        _, err = self.proc.communicate() if self.proc else ("", "not started")
        self.waited = time.monotonic() - waited_from
        if self.proc and self.proc.returncode == 0 and self.out.exists():
            vectors = np.load(self.out)
            self.note = (f"distractor vectors embedded in the background; ready after waiting "
                         f"{self.waited:.0f} s, {time.monotonic() - self.started:.0f} s after collection")
            return vectors
        self.note = f"distractor vectors: the background process failed ({(err or '').strip()[-200:]}); embedded in-process"
        return embed(embedder)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _idle_priority() -> None:
    """Run only on CPU time no test wants (Linux SCHED_IDLE; elsewhere the lowest nice)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def main(out: str) -> int:
    """The bundled model with the runtime's default thread count, as the tests' runtime has."""
    from assistant.config import load_config
    from benchmarks.memory_locomo import packaged_model_dir
    from memory.embeddings import Embedder
    embedder = Embedder(packaged_model_dir(), threads=load_config(None).memory.embedding_threads)
    vectors = embed(embedder)
    tmp = Path(out + ".part.npy")
    np.save(tmp, vectors)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
