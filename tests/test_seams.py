"""The typed seams hold: both LLM backends give everything the engine asks of a model
(``assistant.llm.ChatModel``), and both runtimes everything a voice loop reads
(``assistant.voice_loop.LoopRuntime``). mypy checks it without loading a model; a method
renamed or a signature changed on one side fails here, not in a turn."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEAMS = ["assistant/engine.py", "assistant/voice_loop.py", "assistant/llm.py", "assistant/llm_remote.py",
         "assistant/speculation.py"]
CONFORMANCE = '''
from assistant.llm import ChatModel, LocalLLM
from assistant.llm_remote import FallbackLLM
from assistant.runtime import Runtime
from assistant.voice_loop import LoopRuntime
from assistant.wyoming_service.satellite import RoomRuntime


def model(m: ChatModel) -> None: ...
def runtime(r: LoopRuntime) -> None: ...


def check(local: LocalLLM, fallback: FallbackLLM, home: Runtime, room: RoomRuntime) -> None:
    model(local)
    model(fallback)
    runtime(home)
    runtime(room)
'''


def mypy(*files: str | Path) -> subprocess.CompletedProcess:
    # --no-site-packages: the libraries (llama_cpp, openai, numpy) count as untyped, so only
    # our own seams are checked, in ~2 s
    return subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
                           "--no-site-packages", "--no-incremental", *map(str, files)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_both_llm_backends_and_both_runtimes_fit_the_seams(tmp_path):
    check = tmp_path / "seams_check.py"
    check.write_text(CONFORMANCE)
    done = mypy(check, *SEAMS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_sees_a_backend_that_does_not_fit(tmp_path):
    """The same check refuses a model without the between-turns methods (the remote
    server's client alone, which ``FallbackLLM`` wraps for that reason)."""
    check = tmp_path / "seams_misfit.py"
    check.write_text("from assistant.llm import ChatModel\nfrom assistant.llm_remote import RemoteLLM\n\n\n"
                     "def model(m: ChatModel) -> None: ...\n\n\ndef check(r: RemoteLLM) -> None:\n    model(r)\n")
    done = mypy(check)
    assert done.returncode == 1 and "RemoteLLM" in done.stdout, done.stdout + done.stderr
