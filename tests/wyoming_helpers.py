"""A real Wyoming server process and a real ``wyoming`` client, for the Wyoming tests."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from tests.conftest import REPO
from tests.test_daemon import wait_for  # noqa: F401  (one definition, shared)


class ServerProcess:
    """``assistant wyoming --uri tcp://127.0.0.1:0`` in a real process; ``port`` once it serves."""

    def __init__(self, home: Path, services: str, config: Path | None = None, zeroconf: bool = False) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.err = home.parent / f"{home.name}-wyoming.err"
        args = [sys.executable, "-m", "assistant", "--home", str(home), "-q", "--json"]
        if config:
            args += ["--config", str(config)]
        args += ["wyoming", "--uri", "tcp://127.0.0.1:0", "--services", services]
        args += [] if zeroconf else ["--no-zeroconf"]
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO,
                                         env=os.environ.copy())
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise AssertionError(f"server did not start: {self.err.read_text()}")
        self.ready = json.loads(line)
        self.port = int(self.ready["uri"].rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def run(coro):
    return asyncio.run(coro)


async def read_until(client: AsyncTcpClient, stop_types: set[str], timeout: float = 120) -> list[Event]:
    events = []
    async with asyncio.timeout(timeout):
        while True:
            event = await client.read_event()
            assert event is not None, f"connection closed after {[e.type for e in events]}"
            events.append(event)
            if event.type in stop_types:
                return events


def wav_pcm(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return w.getframerate(), w.readframes(w.getnframes())


async def transcribe(client: AsyncTcpClient, rate: int, pcm: bytes, chunk: int = 4096) -> Event:
    await client.write_event(Transcribe(language="en").event())
    await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
    for i in range(0, len(pcm), chunk):
        await client.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i:i + chunk]).event())
    await client.write_event(AudioStop().event())
    events = await read_until(client, {"transcript", "error"})
    return events[-1]


def audio_of(events: list[Event]) -> tuple[int, np.ndarray]:
    start = next(e for e in events if e.type == "audio-start")
    pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return int(start.data["rate"]), np.frombuffer(pcm, dtype="<i2")
