"""Shared fixtures: real models, real LanceDB on disk, real processes, real PulseAudio."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
SHARED_SPEECH = REPO.parent / "shared" / "data" / "speech"
# Assembling the 470 MB LLM once per machine is enough: every test home shares the cache.
os.environ.setdefault("ASSISTANT_MODEL_CACHE", str(Path.home() / ".cache" / "assistant" / "models"))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/assistant-runtime")


@dataclass(frozen=True)
class Clip:
    path: Path
    transcript: str


def read_manifest(manifest: Path) -> list[Clip]:
    with open(manifest, newline="", encoding="utf-8") as f:
        return [Clip(manifest.parent / row["file"], row["transcript"])
                for row in csv.DictReader(f, delimiter="\t")]


@pytest.fixture(scope="session")
def speech_clips() -> list[Clip]:
    """The shared set when it is beside the repo (CI, developers), else the bundled subset."""
    shared = SHARED_SPEECH / "manifest.tsv"
    return read_manifest(shared if shared.exists() else TEST_DATA / "manifest.tsv")


@pytest.fixture(scope="session")
def noise_files() -> list[Path]:
    shared = SHARED_SPEECH / "noise"
    if shared.is_dir():
        return sorted(shared.glob("*.wav"))
    return sorted((TEST_DATA / "noise").glob("*.wav"))


def run_cli(*args: str, home: Path, timeout: float = 300, env: dict | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a real process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "assistant", "--home", str(home), "-q", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, input=stdin,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def cli(tmp_path):
    home = tmp_path / "home"

    def call(*args: str, **kw) -> subprocess.CompletedProcess:
        return run_cli(*args, home=kw.pop("home", home), **kw)

    call.home = home
    return call


_distractor_job = None


def pytest_collection_modifyitems(session, config, items):
    """Start embedding the 10,000 memory-store distractors at idle priority, if a
    collected test needs them (tests/distractors.py says why)."""
    global _distractor_job
    if any("distractor_vectors" in getattr(item, "fixturenames", ()) for item in items):
        from tests.distractors import Background
        _distractor_job = Background.start(config._tmp_path_factory.mktemp("distractors"), REPO)


def pytest_terminal_summary(terminalreporter):
    if _distractor_job is not None and _distractor_job.note:
        terminalreporter.write_line(_distractor_job.note)


def pytest_sessionfinish(session):
    if _distractor_job is not None:
        _distractor_job.stop()


@pytest.fixture(scope="session")
def distractor_job():
    return _distractor_job


@pytest.fixture(scope="session")
def runtime(tmp_path_factory):
    """One in-process runtime with every model loaded, for tests that need no process."""
    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    rt = Runtime(load_config(None), resolve_paths(tmp_path_factory.mktemp("rt-home")), quiet=True)
    return rt


@pytest.fixture
def own_runtime(tmp_path):
    """A runtime with its own home (memory, reminders), for a test that must not see what
    other tests left in the shared one; the models load from the shared cache."""
    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    rt = Runtime(load_config(None), resolve_paths(tmp_path / "own-home"), quiet=True)
    yield rt
    if "store" in vars(rt):
        rt.store.close()


@pytest.fixture(scope="session")
def pulse():
    """PulseAudio with a virtual mic ("mic" sink → "vmic" source) and speaker ("spk")."""
    result = subprocess.run(["bash", str(REPO / "scripts" / "virtual-audio.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("PulseAudio virtual devices unavailable: " + result.stderr.strip()
                    + " (./setup.sh test installs and starts them)")
    return os.environ["XDG_RUNTIME_DIR"]
