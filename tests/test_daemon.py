"""The daemon as a real process: socket, live config, garbage, crashes, real audio."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.client import Client
from audio.wavio import read_audio
from tests.conftest import REPO, TEST_DATA, run_cli


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class DaemonProcess:
    def __init__(self, home: Path, env: dict | None = None) -> None:
        self.home = home
        self.socket = home / "run" / "control.sock"
        self.err = home.parent / f"{home.name}-daemon.err"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "assistant", "--home", str(home), "daemon"],
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                                         env={**os.environ, "PULSE_SOURCE": "vmic", "PULSE_SINK": "spk", **(env or {})})

    def wait_ready(self, timeout: float = 180) -> "DaemonProcess":
        def ready():
            assert self.proc.poll() is None, self.err.read_text()
            try:
                return self.call("ping") == "pong"
            except Exception:
                return False
        wait_for(ready, timeout, "the daemon to answer")
        return self

    def call(self, cmd: str, **args):
        with Client(self.socket, timeout=120) as c:
            return c.call(cmd, **args)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dump = subprocess.run([str(Path(sys.executable).parent / "py-spy"), "dump", "--pid", str(self.proc.pid)],
                                  capture_output=True, text=True).stdout
            Path("/tmp/daemon-hang.txt").write_text(dump)
            self.proc.kill()
            raise


@pytest.fixture(scope="module")
def daemon(pulse, tmp_path_factory):
    home = tmp_path_factory.mktemp("daemon") / "home"
    notify_path = home.parent / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(180)
    d = DaemonProcess(home, env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"})
    d.notify = notify
    d.wait_ready()
    yield d
    d.stop()
    notify.close()


def test_sd_notify_ready_and_watchdog(daemon):
    messages = set()
    while not {"READY=1", "WATCHDOG=1"} <= messages:
        messages.update(daemon.notify.recv(4096).decode().splitlines())


def test_socket_is_private(daemon):
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700


def test_status_reports_state_models_and_uptime(daemon):
    status = daemon.call("status")
    assert status["state"] in {"idle", "listening", "thinking", "speaking"}
    assert status["uptime_s"] > 0 and len(status["models"]) == 4 and status["config_errors"] == []


def test_a_second_instance_refuses(daemon):
    result = run_cli("daemon", home=daemon.home, timeout=120)
    assert result.returncode != 0
    assert "already running" in result.stderr and "Traceback" not in result.stderr
    assert daemon.call("ping") == "pong"


def test_cli_goes_through_the_daemon(daemon):
    asked = run_cli("--json", "ask", "My favourite city is Lisbon.", home=daemon.home)
    assert asked.returncode == 0, asked.stderr
    found = json.loads(run_cli("--json", "memory", "search", "favourite city", home=daemon.home).stdout)
    assert any("Lisbon" in m["text"] for m in found)
    shown = run_cli("status", home=daemon.home)
    assert shown.returncode == 0 and "state:" in shown.stdout


def test_fact_keys_are_read_once_the_room_is_quiet(daemon):
    """The turn the test above stored gains the facts the LLM reads out of it
    (memory.fact_keys), set live to start half a second after the last turn."""
    config = daemon.home / "config.toml"
    config.write_text("[memory]\nfact_keys_after_s = 0.5\n")
    try:
        def keyed():
            hits = daemon.call("memory.search", query="favourite city", k=5)
            return next((h["keys"] for h in hits if h["role"] == "user" and "Lisbon" in h["text"]
                         and h["keys"]), None)
        keys = wait_for(keyed, 150, "the turn's fact keys")
        assert "Lisbon" in keys, keys
    finally:
        config.unlink()


def test_config_edits_apply_live_and_bad_edits_are_reported(daemon):
    config = daemon.home / "config.toml"
    config.write_text("# mine\n[tts]\nspeed = 1.25\n\n[llm]\ntemperature = 0.1\n")
    status = wait_for(lambda: (s := daemon.call("status"))["settings"]["tts.speed"] == 1.25 and s, 10, "speed")
    assert status["settings"]["llm.temperature"] == 0.1 and status["config_errors"] == []

    config.write_text("# mine\n[tts]\nspeed = \"fast\"\n")
    status = wait_for(lambda: (s := daemon.call("status"))["config_errors"] and s, 10, "the error")
    assert f"{config}:3: tts.speed:" in status["config_errors"][0]
    assert status["settings"]["tts.speed"] == 1.25           # still on the last good config
    shown = run_cli("status", home=daemon.home)               # the CLI works with a broken file
    assert shown.returncode == 0 and "config error" in shown.stdout

    for bad, key in [("[tts]\nspeed = 1.0\npitch = 2\n", "tts.pitch"),
                     ("[tts]\nvoice = \"/no/such/voice.onnx\"\n", "tts.voice"),
                     ("[tts\nspeed = 1.0\n", "invalid TOML")]:
        config.write_text(bad)
        wait_for(lambda: any(key in e for e in daemon.call("status")["config_errors"]), 10, key)
        assert daemon.call("ping") == "pong"

    config.write_text("[tts]\nspeed = 0.9\n")
    status = wait_for(lambda: (s := daemon.call("status"))["settings"]["tts.speed"] == 0.9 and s, 10, "fix")
    assert status["config_errors"] == []
    config.unlink()
    wait_for(lambda: daemon.call("status")["settings"]["tts.speed"] == 1.0, 10, "defaults")


def _raw(daemon, payload: bytes, read: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(str(daemon.socket))
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass    # the daemon hung up on an oversized line, as it should
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_garbage_on_the_socket_gets_errors_and_never_hurts_the_daemon(daemon):
    rng = random.Random(7)
    replies = _raw(daemon, bytes(rng.randrange(256) for _ in range(5000)) + b"\n").splitlines()
    assert replies and all(json.loads(r)["ok"] is False for r in replies)
    for junk in [b'{"cmd": "status"', b'{"cmd": 42}\n', b'[]\n', b'{"cmd": "nope"}\n', b'\xff\xfe\n',
                 b'{"cmd": "ask", "args": {"text": 5}}\n', b'{"cmd": "memory.search", "args": {"query": "x", "k": -1}}\n']:
        reply = json.loads(_raw(daemon, junk).splitlines()[0])
        assert reply["ok"] is False and reply["error"]
    huge = _raw(daemon, b'{"cmd": "say", "args": {"text": "' + b"a" * 200_000 + b'"}}\n')
    assert b"longer than" in huge
    _raw(daemon, b'{"cmd": "stat', read=False)        # half a message, then hang up

    results, errors = [], []

    def client():
        try:
            results.append(daemon.call("status")["state"])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=client) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(results) == 40
    assert daemon.call("ping") == "pong" and daemon.proc.poll() is None


def test_spoken_reply_from_the_daemon_on_the_virtual_devices(daemon, runtime, tmp_path):
    heard = tmp_path / "speaker.wav"
    events: list[dict] = []

    def listen():
        with Client(daemon.socket, timeout=120) as c:
            for event in c.events():
                events.append(event)
                if event.get("event") == "turn":
                    return
    watcher = threading.Thread(target=listen, daemon=True)
    watcher.start()
    time.sleep(0.5)
    recorder = subprocess.Popen(["parec", "-d", "spk.monitor", "--rate=16000", "--channels=1",
                                 "--format=s16le", "--file-format=wav", str(heard)])
    try:
        assert daemon.call("listen") == {"listening": True}    # push-to-talk: no wake phrase needed
        subprocess.run(["paplay", "--device=mic", str(TEST_DATA / "speech" / "lhotse_ami_ES2011a_40-46s.wav")],
                       check=True, timeout=60)
        watcher.join(120)
        time.sleep(2.0)
    finally:
        recorder.terminate()
        recorder.wait(10)
    turns = [e["data"] for e in events if e.get("event") == "turn"]
    assert turns and "abigail" in turns[0]["transcript"].lower()
    states = [e["data"]["state"] for e in events if e.get("event") == "state"]
    assert "thinking" in states and "speaking" in states
    said = runtime.stt.transcribe(read_audio(heard)).text
    assert len(said.split()) >= 2, said


def test_mute_stops_listening_and_unmute_resumes(daemon):
    assert daemon.call("mute") == {"muted": True}
    assert daemon.call("status")["muted"] is True
    assert daemon.call("unmute") == {"muted": False}


def test_sigterm_cleans_up_and_kill_9_loses_nothing_stored(pulse, tmp_path):
    home = tmp_path / "home"
    first = DaemonProcess(home).wait_ready()
    first.call("ask", text="Remember that my locker code is 4711.")
    assert first.stop() == 0
    assert not first.socket.exists() and not (home / "run" / "daemon.lock").exists()

    second = DaemonProcess(home).wait_ready()
    asking = threading.Thread(target=lambda: _swallow(lambda: second.call(
        "ask", text="Tell me a long story about a lighthouse keeper and his cat.")), daemon=True)
    asking.start()
    time.sleep(2.5)                                   # mid-generation
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait(30)
    assert second.socket.exists()                     # stale: the next start must cope

    third = DaemonProcess(home).wait_ready()
    try:
        found = third.call("memory.search", query="locker code", k=5)
        assert any("4711" in m["text"] for m in found)
    finally:
        assert third.stop() == 0


def _swallow(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - the daemon is killed under this call on purpose
        pass


def test_service_install_writes_a_notify_unit(cli, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = cli("service", "install", env=env)
    assert result.returncode == 0, result.stderr
    unit = (tmp_path / "xdg" / "systemd" / "user" / "assistant.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "daemon" in unit and str(cli.home) in unit
    assert cli("service", "uninstall", env=env).returncode == 0
    assert not (tmp_path / "xdg" / "systemd" / "user" / "assistant.service").exists()
